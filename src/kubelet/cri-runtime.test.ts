/**
 * The agent's CRI pod worker against an in-memory runtime: what it starts, and how often, when the
 * runtime's answers arrive late.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setImmediate as turn } from 'node:timers/promises';
import { describe, it } from 'node:test';
import type { Pod } from '../api/types.js';
import { CriRuntime } from './cri-runtime.js';
import { FakeCri } from './cri/fake.js';

async function until(cond: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 2000; i++) {
    if (cond()) return;
    await turn();
  }
  assert.fail(`timed out waiting for ${what}`);
}

function runtimeOn(fake: FakeCri): { rt: CriRuntime; done: () => void } {
  const dir = mkdtempSync(join(tmpdir(), 'svcplane-cri-'));
  const rt = new CriRuntime({
    dataDir: dir, nodeName: 'n1', nodeIP: '10.99.0.2', clusterName: 'unit', clusterDNS: ['10.96.0.10'], clusterDomain: 'cluster.local',
    socket: join(dir, 'none.sock'), cri: fake.client(),
  });
  return { rt, done: () => { rt.close(); rmSync(dir, { recursive: true, force: true }); } };
}

const twoContainers: Pod = {
  metadata: { name: 'two', namespace: 'default', uid: 'u-two' },
  spec: { containers: [{ name: 'web', image: 'busybox:1' }, { name: 'idle', image: 'busybox:1' }] },
};

describe('CRI pod worker', () => {
  it('starts each container once when a listing begun before the start answers after it', async () => {
    const fake = new FakeCri();
    const { rt, done } = runtimeOn(fake);
    try {
      fake.holdLists = true;
      const listing = rt.refresh(); // asked before any container exists, answered after they run
      await rt.start(twoContainers);
      await until(() => fake.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length === 2, 'both containers to run');
      fake.holdLists = false;
      fake.releaseLists();
      await listing;
      // The agent syncs the pod again on every update and tick: three rounds of list and sync.
      for (let i = 0; i < 3; i++) {
        await turn();
        await rt.start(twoContainers);
        await rt.refresh();
      }
      assert.equal(fake.count('createContainer', 'web'), 1);
      assert.equal(fake.count('createContainer', 'idle'), 1);
      const st = rt.status('u-two');
      assert.deepEqual(st?.containerStatuses?.map((c) => [c.name, c.restartCount, Object.keys(c.state ?? {})[0]]).sort(), [['idle', 0, 'running'], ['web', 0, 'running']]);
    } finally {
      done();
    }
  });

  it('restarts an exited container once, with the next attempt and its last state', async () => {
    const fake = new FakeCri();
    const { rt, done } = runtimeOn(fake);
    try {
      await rt.start(twoContainers);
      await until(() => fake.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length === 2, 'both containers to run');
      await rt.refresh();
      const web = fake.containers.find((c) => c.metadata.name === 'web')!;
      fake.exit(web.id, 3);
      fake.holdLists = true;
      const listing = rt.refresh();
      fake.holdLists = false;
      fake.releaseLists();
      await listing;
      await rt.start(twoContainers);
      await until(() => fake.count('createContainer', 'web') === 2, 'web to be started again');
      await until(() => fake.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length === 2, 'web to run again');
      for (let i = 0; i < 3; i++) {
        await turn();
        await rt.start(twoContainers);
        await rt.refresh();
      }
      assert.equal(fake.count('createContainer', 'web'), 2);
      assert.equal(fake.count('createContainer', 'idle'), 1);
      const st = rt.status('u-two')?.containerStatuses?.find((c) => c.name === 'web');
      assert.equal(st?.restartCount, 1);
      assert.equal(st?.lastState?.terminated?.exitCode, 3);
      assert.ok(st?.state?.running);
    } finally {
      done();
    }
  });

  it('a restarted agent keeps what the API last heard about an adopted container until its probes run', async () => {
    const fake = new FakeCri();
    const probed: Pod = {
      metadata: { name: 'probed', namespace: 'default', uid: 'u-probed' },
      spec: { containers: [{ name: 'web', image: 'nginx:1', readinessProbe: { exec: { command: ['true'] }, periodSeconds: 1 } }] },
    };
    const first = runtimeOn(fake);
    await first.rt.start(probed);
    await until(() => fake.containers.some((c) => c.state === 'CONTAINER_RUNNING'), 'web to run');
    await first.rt.refresh();
    const id = fake.containers[0]!.id;
    first.done(); // the agent goes; its container stays
    for (const [reported, expect] of [[true, true], [false, false]] as const) {
      fake.execExit = 1; // probes would say unready: what is reported before they run is the API's
      const next = runtimeOn(fake);
      try {
        assert.deepEqual(await next.rt.adopt(), ['u-probed']);
        const withStatus: Pod = { ...probed, status: { containerStatuses: [{ name: 'web', image: 'nginx:1', imageID: '', containerID: `containerd://${id}`, ready: reported, started: true, restartCount: 0, state: { running: {} } }] } };
        await next.rt.start(withStatus);
        const execs = fake.count('execSync');
        const st = next.rt.status('u-probed')?.containerStatuses?.[0];
        assert.equal(st?.ready, expect, `reported ready ${reported}`);
        assert.equal(fake.count('execSync'), execs, 'no probe ran yet');
      } finally {
        next.done();
      }
    }
    assert.equal(fake.count('createContainer'), 1, 'adopted, never started again');
  });
});
