/**
 * @module cli/demo
 * `svcplane demo`: the seed notes, live. Brings a cluster up (named dev, like the notes), applies
 * the examples and walks through them, printing each command and its real output; then repeats
 * the ClusterIP walk in every proxy mode. Tears the cluster down at the end unless --keep.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Command } from 'commander';
import { PROJECT_ROOT } from './self.js';
import { down, up } from '../cluster/lifecycle.js';
import { paths, type ClusterConfig, type ProxyMode } from '../cluster/config.js';
import { resolveHost } from '../cluster/cli.js';

const BOLD = process.stdout.isTTY ? '\x1b[1m' : '';
const DIM = process.stdout.isTTY ? '\x1b[2m' : '';
const RESET = process.stdout.isTTY ? '\x1b[0m' : '';

interface Demo {
  c: ClusterConfig;
  kubeconfig: string;
  cacheDir: string;
}

function say(text: string): void {
  process.stdout.write(`\n${BOLD}== ${text}${RESET}\n`);
}

/** Print a command as the user would type it, run it, print its output. */
function show(d: Demo, display: string, argv: string[], input?: string): { code: number; out: string } {
  process.stdout.write(`${DIM}$ ${display}${RESET}\n`);
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', input, timeout: 60_000, env: { ...process.env, KUBECONFIG: d.kubeconfig } });
  const out = (r.stdout ?? '') + (r.stderr ?? '');
  process.stdout.write(out.endsWith('\n') || !out ? out : `${out}\n`);
  return { code: r.status ?? 1, out: r.stdout ?? '' };
}

function kubectl(d: Demo, args: string[], input?: string) {
  return show(d, `kubectl ${args.join(' ')}`, ['kubectl', '--kubeconfig', d.kubeconfig, '--cache-dir', d.cacheDir, ...args], input);
}

function quiet(d: Demo, args: string[]): string {
  return spawnSync('kubectl', ['--kubeconfig', d.kubeconfig, '--cache-dir', d.cacheDir, ...args], { encoding: 'utf8' }).stdout ?? '';
}

function onHost(d: Demo, host: string, argv: string[]) {
  const ns = resolveHost(host, d.c.name, d.c.workers);
  return show(d, `svcplane exec ${host} -- ${argv.join(' ')}`, ['ip', 'netns', 'exec', ns, ...argv]);
}

/** Whether a URL fetched on a host answers with text in the body (quietly: a readiness check). */
function answers(d: Demo, host: string, url: string, text: string): boolean {
  const ns = resolveHost(host, d.c.name, d.c.workers);
  return (spawnSync('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '2', url], { encoding: 'utf8', timeout: 10_000 }).stdout ?? '').includes(text);
}

async function waitUntil(what: string, fn: () => boolean, timeoutMs = 120_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  let dots = 0;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    if (process.stdout.isTTY) process.stdout.write(dots++ % 10 === 0 ? `${DIM}  waiting for ${what}…${RESET}\r` : '');
    await new Promise((r) => setTimeout(r, 500));
  }
}

function readyPods(d: Demo, selector: string, ns = 'default'): any[] {
  try {
    const items = JSON.parse(quiet(d, ['get', 'pods', '-n', ns, '-l', selector, '-o', 'json'])).items as any[];
    return items.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True'));
  } catch { return []; }
}

function clusterIPWalk(d: Demo, ip: string, port: number, n = 4): void {
  for (let i = 0; i < n; i++) onHost(d, d.c.name + '-control-plane', ['curl', '-s', `${ip}:${port}`]);
}

export async function runDemo(o: { name: string; dataDir?: string; keep: boolean; modes: ProxyMode[] }): Promise<void> {
  const ex = (f: string) => join(PROJECT_ROOT, 'examples', f);
  say(`svcplane up --name ${o.name} --scheduler rr`);
  const c = await up({ name: o.name, dataDir: o.dataDir, scheduler: 'rr', out: (l) => process.stdout.write(`${l}\n`) });
  const d: Demo = { c, kubeconfig: paths(c.dataDir).kubeconfig, cacheDir: mkdtempSync(join(tmpdir(), 'svcplane-demo-')) };
  try {
    kubectl(d, ['get', 'nodes', '-o', 'wide']);

    say('WEEK046: a Deployment of 3 kubernetes-bootcamp replicas behind a ClusterIP Service');
    kubectl(d, ['apply', '-f', ex('myapp-deployment.yaml')]);
    kubectl(d, ['apply', '-f', ex('myapp-service.yaml')]);
    kubectl(d, ['apply', '-f', ex('toolbox.yaml')]);
    kubectl(d, ['rollout', 'status', 'deployment/myapp', '--timeout=120s']);
    kubectl(d, ['get', 'deploy', 'myapp', '-o', 'wide']);
    kubectl(d, ['get', 'pods', '-o', 'wide']);
    kubectl(d, ['get', 'svc', 'myapp', '-o', 'wide']);
    await waitUntil('3 endpoints', () => quiet(d, ['get', 'endpoints', 'myapp', '-o', 'jsonpath={.subsets[*].addresses[*].ip}']).split(' ').filter(Boolean).length === 3);
    kubectl(d, ['describe', 'svc', 'myapp']);
    kubectl(d, ['get', 'endpoints', 'myapp']);
    const myappIP = quiet(d, ['get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}']);
    // Endpoints are in the API before every node's proxy has programmed them (milliseconds).
    await waitUntil('the ClusterIP on the node', () => answers(d, c.name + '-control-plane', `${myappIP}:38080`, 'Hello Kubernetes bootcamp'));
    say('Requests through the ClusterIP: the replicas take turns (--scheduler rr)');
    clusterIPWalk(d, myappIP, 38080);
    await waitUntil('toolbox pod', () => readyPods(d, 'app=toolbox').length === 1);
    say('From a pod, by name, through cluster DNS');
    kubectl(d, ['exec', 'toolbox', '--', 'nslookup', 'myapp']);
    kubectl(d, ['exec', 'toolbox', '--', 'curl', '-s', 'myapp:38080']);

    say('NodePort: nginx-deploy + nginx-app (8080→80, nodePort 32380), from the outside client host 172.18.0.100');
    kubectl(d, ['apply', '-f', ex('nginx-service-deployment.yaml')]);
    kubectl(d, ['rollout', 'status', 'deployment/nginx-deploy', '--timeout=120s']);
    kubectl(d, ['get', 'svc', 'nginx-app', '-o', 'wide']);
    const nodeIPs = ['172.18.0.2', '172.18.0.3', '172.18.0.4'].slice(0, c.workers + 1);
    await waitUntil('NodePort 32380 on every node', () => nodeIPs.every((ip) => answers(d, 'client', `${ip}:32380`, 'Welcome to nginx')));
    for (const ip of nodeIPs) onHost(d, 'client', ['sh', '-c', `curl -s ${ip}:32380 | grep -o '<h1>.*</h1>'`]);
    say('kubectl exec into one nginx pod and change its page');
    const nginxPods = readyPods(d, 'app=nginx-app');
    const target = nginxPods[0]?.metadata?.name;
    if (target) {
      kubectl(d, ['exec', '-i', target, '--', '/bin/bash'], 'echo "k8s-nodeXX" > /usr/share/nginx/html/index.html\n');
      process.stdout.write(`${DIM}  (ran: echo "k8s-nodeXX" > /usr/share/nginx/html/index.html)${RESET}\n`);
      onHost(d, c.name + '-control-plane', ['curl', '-s', nginxPods[0].status.podIP]);
      const nginxIP = quiet(d, ['get', 'svc', 'nginx-app', '-o', 'jsonpath={.spec.clusterIP}']);
      say('The edited page shows up among the others through the Service');
      for (let i = 0; i < 3; i++) onHost(d, c.name + '-control-plane', ['sh', '-c', `curl -s ${nginxIP}:8080 | grep -o -m1 'k8s-nodeXX\\|<h1>.*</h1>'`]);
    }

    say('LoadBalancer: frontend-service gets an external IP, announced in the lan');
    for (const f of ['frontend-deployment.yaml', 'frontend-service.yaml', 'backend-deployment.yaml', 'backend-service.yaml']) kubectl(d, ['apply', '-f', ex(f)]);
    await waitUntil('an external IP', () => /^\d/.test(quiet(d, ['get', 'svc', 'frontend-service', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'])));
    kubectl(d, ['get', 'svc', 'frontend-service']);
    const lbIP = quiet(d, ['get', 'svc', 'frontend-service', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}']);
    await waitUntil('frontend pods', () => readyPods(d, 'app=frontend').length === 3);
    await waitUntil('the external IP from the client', () => answers(d, 'client', lbIP, '<h1>'));
    onHost(d, 'client', ['sh', '-c', `curl -s ${lbIP} | grep -o '<h1>.*</h1>'`]);
    say('The backend image is not built in: its pods say so, and how to load one');
    await waitUntil('the backend pods\' image pull to fail', () => /ErrImagePull|ImagePullBackOff/.test(
      quiet(d, ['get', 'pods', '-l', 'app=backend', '-o', 'jsonpath={.items[*].status.containerStatuses[*].state.waiting.reason}'])), 60_000);
    kubectl(d, ['get', 'pods', '-l', 'app=backend']);

    say('StatefulSet + headless Service in namespace dev: a DNS name per pod');
    kubectl(d, ['apply', '-f', ex('dev-namespace.yaml')]);
    for (const f of ['stateful-nginx.yaml', 'nginx-service-clusterip.yaml', 'svc-nginx-headless.yaml']) kubectl(d, ['apply', '-f', ex(f)]);
    await waitUntil('3 StatefulSet pods', () => readyPods(d, 'app=nginx-pod', 'dev').length === 3, 180_000);
    kubectl(d, ['get', 'pod', '-n', 'dev', '-o', 'wide']);
    kubectl(d, ['get', 'svc', '-n', 'dev']);
    kubectl(d, ['get', 'endpoints', '-n', 'dev']);
    for (const i of [0, 1, 2]) kubectl(d, ['exec', 'toolbox', '--', 'nslookup', `stateful-nginx-${i}.svc-nginx.dev.svc.cluster.local`]);

    say('ExternalName: a CNAME to a name outside the cluster');
    kubectl(d, ['apply', '-f', ex('prod-namespace.yaml')]);
    kubectl(d, ['apply', '-f', ex('my-service-externalname.yaml')]);
    kubectl(d, ['apply', '-f', ex('variants-example-externalname.yaml')]);
    await waitUntil('cluster DNS to serve the new names', () => spawnSync('kubectl', ['--kubeconfig', d.kubeconfig, '--cache-dir', d.cacheDir, 'exec', 'toolbox', '--', 'curl', '-s', '-m', '2', 'example-web.dev'], { encoding: 'utf8' }).status === 0, 60_000);
    kubectl(d, ['get', 'svc', '-n', 'prod']);
    kubectl(d, ['exec', 'toolbox', '--', 'nslookup', 'my-service.prod.svc.cluster.local']);
    kubectl(d, ['exec', 'toolbox', '--', 'sh', '-c', 'curl -s example-web.dev | grep -o "<h1>.*</h1>"']);

    say('A Service without a selector + hand-written Endpoints (192.0.2.42:9376, outside the cluster)');
    kubectl(d, ['apply', '-f', ex('my-service-without-selector.yaml')]);
    await waitUntil('the mirrored EndpointSlice to be programmed', () => spawnSync('kubectl', ['--kubeconfig', d.kubeconfig, '--cache-dir', d.cacheDir, 'exec', 'toolbox', '--', 'curl', '-s', '-m', '2', 'my-service'], { encoding: 'utf8' }).status === 0, 60_000);
    kubectl(d, ['get', 'endpointslices', '-l', 'kubernetes.io/service-name=my-service']);
    kubectl(d, ['exec', 'toolbox', '--', 'curl', '-s', '-m', '5', 'my-service']);

    for (const mode of o.modes) {
      say(`Proxy mode ${mode}: the same ClusterIP walk`);
      process.stdout.write(`${DIM}$ svcplane up --name ${c.name} --proxy-mode ${mode} --scheduler rr${RESET}\n`);
      try {
        await up({ name: c.name, dataDir: c.dataDir, proxyMode: mode, scheduler: 'rr', out: (l) => process.stdout.write(`${l}\n`) });
        clusterIPWalk(d, myappIP, 38080, 4);
        for (const ip of nodeIPs.slice(0, 1)) onHost(d, 'client', ['sh', '-c', `curl -s ${ip}:32380 | grep -o -m1 'k8s-nodeXX\\|<h1>.*</h1>'`]);
      } catch (e) {
        process.stdout.write(`  ${(e as Error).message}\n`);
      }
    }
    if (o.modes.length) await up({ name: c.name, dataDir: c.dataDir, proxyMode: 'nftables', scheduler: 'rr', out: () => {} });

    say('Your turn');
    process.stdout.write([
      `  export KUBECONFIG=${d.kubeconfig}      # or: svcplane kubeconfig --name ${c.name} --merge`,
      '  kubectl get svc -A -o wide',
      `  svcplane exec client -- curl -s 172.18.0.3:32380`,
      `  svcplane status --name ${c.name}`,
      `  svcplane down --name ${c.name}          # tear it all down`,
      '',
    ].join('\n'));
  } finally {
    if (!o.keep) {
      say(`svcplane down --name ${c.name}`);
      await down({ name: c.name, dataDir: c.dataDir, out: (l) => process.stdout.write(`${l}\n`) });
    }
  }
}

export function register(program: Command): void {
  program.command('demo').description('bring up a cluster and walk through the seed notes live, printing each command and its output')
    .option('--name <name>', 'cluster name', 'dev')
    .option('--data-dir <dir>', 'data directory (default /var/lib/svcplane/<name>)')
    .option('--keep', 'leave the cluster running at the end')
    .option('--modes <list>', 'other proxy modes to repeat the ClusterIP walk in (comma-separated)', 'iptables,userspace')
    .action(async (opts) => {
      await runDemo({ name: opts.name, dataDir: opts.dataDir, keep: !!opts.keep, modes: String(opts.modes).split(',').filter(Boolean) as ProxyMode[] });
    });
}
