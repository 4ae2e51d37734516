/**
 * The seed ClusterIP / NodePort / LoadBalancer walk through the service proxy on one real
 * cluster, for each proxy mode (nftables, iptables, userspace — switched on the running cluster
 * with `svcplane up --proxy-mode`, which must leave no rules of the previous mode behind), and
 * ipvs refusing to start with a clear message on a kernel without IPVS.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { up } from '../src/cluster/lifecycle.js';
import { EXAMPLES, ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';

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
    const empty = c.kubectl(['apply', '-f', '-'], { input: 'apiVersion: v1\nkind: Service\nmetadata:\n  name: empty\nspec:\n  ports:\n  - port: 80\n' });
    assert.equal(empty.code, 0, empty.err);
    podNames = (await c.podsReady('app=myapp', 3)).map((p) => p.metadata.name).sort();
    await c.podsReady('app=nginx-app', 3);
    clusterIP = c.k('get', 'svc', 'myapp', '-o', 'jsonpath={.spec.clusterIP}');
    lbIP = await c.eventually('LB IP', () => c.k('get', 'svc', 'myapp-lb', '-o', 'jsonpath={.status.loadBalancer.ingress[0].ip}'));
  });
  after(async () => { await c?.destroy(); });

  /** Rules of modes other than `mode` still present on a node ("node: what"). */
  function staleRules(mode: string): string[] {
    const out: string[] = [];
    for (const node of ['control-plane', 'worker', 'worker2']) {
      const tables = c.exec(node, ['nft', 'list', 'tables']).out;
      if (mode !== 'nftables' && /table ip svcplane\n/.test(tables)) out.push(`${node}: nft table ip svcplane`);
      if (mode !== 'userspace' && /svcplane-userspace/.test(tables)) out.push(`${node}: nft table ip svcplane-userspace`);
      if (mode !== 'iptables' && /KUBE-/.test(c.exec(node, ['iptables-nft-save', '-t', 'nat']).out)) out.push(`${node}: KUBE-* chains`);
    }
    return out;
  }

  for (const mode of ['nftables', 'iptables', 'userspace'] as const) {
    describe(mode, () => {
      before(async () => {
        if (mode !== 'nftables') await up({ name: c.name, dataDir: c.config.dataDir, proxyMode: mode, scheduler: 'rr', out: () => {} });
        c.config.proxyMode = mode;
        // The old proxies' rules stay until the new proxies start and remove them.
        await c.eventually(`${mode}: rules of other modes removed`, () => staleRules(mode).length === 0, 60_000);
        // A live switch restarts every node's proxy: wait until all of them serve again.
        for (const node of ['control-plane', 'worker', 'worker2']) {
          await c.eventually(`${mode} proxy serving on ${node}`, () => [0, 1, 2].every(() => BOOTCAMP.test(c.curl(node, `http://${clusterIP}:38080`).out.trim())), 60_000);
        }
      });

      it('no rules of another mode are left on the nodes', () => {
        assert.deepEqual(staleRules(mode), []);
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

  it('switching back to nftables leaves no iptables KUBE-* chains', async () => {
    await up({ name: c.name, dataDir: c.config.dataDir, proxyMode: 'nftables', scheduler: 'rr', out: () => {} });
    await c.eventually('nftables serving', () => BOOTCAMP.test(c.curl('control-plane', `http://${clusterIP}:38080`).out.trim()), 60_000);
    for (const node of ['control-plane', 'worker', 'worker2']) {
      await c.eventually(`no KUBE- chains on ${node}`, () => !/KUBE-SVC-|KUBE-SERVICES/.test(c.exec(node, ['sh', '-c', 'iptables-save 2>/dev/null; iptables-legacy-save 2>/dev/null']).out), 20_000);
      assert.match(c.exec(node, ['nft', 'list', 'tables']).out, /table ip svcplane/);
    }
  });

  it('ipvs mode fails at start with one line naming the alternatives', () => {
    const r = spawnSync(join(ROOT, 'bin', 'svcplane'), ['proxy', '--kubeconfig', `${c.config.dataDir}/kubeconfig-local`, '--hostname-override', 'x', '--proxy-mode', 'ipvs'], { encoding: 'utf8', timeout: 30_000 });
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /ipvs.*no IPVS.*--proxy-mode nftables --scheduler rr.*userspace/);
  });
});
