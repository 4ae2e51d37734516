/**
 * @module cluster/lifecycle
 * svcplane up / down / status: create a cluster's namespaces, start its supervisor, wait until
 * every node is Ready and the API answers through the kubeconfig handed to the user; stop and
 * remove everything it created — and only that (procs.ts: what svcplane recorded starting).
 */
import { execFile, spawn } from 'node:child_process';
import { KUBE_DNS_IP } from './bootstrap.js';
import { cleanupNodeRuntime, containerdPaths, removeCgroups } from './containerd.js';
import { PRELOADED, builtNodeRoot, ensureNodeRoot, seedNodeRoot } from './node-image.js';
import { imageCacheDir } from '../images/build.js';
import { chmodSync, closeSync, existsSync, fchmodSync, mkdirSync, openSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import net from 'node:net';
import { resolve } from 'node:path';
import { res } from '../api/registry.js';
import type { EndpointSlice, Node } from '../api/types.js';
import { ensurePki, writeKubeconfigs } from '../apiserver/pki.js';
import { selfCommand } from '../cli/self.js';
import { Client } from '../client/rest.js';
import { haveCommand, runSync } from '../net/exec.js';
import { createTopology, deleteNetns, listNetns } from '../net/topology.js';
import {
  LOCAL_ETCD_MEMBERS, dataDirFor, forgetDataDir, loadConfig, paths, runsLocalEtcd, saveConfig, specOf, validateClusterName, type ClusterConfig, type ProxyMode, PROXY_MODES,
} from './config.js';
import { clusterProcesses, killClusterProcesses, runningSupervisor } from './procs.js';
import { findEtcd, freePortBase } from '../store/etcd-cluster.js';
import { apiHealthy, waitFor, type ComponentState } from './supervisor.js';

export interface UpOptions {
  name: string;
  workers?: number;
  proxyMode?: ProxyMode;
  runtime?: 'containerd' | 'process';
  scheduler?: string;
  dataDir?: string;
  store?: 'sqlite' | 'etcd' | 'memory';
  etcdServers?: string[];
  etcdTls?: { ca?: string; cert?: string; key?: string };
  apiservers?: number;
  lbPool?: string;
  waitMs?: number;
  /** Progress lines go here (stderr by default). */
  out?: (line: string) => void;
}

const DEFAULT_PORT = 6443;
const REQUIRED_COMMANDS: Record<string, string> = { ip: 'iproute2', nft: 'nftables', conntrack: 'conntrack', 'iptables-restore': 'iptables' };

/** What runs pods in a new cluster (`svcplane up --runtime`); SVCPLANE_RUNTIME overrides it. */
export const DEFAULT_RUNTIME: 'containerd' | 'process' = process.env.SVCPLANE_RUNTIME === 'process' ? 'process' : 'containerd';

export function preflight(mode: ProxyMode): void {
  if (process.getuid?.() !== 0) {
    throw new Error('svcplane up needs root: it creates network namespaces, bridges and kernel rules (run it with sudo)');
  }
  const missing = Object.entries(REQUIRED_COMMANDS).filter(([cmd]) => !haveCommand(cmd));
  if (missing.length) {
    throw new Error(`missing commands: ${missing.map(([c]) => c).join(', ')}; install them with: apt-get install -y ${[...new Set(missing.map(([, p]) => p))].join(' ')}`);
  }
  if (!PROXY_MODES.includes(mode)) throw new Error(`--proxy-mode ${mode}: must be one of ${PROXY_MODES.join(', ')}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)));
  });
}

async function portsFree(base: number, count: number): Promise<boolean> {
  for (let i = 0; i < count; i++) if (!(await portFree(base + i))) return false;
  return true;
}

/** 6443, or the next free port when another cluster already has it. */
async function choosePort(count: number): Promise<number> {
  for (let p = DEFAULT_PORT; p < DEFAULT_PORT + 200; p += 10) {
    let ok = true;
    for (let i = 0; i < count && ok; i++) ok = await portFree(p + i);
    if (ok) return p;
  }
  throw new Error('no free port for the API server between 6443 and 6643 on 127.0.0.1');
}

/** The cluster's supervisor, if it runs (pid verified by its recorded start time). */
export function supervisorPid(c: ClusterConfig): number | undefined {
  return runningSupervisor(c.dataDir)?.pid;
}

/**
 * GET /readyz through the kubeconfig `up` hands out (HTTPS to 127.0.0.1:<port>, the cluster's CA,
 * its token): the control plane serves the user, not merely some process on some socket. An API
 * server of another cluster on that port fails the CA check.
 */
export async function apiReady(kubeconfig: string, timeoutMs = 2000): Promise<boolean> {
  let client: Client | undefined;
  try {
    client = Client.fromKubeconfig(kubeconfig);
    const r = await client.request('GET', '/readyz', { timeoutMs });
    if (r.status !== 200) return false;
    // /readyz is public: an authenticated read proves the token is this API server's (a 404 is an
    // answer too; 401/403 or 5xx are not).
    const st = (await client.request('GET', '/api/v1/namespaces/default', { timeoutMs })).status;
    return st === 200 || st === 404;
  } catch {
    return false;
  } finally {
    client?.close();
  }
}

export async function nodesReady(client: Client): Promise<{ ready: number; total: number }> {
  const list = await client.list<Node>(res('nodes'));
  const ready = list.items.filter((n) => n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length;
  return { ready, total: list.items.length };
}

/** Ready, with a heartbeat at or after `since` (ms). */
function readySince(n: Node, since: number): boolean {
  const r = n.status?.conditions?.find((x) => x.type === 'Ready');
  return r?.status === 'True' && Date.parse(r.lastHeartbeatTime ?? '') >= since;
}

/**
 * Wait until `want` Nodes are Ready (heartbeat since `since`): list, then watch from the list's
 * resourceVersion, so each node agent's Ready is seen the moment it is posted; a watch that ends
 * is followed by a new list. false at the deadline.
 */
export async function watchNodesReady(client: Client, want: number, since: number, timeoutMs: number, progress: (ready: number) => void = () => {}): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    let list;
    try { list = await client.list<Node>(res('nodes')); } catch { await new Promise((r) => setTimeout(r, 100)); continue; }
    const ready = new Map(list.items.map((n) => [n.metadata!.name!, readySince(n, since)]));
    const count = () => [...ready.values()].filter(Boolean).length;
    progress(count());
    if (count() >= want) return true;
    const done = await new Promise<boolean>((resolve) => {
      const timer = setTimeout(() => { h.stop(); resolve(false); }, Math.max(0, deadline - Date.now()));
      const h = client.watch<Node>(res('nodes'), undefined, { resourceVersion: list.metadata?.resourceVersion }, (ev) => {
        if (ev.type === 'BOOKMARK' || ev.type === 'ERROR') return;
        const name = ev.object.metadata?.name;
        if (!name) return;
        if (ev.type === 'DELETED') ready.delete(name); else ready.set(name, readySince(ev.object, since));
        progress(count());
        if (count() >= want) { clearTimeout(timer); h.stop(); resolve(true); }
      });
      void h.done.then(() => { clearTimeout(timer); resolve(count() >= want); });
    });
    if (done) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

export async function up(o: UpOptions): Promise<ClusterConfig> {
  const out = o.out ?? ((l: string) => process.stderr.write(l + '\n'));
  validateClusterName(o.name);
  const dataDir = dataDirFor(o.name, o.dataDir);
  const existing = loadConfig(o.name, dataDir);
  const c: ClusterConfig = existing
    ? { ...existing, proxyMode: o.proxyMode ?? existing.proxyMode, scheduler: o.scheduler ?? existing.scheduler, runtime: existing.runtime ?? 'process' }
    : {
      name: o.name, dataDir, workers: o.workers ?? 2, proxyMode: o.proxyMode ?? 'nftables', scheduler: o.scheduler ?? 'random', runtime: o.runtime ?? DEFAULT_RUNTIME,
      store: o.store ?? (o.etcdServers?.length ? 'etcd' : 'sqlite'), etcdServers: o.etcdServers, etcdTls: o.etcdTls, apiservers: o.apiservers ?? 1, apiserverPort: 0,
      lbPool: o.lbPool ?? '172.18.255.200-172.18.255.250', createdAt: new Date().toISOString(),
    };
  if (existing && o.workers !== undefined && o.workers !== existing.workers) {
    throw new Error(`cluster "${o.name}" exists with ${existing.workers} workers; run svcplane down --name ${o.name} --purge to recreate it with ${o.workers}`);
  }
  if (existing && o.store && o.store !== existing.store) {
    throw new Error(`cluster "${o.name}" keeps its objects in ${existing.store}; to move them to ${o.store}: svcplane down --name ${o.name} && svcplane store migrate --name ${o.name} --to ${o.store}`);
  }
  if (existing && o.apiservers !== undefined && o.apiservers !== existing.apiservers) {
    throw new Error(`cluster "${o.name}" exists with ${existing.apiservers} API server(s); run svcplane down --name ${o.name} --purge to recreate it with ${o.apiservers}`);
  }
  if (!Number.isInteger(c.apiservers) || c.apiservers < 1 || c.apiservers > 5) throw new Error(`--apiservers ${c.apiservers}: must be 1 to 5`);
  if (c.apiservers > 1 && c.store !== 'etcd') {
    throw new Error(`--apiservers ${c.apiservers} needs --store etcd: a ${c.store} store belongs to one API server process`);
  }
  if (c.etcdServers?.length && c.store !== 'etcd') throw new Error(`--etcd-servers is for --store etcd (the store is ${c.store})`);
  preflight(c.proxyMode);
  if (runsLocalEtcd(c) && !findEtcd()) throw new Error('--store etcd starts a local etcd cluster, but etcd is not installed; install it with: apt-get install -y etcd-server (or give --etcd-servers)');
  const t0 = Date.now();
  const owner = otherOwner(c.name, c.dataDir);
  if (owner) throw new Error(`a cluster named "${c.name}" is running from another data dir (${owner}); pick another --name, or stop it with: svcplane down --name ${c.name} --data-dir ${owner}`);
  const running = supervisorPid(c);
  const wait = o.waitMs ?? 90_000;
  if (running) {
    if (existing && (existing.proxyMode !== c.proxyMode || existing.scheduler !== c.scheduler)) {
      saveConfig(c);
      process.kill(running, 'SIGHUP');
      out(`cluster "${c.name}" is running: switching its proxies to mode ${c.proxyMode}, scheduler ${c.scheduler}`);
      await waitForProxies(c, Date.now());
    }
    // Running is not enough: the API must serve through the kubeconfig the user has.
    if (!(await waitFor(() => apiReady(paths(c.dataDir).kubeconfig), Math.min(wait, 30_000), 200))) {
      throw new Error(`cluster "${c.name}" is running (supervisor pid ${running}) but its API server does not answer at https://127.0.0.1:${c.apiserverPort}; see ${paths(c.dataDir).log('apiserver')}, or restart it with: svcplane down --name ${c.name} && svcplane up --name ${c.name}`);
    }
    out(`cluster "${c.name}" is already running (svcplane status --name ${c.name})`);
    return c;
  }
  // The supervisor is gone but what it started may still run (it was killed -9): a second set of
  // components would fight the first for the store and the ports. Stop them, then start afresh
  // (pods restart in new sandboxes, as after down + up).
  const orphans = clusterProcesses(c.dataDir).size;
  if (orphans) {
    out(`cluster "${c.name}": its supervisor is not running but ${orphans} of its processes are; stopping them to start the cluster again`);
    await killClusterProcesses(c.dataDir, 10_000);
    const left = clusterProcesses(c.dataDir);
    if (left.size) throw new Error(`cluster "${c.name}": could not stop its processes ${[...left.keys()].join(', ')}`);
  }
  const ports = c.apiservers > 1 ? c.apiservers + 1 : 1;
  if (!c.apiserverPort || !(await portsFree(c.apiserverPort, ports))) c.apiserverPort = await choosePort(ports);
  if (runsLocalEtcd(c) && (!c.etcdBasePort || !(await portsFree(c.etcdBasePort, 2 * LOCAL_ETCD_MEMBERS)))) {
    if (c.etcdBasePort && existsSync(paths(c.dataDir).etcd)) {
      throw new Error(`the etcd ports ${c.etcdBasePort}-${c.etcdBasePort + 2 * LOCAL_ETCD_MEMBERS - 1} of cluster "${c.name}" are in use by another program; free them and run up again`);
    }
    c.etcdBasePort = await freePortBase(2 * LOCAL_ETCD_MEMBERS, 20_000, 30_000);
  }
  saveConfig(c);
  const p = paths(c.dataDir);
  mkdirSync(p.logs, { recursive: true, mode: 0o700 });
  chmodSync(p.logs, 0o700);
  const storeDesc = c.store !== 'etcd' ? c.store : c.etcdServers?.length ? `etcd at ${c.etcdServers.join(',')}` : `etcd (${LOCAL_ETCD_MEMBERS} members)`;
  out(`${existing ? 'Resuming' : 'Creating'} cluster "${c.name}" (${c.workers + 1} nodes, proxy mode ${c.proxyMode}, store ${storeDesc}${c.apiservers > 1 ? `, ${c.apiservers} API servers` : ''}) in ${c.dataDir}`);
  const spec = specOf(c);
  removeClusterNetns(c.name); // leftovers of a crashed run
  const network = createTopology(spec);
  // Certificates, token and kubeconfigs now, while the ip commands run, rather than on the API
  // server's critical path: node agents then find their kubeconfig at once and register the
  // moment the API answers. (The API server finds them and rewrites the same kubeconfigs.)
  try {
    writeKubeconfigs(c.dataDir, ensurePki(p.pki, [spec.nodes[0]!.ip]), `https://127.0.0.1:${c.apiserverPort}`, p.apiserverSocket);
  } catch (e) {
    await network.catch(() => undefined);
    throw e;
  }
  // A new node's containerd starts from the preloaded node root (pause and coredns unpacked).
  const seeded = c.runtime === 'containerd' ? seedNodes(c, spec.nodes.map((n) => n.name), out) : Promise.resolve();
  await network;
  await seeded;
  out(` ✓ network: lan 172.18.0.0/16, nodes ${spec.nodes.map((n) => `${n.name}=${n.ip}`).join(' ')}, client 172.18.0.100 (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  const fd = openSync(p.log('supervisor'), 'a', 0o600);
  fchmodSync(fd, 0o600);
  const sup = spawn(selfCommand()[0]!, [...selfCommand().slice(1), 'supervise', '--name', c.name, '--data-dir', c.dataDir], {
    detached: true, stdio: ['ignore', fd, fd],
  });
  closeSync(fd);
  sup.unref();
  if (!(await waitFor(() => apiHealthy(p.apiserverSocket), wait, 50))) {
    throw new Error(`the API server did not start within ${wait / 1000}s; see ${p.log('apiserver')}`);
  }
  out(` ✓ API server https://127.0.0.1:${c.apiserverPort} (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  const client = Client.fromKubeconfig(p.kubeconfigLocal);
  try {
    let last = '';
    // A resumed cluster's Nodes are stored Ready from its last run: only a heartbeat from this run counts.
    const ok = await watchNodesReady(client, spec.nodes.length, Math.floor(t0 / 1000) * 1000, wait, (ready) => {
      const line = `${ready}/${spec.nodes.length}`;
      if (line !== last) { last = line; out(`   nodes Ready: ${line}`); }
    });
    if (!ok) throw new Error(`nodes not Ready within ${wait / 1000}s; see ${p.logs}/kubelet-*.log`);
  } finally {
    client.close();
  }
  if (!(await waitFor(() => apiReady(p.kubeconfig), wait, 100))) {
    throw new Error(`the API server does not answer at https://127.0.0.1:${c.apiserverPort} with ${p.kubeconfig} within ${wait / 1000}s; see ${p.log('apiserver')}`);
  }
  out(` ✓ all ${spec.nodes.length} nodes Ready in ${((Date.now() - t0) / 1000).toFixed(1)}s`);
  // A cluster is up when a pod can resolve a Service name: kube-dns has a ready endpoint and the
  // proxies route 10.96.0.10 to it (else a first `nslookup` right after up can fail). The
  // endpoint is watched for through the API first: a dig per try is two processes, and trying
  // every 100 ms while the DNS pods start took CPU from them.
  const api = Client.fromKubeconfig(p.kubeconfigLocal);
  try {
    await waitFor(() => kubeDnsEndpointReady(api), wait, 100);
  } finally {
    api.close();
  }
  if (!(await waitFor(() => clusterDnsAnswers(spec.nodes[0]!.netns), wait, 100))) {
    throw new Error(`cluster DNS (${KUBE_DNS_IP}) did not answer within ${wait / 1000}s; see kubectl -n kube-system get pods -l k8s-app=kube-dns and ${p.logs}/kubelet-*.log`);
  }
  out(` ✓ cluster DNS ${KUBE_DNS_IP} answers (${((Date.now() - t0) / 1000).toFixed(1)}s)`);
  out(`kubeconfig: ${p.kubeconfig}`);
  out(`  kubectl --kubeconfig ${p.kubeconfig} get nodes      (or: svcplane kubeconfig --name ${c.name} --merge)`);
  return c;
}

/** Whether a kube-dns EndpointSlice has a ready endpoint. */
async function kubeDnsEndpointReady(client: Client): Promise<boolean> {
  try {
    const l = await client.list<EndpointSlice>(res('endpointslices'), 'kube-system', { labelSelector: 'kubernetes.io/service-name=kube-dns' });
    return l.items.some((s) => s.endpoints?.some((e) => e.conditions?.ready));
  } catch {
    return false;
  }
}

/** Whether kube-dns answers kubernetes.default from a node (dig: one try, 1 s). */
function clusterDnsAnswers(netns: string): Promise<boolean> {
  return new Promise((done) => {
    execFile('ip', ['netns', 'exec', netns, 'dig', '+short', '+time=1', '+tries=1', `@${KUBE_DNS_IP}`, 'kubernetes.default.svc.cluster.local', 'A'],
      { timeout: 3000 }, (err, stdout) => done(!err && /^\d+\.\d+\.\d+\.\d+$/m.test(stdout)));
  });
}

/** Wait until every node's proxy was (re)started after `since` and has been up a moment. */
async function waitForProxies(c: ClusterConfig, since: number): Promise<void> {
  const p = paths(c.dataDir);
  const names = specOf(c).nodes.map((n) => `proxy-${n.name}`);
  await waitFor(async () => {
    try {
      const st = JSON.parse(readFileSync(p.supervisorState, 'utf8')) as { components: ComponentState[] };
      return names.every((n) => st.components.some((s) => s.name === n && s.pid && s.startedAt && Date.parse(s.startedAt) >= since - 1000 && Date.now() - Date.parse(s.startedAt) > 1500));
    } catch { return false; }
  }, 30_000, 200);
}

/** Names of every namespace that belongs to cluster `name` (nodes, lan, client, pods). */
export function clusterNetns(name: string): string[] {
  // Pod namespaces end in 8 hex digits of the pod's uid: cluster "a" must not take "a-p"'s nodes.
  const re = new RegExp(`^svp-${name.replace(/[-]/g, '\\-')}-(control-plane|worker\\d*|lan|client|p-[0-9a-f]{8})$`);
  return listNetns().filter((n) => re.test(n));
}

/**
 * The data dir of the processes running in cluster `name`'s namespaces, when that is not
 * `dataDir`: the same name used with two data dirs would share (and delete) one set of namespaces.
 */
export function otherOwner(name: string, dataDir: string): string | undefined {
  const mine = resolve(dataDir);
  for (const ns of clusterNetns(name).filter((n) => !n.includes('-p-'))) {
    for (const pid of runSync(['ip', 'netns', 'pids', ns], { allowFail: true }).stdout.split('\n').filter(Boolean)) {
      let argv: string[];
      try { argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0'); } catch { continue; }
      const i = argv.indexOf('--data-dir');
      if (i >= 0 && argv[i + 1] && resolve(argv[i + 1]!) !== mine) return argv[i + 1];
    }
  }
  return undefined;
}

function removeClusterNetns(name: string): void {
  // Pods first (their processes hold veths into the node bridges), then nodes, client, lan.
  const all = clusterNetns(name);
  const order = (n: string) => (n.includes('-p-') ? 0 : n.endsWith('-lan') ? 2 : 1);
  for (const ns of all.sort((a, b) => order(a) - order(b))) deleteNetns(ns);
}

export interface DownOptions { name: string; dataDir?: string; purge?: boolean; out?: (l: string) => void }

export async function down(o: DownOptions): Promise<void> {
  const out = o.out ?? ((l: string) => process.stderr.write(l + '\n'));
  validateClusterName(o.name);
  const dataDir = dataDirFor(o.name, o.dataDir);
  const owner = otherOwner(o.name, dataDir);
  if (owner) throw new Error(`cluster "${o.name}" is running from another data dir (${owner}), not ${dataDir}; to stop it: svcplane down --name ${o.name} --data-dir ${owner}`);
  const c = loadConfig(o.name, dataDir);
  const before = clusterNetns(o.name).length;
  // A half-created cluster has namespaces or a data dir; a name with neither never existed here.
  if (!c && !before && !existsSync(dataDir)) {
    throw new Error(`cluster "${o.name}" not found: no ${dataDir} and no network namespace svp-${o.name}-*`);
  }
  if (process.getuid?.() !== 0) throw new Error('svcplane down needs root: it stops the cluster\'s processes and deletes network namespaces (run it with sudo)');
  const pid = runningSupervisor(dataDir)?.pid;
  if (pid) {
    // The supervisor stops its components (SIGTERM, then SIGKILL after a grace period).
    process.kill(pid, 'SIGTERM');
    await waitFor(async () => runningSupervisor(dataDir)?.pid !== pid, 8000, 50);
  }
  // Whatever it did not stop, or what outlived it (killed -9): pods' containers, components,
  // their children — only processes svcplane recorded starting, and theirs.
  await killClusterProcesses(dataDir);
  // The containers and shims each node's containerd started, their mounts and cgroups.
  if (existsSync(`${dataDir}/containerd`)) {
    for (const node of readdirSync(`${dataDir}/containerd`)) await cleanupNodeRuntime(dataDir, o.name, node);
    removeCgroups(`svcplane-${o.name}`);
  }
  removeClusterNetns(o.name);
  if (existsSync(dataDir)) {
    for (const f of readdirSync(dataDir)) if (/^apiserver(-[a-z0-9]+)?\.sock$/.test(f) || f === 'supervisor.pid') rmSync(`${dataDir}/${f}`, { force: true });
  }
  rmSync(`${dataDir}/kubelet`, { recursive: true, force: true });
  if (o.purge) { rmSync(dataDir, { recursive: true, force: true }); forgetDataDir(dataDir); }
  out(`Deleted cluster "${o.name}": ${before} network namespaces and their processes removed${o.purge ? `, ${dataDir} deleted` : `; data kept in ${dataDir} (svcplane up --name ${o.name} resumes, --purge deletes it)`}`);
}

/** Seed each new node's containerd root from the node root, building that first if needed. */
async function seedNodes(c: ClusterConfig, nodes: string[], out: (s: string) => void): Promise<void> {
  const fresh = nodes.filter((n) => !existsSync(containerdPaths(c.dataDir, n).root));
  if (!fresh.length) return;
  const t = Date.now();
  let template: string | undefined;
  try {
    template = await builtNodeRoot(imageCacheDir()) ?? await ensureNodeRoot(imageCacheDir());
    if (template && Date.now() - t > 1000) out(` ✓ node root: ${PRELOADED.join(', ')} preloaded for every node (${((Date.now() - t) / 1000).toFixed(1)}s, once per image build)`);
  } catch (e) {
    out(`   (no preloaded node root: ${(e as Error).message}; nodes pull their images)`);
  }
  if (template) await Promise.all(fresh.map((n) => seedNodeRoot(template!, containerdPaths(c.dataDir, n).root)));
}
