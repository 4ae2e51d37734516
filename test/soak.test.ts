/**
 * Churn and kill: Services and Deployments are created, scaled and deleted while each component
 * of a cluster is killed with -9 in turn, the supervisor included. Every write kubectl saw
 * acknowledged is kept (and every acknowledged deletion stays deleted); at the end no proxy holds a
 * rule for a deleted Service and every kept one answers through its ClusterIP, DNS answers for
 * the kept names and NXDOMAIN for the deleted ones, and `svcplane status` tells the truth
 * throughout (running; running without its supervisor; running again after `up`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { paths } from '../src/cluster/config.js';

const skip = !isRoot() && 'needs root (network namespaces)';
/** Passes over the list of components (each kills every component once); SOAK_CYCLES for a longer soak. */
const CYCLES = Number(process.env.SOAK_CYCLES ?? 2);

function svcplane(args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync(join(ROOT, 'bin/svcplane'), args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}

interface Comp { name: string; pid?: number }
const state = (c: TestCluster): Comp[] => (JSON.parse(readFileSync(paths(c.config.dataDir).supervisorState, 'utf8')) as { components: Comp[] }).components;
const supervisorPid = (c: TestCluster): number => Number(readFileSync(paths(c.config.dataDir).supervisorPid, 'utf8').trim());
const alive = (pid: number): boolean => { try { process.kill(pid, 0); return true; } catch { return false; } };

const app = (name: string, replicas: number) => `apiVersion: apps/v1
kind: Deployment
metadata:
  name: ${name}
  labels: {soak: "yes"}
spec:
  replicas: ${replicas}
  selector: {matchLabels: {app: ${name}}}
  template:
    metadata: {labels: {app: ${name}}}
    spec:
      containers:
      - {name: app, image: "jocatalin/kubernetes-bootcamp:v1"}
---
apiVersion: v1
kind: Service
metadata:
  name: ${name}
  labels: {soak: "yes"}
spec:
  selector: {app: ${name}}
  ports:
  - {port: 80, targetPort: 8080}
`;

describe('churn while every component is killed -9 in turn', { skip, timeout: 600_000 }, () => {
  let c: TestCluster;
  before(async () => { c = await startCluster({ workers: 1 }); });
  after(async () => { await c?.destroy(); });

  it('keeps every acknowledged write, leaves no stale rule, answers DNS, and status tells the truth', async () => {
    const kept = new Map<string, number>();
    const deleted = new Set<string>();
    const ips = new Map<string, string>();
    /** Retry a kubectl write until it is acknowledged (exit 0): the API may be down a moment. */
    const ack = async (what: string, args: string[], input?: string) => c.eventually(what, () => c.kubectl(args, { input, timeoutMs: 20_000 }).code === 0, 90_000, 300);
    const cp = `${c.name}-control-plane`;
    const worker = `${c.name}-worker`;
    const victims = ['apiserver', 'controller-manager', 'scheduler', `kubelet-${worker}`, `proxy-${cp}`, `proxy-${worker}`, `kubelet-${cp}`, 'relay', 'speaker', 'supervisor'];
    let round = 0;
    for (const victim of Array.from({ length: CYCLES }, () => victims).flat()) {
      round++;
      if (victim === 'supervisor') {
        const pid = supervisorPid(c);
        process.kill(pid, 'SIGKILL');
        await c.eventually('the supervisor gone', () => !alive(pid), 10_000, 50);
        const st = svcplane(['status', '--name', c.name, '--data-dir', c.config.dataDir]);
        assert.match(st.out, /running without its supervisor/, `status after the supervisor died: ${st.out}${st.err}`);
      } else {
        const before = state(c).find((x) => x.name === victim);
        assert.ok(before?.pid, `${victim} runs before the kill`);
        process.kill(before.pid, 'SIGKILL');
        // The churn goes on while the component is down and restarting.
      }
      const name = `soak-${round}`;
      await ack(`apply ${name}`, ['apply', '-f', '-'], app(name, 1));
      kept.set(name, 1);
      if (round >= 2 && kept.has(`soak-${round - 1}`)) {
        await ack(`scale soak-${round - 1}`, ['scale', 'deployment', `soak-${round - 1}`, '--replicas=2']);
        kept.set(`soak-${round - 1}`, 2);
      }
      if (round >= 3 && round % 2 === 1) {
        const gone = `soak-${round - 2}`;
        const ip = c.kubectl(['get', 'svc', gone, '-o', 'jsonpath={.spec.clusterIP}']).out;
        if (ip) ips.set(gone, ip);
        await ack(`delete ${gone}`, ['delete', 'deployment,service', gone, '--ignore-not-found', '--wait=false']);
        kept.delete(gone);
        deleted.add(gone);
      }
      if (victim === 'supervisor') {
        const up = svcplane(['up', '--name', c.name, '--data-dir', c.config.dataDir]);
        assert.equal(up.code, 0, `up after the supervisor died: ${up.out}${up.err}`);
        await c.eventually('one API server after up', () => state(c).filter((x) => x.name === 'apiserver' && x.pid && alive(x.pid)).length === 1, 30_000);
      } else {
        await c.eventually(`${victim} restarted`, () => { const now = state(c).find((x) => x.name === victim); return !!now?.pid && alive(now.pid); }, 60_000);
      }
      const st = svcplane(['status', '--name', c.name, '--data-dir', c.config.dataDir]);
      assert.equal(st.code, 0, `status after round ${round} (${victim}): ${st.out}${st.err}`);
      assert.match(st.out, new RegExp(`Cluster ${c.name}: running \\(`), st.out);
    }

    // Every acknowledged object is there with its acknowledged scale; every deleted one is gone.
    const deps = JSON.parse(c.k('get', 'deployments', '-l', 'soak=yes', '-o', 'json')).items as any[];
    const svcs = JSON.parse(c.k('get', 'services', '-l', 'soak=yes', '-o', 'json')).items as any[];
    assert.deepEqual(deps.map((d) => d.metadata.name).sort(), [...kept.keys()].sort());
    assert.deepEqual(svcs.map((s) => s.metadata.name).sort(), [...kept.keys()].sort());
    for (const d of deps) assert.equal(d.spec.replicas, kept.get(d.metadata.name), `${d.metadata.name} replicas`);
    for (const s of svcs) ips.set(s.metadata.name, s.spec.clusterIP);

    // Kept Services answer through their ClusterIP from every node; deleted ones have no rule left.
    for (const node of ['control-plane', 'worker']) {
      for (const name of kept.keys()) {
        const ip = ips.get(name)!;
        await c.eventually(`${name} (${ip}) through the ClusterIP from ${node}`, () => /Hello Kubernetes bootcamp!/.test(c.curl(node, `http://${ip}/`).out), 120_000, 500);
      }
      const rules = await c.eventually(`no rule for the deleted Services on ${node}`, () => {
        const out = c.exec(node, ['nft', 'list', 'table', 'ip', 'svcplane']).out;
        return [...deleted].every((d) => !out.includes(`${ips.get(d)} `)) ? out : undefined;
      }, 60_000, 500);
      for (const name of kept.keys()) assert.ok(rules.includes(ips.get(name)!), `${node} has rules for ${name}`);
    }

    // DNS answers for what is kept and NXDOMAIN for what was deleted.
    for (const name of kept.keys()) {
      await c.eventually(`DNS ${name}`, () => c.exec('control-plane', ['dig', '+short', '+time=2', '+tries=1', '@10.96.0.10', `${name}.default.svc.cluster.local`]).out.trim() === ips.get(name), 60_000, 500);
    }
    for (const name of deleted) {
      await c.eventually(`NXDOMAIN ${name}`, () => /status: NXDOMAIN/.test(c.exec('control-plane', ['dig', '+time=2', '+tries=1', '@10.96.0.10', `${name}.default.svc.cluster.local`]).out), 60_000, 500);
    }
    const st = svcplane(['status', '--name', c.name, '--data-dir', c.config.dataDir]);
    assert.equal(st.code, 0);
  });
});
