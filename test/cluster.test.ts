/**
 * svcplane up / status / exec / down on a real cluster: nodes Ready with kind-style names and
 * addresses, pods on different nodes reachable across nodes without NAT, resuming a stopped cluster
 * with its objects, a second cluster side by side, clean-up of a half-created one, and nothing
 * left behind. One cluster serves all checks, in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { clusterNetns, down, up } from '../src/cluster/lifecycle.js';
import { paths } from '../src/cluster/config.js';

/** Host-side traces a cluster could leave: processes naming its data dir, mounts, host rules. */
function processesUsing(dataDir: string): string[] {
  const out: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d) || Number(d) === process.pid) continue;
    try {
      const cmd = readFileSync(`/proc/${d}/cmdline`, 'utf8');
      // Containers carry their pod's directory in the environment.
      if (cmd.includes(dataDir) || readFileSync(`/proc/${d}/environ`, 'utf8').includes(dataDir)) out.push(`${d} ${cmd.replace(/\0/g, ' ')}`);
    } catch { /* exited */ }
  }
  return out;
}
function mountsOf(name: string): string[] {
  return readFileSync('/proc/self/mountinfo', 'utf8').split('\n').filter((l) => l.includes(`svp-${name}-`));
}
function hostRules(): string {
  const nft = spawnSync('nft', ['list', 'tables'], { encoding: 'utf8' }).stdout;
  const ipt = spawnSync('iptables-save', [], { encoding: 'utf8' }).stdout.split('\n').filter((l) => /svcplane|KUBE-|SVP/i.test(l));
  return [nft.trim(), ...ipt].join('\n');
}
function assertNothingLeft(name: string, dataDir: string, rulesBefore: string): void {
  assert.deepEqual(clusterNetns(name), [], 'no namespace of the cluster');
  assert.deepEqual(processesUsing(dataDir), [], 'no process mentions the data dir');
  assert.deepEqual(mountsOf(name), [], 'no mount of the cluster');
  assert.equal(hostRules(), rulesBefore, 'host nft/iptables rules unchanged');
}

const skip = !isRoot() && 'needs root (network namespaces)';

describe('svcplane up / down', { skip, timeout: 300_000 }, () => {
  let c: TestCluster;
  let upMs = 0;
  let rulesBefore = '';
  before(async () => {
    rulesBefore = hostRules();
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

  it('kubectl cp copies files into and out of a pod (tar over exec)', async () => {
    c.k('run', 'cp-web', '--image=nginx', '--port=80');
    const [pod] = await c.podsReady('run=cp-web', 1);
    const tmp = mkdtempSync(join(tmpdir(), 'svp-cp-'));
    try {
      const page = join(tmp, 'page.html');
      writeFileSync(page, 'copied with kubectl cp\n');
      let r = c.kubectl(['cp', page, `cp-web:/usr/share/nginx/html/copied.html`]);
      assert.equal(r.code, 0, r.err);
      const host = pod.spec.nodeName.replace(`${c.name}-`, '');
      assert.equal(c.curl(host, `http://${pod.status.podIP}/copied.html`).out, 'copied with kubectl cp\n');
      // Out of the pod: a file, then a directory (the pod's own page files, not the host's).
      r = c.kubectl(['cp', 'cp-web:/usr/share/nginx/html/copied.html', join(tmp, 'back.html')]);
      assert.equal(r.code, 0, r.err);
      assert.equal(readFileSync(join(tmp, 'back.html'), 'utf8'), 'copied with kubectl cp\n');
      r = c.kubectl(['cp', 'cp-web:/usr/share/nginx/html', join(tmp, 'html')]);
      assert.equal(r.code, 0, r.err);
      assert.ok(readdirSync(join(tmp, 'html')).includes('copied.html'));
      // A missing file copies nothing (kubectl 1.32 itself exits 0 then, and prints tar's complaint
      // only when it arrives before the end of the stream).
      c.kubectl(['cp', 'cp-web:/no/such/file', join(tmp, 'x')]);
      assert.equal(existsSync(join(tmp, 'x')), false);
    } finally {
      rmSync(tmp, { recursive: true, force: true });
      c.k('delete', 'pod', 'cp-web', '--wait=false');
    }
  });

  it('down without --purge stops everything; up resumes the cluster with its objects and pods', async () => {
    c.k('create', 'configmap', 'keep-me', '--from-literal=k=v');
    const before = JSON.parse(c.k('get', 'pods', '-l', 'app=myapp', '-o', 'json')).items.map((p: any) => p.metadata.name).sort();
    await down({ name: c.name, dataDir: c.config.dataDir, out: () => {} });
    assertNothingLeft(c.name, c.config.dataDir, rulesBefore);
    assert.ok(existsSync(join(c.config.dataDir, 'cluster.json')), 'data kept');
    const lines: string[] = [];
    const t0 = Date.now();
    await up({ name: c.name, dataDir: c.config.dataDir, out: (l) => lines.push(l), waitMs: 120_000 });
    console.log(`# svcplane up (resume) → all nodes Ready: ${Date.now() - t0} ms`);
    assert.match(lines[0]!, /^Resuming cluster/);
    assert.equal(JSON.parse(c.k('get', 'configmap', 'keep-me', '-o', 'json')).data.k, 'v');
    const pods = await c.podsReady('app=myapp', 3);
    assert.deepEqual(pods.map((p) => p.metadata.name).sort(), before, 'the same pods run again');
    for (const p of pods) {
      const r = await c.eventually(`bootcamp answers on ${p.status.podIP}`, () => {
        const x = c.curl(p.spec.nodeName.replace(`${c.name}-`, ''), `http://${p.status.podIP}:8080`);
        return x.out.includes(`Running on: ${p.metadata.name}`) && x;
      }, 30_000);
      assert.ok(r);
    }
  });

  it('runs a second cluster side by side; the same name from another data dir is refused', async () => {
    const d = await startCluster({ workers: 0 });
    try {
      assert.notEqual(d.config.apiserverPort, c.config.apiserverPort);
      const mine = clusterNetns(c.name);
      const theirs = clusterNetns(d.name);
      assert.ok(theirs.length >= 3 && theirs.every((n) => n.startsWith(`svp-${d.name}-`) && !mine.includes(n)));
      assert.deepEqual(JSON.parse(d.k('get', 'nodes', '-o', 'json')).items.map((n: any) => n.metadata.name), [`${d.name}-control-plane`]);
      // Same lan addresses, each in its own namespaces: both answer on 172.18.0.2.
      assert.match(d.exec('control-plane', ['ip', '-4', '-o', 'addr', 'show', 'eth0']).out, /172\.18\.0\.2\/16/);
      assert.equal(JSON.parse(c.k('get', 'nodes', '-o', 'json')).items.length, 3);
      const other = mkdtempSync(join(tmpdir(), 'svp-dup-'));
      try {
        await assert.rejects(up({ name: c.name, dataDir: other, out: () => {} }), /is running from another data dir/);
        await assert.rejects(down({ name: c.name, dataDir: other, out: () => {} }), /is running from another data dir/);
      } finally { rmSync(other, { recursive: true, force: true }); }
      assert.equal(clusterNetns(c.name).length, mine.length, 'the refused up/down left the running cluster alone');
    } finally {
      await d.destroy();
    }
  });

  it('down cleans a half-created cluster (supervisor and up killed -9 mid-start)', async () => {
    const name = `h${process.pid % 100000}`;
    const dataDir = mkdtempSync(join(tmpdir(), `svp-${name}-`));
    try {
      const upProc = spawn(join(ROOT, 'bin', 'svcplane'), ['up', '--name', name, '--data-dir', dataDir], { stdio: 'ignore' });
      const pidFile = paths(dataDir).supervisorPid;
      await c.eventually('the supervisor to start components', () => existsSync(pidFile) && existsSync(paths(dataDir).log('apiserver')), 60_000, 20);
      const sup = Number(readFileSync(pidFile, 'utf8'));
      process.kill(sup, 'SIGKILL');
      upProc.kill('SIGKILL');
      assert.ok(clusterNetns(name).length >= 4, 'namespaces were created');
      await down({ name, dataDir, purge: true, out: () => {} });
      assertNothingLeft(name, dataDir, rulesBefore);
      assert.equal(existsSync(dataDir), false);
    } finally {
      await down({ name, dataDir, purge: true, out: () => {} }).catch(() => {});
    }
  });

  it('down removes every namespace, process, mount and rule', async () => {
    const dataDir = c.config.dataDir;
    const name = c.name;
    await c.destroy();
    assertNothingLeft(name, dataDir, rulesBefore);
    assert.equal(existsSync(dataDir), false);
    c = undefined as never;
  });
});
