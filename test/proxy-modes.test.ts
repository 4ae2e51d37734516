/**
 * The seed ClusterIP / NodePort / LoadBalancer walk in every proxy mode, on one real cluster:
 * the mode is switched live (`svcplane up --proxy-mode X` on the running cluster), and each
 * mode must leave no rules of the others behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { up } from '../src/cluster/lifecycle.js';
import { EXAMPLES, isRoot, startCluster, type TestCluster } from './lib/harness.js';

const skip = !isRoot() && 'needs root (network namespaces)';
const BOOTCAMP = /^Hello Kubernetes bootcamp! \| Running on: (myapp-\S+) \| v=1$/;

describe('proxy modes', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  let clusterIP = '';
  let lbIP = '';
  let podNames: string[] = [];
  before(async () => {
    c = await startCluster({ scheduler: 'rr' });
    c.k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'), '-f', join(EXAMPLES, 'myapp-service.yaml'), '-f', join(EXAMPLES, 'variants-myapp-loadbalancer.yaml'), '-f', join(EXAMPLES, 'nginx-service-deployment.yaml'));
    c.k('create', 'service', 'clusterip', 'empty', '--tcp=80:80');
    podNames = (await c.podsReady('app=myapp', 3)).map((p) => p.metadata.name).sort();
    await c.podsReady('app=nginx-app', 3);
    clusterIP = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    lbIP = await c.eventually('LB IP', () => c.k('get', 'svc', 'myapp-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'));
  });
  after(async () => { await c?.destroy(); });

  for (const mode of ['nftables', 'iptables', 'userspace'] as const) {
    describe(mode, () => {
      before(async () => {
        if (mode !== 'nftables') await up({ name: c.name, dataDir: c.config.dataDir, proxyMode: mode, scheduler: 'rr', out: () => {} });
        c.config.proxyMode = mode;
        await c.eventually(`${mode} proxy serving`, () => BOOTCAMP.test(c.curl('control-plane', `http://${clusterIP}:38080`).out.trim()), 60_000);
      });

      it('ClusterIP from a node: rr visits the three pods in turn; 30 requests reach every replica', () => {
        const names = Array.from({ length: 30 }, () => BOOTCAMP.exec(c.curl('worker', `http://${clusterIP}:38080`).out.trim())?.[1]);
        assert.ok(names.every(Boolean), `every request answered: ${names}`);
        assert.deepEqual([...new Set(names)].sort(), podNames);
        assert.equal(new Set(names.slice(0, 3)).size, 3, `first three distinct (rr): ${names.slice(0, 4)}`);
        assert.equal(names[3], names[0], 'the fourth request is back at the first pod');
      });

      it('ClusterIP from a pod', () => {
        const r = c.kubectl(['exec', `deploy/nginx-deploy`, '--', 'curl', '-s', '-m', '5', `${clusterIP}:38080`]);
        assert.match(r.out.trim(), BOOTCAMP, r.err);
      });

      it('NodePort 32380 from the outside client on every node, and from a node to itself', () => {
        for (const ip of ['172.18.0.2', '172.18.0.3', '172.18.0.4']) assert.match(c.curl('client', `http://${ip}:32380`).out, /Welcome to nginx!/, `client → ${ip}`);
        assert.match(c.curl('worker2', 'http://172.18.0.4:32380').out, /Welcome to nginx!/);
        assert.match(c.curl('worker2', 'http://127.0.0.1:32380').out, /Welcome to nginx!/);
      });

      it('LoadBalancer IP from the outside client', () => {
        assert.match(c.curl('client', `http://${lbIP}`).out.trim(), BOOTCAMP);
      });

      it('a Service with no endpoints is refused at once', () => {
        const ip = c.k('get', 'svc', 'empty', '-o', 'jsonpath={.spec.clusterIP}');
        const t0 = Date.now();
        const r = c.exec('control-plane', ['curl', '-s', '-m', '5', `http://${ip}:80`]);
        assert.equal(r.code, 7, 'connection refused (curl exit 7), not a timeout (28)');
        assert.ok(Date.now() - t0 < 2000);
      });
    });
  }

  it('switching back to nftables leaves no iptables KUBE-* chains and no userspace listeners', async () => {
    await up({ name: c.name, dataDir: c.config.dataDir, proxyMode: 'nftables', scheduler: 'rr', out: () => {} });
    await c.eventually('nftables serving', () => BOOTCAMP.test(c.curl('control-plane', `http://${clusterIP}:38080`).out.trim()), 60_000);
    for (const node of ['control-plane', 'worker', 'worker2']) {
      await c.eventually(`no KUBE- chains on ${node}`, () => {
        const ipt = c.exec(node, ['sh', '-c', 'iptables-save 2>/dev/null; iptables-legacy-save 2>/dev/null']).out;
        return !/KUBE-SVC-|KUBE-SERVICES/.test(ipt);
      }, 20_000);
      const nft = c.exec(node, ['nft', 'list', 'tables']).out;
      assert.match(nft, /table ip svcplane/);
    }
  });
});
