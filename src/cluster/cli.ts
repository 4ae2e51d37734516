/**
 * @module cluster/cli
 * The cluster commands of `svcplane`: up, down, status, list (get clusters), exec, logs,
 * kubeconfig, and the internal processes the supervisor runs (supervise, relay, speaker, outside).
 * Each answers a mistake with one line naming what is wrong and exits non-zero.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { Command, Option } from 'commander';
import type { Node } from '../api/types.js';
import {
  DEFAULT_CLUSTER, MAX_WORKERS, NeedsRootError, PROXY_MODES, allDataDirs, etcdEndpoints, loadConfigAt, parseCount, paths, requireConfig as loadRequired, specOf,
  type ClusterConfig, type ProxyMode,
} from './config.js';
import { alive, readSupervisorState, runningSupervisor } from './procs.js';

// Each command loads what it runs when it runs: the supervisor starts relay, speaker and outside as
// processes of their own, and they should not pay for the API client, YAML or the lifecycle code.
const lifecycle = () => import('./lifecycle.js');

/** The cluster's config; a user who may not read it is told that the command needs root. */
function requireConfig(name: string, dataDir: string | undefined, cmd = process.argv[2] ?? 'this command'): ClusterConfig {
  try { return loadRequired(name, dataDir); } catch (e) {
    if (e instanceof NeedsRootError) throw new NeedsRootError(`svcplane ${cmd}`, e.path);
    throw e;
  }
}

function nameOpt(cmd: Command): Command {
  return cmd.option('--name <name>', 'cluster name', DEFAULT_CLUSTER).option('--data-dir <dir>', 'data directory (default /var/lib/svcplane/<name>)');
}

/** Resolve `svcplane exec` targets: a node name, its kind-style suffix, "client" or "lan". */
export function resolveHost(name: string, cluster: string, workers: number): string {
  const spec = specOf({ name: cluster, workers } as never);
  if (name === 'client' || name === 'outside') return spec.clientNetns;
  if (name === 'lan') return spec.lanNetns;
  const node = spec.nodes.find((n) => n.name === name || n.name === `${cluster}-${name}`);
  if (node) return node.netns;
  throw new Error(`unknown host "${name}": use one of ${[...spec.nodes.map((n) => n.name), 'client', 'lan'].join(', ')}`);
}

function age(iso?: string): string {
  if (!iso) return '-';
  const s = Math.floor((Date.now() - Date.parse(iso)) / 1000);
  return s < 120 ? `${s}s` : s < 7200 ? `${Math.floor(s / 60)}m` : `${Math.floor(s / 3600)}h`;
}

function table(rows: string[][]): string {
  const w = rows[0]!.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? '').length)));
  return rows.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]! + 3))).join('')).join('\n');
}

/** What runs of a cluster, from the recorded pids (verified by start time), supervisor or not. */
function processState(c: ClusterConfig) {
  const sup = runningSupervisor(c.dataDir);
  const components = (readSupervisorState(c.dataDir)?.components ?? []).map((s) => ({ ...s, running: !!s.pid && alive(s.pid, s.startTicks) }));
  const running = components.filter((s) => s.running).length;
  const state = sup ? 'Running' : running ? 'Unsupervised' : 'Stopped';
  return { sup, components, running, state };
}

async function status(name: string, dataDir?: string): Promise<number> {
  const c = requireConfig(name, dataDir);
  const p = paths(c.dataDir);
  const { sup, components, running } = processState(c);
  const what = sup ? 'running' : running ? 'running without its supervisor' : 'stopped';
  console.log(`Cluster ${c.name}: ${what} (proxy mode ${c.proxyMode}, store ${c.store}, API https://127.0.0.1:${c.apiserverPort}, data ${c.dataDir})`);
  if (!sup && running) {
    console.log(`Supervisor: not running; ${running} of ${components.length} components still run, and nothing restarts them (svcplane up --name ${c.name} starts the cluster again)`);
  }
  if (!sup && !running) return 1;
  const rows = [['COMPONENT', 'STATUS', 'PID', 'RESTARTS', 'AGE', 'WHERE']];
  for (const s of components) {
    rows.push([s.name, s.running ? 'Running' : `Down (${s.lastExit ?? (s.pid ? 'exited' : '?')})`, s.running ? String(s.pid) : '-', String(s.restarts), s.running ? age(s.startedAt) : '-', s.netns ?? 'host']);
  }
  console.log('\n' + table(rows));
  try {
    const [{ Client }, { res }] = await Promise.all([import('../client/rest.js'), import('../api/registry.js')]);
    const client = Client.fromKubeconfig(p.kubeconfigLocal);
    const nodes = await client.list<Node>(res('nodes'));
    client.close();
    const nrows = [['NODE', 'STATUS', 'INTERNAL-IP', 'POD-CIDR']];
    for (const n of nodes.items) {
      const ready = n.status?.conditions?.find((x) => x.type === 'Ready');
      nrows.push([n.metadata!.name!, ready?.status === 'True' ? 'Ready' : 'NotReady', n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address ?? '', n.spec?.podCIDR ?? '']);
    }
    console.log('\n' + table(nrows));
  } catch (e) {
    console.log(`\nAPI server not answering: ${(e as Error).message}`);
    return 1;
  }
  if (!sup) return 1;
  if (c.store === 'etcd') {
    const { memberStatus } = await import('../store/etcd-cluster.js');
    const members = await memberStatus(etcdEndpoints(c), c.etcdTls);
    const mrows = [['ETCD MEMBER', 'ENDPOINT', 'HEALTH', 'LEADER', 'REVISION']];
    for (const m of members) {
      mrows.push([m.name ?? '-', m.endpoint, m.healthy ? 'healthy' : `unhealthy (${m.error ?? 'no answer'})`, m.leader ? 'yes' : 'no', m.revision ? String(m.revision) : '-']);
    }
    console.log('\n' + table(mrows));
    if (!members.some((m) => m.healthy)) return 1;
  }
  return 0;
}

/** `svcplane list` / `svcplane get clusters`: every cluster on the machine, kind-style. */
function listClusters(): number {
  const rows = [['NAME', 'STATUS', 'NODES', 'API', 'KUBECONFIG']];
  for (const dir of allDataDirs()) {
    const c = loadConfigAt(dir);
    if (!c) continue;
    rows.push([c.name, processState(c).state, String(c.workers + 1), c.apiserverPort ? `https://127.0.0.1:${c.apiserverPort}` : '-', paths(c.dataDir).kubeconfig]);
  }
  if (rows.length === 1) process.stderr.write('No clusters found.\n');
  else console.log(table(rows));
  return 0;
}

/** The names `svcplane logs` accepts: the cluster's components and the supervisor. */
function logNames(c: ClusterConfig): Promise<string[]> {
  return import('./components.js').then(({ clusterComponents }) => ['supervisor', ...clusterComponents(c).map((x) => x.name)]);
}

async function mergeKubeconfig(src: string, contextName: string): Promise<string> {
  const { parse, stringify } = await import('yaml');
  const target = process.env.KUBECONFIG?.split(':')[0] ?? join(homedir(), '.kube', 'config');
  const add = parse(readFileSync(src, 'utf8'));
  const cfg = existsSync(target) ? (parse(readFileSync(target, 'utf8')) ?? {}) : { apiVersion: 'v1', kind: 'Config' };
  for (const [k, item] of [['clusters', add.clusters?.[0]], ['users', add.users?.[0]], ['contexts', add.contexts?.[0]]] as const) {
    if (!item) continue;
    const renamed = { ...item, name: contextName };
    if (k === 'contexts') renamed.context = { ...item.context, cluster: contextName, user: contextName };
    cfg[k] = [...(cfg[k] ?? []).filter((x: any) => x.name !== contextName), renamed];
  }
  cfg['current-context'] = contextName;
  mkdirSync(dirname(target), { recursive: true });
  writeFileSync(target, stringify(cfg), { mode: 0o600 });
  return target;
}

export function register(program: Command): void {
  nameOpt(program.command('up').description('create (or resume) a cluster of network namespaces and wait until its nodes are Ready'))
    .option('--workers <n>', `number of worker nodes (0 to ${MAX_WORKERS})`)
    .addOption(new Option('--proxy-mode <mode>', 'service proxy mode').choices([...PROXY_MODES]))
    .option('--scheduler <name>', 'load-balancing scheduler: random (default) or rr; userspace also wrr, lc, wlc, sh, dh, sed, nq')
    .addOption(new Option('--store <backend>', 'API storage').choices(['sqlite', 'etcd', 'memory']))
    .option('--etcd-servers <urls>', 'with --store etcd: use an existing etcd cluster (comma-separated URLs) instead of starting 3 local members')
    .option('--etcd-cafile <file>', 'CA of the etcd servers (https)')
    .option('--etcd-certfile <file>', 'client certificate for etcd')
    .option('--etcd-keyfile <file>', 'client key for etcd')
    .option('--apiservers <n>', 'number of API servers (1 to 5; more than one with --store etcd), behind a load balancer on the API port')
    .option('--lb-pool <range>', 'LoadBalancer IP pool', '172.18.255.200-172.18.255.250')
    .addOption(new Option('--runtime <runtime>', 'what runs pods in a new cluster: containerd + runc per node, or host processes').choices(['containerd', 'process']))
    .action(async (o) => {
      const { up } = await lifecycle();
      // Checked before anything is created: "abc" must not become a 1-node cluster.
      const workers = o.workers === undefined ? undefined : parseCount('--workers', o.workers, 0, MAX_WORKERS);
      const apiservers = o.apiservers === undefined ? undefined : parseCount('--apiservers', o.apiservers, 1, 5);
      await up({
        name: o.name, dataDir: o.dataDir, workers, proxyMode: o.proxyMode as ProxyMode | undefined, scheduler: o.scheduler,
        store: o.store, etcdServers: o.etcdServers?.split(','), apiservers, lbPool: o.lbPool, runtime: o.runtime,
        etcdTls: o.etcdCafile || o.etcdCertfile || o.etcdKeyfile ? { ca: o.etcdCafile, cert: o.etcdCertfile, key: o.etcdKeyfile } : undefined,
      });
    });
  nameOpt(program.command('down').description('stop a cluster and remove its namespaces, processes and rules'))
    .option('--purge', 'also delete the data directory (objects, certificates, logs)')
    .action(async (o) => { const { down } = await lifecycle(); await down({ name: o.name, dataDir: o.dataDir, purge: o.purge }); });
  nameOpt(program.command('status').description('show components, nodes and their health (exit 1 unless running and serving)'))
    .action(async (o) => { process.exitCode = await status(o.name, o.dataDir); });
  program.command('list').description('list the clusters on this machine: state, API address, kubeconfig')
    .action(() => { process.exitCode = listClusters(); });
  program.command('get').description('kind-style: svcplane get clusters (the same as svcplane list)')
    .argument('<what>', 'clusters')
    .action((what: string) => {
      if (what !== 'clusters' && what !== 'cluster') throw new Error(`svcplane get ${what}: only "svcplane get clusters" is known here; use kubectl for the objects in a cluster`);
      process.exitCode = listClusters();
    });
  nameOpt(program.command('exec').description('run a command on a node or on the outside client host, e.g. svcplane exec client -- curl 172.18.0.3:32380'))
    .argument('<host>', 'node name (dev-worker, or just worker), client, or lan')
    .argument('<command...>', 'command and arguments')
    .action((host: string, command: string[], o) => {
      const c = requireConfig(o.name, o.dataDir);
      const ns = resolveHost(host, c.name, c.workers);
      if (!existsSync(`/run/netns/${ns}`)) throw new Error(`cluster "${c.name}" is not running (no network namespace ${ns}); start it with: svcplane up --name ${c.name}`);
      if (process.getuid?.() !== 0) throw new Error(`svcplane exec needs root: it enters the network namespace ${ns} (run it with sudo)`);
      const r = spawnSync('ip', ['netns', 'exec', ns, ...command], { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    });
  nameOpt(program.command('logs').description('show a component\'s log (apiserver, controller-manager, scheduler, kubelet-<node>, proxy-<node>, …)'))
    .argument('<component>')
    .option('-f, --follow', 'follow')
    .option('--tail <n>', 'lines', '100')
    .action(async (component: string, o) => {
      const c = requireConfig(o.name, o.dataDir);
      const p = paths(c.dataDir);
      const f = p.log(component);
      const names = await logNames(c);
      if (!names.includes(component) && !existsSync(f)) throw new Error(`unknown component "${component}" of cluster "${c.name}": use one of ${names.join(', ')}`);
      if (!existsSync(f)) throw new Error(`no log yet for component "${component}" in ${p.logs} (has cluster "${c.name}" been started?)`);
      const r = spawnSync('tail', ['-n', String(o.tail), ...(o.follow ? ['-F'] : []), f], { stdio: 'inherit' });
      process.exitCode = r.status ?? 1;
    });
  nameOpt(program.command('kubeconfig').description('print the kubeconfig path, or merge it into ~/.kube/config'))
    .option('--merge', 'merge into $KUBECONFIG or ~/.kube/config and switch to it')
    .action(async (o) => {
      const c = requireConfig(o.name, o.dataDir);
      const p = paths(c.dataDir);
      if (o.merge) {
        const ctx = c.name === DEFAULT_CLUSTER ? 'svcplane' : `svcplane-${c.name}`;
        console.log(`merged context "${ctx}" into ${await mergeKubeconfig(p.kubeconfig, ctx)}`);
      } else {
        console.log(p.kubeconfig);
      }
    });
  nameOpt(program.command('supervise', { hidden: true }).description('run a cluster\'s processes (started by up)'))
    .action(async (o) => { const { supervise } = await import('./supervisor.js'); await supervise(requireConfig(o.name, o.dataDir)); });
  program.command('relay', { hidden: true }).requiredOption('--data-dir <dir>').requiredOption('--listen <addr>')
    .action(async (o) => { const { runRelay } = await import('./relay.js'); await runRelay({ dataDir: o.dataDir, listen: o.listen }); });
  nameOpt(program.command('speaker', { hidden: true }))
    .action(async (o) => { const { runSpeaker } = await import('./speaker.js'); await runSpeaker(requireConfig(o.name, o.dataDir)); });
  program.command('apiserver-lb', { hidden: true }).description('TCP/unix load balancer in front of several API servers')
    .requiredOption('--listen <addr>').requiredOption('--socket <path>')
    .requiredOption('--backends <addrs>').requiredOption('--backend-sockets <paths>').option('--secure-socket <path>')
    .action(async (o) => { const { runApiLb } = await import('./apilb.js'); await runApiLb({ listen: o.listen, socket: o.socket, secureSocket: o.secureSocket, backends: o.backends.split(','), backendSockets: o.backendSockets.split(',') }); });
  program.command('outside', { hidden: true }).option('--data-dir <dir>')
    .action(async () => { const { runOutside } = await import('./outside.js'); await runOutside(); });
}
