/**
 * The built-in images, built for real (mmdebstrap the first time, then from the cache) and run by
 * a real containerd: a containerd of our own (root, state and socket in a temp dir) in a network
 * namespace of our own, pulling from svcplane's registry served on 127.0.0.1 of that namespace.
 * nginx serves Debian's welcome page and then what `bash -c 'echo … >'` wrote; busybox's sh is
 * PID 1; agnhost netexec answers; pause exits 0 on SIGTERM; the coredns image runs svcplane's DNS
 * under Node against a stand-in API server and answers a Service's name.
 * Prints the build and pull times and the image sizes.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync, openSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { createInterface } from 'node:readline';
import { join } from 'node:path';
import { ROOT, isRoot } from './lib/harness.js';
import { buildImages, type BuildResult } from '../src/images/build.js';

const NS = `svp-imgtest-${process.pid}`;
const skip = !isRoot() || !existsSync('/usr/bin/containerd') || !existsSync('/usr/bin/mmdebstrap') ? 'needs root, containerd and mmdebstrap' : false;

const mib = (n: number) => `${(n / 1048576).toFixed(1)} MiB`;
const run = (cmd: string, args: string[], timeout = 60_000) => {
  const r = spawnSync(cmd, args, { encoding: 'utf8', timeout });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
};
const inNs = (args: string[], timeout?: number) => run('ip', ['netns', 'exec', NS, ...args], timeout);

async function waitFor<T>(what: string, fn: () => T | undefined | Promise<T | undefined>, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v !== undefined && v !== false) return v; } catch (e) { last = e; }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('built-in images in a real containerd', { skip, timeout: 900_000 }, () => {
  let dir: string;
  let sock: string;
  let containerd: ChildProcess | undefined;
  let registry: ChildProcess | undefined;
  let api: Server | undefined;
  let built: BuildResult;
  let reg = '';
  const containers: string[] = [];
  const report: string[] = [];
  const ctr = (args: string[], timeout?: number) => inNs(['ctr', '-a', sock, '-n', 'k8s.io', ...args], timeout);

  before(async () => {
    // 1. the images: the first build runs mmdebstrap (minutes); afterwards only what changed.
    let t = performance.now();
    built = await buildImages({ log: (s) => { if (!s.startsWith('  mmdebstrap:')) console.log(`# ${s}`); } });
    const buildS = (performance.now() - t) / 1000;
    const rebuilt = Object.values(built.layers).filter((l) => l.rebuilt).map((l) => l.name);
    report.push(`build: ${buildS.toFixed(2)} s (${rebuilt.length ? `rebuilt ${rebuilt.join(', ')}` : 'all layers cached'})`);
    for (const l of Object.values(built.layers)) report.push(`layer ${l.name}: ${mib(l.size)} (built in ${l.seconds} s)`);
    t = performance.now();
    const again = await buildImages();
    report.push(`cached rebuild: ${((performance.now() - t) / 1000).toFixed(2)} s`);
    assert.ok(Object.values(again.layers).every((l) => !l.rebuilt), 'a second build with nothing changed rebuilds nothing');

    // 2. a network namespace with lo up, our containerd in it (nsenter: `ip netns exec` would mount a
    // fresh /sys over the cgroup mounts runc needs), our registry on its 127.0.0.1.
    dir = mkdtempSync('/tmp/svp-imgtest-');
    sock = join(dir, 'containerd.sock');
    assert.equal(run('ip', ['netns', 'add', NS]).code, 0);
    assert.equal(inNs(['ip', 'link', 'set', 'lo', 'up']).code, 0);
    writeFileSync(join(dir, 'config.toml'), [
      'version = 2', `root = "${dir}/root"`, `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]', `  address = "${sock}"`, '[ttrpc]', `  address = "${sock}.ttrpc"`, '[debug]', '  address = ""',
      '[plugins."io.containerd.internal.v1.opt"]', `  path = "${dir}/opt"`, '',
    ].join('\n'));
    const log = openSync(join(dir, 'containerd.log'), 'a');
    containerd = spawn('nsenter', [`--net=/run/netns/${NS}`, 'containerd', '--config', join(dir, 'config.toml')], { stdio: ['ignore', log, log] });
    registry = spawn('ip', ['netns', 'exec', NS, process.execPath, '--import', 'tsx', join(ROOT, 'src', 'cli', 'main.ts'), 'image', 'registry', '--cache', built.layout, '--listen', '127.0.0.1:0'],
      { stdio: ['ignore', 'pipe', 'inherit'], cwd: ROOT });
    const line = await new Promise<string>((res, rej) => {
      createInterface({ input: registry!.stdout! }).once('line', res);
      registry!.once('exit', (c) => rej(new Error(`registry exited (${c})`)));
    });
    reg = `127.0.0.1:${(JSON.parse(line) as { port: number }).port}`;
    await waitFor('containerd', () => ctr(['version']).code === 0 || undefined);
  });

  after(async () => {
    if (report.length) console.log(report.map((l) => `# ${l}`).join('\n'));
    if (sock && containerd) {
      for (const c of [...containers, ...ctr(['task', 'ls', '-q']).out.split('\n').filter(Boolean)]) {
        ctr(['task', 'kill', '-s', 'SIGKILL', c]);
        ctr(['task', 'delete', '-f', c]);
        ctr(['container', 'delete', c]);
      }
    }
    for (const p of [containerd, registry]) {
      if (!p || p.exitCode !== null || p.signalCode) continue;
      const gone = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      await Promise.race([gone, new Promise((r) => setTimeout(r, 10_000))]);
      if (p.exitCode === null && !p.signalCode) p.kill('SIGKILL');
    }
    api?.close();
    // Whatever is left in our namespace (shims, container processes) is ours.
    for (const pid of run('ip', ['netns', 'pids', NS]).out.split('\n').filter(Boolean)) {
      try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
    }
    if (dir) {
      const mounts = readFileSync('/proc/self/mountinfo', 'utf8').split('\n').map((l) => l.split(' ')[4]).filter((m): m is string => !!m && m.startsWith(dir));
      for (const m of mounts.sort((a, b) => b.length - a.length)) run('umount', ['-R', '-l', m]);
    }
    run('ip', ['netns', 'del', NS]);
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const pull = (ref: string) => {
    const t = performance.now();
    const r = ctr(['images', 'pull', '--plain-http', `${reg}/${ref}`], 120_000);
    assert.equal(r.code, 0, `pull ${ref}: ${r.err}`);
    const s = (performance.now() - t) / 1000;
    report.push(`pull+unpack ${ref}: ${s.toFixed(2)} s`);
    return `${reg}/${ref}`;
  };

  it('nginx serves the welcome page, then what bash wrote, with the tools images promise', async () => {
    const img = pull('library/nginx:latest');
    containers.push('ng');
    assert.equal(ctr(['run', '-d', '--net-host', img, 'ng']).code, 0);
    const page = await waitFor('nginx', () => { const r = inNs(['curl', '-sf', 'http://127.0.0.1:80/']); return r.code === 0 ? r.out : undefined; });
    assert.match(page, /<title>Welcome to nginx!<\/title>/);
    const head = inNs(['curl', '-sI', 'http://127.0.0.1:80/']).out;
    assert.match(head, /^Server: nginx\/1\.22/m);
    const w = ctr(['task', 'exec', '--exec-id', 'w1', 'ng', '/bin/bash', '-c', 'echo k8s-node01 > /usr/share/nginx/html/index.html']);
    assert.equal(w.code, 0, w.err);
    assert.equal(inNs(['curl', '-s', 'http://127.0.0.1:80/']).out, 'k8s-node01\n');
    // The container has its own file system: the host's page directory is not touched.
    assert.ok(!existsSync('/usr/share/nginx/html/index.html') || readFileSync('/usr/share/nginx/html/index.html', 'utf8') !== 'k8s-node01\n');
    const tools = ctr(['task', 'exec', '--exec-id', 'w2', 'ng', 'sh', '-c',
      'for t in sh bash curl wget dig nslookup nc ip ss tcpdump ping ps; do command -v $t >/dev/null || echo "missing $t"; done; ' +
      'nc -z -w 2 127.0.0.1 80 && echo nc-z-ok; ps -o pid=,comm= -p 1']);
    assert.equal(tools.code, 0, tools.err);
    assert.doesNotMatch(tools.out, /missing/);
    assert.match(tools.out, /nc-z-ok/);
    assert.match(tools.out, /^\s*1 nginx$/m);
    // nginx's access log goes to the container's stdout (a symlink to /dev/stdout, as in the official image).
    const log = ctr(['task', 'exec', '--exec-id', 'w3', 'ng', 'readlink', '/var/log/nginx/access.log']);
    assert.equal(log.out.trim(), '/dev/stdout');
  });

  it('busybox: sh is PID 1 with the applets in /bin', () => {
    const img = pull('library/busybox:latest');
    containers.push('bb');
    const r = ctr(['run', '--rm', img, 'bb', 'sh', '-c', 'echo "pid $$"; for a in nc nslookup wget sleep ls; do test -x /bin/$a || echo "missing $a"; done']);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /^pid 1$/m);
    assert.doesNotMatch(r.out, /missing/);
  });

  it('pause waits, and exits 0 on SIGTERM', async () => {
    const img = pull('registry.k8s.io/pause:3.9');
    containers.push('pz');
    const fg = spawn('ip', ['netns', 'exec', NS, 'ctr', '-a', sock, '-n', 'k8s.io', 'run', '--rm', img, 'pz'], { stdio: 'ignore' });
    const exited = new Promise<number | null>((r) => fg.once('exit', r));
    await waitFor('pause running', () => /\bRUNNING\b/.test(ctr(['task', 'ls']).out.split('\n').find((l) => l.startsWith('pz ')) ?? '') || undefined);
    assert.equal(ctr(['task', 'kill', '-s', 'SIGTERM', 'pz']).code, 0);
    assert.equal(await exited, 0);
  });

  it('agnhost: /agnhost netexec answers, the default pause runs', async () => {
    const img = pull('registry.k8s.io/e2e-test-images/agnhost:2.52');
    containers.push('ag', 'ag2');
    assert.equal(ctr(['run', '-d', '--net-host', img, 'ag', '/agnhost', 'netexec', '--http-port=18080', '--udp-port=18081']).code, 0);
    const echo = await waitFor('netexec', () => { const r = inNs(['curl', '-sf', 'http://127.0.0.1:18080/echo?msg=svcplane']); return r.code === 0 ? r.out : undefined; });
    assert.equal(echo, 'svcplane');
    assert.equal(ctr(['run', '-d', img, 'ag2']).code, 0);
    const argv = await waitFor('agnhost pause', () => {
      const r = ctr(['task', 'exec', '--exec-id', 'p', 'ag2', 'cat', '/proc/1/cmdline']);
      return r.code === 0 ? r.out.split('\0').filter(Boolean) : undefined;
    });
    assert.deepEqual(argv, ['/usr/local/bin/node', '/svcplane/run.js', 'agnhost', 'pause']);
  });

  it('coredns: svcplane DNS under the image\'s Node answers a Service from the API', async () => {
    const img = pull('registry.k8s.io/coredns/coredns:v1.11.1');
    // A stand-in API server on a unix socket bind-mounted into the container: one Service.
    const apiSock = join(dir, 'api.sock');
    const lists: Record<string, unknown[]> = {
      '/api/v1/services': [{ metadata: { name: 'web', namespace: 'default', resourceVersion: '1' }, spec: { type: 'ClusterIP', clusterIP: '10.96.0.50', clusterIPs: ['10.96.0.50'], ports: [{ name: 'http', port: 80, protocol: 'TCP' }] } }],
      '/apis/discovery.k8s.io/v1/endpointslices': [],
      '/api/v1/namespaces': [{ metadata: { name: 'default', resourceVersion: '1' } }],
    };
    api = createServer((req, res) => {
      const u = new URL(req.url ?? '/', 'http://x');
      const items = lists[u.pathname];
      if (!items) { res.writeHead(404, { 'Content-Type': 'application/json' }); return void res.end('{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}'); }
      if (u.searchParams.get('watch') === 'true' || u.searchParams.get('watch') === '1') { res.writeHead(200, { 'Content-Type': 'application/json' }); return; }
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '1' }, items }));
    });
    await new Promise<void>((r) => api!.listen(apiSock, r));
    containers.push('dns');
    const r = ctr(['run', '-d', '--net-host', '--env', 'SVCPLANE_APISERVER_SOCKET=/run/svcplane-api.sock',
      '--mount', `type=bind,src=${apiSock},dst=/run/svcplane-api.sock,options=rbind:rw`, img, 'dns']);
    assert.equal(r.code, 0, r.err);
    const answer = await waitFor('cluster DNS', () => {
      const d = inNs(['dig', '@127.0.0.1', '+short', '+time=1', '+tries=1', 'web.default.svc.cluster.local', 'A']);
      return d.code === 0 && d.out.trim() ? d.out.trim() : undefined;
    }, 30_000);
    assert.equal(answer, '10.96.0.50');
    const pid1 = ctr(['task', 'exec', '--exec-id', 'p', 'dns', 'cat', '/proc/1/cmdline']).out.split('\0').filter(Boolean);
    assert.deepEqual(pid1.slice(0, 3), ['/usr/local/bin/node', '/svcplane/run.js', 'coredns']);
  });
});
