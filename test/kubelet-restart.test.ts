/**
 * A node agent killed with -9 and restarted by the supervisor must still be able to restart the
 * containers of the pods it adopted: the pods' network namespaces have to outlive the agent's own
 * mount namespace (`ip netns exec` gives every component a private one). Before the fix the new
 * agent saw an empty /run/netns/<pod> file and the container crash-looped on
 * "setting the network namespace … failed: Invalid argument".
 * (The process runtime's pods: test/containers.test.ts kills the node agent of containerd pods.)
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { down, up } from '../src/cluster/lifecycle.js';
import { paths } from '../src/cluster/config.js';
import { isRoot, TestCluster } from './lib/harness.js';

const NAME = `wbk${process.pid % 10000}`;

/** A pod that serves its per-pod html directory and exits 3 when a file `stop` appears there. */
const POD = (name: string) => JSON.stringify({
  apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { app: name } },
  spec: {
    nodeName: `${NAME}-worker`, terminationGracePeriodSeconds: 1,
    containers: [{
      name: 'web', image: 'busybox',
      command: ['sh', '-c', 'd=/usr/share/nginx/html; echo "hello from $(hostname)" > $d/index.html; python3 -m http.server 8080 -d $d & p=$!; '
        + 'while [ ! -e $d/stop ]; do sleep 0.2; done; rm -f $d/stop; kill $p; exit 3'],
    }],
  },
});

function kubeletPid(dataDir: string, node: string): number | undefined {
  try {
    const st = JSON.parse(readFileSync(paths(dataDir).supervisorState, 'utf8')) as { components: { name: string; pid?: number }[] };
    return st.components.find((c) => c.name === `kubelet-${node}`)?.pid;
  } catch { return undefined; }
}

describe('kubelet restart', { skip: !isRoot() && 'needs root', concurrency: false }, () => {
  let c: TestCluster | undefined;
  const dataDir = mkdtempSync(join(tmpdir(), `svp-${NAME}-`));
  before(async () => {
    const lines: string[] = [];
    try {
      c = new TestCluster(await up({ name: NAME, dataDir, workers: 1, runtime: 'process', out: (l) => lines.push(l), waitMs: 120_000 }));
    } catch (e) {
      throw new Error(`svcplane up failed: ${(e as Error).message}\n${lines.join('\n')}`);
    }
  });
  after(async () => {
    if (c) await c.destroy();
    else await down({ name: NAME, dataDir, purge: true, out: () => {} }).catch(() => undefined);
  });

  it('restarts a container of an adopted pod after kill -9 of the node agent, and it serves again', { timeout: 120_000 }, async () => {
    const k = c!;
    const applied = k.kubectl(['apply', '-f', '-'], { input: POD('rs1') });
    assert.equal(applied.code, 0, applied.err);
    const [pod] = await k.podsReady('app=rs1', 1);
    const ip = pod.status.podIP as string;
    const serves = () => { const r = k.curl('worker', `http://${ip}:8080/`); return r.code === 0 && r.out === 'hello from rs1\n'; };
    await k.eventually('pod serving', serves, 20_000);

    // The pod's namespace is pinned where the host (and any later agent) sees it.
    const podNetns = `svp-${NAME}-p-${(pod.metadata.uid as string).replace(/-/g, '').slice(0, 8)}`;
    const inPod = spawnSync('ip', ['netns', 'exec', podNetns, 'ip', '-o', '-4', 'addr', 'show', 'eth0'], { encoding: 'utf8' });
    assert.equal(inPod.status, 0, inPod.stderr);
    assert.match(inPod.stdout, new RegExp(` ${ip.replace(/\./g, '\\.')}/`));

    const node = `${NAME}-worker`;
    const old = kubeletPid(dataDir, node);
    assert.ok(old, 'kubelet pid in the supervisor state');
    process.kill(old!, 'SIGKILL');
    const fresh = await k.eventually('kubelet restarted by the supervisor', () => { const p = kubeletPid(dataDir, node); return p && p !== old ? p : undefined; }, 30_000);
    assert.notEqual(fresh, old);

    // The container exits (exec goes through the new agent); the new agent must start it again.
    await k.eventually('stop file written through kubectl exec', () => k.kubectl(['exec', 'rs1', '--', 'touch', '/usr/share/nginx/html/stop']).code === 0, 30_000, 500);
    let seen: unknown;
    const restarted = await k.eventually('restartCount 1 and Ready again', () => {
      const p = JSON.parse(k.k('get', 'pod', 'rs1', '-o', 'json'));
      const cs = p.status?.containerStatuses?.[0];
      seen = cs;
      return cs?.restartCount >= 1 && cs.ready && cs.state?.running ? p : undefined;
    }, 60_000, 500).catch((e) => { throw new Error(`${(e as Error).message}; container status: ${JSON.stringify(seen)}`); });
    const cs = restarted.status.containerStatuses[0];
    assert.equal(cs.lastState.terminated.exitCode, 3, JSON.stringify(cs.lastState));
    assert.equal(restarted.status.podIP, ip);
    await k.eventually('pod serving after the restart', serves, 20_000);
  });
});
