/**
 * Pods as containers, from a user's side (kubectl, curl, ctr against one cluster on containerd):
 * what a pod can see of the host (processes, the data dir's secrets, sockets, loopback, /tmp),
 * a memory limit that is enforced (OOMKilled, exit 137, restarted), kill -9 of a container's main
 * process, and kill -9 of the node's containerd and of its kubelet while a Service keeps
 * answering and the pods are adopted, not restarted.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { paths } from '../src/cluster/config.js';
import { containerdPaths, nodeCgroupParent } from '../src/cluster/containerd.js';
import { procStat } from '../src/cluster/procs.js';
import { resolveHost } from '../src/cluster/cli.js';
import { isRoot, startCluster, type TestCluster } from './lib/harness.js';

let c: TestCluster;
const worker = () => `${c.name}-worker`;
const tag = `svp${process.pid}`;

function pod(name: string, containers: object[], extra: object = {}): object {
  return { apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } }, spec: { nodeSelector: { 'kubernetes.io/hostname': worker() }, terminationGracePeriodSeconds: 2, containers, ...extra } };
}

function podJson(name: string): any {
  return JSON.parse(c.k('get', 'pod', name, '-o', 'json'));
}
function cstatus(name: string, container: string): any {
  return podJson(name).status?.containerStatuses?.find((s: any) => s.name === container);
}

/** containerd's own view of the node's tasks (`ctr task ls`): container id → pid of its main process. */
function tasks(node: string): Map<string, number> {
  const r = spawnSync('ctr', ['-a', containerdPaths(c.config.dataDir, node).socket, '-n', 'k8s.io', 'task', 'ls'], { encoding: 'utf8', timeout: 10_000 });
  const out = new Map<string, number>();
  if (r.status !== 0) return out;
  for (const l of r.stdout.split('\n').slice(1)) {
    const [id, pid, status] = l.trim().split(/\s+/);
    if (id && pid && status === 'RUNNING') out.set(id, Number(pid));
  }
  return out;
}

/** The main process of a running container, checked to sit in the node's cgroup (so only it is killed). */
function containerPid(podName: string, container: string): { id: string; pid: number } {
  const id = String(cstatus(podName, container)?.containerID ?? '').replace(/^containerd:\/\//, '');
  const pid = tasks(worker()).get(id);
  assert.ok(id && pid, `task of ${podName}/${container} (${id}) in ctr task ls`);
  assert.match(readFileSync(`/proc/${pid}/cgroup`, 'utf8'), new RegExp(nodeCgroupParent(c.name, worker())));
  return { id, pid };
}

/** A supervised component's pid, verified against its recorded start time. */
function componentPid(name: string): number | undefined {
  const st = JSON.parse(readFileSync(paths(c.config.dataDir).supervisorState, 'utf8')) as { components: { name: string; pid?: number; startTicks?: string }[] };
  const s = st.components.find((x) => x.name === name);
  return s?.pid && procStat(s.pid)?.startTicks === s.startTicks ? s.pid : undefined;
}

/** curl the URL from a node over and over until stop() resolves; counts answers and failures. */
function hammer(host: string, url: string): { stop: () => Promise<{ ok: number; failed: string[] }> } {
  const ns = resolveHost(host, c.name, c.config.workers);
  let running = true;
  let ok = 0;
  const failed: string[] = [];
  const once = () => new Promise<void>((res) => {
    const p = spawn('ip', ['netns', 'exec', ns, 'curl', '-s', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url], { stdio: ['ignore', 'pipe', 'ignore'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d; });
    p.on('close', (code) => { if (code === 0 && out === '200') ok++; else failed.push(`${new Date().toISOString()} exit ${code} http ${out}`); res(); });
  });
  const loop = (async () => { while (running) { await once(); await new Promise((r) => setTimeout(r, 50)); } })();
  return { stop: async () => { running = false; await loop; return { ok, failed }; } };
}

function readyTransition(name: string): string | undefined {
  return podJson(name).status?.conditions?.find((x: any) => x.type === 'Ready' && x.status === 'True')?.lastTransitionTime;
}

describe('pods are containers', { skip: !isRoot() && 'needs root', concurrency: false }, () => {
  before(async () => {
    c = await startCluster({ runtime: 'containerd', workers: 1 });
    const hog = pod('hog', [
      { name: 'hog', image: 'busybox', command: ['sh', '-c', 'x=a; while true; do x=$x$x; done'], resources: { limits: { memory: '64Mi' } } },
      // Same limit, but idle: its cgroup shows what the runtime configured.
      { name: 'idle', image: 'busybox', command: ['sleep', '100000'], resources: { limits: { memory: '64Mi' } } },
    ]);
    const items = [
      pod('iso', [{ name: 'tools', image: 'nicolaka/netshoot' }]),
      hog,
      pod('victim', [{ name: 'nginx', image: 'nginx' }]),
      {
        apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'web' },
        spec: { replicas: 1, selector: { matchLabels: { app: 'web' } }, template: { metadata: { labels: { app: 'web' } }, spec: { nodeSelector: { 'kubernetes.io/hostname': worker() }, containers: [{ name: 'nginx', image: 'nginx', readinessProbe: { httpGet: { path: '/', port: 80 }, periodSeconds: 1 } }] } } },
      },
      { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } },
    ];
    const r = c.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items }) });
    assert.equal(r.code, 0, r.err);
    await c.podsReady('app in (iso,victim,web)', 3);
  }, { timeout: 240_000 });
  after(async () => { await c?.destroy(); });

  it('a pod sees only its own processes, none of the data dir, sockets or host loopback, and writes only its own /tmp', { timeout: 60_000 }, async () => {
    // Processes: the container's own, numbered from 1; the host's (this test's own pid among them) are not there.
    const ps = c.k('exec', 'iso', '--', 'ps', '-eo', 'pid=,args=').trim().split('\n').map((l) => l.trim());
    assert.ok(spawnSync('ps', ['-e'], { encoding: 'utf8' }).stdout.split('\n').length > 20, 'the host has many processes');
    assert.deepEqual(ps.map((l) => l.replace(/^\d+\s+/, '')).sort(), ['ps -eo pid=,args=', 'sleep infinity'], ps.join('\n'));
    assert.match(ps.find((l) => l.endsWith('sleep infinity'))!, /^1\s/);
    const mine = c.kubectl(['exec', 'iso', '--', 'cat', `/proc/${process.pid}/cmdline`]);
    assert.ok(!mine.out.includes('node'), mine.out);

    // The cluster's secrets and sockets exist on the host, and not in the pod: by absolute path, or
    // relative to where exec starts (the container's /, not the host's).
    const p = paths(c.config.dataDir);
    const secret = [c.config.dataDir, p.kubeconfig, p.kubeconfigLocal, join(p.pki, 'ca.key'), join(p.pki, 'token'), join(p.pki, 'sa.key'), p.db,
      p.apiserverSocket, p.apiserverSecureSocket, p.kubeletSocket(worker()), containerdPaths(c.config.dataDir, worker()).socket];
    for (const f of secret) assert.ok(existsSync(f), `${f} exists on the host`);
    assert.equal(c.k('exec', 'iso', '--', 'pwd').trim(), '/');
    assert.deepEqual(c.k('exec', 'iso', '--', 'ls', '-a', '.').split('\n').sort(), c.k('exec', 'iso', '--', 'ls', '-a', '/').split('\n').sort());
    const script = secret.flatMap((f) => [f, f.slice(1)]).map((f) => `[ -e '${f}' ] && echo '${f}'`).join('; ');
    assert.equal(c.kubectl(['exec', 'iso', '--', 'sh', '-c', `${script}; true`]).out, '');
    const key = readFileSync(join(p.pki, 'ca.key'), 'utf8');
    for (const f of [join(p.pki, 'ca.key'), join(p.pki, 'ca.key').slice(1), `/proc/1/root${join(p.pki, 'ca.key')}`]) {
      const r = c.kubectl(['exec', 'iso', '--', 'cat', f]);
      assert.notEqual(r.code, 0, `cat ${f} in the pod`);
      assert.ok(!r.out.includes(key.split('\n')[1]!), `the CA key through ${f}`);
    }

    // Loopback: the API server's port answers on the host's 127.0.0.1, the node agent's image
    // registry on the node's; from the pod, 127.0.0.1 is its own and neither answers there, while
    // the API is reached the in-cluster way (10.96.0.1:443).
    const port = /https:\/\/127\.0\.0\.1:(\d+)/.exec(readFileSync(p.kubeconfig, 'utf8'))![1]!;
    const hostApi = spawnSync('curl', ['-sk', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', `https://127.0.0.1:${port}/healthz`], { encoding: 'utf8' });
    assert.equal(hostApi.status, 0, 'the API server answers on the host\'s loopback');
    assert.equal(c.exec('worker', ['curl', '-s', '-m', '5', '-o', '/dev/null', '-w', '%{http_code}', 'http://127.0.0.1:5000/v2/']).out, '200');
    const inPod = (url: string) => c.kubectl(['exec', 'iso', '--', 'curl', '-sk', '-m', '3', '-o', '/dev/null', '-w', '%{http_code}', url]);
    assert.notEqual(inPod('https://10.96.0.1:443/healthz').out, '000', 'the pod reaches the API through the kubernetes Service');
    for (const url of [`https://127.0.0.1:${port}/healthz`, 'http://127.0.0.1:5000/v2/']) {
      const r = inPod(url);
      assert.equal(r.out, '000', `${url} from the pod`);
      assert.notEqual(r.code, 0);
    }

    // /tmp: a file copied in and a file touched inside stay in the container.
    const dir = mkdtempSync(join(tmpdir(), 'svp-cp-'));
    try {
      const local = join(dir, 'f');
      writeFileSync(local, `${tag}-content\n`);
      c.k('cp', local, `iso:/tmp/${tag}-cp`);
      c.k('exec', 'iso', '--', 'touch', `/tmp/${tag}-touch`);
      assert.equal(c.k('exec', 'iso', '--', 'cat', `/tmp/${tag}-cp`), `${tag}-content\n`);
      c.k('exec', 'iso', '--', 'test', '-e', `/tmp/${tag}-touch`);
      assert.equal(existsSync(`/tmp/${tag}-cp`), false);
      assert.equal(existsSync(`/tmp/${tag}-touch`), false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('a container over its 64Mi memory limit is OOMKilled (137) and restarted', { timeout: 90_000 }, async () => {
    // The limit is in the container's memory cgroup (cgroup v1 memory.limit_in_bytes, v2 memory.max).
    await c.eventually('idle container running', () => cstatus('hog', 'idle')?.state?.running);
    const { pid } = containerPid('hog', 'idle');
    const cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8').split('\n');
    const v1 = cg.find((l) => /^\d+:([^:]*,)?memory(,[^:]*)?:/.test(l));
    const limit = v1
      ? readFileSync(join('/sys/fs/cgroup/memory', v1.split(':')[2]!, 'memory.limit_in_bytes'), 'utf8').trim()
      : readFileSync(join('/sys/fs/cgroup', cg.find((l) => l.startsWith('0::'))!.slice(3), 'memory.max'), 'utf8').trim();
    assert.equal(limit, String(64 * 1024 * 1024));

    const st = await c.eventually('hog OOMKilled twice', () => {
      const s = cstatus('hog', 'hog');
      return s?.restartCount >= 2 && s.lastState?.terminated ? s : undefined;
    }, 75_000, 500);
    assert.equal(st.lastState.terminated.reason, 'OOMKilled');
    assert.equal(st.lastState.terminated.exitCode, 137);
    const idle = cstatus('hog', 'idle');
    assert.equal(idle.restartCount, 0, `the other container of the pod is untouched: ${JSON.stringify(idle)}`);
    const d = c.k('describe', 'pod', 'hog');
    assert.match(d, /Last State:\s+Terminated\s+Reason:\s+OOMKilled\s+Exit Code:\s+137/);
  });

  it('kill -9 of a container\'s main process: restarted (137, Error) and serving again', { timeout: 60_000 }, async () => {
    const { id, pid } = containerPid('victim', 'nginx');
    process.kill(pid, 'SIGKILL');
    const st = await c.eventually('victim restarted', () => {
      const s = cstatus('victim', 'nginx');
      return s?.restartCount === 1 && s.state?.running && s.lastState?.terminated ? s : undefined;
    }, 45_000, 250);
    assert.equal(st.lastState.terminated.exitCode, 137);
    assert.equal(st.lastState.terminated.reason, 'Error');
    assert.equal(st.lastState.terminated.containerID, `containerd://${id}`);
    assert.notEqual(st.containerID, `containerd://${id}`);
    const ip = podJson('victim').status.podIP;
    await c.eventually('victim serves', () => c.curl('control-plane', `http://${ip}/`).out.includes('Welcome to nginx'), 20_000);
  });

  for (const what of ['containerd', 'kubelet'] as const) {
    it(`kill -9 of the node's ${what}: the Service keeps answering, the pod is adopted as it runs, new pods start`, { timeout: 90_000 }, async () => {
      const [web] = await c.podsReady('app=web', 1);
      const name = web.metadata.name as string;
      const before = { id: cstatus(name, 'nginx').containerID, ready: readyTransition(name) };
      assert.equal(cstatus(name, 'nginx').restartCount, 0);
      const ip = JSON.parse(c.k('get', 'svc', 'web', '-o', 'json')).spec.clusterIP as string;
      const comp = `${what}-${worker()}`;
      const pid = componentPid(comp);
      assert.ok(pid, `${comp} runs`);
      const h = hammer('control-plane', `http://${ip}/`);
      let stats: { ok: number; failed: string[] } | undefined;
      try {
        await c.eventually('requests answered before the kill', () => c.curl('control-plane', `http://${ip}/`).code === 0);
        process.kill(pid, 'SIGKILL');
        const next = await c.eventually(`${comp} restarted by the supervisor`, () => { const n = componentPid(comp); return n && n !== pid ? n : undefined; }, 30_000);
        assert.ok(next);
        // A new pod on the node: the restarted kubelet and containerd work together again.
        const fresh = `after-${what}`;
        const r = c.kubectl(['apply', '-f', '-'], { input: JSON.stringify(pod(fresh, [{ name: 'c', image: 'busybox', command: ['sleep', '100000'] }])) });
        assert.equal(r.code, 0, r.err);
        await c.podsReady(`app=${fresh}`, 1, 'default', 60_000);
      } finally {
        stats = await h.stop();
      }
      assert.deepEqual(stats.failed, [], `requests failed during the ${what} restart (${stats.ok} answered)`);
      assert.ok(stats.ok >= 10, `only ${stats.ok} requests`);
      const now = cstatus(name, 'nginx');
      assert.equal(now.containerID, before.id, 'same container');
      assert.equal(now.restartCount, 0);
      assert.ok(now.state.running && now.ready);
      assert.equal(readyTransition(name), before.ready, 'the pod never turned unready');
      // Adopted, not just left alone: deleting the pod stops its container through the new agent.
      const { id } = containerPid(name, 'nginx');
      c.k('delete', 'pod', name, '--wait=true', '--timeout=60s');
      assert.equal(tasks(worker()).has(id), false, 'the deleted pod\'s container is gone');
      await c.podsReady('app=web', 1);
    });
  }
});
