/**
 * Moving a cluster between SQLite and etcd with `svcplane store migrate`, and the export/import
 * stream under it: every object (same uid, same spec) and every allocation (a NodePort or
 * ClusterIP taken before the move is still taken after) survives SQLite → etcd → SQLite. The API
 * server runs as its own process on loopback; etcd is Debian's, three local members.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT } from './lib/harness.js';
import { EtcdCluster, findEtcd, freePortBase } from '../src/store/etcd-cluster.js';
import { LOCAL_ETCD_MEMBERS, LOCAL_ETCD_NAME, paths, type ClusterConfig } from '../src/cluster/config.js';

const skip = findEtcd() ? false : 'etcd is not installed (apt-get install -y etcd-server)';
const env = { ...process.env, SVCPLANE_FROM_SOURCE: '1' };

function svcplane(args: string[], input?: string): { code: number; out: string; err: string } {
  const r = spawnSync(join(ROOT, 'bin', 'svcplane'), args, { encoding: 'utf8', env, input, timeout: 120_000 });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

describe('svcplane store migrate / export / import', { skip, timeout: 300_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-mig-'));
  const cache = mkdtempSync(join(tmpdir(), 'svp-mig-kc-'));
  const name = 'mig';
  let server: ChildProcess | undefined;
  const servers: ChildProcess[] = [];
  let etcd: EtcdCluster | undefined;
  let port = 0;
  const kubectl = (args: string[]) => {
    const r = spawnSync('kubectl', ['--kubeconfig', join(dir, 'kubeconfig'), '--cache-dir', cache, ...args], { encoding: 'utf8', timeout: 30_000 });
    return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
  };
  const k = (...args: string[]) => { const r = kubectl(args); assert.equal(r.code, 0, `kubectl ${args.join(' ')}: ${r.err}`); return r.out; };
  const config = () => JSON.parse(readFileSync(join(dir, 'cluster.json'), 'utf8')) as ClusterConfig;

  const startServer = async (extra: string[]) => {
    await stopServer();
    server = spawn(join(ROOT, 'bin', 'svcplane'), ['apiserver', '--data-dir', dir, '--secure-port', String(port), ...extra], { stdio: 'ignore', env });
    servers.push(server);
    for (let i = 0; i < 150; i++) {
      if (spawnSync('curl', ['-sk', `https://127.0.0.1:${port}/readyz`], { encoding: 'utf8' }).stdout === 'ok') return;
      await new Promise((r) => setTimeout(r, 100));
    }
    throw new Error('API server did not start');
  };
  const stopServer = async () => {
    if (!server || server.exitCode !== null) return;
    const exited = new Promise((r) => server!.once('exit', r));
    server.kill('SIGTERM');
    await exited;
  };
  const startEtcd = async () => {
    const c = config();
    etcd = new EtcdCluster({ dataDir: paths(dir).etcd, basePort: c.etcdBasePort!, members: LOCAL_ETCD_MEMBERS, name: LOCAL_ETCD_NAME });
    await etcd.start();
    return etcd.endpoints;
  };

  after(async () => {
    for (const s of servers) s.kill('SIGKILL');
    await etcd?.stop();
    rmSync(dir, { recursive: true, force: true });
    rmSync(cache, { recursive: true, force: true });
  });

  let before: { uid: string; clusterIP: string; nodePort: number };

  it('a SQLite cluster\'s objects and allocations move to etcd', async () => {
    port = await freePortBase(1, 17_000, 18_000);
    const cfg: ClusterConfig = {
      name, dataDir: dir, workers: 2, proxyMode: 'nftables', scheduler: 'random', store: 'sqlite', apiservers: 1,
      apiserverPort: port, lbPool: '172.18.255.200-172.18.255.250', createdAt: new Date().toISOString(),
    };
    writeFileSync(join(dir, 'cluster.json'), JSON.stringify(cfg));
    await startServer(['--store', 'sqlite']);
    k('create', 'namespace', 'shop');
    k('-n', 'shop', 'create', 'deployment', 'web', '--image=nginx', '--replicas=2');
    k('-n', 'shop', 'create', 'service', 'nodeport', 'web', '--tcp=80:80', '--node-port=31555');
    k('-n', 'shop', 'create', 'configmap', 'settings', '--from-literal=color=blue');
    const svc = JSON.parse(k('-n', 'shop', 'get', 'svc', 'web', '-o', 'json'));
    before = { uid: svc.metadata.uid, clusterIP: svc.spec.clusterIP, nodePort: svc.spec.ports[0].nodePort };
    assert.equal(before.nodePort, 31555);

    // While the API server holds the SQLite file, migration refuses clearly (the cluster is "stopped" here
    // only in the sense that no supervisor runs; the file lock is what protects it).
    await stopServer();
    const m = svcplane(['store', 'migrate', '--name', name, '--data-dir', dir, '--to', 'etcd']);
    assert.equal(m.code, 0, m.err);
    assert.match(m.err, /migrated cluster "mig" from sqlite .* to etcd at http:\/\/127\.0\.0\.1:\d+/);
    assert.equal(config().store, 'etcd');
    assert.ok(config().etcdBasePort);

    const endpoints = await startEtcd();
    await startServer(['--store', 'etcd', '--etcd-servers', endpoints.join(',')]);
    const after = JSON.parse(k('-n', 'shop', 'get', 'svc', 'web', '-o', 'json'));
    assert.equal(after.metadata.uid, before.uid);
    assert.equal(after.spec.clusterIP, before.clusterIP);
    assert.equal(after.spec.ports[0].nodePort, 31555);
    assert.equal(k('-n', 'shop', 'get', 'configmap', 'settings', '-o', 'jsonpath={.data.color}'), 'blue');
    assert.equal(k('-n', 'shop', 'get', 'deploy', 'web', '-o', 'jsonpath={.spec.replicas}'), '2');
    // The allocations came along: the same port and IP are refused to another Service.
    const np = kubectl(['-n', 'shop', 'create', 'service', 'nodeport', 'web2', '--tcp=80:80', '--node-port=31555']);
    assert.notEqual(np.code, 0);
    assert.match(np.err, /spec\.ports\[0\]\.nodePort: Invalid value: 31555: provided port is already allocated/);
    const ip = kubectl(['-n', 'shop', 'create', 'service', 'clusterip', 'web3', '--tcp=80:80', `--clusterip=${before.clusterIP}`]);
    assert.notEqual(ip.code, 0);
    assert.match(ip.err, /provided IP is already allocated/);
  });

  it('etcd lost while running: 503 with a Status, then recovery by itself; a watch resumes without missing events', async () => {
    const token = readFileSync(join(dir, 'pki', 'token'), 'utf8').trim();
    const base = `https://127.0.0.1:${port}/api/v1/namespaces/shop/configmaps`;
    // The list's own resourceVersion (kubectl get -o json prints a client-side List without one).
    const list = spawnSync('curl', ['-sk', '-H', `Authorization: Bearer ${token}`, base], { encoding: 'utf8' });
    const rv = JSON.parse(list.stdout).metadata.resourceVersion as string;
    assert.match(rv, /^\d+$/);
    const watch = spawn('curl', ['-sNk', '-H', `Authorization: Bearer ${token}`, `${base}?watch=1&resourceVersion=${rv}`]);
    let events = '';
    watch.stdout.on('data', (d: Buffer) => { events += d.toString(); });
    try {
      k('-n', 'shop', 'create', 'configmap', 'before-outage', '--from-literal=a=b');
      await etcd!.stop();
      const r = spawnSync('curl', ['-sk', '-m', '30', '-H', `Authorization: Bearer ${token}`, '-w', '\n%{http_code}', `${base}/settings`], { encoding: 'utf8' });
      const [body, code] = [r.stdout.slice(0, r.stdout.lastIndexOf('\n')), r.stdout.slice(r.stdout.lastIndexOf('\n') + 1)];
      assert.equal(code, '503', r.stdout);
      const st = JSON.parse(body);
      assert.equal(st.kind, 'Status');
      assert.equal(st.reason, 'ServiceUnavailable');
      assert.match(st.message, /etcd/);
      await etcd!.start();
      // No restart of the API server: it reconnects by itself.
      for (let i = 0; ; i++) {
        if (kubectl(['-n', 'shop', 'create', 'configmap', 'written-on-etcd', '--from-literal=a=b']).code === 0) break;
        if (i > 60) assert.fail('the API server did not recover after etcd came back');
        await new Promise((res) => setTimeout(res, 500));
      }
      for (let i = 0; i < 60 && !events.includes('"written-on-etcd"'); i++) await new Promise((res) => setTimeout(res, 250));
      const names = events.trim().split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((e) => e.type === 'ADDED').map((e) => e.object.metadata.name);
      assert.deepEqual(names, ['before-outage', 'written-on-etcd']);
    } finally {
      watch.kill();
    }
    await stopServer();
    await etcd!.stop();
  });

  it('and back to SQLite, with what was written on etcd', async () => {
    const m = svcplane(['store', 'migrate', '--name', name, '--data-dir', dir, '--to', 'sqlite']);
    assert.equal(m.code, 0, m.err);
    assert.equal(config().store, 'sqlite');
    await startServer(['--store', 'sqlite']);
    assert.equal(k('-n', 'shop', 'get', 'configmap', 'written-on-etcd', '-o', 'jsonpath={.data.a}'), 'b');
    assert.equal(JSON.parse(k('-n', 'shop', 'get', 'svc', 'web', '-o', 'json')).metadata.uid, before.uid);
    const np = kubectl(['-n', 'shop', 'create', 'service', 'nodeport', 'web2', '--tcp=80:80', '--node-port=31555']);
    assert.match(np.err, /provided port is already allocated/);
    await stopServer();
  });

  it('export writes one JSON line per key; import into an empty store recreates them, and rerunning it changes nothing', () => {
    const file = join(dir, 'export.jsonl');
    const ex = svcplane(['store', 'export', '--name', name, '--data-dir', dir, '-o', file]);
    assert.equal(ex.code, 0, ex.err);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    const m = /exported (\d+) keys/.exec(ex.err);
    assert.equal(Number(m?.[1]), lines.length);
    const keys = lines.map((l) => JSON.parse(l).key as string);
    assert.ok(keys.includes('/registry/services/shop/web'), keys.join(' '));
    assert.ok(keys.includes('/registry/configmaps/shop/written-on-etcd'));
    const other = mkdtempSync(join(tmpdir(), 'svp-mig-imp-'));
    try {
      const im = svcplane(['store', 'import', '--store', 'sqlite', '--data-dir', other, '-f', file]);
      assert.equal(im.code, 0, im.err);
      assert.match(im.err, new RegExp(`${lines.length} created, 0 updated, 0 unchanged`));
      const again = svcplane(['store', 'import', '--store', 'sqlite', '--data-dir', other, '-f', file]);
      assert.match(again.err, new RegExp(`0 created, 0 updated, ${lines.length} unchanged`));
      const bad = svcplane(['store', 'import', '--store', 'sqlite', '--data-dir', other], '{"key":\n');
      assert.notEqual(bad.code, 0);
      assert.match(bad.err, /line 1: invalid JSON/);
    } finally {
      rmSync(other, { recursive: true, force: true });
    }
  });

  it('an unreachable etcd at start is one line naming the URL and what was tried', () => {
    const r = spawnSync(join(ROOT, 'bin', 'svcplane'), ['apiserver', '--data-dir', dir, '--secure-port', '0', '--store', 'etcd', '--etcd-servers', 'http://127.0.0.1:1'], { encoding: 'utf8', env, timeout: 30_000 });
    assert.equal(r.status, 1);
    const lines = r.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, /^svcplane apiserver: cannot open the etcd store: etcd unreachable at http:\/\/127\.0\.0\.1:1 \(tried for 5s\): /);
  });
});
