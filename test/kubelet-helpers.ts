/**
 * Shared set-up for the node agent's tests: a node-like network namespace with a cni0 bridge
 * (what the cluster gives a node), a fresh data dir, a PodRuntime in it, and pod builders.
 * Everything is removed on clean-up, also when a test fails.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import type { Container, Pod } from '../src/api/types.js';
import { run, runSync } from '../src/net/exec.js';
import { listPodNetns } from '../src/net/pod-network.js';
import { PodRuntime, type RuntimeOptions } from '../src/kubelet/runtime.js';

export const TEST_CIDR = '10.244.7.0/24';

export interface TestNode {
  netns: string;
  cluster: string;
  dataDir: string;
  cleanup(): Promise<void>;
}

export async function createTestNode(tag: string): Promise<TestNode> {
  const cluster = `kt${process.pid % 100000}${tag}`;
  const netns = `svp-${cluster}-node`;
  const dataDir = mkdtempSync(join(tmpdir(), `svp-kubelet-${tag}-`));
  await run(['ip', 'netns', 'add', netns]);
  await run(['ip', '-n', netns, '-batch', '-'], { input: 'link set lo up\nlink add cni0 type bridge\naddr add 10.244.7.1/24 dev cni0\nlink set cni0 up\n' });
  await run(['sysctl', '-q', '-w', 'net.ipv4.ip_forward=1'], { netns });
  return {
    netns, cluster, dataDir,
    async cleanup() {
      // Kill every process still in a pod netns of this cluster, then remove the namespaces.
      for (const ns of listPodNetns(cluster)) {
        const pids = runSync(['ip', 'netns', 'pids', ns], { allowFail: true }).stdout.split('\n').filter(Boolean);
        for (const p of pids) { try { process.kill(Number(p), 'SIGKILL'); } catch { /* gone */ } }
        runSync(['ip', 'netns', 'del', ns], { allowFail: true });
      }
      runSync(['ip', 'netns', 'del', netns], { allowFail: true });
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export function runtimeFor(node: TestNode, extra: Partial<RuntimeOptions> = {}): PodRuntime {
  return new PodRuntime({
    dataDir: node.dataDir, nodeName: 'node-a', nodeIP: '172.18.0.9', podCIDR: TEST_CIDR,
    clusterName: node.cluster, clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local', nodeNetns: node.netns,
    ...extra,
  });
}

export function makePod(name: string, containers: Container[], mut: (p: Pod) => void = () => undefined): Pod {
  const pod: Pod = {
    apiVersion: 'v1', kind: 'Pod',
    metadata: { name, namespace: 'default', uid: randomUUID() },
    spec: { nodeName: 'node-a', containers, terminationGracePeriodSeconds: 2 },
  };
  mut(pod);
  return pod;
}

export async function eventually<T>(fn: () => T | undefined | Promise<T | undefined>, timeoutMs = 15000, what = 'condition'): Promise<T> {
  const end = Date.now() + timeoutMs;
  let last: unknown;
  while (Date.now() < end) {
    try {
      const v = await fn();
      if (v !== undefined && v !== false) return v as T;
    } catch (e) { last = e; }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`timed out waiting for ${what}${last ? `: ${(last as Error).message}` : ''}`);
}

export function curlIn(netns: string, url: string): { code: number; out: string } {
  const r = runSync(['curl', '-s', '-m', '3', url], { netns, allowFail: true });
  return { code: r.code, out: r.stdout };
}
