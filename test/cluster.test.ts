/**
 * svcplane up / status / exec / down on a real cluster: nodes Ready with kind-style names and
 * addresses, pods on different nodes reachable across nodes without NAT, and nothing left behind.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { clusterNetns } from '../src/cluster/lifecycle.js';

const skip = !isRoot() && 'needs root (network namespaces)';

describe('svcplane up / down', { skip, timeout: 300_000 }, () => {
  let c: TestCluster;
  let upMs = 0;
  before(async () => {
    const t0 = Date.now();
    c = await startCluster();
    upMs = Date.now() - t0;
  });
  after(async () => { await c?.destroy(); });

  it('registers three Ready nodes named like kind, with their lan addresses and pod CIDRs', () => {
    const nodes = JSON.parse(c.k('get', 'nodes', '-o', 'json')).items;
    const summary = nodes.map((n: any) => [n.metadata.name, n.status.addresses.find((a: any) => a.type === 'InternalIP').address, n.spec.podCIDR,
      n.status.conditions.find((x: any) => x.type === 'Ready').status, n.status.nodeInfo.kubeletVersion.startsWith('v1.32')]);
    assert.deepEqual(summary.sort(), [
      [`${c.name}-control-plane`, '172.18.0.2', '10.244.0.0/24', 'True', true],
      [`${c.name}-worker`, '172.18.0.3', '10.244.1.0/24', 'True', true],
      [`${c.name}-worker2`, '172.18.0.4', '10.244.2.0/24', 'True', true],
    ]);
    const [hdr] = c.k('get', 'nodes', '-o', 'wide').split('\n');
    assert.match(hdr!, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE\s+KERNEL-VERSION\s+CONTAINER-RUNTIME/);
    console.log(`# svcplane up → all nodes Ready: ${upMs} ms`);
  });

  it('runs bootcamp pods on different nodes, reachable by pod IP from nodes and other pods', async () => {
    c.k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'));
    const pods = await c.podsReady('app=myapp', 3);
    assert.equal(new Set(pods.map((p) => p.spec.nodeName)).size, 3);
    for (const p of pods) {
      assert.match(p.status.podIP, /^10\.244\.[0-2]\.\d+$/);
      const r = c.curl('control-plane', `http://${p.status.podIP}:8080`);
      assert.equal(r.out, `Hello Kubernetes bootcamp! | Running on: ${p.metadata.name} | v=1\n`);
    }
    // pod → pod across nodes, no NAT: agnhost-style check via the bootcamp line is enough here
    const [a, b] = pods;
    const r = c.kubectl(['exec', a.metadata.name, '--', 'curl', '-s', `${b.status.podIP}:8080`]);
    assert.equal(r.out, `Hello Kubernetes bootcamp! | Running on: ${b.metadata.name} | v=1\n`, r.err);
  });

  it('svcplane status lists components and nodes; exec runs on nodes and the client host', () => {
    const cli = join(ROOT, 'bin', 'svcplane');
    const st = spawnSync(cli, ['status', '--name', c.name, '--data-dir', c.config.dataDir], { encoding: 'utf8' });
    assert.equal(st.status, 0, st.stderr);
    assert.match(st.stdout, /apiserver\s+Running/);
    assert.match(st.stdout, new RegExp(`kubelet-${c.name}-worker2\\s+Running`));
    assert.match(st.stdout, new RegExp(`${c.name}-worker\\s+Ready\\s+172\\.18\\.0\\.3`));
    const ex = spawnSync(cli, ['exec', '--name', c.name, '--data-dir', c.config.dataDir, 'client', '--', 'ip', '-4', '-o', 'addr', 'show', 'eth0'], { encoding: 'utf8' });
    assert.match(ex.stdout, /172\.18\.0\.100\/16/);
  });

  it('down removes every namespace and process', async () => {
    const dataDir = c.config.dataDir;
    const name = c.name;
    await c.destroy();
    assert.deepEqual(clusterNetns(name), []);
    const ps = spawnSync('pgrep', ['-f', dataDir], { encoding: 'utf8' });
    assert.equal(ps.stdout.trim(), '', 'no process mentions the data dir');
    assert.equal(existsSync(dataDir), false);
    c = undefined as never;
  });
});
