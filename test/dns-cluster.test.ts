/**
 * Cluster DNS inside a real cluster: dig from a pod through kube-dns 10.96.0.10 — Service names
 * (full and through the search path), SRV, PTR, NXDOMAIN + SOA, pod records, ExternalName CNAMEs,
 * StatefulSet pod names that follow a recreated pod, and a DNS replica killed mid-way.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { EXAMPLES, isRoot, startCluster, type TestCluster } from './lib/harness.js';

const skip = !isRoot() && 'needs root (network namespaces)';

describe('cluster DNS', { skip, timeout: 400_000 }, () => {
  let c: TestCluster;
  const dig = (...args: string[]) => c.kubectl(['exec', 'toolbox', '--', 'dig', '+time=2', '+tries=1', ...args]);
  before(async () => {
    c = await startCluster();
    for (const f of ['toolbox.yaml', 'myapp-deployment.yaml', 'myapp-service.yaml', 'dev-namespace.yaml']) c.k('apply', '-f', join(EXAMPLES, f));
    for (const f of ['stateful-nginx.yaml', 'svc-nginx-headless.yaml']) c.k('apply', '-f', join(EXAMPLES, f));
    await c.podsReady('app=toolbox', 1);
    await c.podsReady('k8s-app=kube-dns', 2, 'kube-system');
    await c.podsReady('app=nginx-pod', 3, 'dev', 120_000);
  });
  after(async () => { await c?.destroy(); });

  it('pods resolve through 10.96.0.10 with the search path', async () => {
    const ip = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    const conf = c.k('exec', 'toolbox', '--', 'cat', '/etc/resolv.conf');
    assert.match(conf, /nameserver 10\.96\.0\.10/);
    assert.match(conf, /search default\.svc\.cluster\.local svc\.cluster\.local cluster\.local/);
    assert.match(conf, /options ndots:5/);
    const r = await c.eventually('dig myapp', () => { const x = dig('+search', '+short', 'myapp'); return x.out.trim() ? x : undefined; });
    assert.equal(r.out.trim(), ip);
    assert.equal(dig('+short', 'myapp.default.svc.cluster.local').out.trim(), ip);
  });

  it('SRV for a named port, PTR for a ClusterIP, NXDOMAIN with SOA', () => {
    const ip = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    assert.match(dig('+short', 'SRV', '_http._tcp.myapp.default.svc.cluster.local').out, /^0 100 38080 myapp\.default\.svc\.cluster\.local\.$/m);
    assert.equal(dig('+short', '-x', ip).out.trim(), 'myapp.default.svc.cluster.local.');
    const nx = dig('nope.default.svc.cluster.local');
    assert.match(nx.out, /status: NXDOMAIN/);
    assert.match(nx.out, /AUTHORITY SECTION:\s*\ncluster\.local\.\s+30\s+IN\s+SOA\s+ns\.dns\.cluster\.local\. hostmaster\.cluster\.local\./);
  });

  it('short names through the search path, pod records, ExternalName CNAMEs', async () => {
    const ip = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    assert.equal(dig('+search', '+short', 'myapp.default').out.trim(), ip, 'myapp.default via the search path');
    const podIP = c.k('get', 'pod', 'toolbox', '-o', 'jsonpath={.status.podIP}');
    assert.equal(dig('+short', `${podIP.replaceAll('.', '-')}.default.pod.cluster.local`).out.trim(), podIP, 'pod record (pods insecure)');
    assert.match(dig(`${podIP.replaceAll('.', '-')}.nope.pod.cluster.local`).out, /status: NXDOMAIN/, 'pod record in a namespace that does not exist');
    const ext = (name: string, target: string) => `apiVersion: v1\nkind: Service\nmetadata: {name: ${name}, namespace: default}\nspec: {type: ExternalName, externalName: ${target}}\n`;
    const r = c.kubectl(['apply', '-f', '-'], { input: ext('ext-db', 'my.database.example.com') + '---\n' + ext('ext-app', 'myapp.default.svc.cluster.local') });
    assert.equal(r.code, 0, r.err);
    const cname = await c.eventually('CNAME', () => dig('+short', 'CNAME', 'ext-db.default.svc.cluster.local').out.trim());
    assert.equal(cname, 'my.database.example.com.');
    // A target inside the zone: the CNAME and the target's address in one answer.
    const both = await c.eventually('CNAME + A', () => { const x = dig('+short', 'ext-app.default.svc.cluster.local').out.trim(); return x.includes(ip) ? x : undefined; });
    assert.deepEqual(both.split('\n'), ['myapp.default.svc.cluster.local.', ip]);
  });

  it('headless StatefulSet names follow the pod when it is recreated with a new IP', async () => {
    const name = 'stateful-nginx-1.svc-nginx.dev.svc.cluster.local';
    const ip1 = c.k('get', 'pod', '-n', 'dev', 'stateful-nginx-1', '-o', 'jsonpath={.status.podIP}');
    assert.equal((await c.eventually('A', () => dig('+short', name).out.trim())), ip1);
    c.k('delete', 'pod', '-n', 'dev', 'stateful-nginx-1');
    const ip2 = await c.eventually('new IP', () => {
      const ip = c.kubectl(['get', 'pod', '-n', 'dev', 'stateful-nginx-1', '-o', 'jsonpath={.status.podIP}']).out;
      return ip && ip !== ip1 ? ip : undefined;
    }, 90_000, 500);
    await c.eventually('DNS follows', () => dig('+short', name).out.trim() === ip2, 60_000, 500);
  });

  it('resolution keeps working when one DNS replica is killed', async () => {
    const dnsPods = JSON.parse(c.k('get', 'pods', '-n', 'kube-system', '-l', 'k8s-app=kube-dns', '-o', 'json')).items;
    c.k('delete', 'pod', '-n', 'kube-system', dnsPods[0].metadata.name, '--grace-period=0', '--force');
    let ok = 0;
    for (let i = 0; i < 10; i++) if (dig('+short', 'myapp.default.svc.cluster.local').out.trim()) ok++;
    assert.ok(ok >= 9, `${ok}/10 lookups answered while a replica was gone`);
  });
});
