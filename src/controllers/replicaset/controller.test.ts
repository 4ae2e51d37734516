/**
 * The ReplicaSet controller's bounded work, one sync at a time, against svcplane's API server on
 * the memory store: at most 500 creations per sync in slow-start batches, no second burst before
 * the informer has seen the first, and a refused template costs one request and one event.
 */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Pod, ReplicaSet } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { Client } from '../../client/rest.js';
import { ApiError } from '../../client/types.js';
import type { EventRecorder } from '../../client/events.js';
import { startApiServer, type ApiServer } from '../../apiserver/server.js';
import { MemoryStore } from '../../store/memory.js';
import { DEFAULT_OPTIONS } from '../shared/controller.js';
import { BY_CONTROLLER_UID, SharedInformers } from '../shared/informers.js';
import { ReplicaSetController } from './controller.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

let dir: string;
let api: ApiServer;
let client: Client;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'svp-rsburst-'));
  const socketPath = join(dir, 'api.sock');
  api = await startApiServer({ dataDir: dir, store: new MemoryStore() as never, port: 0, host: '127.0.0.1', socketPath });
  client = new Client({ server: 'http://localhost', socketPath });
  await client.create(res('namespaces'), undefined, { metadata: { name: 'default' } }).catch(() => undefined);
});

after(async () => {
  client?.close();
  await api?.close();
  rmSync(dir, { recursive: true, force: true });
});

interface Harness {
  ctrl: ReplicaSetController;
  informers: SharedInformers;
  /** Concurrency of each wave of pod creations (slow-start batches run one after another). */
  waves: number[];
  creates: () => number;
  events: { type: string; reason: string; message: string }[];
  /** One sync (409s retried); returns the pod creations each attempt made. */
  sync: (key: string) => Promise<number[]>;
}

/** The controller with a client that counts pod creations (and may refuse them), no workers. */
function harness(refuse?: () => Error | undefined): Harness {
  const waves: number[] = [];
  let inFlight = 0, peak = 0, creates = 0;
  const counting = new Proxy(client, {
    get(target, prop, recv) {
      if (prop !== 'create') return Reflect.get(target, prop, recv);
      return async (r: { resource?: string; plural?: string }, ns: string, body: unknown, ...rest: unknown[]) => {
        if ((r.plural ?? r.resource) !== 'pods') return (target.create as any)(r, ns, body, ...rest);
        creates++; inFlight++; peak = Math.max(peak, inFlight);
        try {
          const err = refuse?.();
          if (err) { await new Promise((x) => setImmediate(x)); throw err; }
          return await (target.create as any)(r, ns, body, ...rest);
        } finally {
          inFlight--;
          if (!inFlight) { waves.push(peak); peak = 0; }
        }
      };
    },
  });
  const informers = new SharedInformers(client);
  const events: Harness['events'] = [];
  const recorder = { event: (_o: unknown, type: string, reason: string, message: string) => events.push({ type, reason, message }) } as unknown as EventRecorder;
  const ctrl = new ReplicaSetController({ client: counting, informers, recorder, opts: DEFAULT_OPTIONS });
  const once = (key: string) => (ctrl as unknown as { sync(k: string): Promise<void> }).sync(key);
  // A status write from a stale cache gets 409 and is retried, as the work queue would.
  const sync = async (key: string) => {
    const attempts: number[] = [];
    for (;;) {
      const before = creates;
      try { await once(key); attempts.push(creates - before); return attempts; } catch (e) {
        attempts.push(creates - before);
        if ((e as { code?: number }).code !== 409) throw e;
        await new Promise((r) => setTimeout(r, 50));
      }
    }
  };
  return { ctrl, informers, waves, creates: () => creates, events, sync };
}

function replicaSet(name: string, replicas: number): ReplicaSet {
  return {
    apiVersion: 'apps/v1', kind: 'ReplicaSet', metadata: { name, namespace: 'default' },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause' }] } } },
  };
}

async function until<T>(what: string, fn: () => T | undefined | false, ms = 20_000): Promise<T> {
  const end = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

test('a ReplicaSet of 1200 gets 500 pods per sync in slow-start batches, the next burst only after the informer saw the last', { timeout: 120_000 }, async () => {
  const h = harness();
  const rs = await client.create<ReplicaSet>(res('replicasets'), 'default', replicaSet('burst', 1200));
  const pods = h.informers.get<Pod>('pods');
  await h.informers.start();
  try {
    await until('the ReplicaSet in the informer', () => h.informers.get<ReplicaSet>('replicasets').get('default/burst'));
    const owned = () => pods.byIndex(BY_CONTROLLER_UID, rs.metadata!.uid!).length;
    const first = await h.sync('default/burst');
    assert.equal(first[0], 500, 'BurstReplicas per sync');
    assert.deepEqual(h.waves.slice(0, 9), [1, 2, 4, 8, 16, 32, 64, 128, 245]);
    // Until the watch has delivered those 500, a sync creates nothing (expectations).
    if (owned() < 500) assert.ok((await h.sync('default/burst')).every((n) => n === 0), 'expectations hold the next burst');
    const perSync = [...first];
    while (h.creates() < 1200) {
      const seen = h.creates();
      await until(`${seen} pods seen`, () => owned() === seen);
      perSync.push(...await h.sync('default/burst'));
    }
    assert.ok(perSync.every((n) => n <= 500), `at most 500 per sync: ${perSync}`);
    assert.equal(perSync.filter((n) => n > 0).length, 3, `three bursts: ${perSync}`);
    await until('1200 pods seen', () => owned() === 1200);
    assert.ok((await h.sync('default/burst')).every((n) => n === 0), 'nothing more once replicas exist');
    assert.equal(h.creates(), 1200);
    assert.equal((await client.list(res('pods'), 'default', { labelSelector: 'app=burst' })).items.length, 1200);
    assert.equal(h.events.filter((e) => e.reason === 'SuccessfulCreate').length, 1200);
  } finally {
    h.informers.stop();
    h.ctrl.stop();
  }
});

test('a refused pod template costs one request and one FailedCreate event per sync', { timeout: 60_000 }, async () => {
  const msg = 'pods "quota-abcde" is forbidden: exceeded quota: compute, requested: pods=1, used: pods=0, limited: pods=0';
  const h = harness(() => new ApiError(403, 'Forbidden', msg));
  await client.create<ReplicaSet>(res('replicasets'), 'default', replicaSet('quota', 300));
  await h.informers.start();
  try {
    await until('the ReplicaSet in the informer', () => h.informers.get<ReplicaSet>('replicasets').get('default/quota'));
    await assert.rejects(h.sync('default/quota'), (e: Error) => e.message === msg);
    assert.equal(h.creates(), 1);
    assert.deepEqual(h.events, [{ type: 'Warning', reason: 'FailedCreate', message: `Error creating: ${msg}` }]);
    // Skipped creations are not expected: the retry starts a fresh slow start at once.
    await assert.rejects(h.sync('default/quota'));
    assert.equal(h.creates(), 2);
  } finally {
    h.informers.stop();
    h.ctrl.stop();
  }
});
