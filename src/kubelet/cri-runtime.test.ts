/**
 * The agent's CRI pod worker against an in-memory runtime: what it starts, and how often, when the
 * runtime's answers arrive late.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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

  describe('init containers', () => {
    const running = (fake: FakeCri, name: string) => fake.containers.find((c) => c.metadata.name === name && c.state === 'CONTAINER_RUNNING');
    /** Sync rounds (list, then sync) until cond holds. */
    const rounds = async (rt: CriRuntime, pod: Pod, cond: () => boolean, what: string) => {
      for (let i = 0; i < 500; i++) {
        await rt.refresh();
        await rt.start(pod);
        if (cond()) return;
        await new Promise((r) => setTimeout(r, 10)); // the agent's own tick (probes, readiness) runs meanwhile
      }
      assert.fail(`timed out waiting for ${what}`);
    };
    const withInit = (policy: 'Always' | 'Never'): Pod => ({
      metadata: { name: 'init', namespace: 'default', uid: `u-init-${policy}` },
      spec: {
        restartPolicy: policy,
        initContainers: [{ name: 'prepare', image: 'busybox:1' }, { name: 'migrate', image: 'busybox:1' }],
        containers: [{ name: 'app', image: 'busybox:1' }],
      },
    });

    it('run one at a time to success, a failed one again, then the app; statuses as the kubelet reports them', async () => {
      const fake = new FakeCri();
      const { rt, done } = runtimeOn(fake);
      const pod = withInit('Always');
      try {
        await rounds(rt, pod, () => !!running(fake, 'prepare'), 'prepare to run');
        assert.equal(fake.count('createContainer', 'migrate'), 0, 'the second waits for the first');
        let st = rt.status(pod.metadata!.uid!)!;
        assert.equal(st.phase, 'Pending');
        assert.deepEqual(st.conditions?.find((c) => c.type === 'Initialized') && { s: st.conditions.find((c) => c.type === 'Initialized')!.status, m: st.conditions.find((c) => c.type === 'Initialized')!.message },
          { s: 'False', m: 'containers with incomplete status: [prepare migrate]' });
        assert.equal(st.containerStatuses?.[0]?.state?.waiting?.reason, 'PodInitializing');
        assert.equal(st.initContainerStatuses?.[1]?.state?.waiting?.reason, 'PodInitializing');
        fake.exit(running(fake, 'prepare')!.id, 0);
        await rounds(rt, pod, () => !!running(fake, 'migrate'), 'migrate to run');
        fake.exit(running(fake, 'migrate')!.id, 1);
        await rounds(rt, pod, () => fake.count('createContainer', 'migrate') === 2 && !!running(fake, 'migrate'), 'migrate to run again');
        assert.equal(fake.count('createContainer', 'app'), 0, 'no app before every init container succeeded');
        fake.exit(running(fake, 'migrate')!.id, 0);
        await rounds(rt, pod, () => !!running(fake, 'app'), 'the app to run');
        st = rt.status(pod.metadata!.uid!)!;
        assert.equal(st.phase, 'Running');
        assert.equal(st.conditions?.find((c) => c.type === 'Initialized')?.status, 'True');
        assert.deepEqual(st.initContainerStatuses?.map((s) => [s.name, s.state?.terminated?.reason, s.ready, s.restartCount]), [['prepare', 'Completed', true, 0], ['migrate', 'Completed', true, 1]]);
        assert.equal(st.initContainerStatuses?.[1]?.lastState?.terminated?.exitCode, 1);
        assert.equal(fake.count('createContainer', 'prepare'), 1);
      } finally {
        done();
      }
    });

    it('under restartPolicy Never a failed init container fails the pod and nothing else runs', async () => {
      const fake = new FakeCri();
      const { rt, done } = runtimeOn(fake);
      const pod = withInit('Never');
      try {
        await rounds(rt, pod, () => !!running(fake, 'prepare'), 'prepare to run');
        fake.exit(running(fake, 'prepare')!.id, 2);
        await rounds(rt, pod, () => rt.status(pod.metadata!.uid!)?.phase === 'Failed', 'the pod to fail');
        for (let i = 0; i < 3; i++) { await rt.refresh(); await rt.start(pod); }
        assert.equal(fake.count('createContainer', 'prepare'), 1);
        assert.equal(fake.count('createContainer', 'migrate'), 0);
        assert.equal(fake.count('createContainer', 'app'), 0);
        assert.equal(rt.status(pod.metadata!.uid!)?.initContainerStatuses?.[0]?.state?.terminated?.exitCode, 2);
      } finally {
        done();
      }
    });

    it('a sidecar starts before the app, keeps running beside it, and counts for readiness', async () => {
      const fake = new FakeCri();
      const { rt, done } = runtimeOn(fake);
      const pod: Pod = {
        metadata: { name: 'side', namespace: 'default', uid: 'u-side' },
        spec: { initContainers: [{ name: 'proxy', image: 'busybox:1', restartPolicy: 'Always' }], containers: [{ name: 'app', image: 'busybox:1' }] },
      };
      try {
        const ready = () => rt.status('u-side')?.conditions?.find((c) => c.type === 'Ready')?.status;
        await rounds(rt, pod, () => !!running(fake, 'proxy') && !!running(fake, 'app') && ready() === 'True', 'the sidecar and the app to run, Ready');
        let st = rt.status('u-side')!;
        assert.equal(st.initContainerStatuses?.[0]?.state?.running !== undefined, true);
        // The sidecar exits: it is started again, the app is left alone; unready meanwhile.
        fake.exit(running(fake, 'proxy')!.id, 0);
        await rt.refresh();
        st = rt.status('u-side')!;
        assert.equal(st.conditions?.find((c) => c.type === 'Ready')?.status, 'False');
        await rounds(rt, pod, () => fake.count('createContainer', 'proxy') === 2 && !!running(fake, 'proxy'), 'the sidecar to run again');
        assert.equal(fake.count('createContainer', 'app'), 1);
      } finally {
        done();
      }
    });
  });

  it('readinessGates: Ready only once every gate\'s condition, set by someone else, is True', async () => {
    const fake = new FakeCri();
    const { rt, done } = runtimeOn(fake);
    const gated: Pod = {
      metadata: { name: 'gated', namespace: 'default', uid: 'u-gated' },
      spec: { readinessGates: [{ conditionType: 'example.com/lb-ready' }], containers: [{ name: 'c', image: 'busybox:1' }] },
    };
    const cond = (type: string) => rt.status('u-gated')?.conditions?.find((c) => c.type === type);
    try {
      await rt.start(gated);
      for (let i = 0; i < 500 && cond('ContainersReady')?.status !== 'True'; i++) {
        await rt.refresh();
        await new Promise((r) => setTimeout(r, 10));
      }
      assert.equal(cond('ContainersReady')?.status, 'True');
      assert.deepEqual([cond('Ready')?.status, cond('Ready')?.reason, cond('Ready')?.message],
        ['False', 'ReadinessGatesNotReady', 'corresponding condition of pod readiness gate "example.com/lb-ready" does not exist.']);
      const withGate = (status: 'True' | 'False'): Pod => ({ ...gated, status: { conditions: [{ type: 'example.com/lb-ready', status }] } });
      await rt.start(withGate('False'));
      assert.equal(cond('Ready')?.message, 'the status of pod readiness gate "example.com/lb-ready" is not "True", but False');
      await rt.start(withGate('True'));
      assert.equal(cond('Ready')?.status, 'True');
    } finally {
      done();
    }
  });

  it('termination messages: the file the container wrote, or under FallbackToLogsOnError the end of its log', async () => {
    const fake = new FakeCri();
    const { rt, done } = runtimeOn(fake);
    const pod: Pod = {
      metadata: { name: 'msg', namespace: 'default', uid: 'u-msg' },
      spec: { restartPolicy: 'Never', containers: [
        { name: 'file', image: 'busybox:1', terminationMessagePath: '/tmp/why' },
        { name: 'logs', image: 'busybox:1', terminationMessagePolicy: 'FallbackToLogsOnError' },
      ] },
    };
    try {
      await rt.start(pod);
      await until(() => fake.containers.filter((c) => c.state === 'CONTAINER_RUNNING').length === 2, 'both to run');
      const byName = (n: string) => fake.containers.find((c) => c.metadata.name === n)!;
      const mount = (n: string, path: string) => fake.configs.get(byName(n).id)!.mounts!.find((m) => m.containerPath === path)!.hostPath;
      writeFileSync(mount('file', '/tmp/why'), 'config missing');
      assert.ok(mount('logs', '/dev/termination-log'), 'the default path is mounted');
      const sandbox = fake.sandboxConfigs.get(fake.sandboxOf.get(byName('logs').id)!)!;
      const log = join(sandbox.logDirectory!, fake.configs.get(byName('logs').id)!.logPath!);
      writeFileSync(log, ['first', 'second', 'panic: boom'].map((l) => `2026-12-06T05:00:00.000000000Z stderr F ${l}\n`).join(''));
      fake.exit(byName('file').id, 1);
      fake.exit(byName('logs').id, 2);
      await rt.refresh();
      const st = rt.status('u-msg')!.containerStatuses!;
      assert.equal(st.find((s) => s.name === 'file')?.state?.terminated?.message, 'config missing');
      assert.equal(st.find((s) => s.name === 'logs')?.state?.terminated?.message, 'first\nsecond\npanic: boom');
    } finally {
      done();
    }
  });
});
