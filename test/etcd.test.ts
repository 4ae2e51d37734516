/**
 * A cluster on etcd (`svcplane up --store etcd --apiservers 2`): three local etcd members, two
 * API servers behind the load balancer. The seed walkthrough works unchanged; losing an etcd
 * member (the leader) or an API server under a stream of `kubectl apply` loses no acknowledged
 * write, and the proxies' and DNS servers' watches carry on.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { etcdEndpoints, paths } from '../src/cluster/config.js';
import { EtcdCluster, findEtcd, freePortBase, memberStatus } from '../src/store/etcd-cluster.js';
import { createStore } from '../src/store/index.js';

const skip = !isRoot() ? 'needs root' : !findEtcd() ? 'etcd is not installed (apt-get install -y etcd-server)' : false;
const BOOTCAMP = /^Hello Kubernetes bootcamp! \| Running on: myapp-[a-z0-9]+-[a-z0-9]+ \| v=1\n?$/;

function componentPid(c: TestCluster, name: string): number {
  const st = JSON.parse(readFileSync(paths(c.config.dataDir).supervisorState, 'utf8')) as { components: { name: string; pid?: number }[] };
  const pid = st.components.find((x) => x.name === name)?.pid;
  if (!pid) throw new Error(`component ${name} is not running`);
  return pid;
}

function svcplane(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(join(ROOT, 'bin/svcplane'), args, { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 1, out: r.stdout, err: r.stderr };
}

/** `kubectl apply` of one ConfigMap, as a child process (so the test can kill things meanwhile). */
function applyConfigMap(c: TestCluster, name: string): Promise<boolean> {
  return new Promise((resolve) => {
    const p = spawn('kubectl', ['--kubeconfig', c.kubeconfig, '--cache-dir', c.cacheDir, 'apply', '-f', '-'], { stdio: ['pipe', 'ignore', 'ignore'] });
    p.stdin.end(`apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: ${name}\ndata:\n  written: "${name}"\n`);
    p.on('exit', (code) => resolve(code === 0));
  });
}

describe('a cluster on etcd with two API servers', { skip, timeout: 420_000 }, () => {
  let c: TestCluster;
  let clusterIP = '';
  before(async () => { c = await startCluster({ store: 'etcd', apiservers: 2 }); });
  after(async () => { await c?.destroy(); });

  it('inside the cluster, 172.18.0.2:6443 leads through the load balancer with authentication: 401 without the token, 200 with it', async () => {
    const token = readFileSync(join(paths(c.config.dataDir).pki, 'token'), 'utf8').trim();
    const code = (extra: string[]) => c.exec('client', ['curl', '-sk', '-m', '10', '-o', '/dev/null', '-w', '%{http_code}', ...extra, 'https://172.18.0.2:6443/api/v1/nodes']).out;
    // The relay starts once the API answers: wait for its first answer.
    const anon = await c.eventually('an answer from 172.18.0.2:6443', () => { const r = code([]); return r !== '000' && r; });
    assert.equal(anon, '401');
    assert.equal(code(['-H', `Authorization: Bearer ${token}`]), '200');
  });

  it('svcplane status shows three healthy etcd members and one leader', () => {
    const r = svcplane(['status', '--name', c.name, '--data-dir', c.config.dataDir]);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /store etcd/);
    const members = r.out.slice(r.out.indexOf('ETCD MEMBER'));
    const rows = members.split('\n').filter((l) => /^etcd-\d /.test(l));
    assert.equal(rows.length, 3, r.out);
    assert.ok(rows.every((l) => / healthy /.test(l)), r.out);
    assert.equal(rows.filter((l) => / yes /.test(l)).length, 1, r.out);
    assert.match(r.out, /^apiserver-0 +Running/m);
    assert.match(r.out, /^apiserver-1 +Running/m);
  });

  it('the seed walkthrough: get svc, describe svc, curl through the ClusterIP', async () => {
    c.k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'), '-f', join(EXAMPLES, 'myapp-service.yaml'));
    await c.podsReady('app=myapp', 3);
    const get = c.k('get', 'svc', 'myapp');
    assert.match(get.split('\n')[0]!, /^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE$/);
    assert.match(get, /^myapp +ClusterIP +10\.\d+\.\d+\.\d+ +<none> +38080\/TCP /m);
    clusterIP = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    const describe = await c.eventually('3 endpoints in describe', () => {
      const d = c.k('describe', 'svc', 'myapp');
      return /Endpoints: +(10\.244\.\d+\.\d+:8080,?){3}/.test(d) ? d : undefined;
    }, 60_000, 500);
    assert.match(describe, /TargetPort: +8080\/TCP/);
    const body = await c.eventually('curl through the ClusterIP', () => {
      const r = c.curl('worker', `http://${clusterIP}:38080`);
      return BOOTCAMP.test(r.out) ? r.out : undefined;
    }, 30_000, 500);
    assert.match(body, BOOTCAMP);
  });

  it('the two API servers serve the same objects at the same resourceVersion', () => {
    const p = paths(c.config.dataDir);
    const rv = [0, 1].map((i) => {
      const r = spawnSync('curl', ['-s', '--unix-socket', `${c.config.dataDir}/apiserver-${i}.sock`, 'http://localhost/api/v1/namespaces/default/services/myapp'], { encoding: 'utf8' });
      return JSON.parse(r.stdout).metadata.resourceVersion as string;
    });
    assert.ok(Number(rv[0]) > 0);
    assert.equal(rv[0], rv[1]);
    assert.ok(p.apiserverSocket.endsWith('apiserver.sock'));
  });

  it('kill -9 of the etcd leader: kubectl keeps working, traffic is unaffected, the member rejoins', async () => {
    const endpoints = etcdEndpoints(c.config);
    const before = await memberStatus(endpoints);
    const leader = before.findIndex((m) => m.leader);
    assert.ok(leader >= 0, JSON.stringify(before));
    const oldPid = componentPid(c, `etcd-${leader}`);
    process.kill(oldPid, 'SIGKILL');
    // Writes and reads go on (the other two elect a leader within a few seconds).
    await c.eventually('a write after the leader died', () => c.kubectl(['create', 'configmap', 'after-etcd-kill', '--from-literal=k=v']).code === 0
      || c.kubectl(['get', 'configmap', 'after-etcd-kill']).code === 0, 30_000, 500);
    assert.match(c.k('get', 'configmap', 'after-etcd-kill', '-o', 'jsonpath={.data.k}'), /^v$/);
    assert.match(c.curl('worker2', `http://${clusterIP}:38080`).out, BOOTCAMP);
    // The supervisor restarts it; with its data dir it rejoins and catches up.
    const rejoined = await c.eventually('the killed member back and healthy', async () => {
      const st = await memberStatus(endpoints);
      const pid = (() => { try { return componentPid(c, `etcd-${leader}`); } catch { return 0; } })();
      return pid && pid !== oldPid && st.every((m) => m.healthy) ? st : undefined;
    }, 60_000, 500);
    const revs = rejoined.map((m) => m.revision!);
    await c.eventually('all members at the same revision', async () => {
      const st = await memberStatus(endpoints);
      return new Set(st.map((m) => m.revision)).size === 1 ? st : undefined;
    }, 20_000, 500).catch((e) => { throw new Error(`${(e as Error).message}; revisions were ${revs.join(',')}`); });
  });

  it('kill -9 of one API server under a stream of kubectl apply: no acknowledged write is lost, watches carry on', async () => {
    const results: { name: string; ok: boolean }[] = [];
    let killed = false;
    for (let i = 0; i < 30; i++) {
      const name = `stream-${i}`;
      if (i === 8) { process.kill(componentPid(c, 'apiserver-0'), 'SIGKILL'); killed = true; }
      results.push({ name, ok: await applyConfigMap(c, name) });
    }
    assert.ok(killed);
    const acknowledged = results.filter((r) => r.ok).map((r) => r.name);
    assert.ok(acknowledged.length >= 25, `only ${acknowledged.length}/30 applies succeeded`);
    const stored = new Set((JSON.parse(c.k('get', 'configmaps', '-o', 'json')).items as any[]).map((x) => x.metadata.name));
    for (const n of acknowledged) assert.ok(stored.has(n), `acknowledged ConfigMap ${n} is missing`);
    // A Service created after the failover is programmed by every proxy and served by DNS:
    // their watches moved to the surviving API server without missing the event.
    c.k('create', 'deployment', 'after', '--image=jocatalin/kubernetes-bootcamp:v1', '--replicas=2');
    c.k('expose', 'deployment', 'after', '--port=80', '--target-port=8080');
    await c.podsReady('app=after', 2);
    const ip = c.k('get', 'svc', 'after', '-o', 'jsonpath={.spec.clusterIP}');
    for (const node of ['control-plane', 'worker', 'worker2']) {
      await c.eventually(`curl ${ip} from ${node}`, () => /Running on: after-/.test(c.curl(node, `http://${ip}`).out), 30_000, 500);
    }
    const pod = c.k('get', 'pods', '-l', 'app=myapp', '-o', 'jsonpath={.items[0].metadata.name}');
    const ns = await c.eventually('nslookup after from a pod', () => {
      const r = c.kubectl(['exec', pod, '--', 'nslookup', 'after.default.svc.cluster.local']);
      return r.out.includes(ip) ? r.out : undefined;
    }, 30_000, 1000);
    assert.match(ns, new RegExp(`Address: ${ip.replace(/\./g, '\\.')}`));
    // The old Service still routes, and the killed API server is back behind the balancer.
    assert.match(c.curl('worker', `http://${clusterIP}:38080`).out, BOOTCAMP);
    await c.eventually('apiserver-0 restarted', () => { try { return componentPid(c, 'apiserver-0') > 0; } catch { return false; } }, 30_000, 500);
  });

  it('allocations are shared: a NodePort taken through one API server is refused by the other', async () => {
    const svc = (name: string) => JSON.stringify({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { type: 'NodePort', selector: { app: 'x' }, ports: [{ port: 80, nodePort: 31234 }] } });
    // np-a through the first API server's own socket (once it is back after the previous test)...
    await c.eventually('np-a created through apiserver-0', () => {
      const r = spawnSync('curl', ['-s', '--unix-socket', `${c.config.dataDir}/apiserver-0.sock`, '-H', 'Content-Type: application/json', '-d', svc('np-a'), 'http://localhost/api/v1/namespaces/default/services'], { encoding: 'utf8' });
      return r.status === 0 && JSON.parse(r.stdout).kind === 'Service';
    }, 30_000, 500);
    // ...then np-b, asking for the same port, through the second's.
    const body = svc('np-b');
    const out = await c.eventually('the other API server refusing the port', () => {
      const r = spawnSync('curl', ['-s', '--unix-socket', `${c.config.dataDir}/apiserver-1.sock`, '-H', 'Content-Type: application/json', '-d', body, 'http://localhost/api/v1/namespaces/default/services'], { encoding: 'utf8' });
      const st = JSON.parse(r.stdout);
      if (st.kind === 'Service') { spawnSync('curl', ['-s', '-X', 'DELETE', '--unix-socket', `${c.config.dataDir}/apiserver-1.sock`, 'http://localhost/api/v1/namespaces/default/services/np-b']); return undefined; }
      return st;
    }, 10_000, 500);
    assert.equal(out.code, 422);
    assert.equal(out.message, 'Service "np-b" is invalid: spec.ports[0].nodePort: Invalid value: 31234: provided port is already allocated');
  });
});

describe('a cluster on an existing etcd (--etcd-servers)', { skip, timeout: 300_000 }, () => {
  let c: TestCluster;
  let etcd: EtcdCluster;
  let etcdDir = '';
  before(async () => {
    etcdDir = mkdtempSync(join(tmpdir(), 'svp-ext-etcd-'));
    etcd = new EtcdCluster({ dataDir: etcdDir, basePort: await freePortBase(2, 30_000, 40_000), members: 1, name: 'ext' });
    await etcd.start();
    c = await startCluster({ etcdServers: etcd.endpoints });
  });
  after(async () => {
    await c?.destroy();
    await etcd?.stop();
    rmSync(etcdDir, { recursive: true, force: true });
  });

  it('the Service the API server stores is in etcd under /registry, as the notes draw it', async () => {
    assert.equal(c.config.store, 'etcd');
    c.k('apply', '-f', join(EXAMPLES, 'myapp-service.yaml'));
    const uid = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.metadata.uid}');
    const store = await createStore({ backend: 'etcd', etcdServers: etcd.endpoints, compactIntervalMs: 0 });
    try {
      const e = await store.get('/registry/services/default/myapp');
      assert.ok(e, 'no /registry/services/default/myapp in etcd');
      assert.equal(JSON.parse(e.value).metadata.uid, uid);
      assert.equal(c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.metadata.resourceVersion}'), String(e.modRevision));
    } finally {
      await store.close();
    }
    const r = svcplane(['status', '--name', c.name, '--data-dir', c.config.dataDir]);
    assert.match(r.out, new RegExp(`ext-0 +${etcd.endpoints[0]!.replace(/[/.]/g, '\\$&')} +healthy +yes`));
    assert.doesNotMatch(r.out, /^etcd-0 /m);
  });
});
