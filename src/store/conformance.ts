/**
 * @module store/conformance
 * One behaviour suite every Store backend must pass (memory, SQLite, etcd). Tests share one
 * store and run in order; each uses its own key prefix.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError, type Store, type StoreEvent } from './types.js';

const code = (e: unknown) => (e instanceof StoreError ? e.code : String(e));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Wait until check() holds (watch delivery is asynchronous on every backend). */
async function until(check: () => boolean, ms = 3000): Promise<void> {
  const end = Date.now() + ms;
  while (!check() && Date.now() < end) await sleep(5);
}

export function runStoreConformance(name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`store conformance: ${name}`, () => {
    let s: Store;
    before(async () => { s = await makeStore(); });
    after(async () => { try { await s?.close(); } finally { await cleanup?.(); } });

    it('create, get, a global monotonic revision, AlreadyExists', async () => {
      const r0 = await s.currentRevision();
      const r1 = await s.create('/a/1', 'one');
      const r2 = await s.create('/b/1', 'two');
      assert.ok(r1 > r0, `first write ${r1} is after ${r0}`);
      assert.equal(r2, r1 + 1, 'writes to different keys share one revision sequence');
      assert.equal(await s.currentRevision(), r2);
      assert.deepEqual(await s.get('/a/1'), { key: '/a/1', value: 'one', modRevision: r1, createRevision: r1 });
      await assert.rejects(s.create('/a/1', 'x'), (e) => code(e) === 'AlreadyExists');
      assert.equal((await s.get('/a/1'))!.value, 'one', 'a failed create changes nothing');
      assert.equal(await s.currentRevision(), r2, 'a failed create does not bump the revision');
      assert.equal(await s.get('/nope'), null);
    });

    it('update is compare-and-swap on the revision (Conflict, NotFound)', async () => {
      const e = (await s.get('/a/1'))!;
      const r = await s.update('/a/1', 'one-b', e.modRevision);
      await assert.rejects(s.update('/a/1', 'stale', e.modRevision), (x) => code(x) === 'Conflict');
      await assert.rejects(s.update('/missing', 'v', 1), (x) => code(x) === 'NotFound');
      const now = (await s.get('/a/1'))!;
      assert.equal(now.value, 'one-b');
      assert.equal(now.modRevision, r);
      assert.equal(now.createRevision, e.createRevision);
      assert.equal(await s.currentRevision(), r, 'failed updates do not bump the revision');
    });

    it('delete with and without precondition', async () => {
      await s.create('/c/1', 'x');
      const e = (await s.get('/c/1'))!;
      await assert.rejects(s.delete('/c/1', e.modRevision + 100), (x) => code(x) === 'Conflict');
      assert.ok(await s.get('/c/1'), 'a failed delete keeps the key');
      const d = await s.delete('/c/1', e.modRevision);
      assert.equal(d.prev.value, 'x');
      assert.equal(d.prev.modRevision, e.modRevision);
      assert.equal(d.revision, await s.currentRevision());
      assert.equal(await s.get('/c/1'), null);
      await assert.rejects(s.delete('/c/1'), (x) => code(x) === 'NotFound');
      await s.create('/c/2', 'y');
      const d2 = await s.delete('/c/2');
      assert.equal(d2.prev.value, 'y');
      assert.equal(await s.get('/c/2'), null);
      const r = await s.create('/c/1', 'again');
      assert.equal((await s.get('/c/1'))!.createRevision, r, 'a re-created key has a new createRevision');
    });

    it('list by prefix in key order, with limit/startAfter paging, more and remaining; count', async () => {
      for (const i of [3, 0, 4, 1, 2]) await s.create(`/p/k${i}`, `v${i}`);
      await s.create('/q/other', 'x');
      await s.create('/p-sibling', 'not under /p/');
      const all = await s.list('/p/');
      assert.deepEqual(all.entries.map((e) => e.key), ['/p/k0', '/p/k1', '/p/k2', '/p/k3', '/p/k4']);
      assert.equal(all.more, false);
      assert.equal(all.revision, await s.currentRevision());
      const p1 = await s.list('/p/', { limit: 2 });
      assert.deepEqual(p1.entries.map((e) => e.value), ['v0', 'v1']);
      assert.equal(p1.more, true);
      assert.equal(p1.remaining, 3);
      const p2 = await s.list('/p/', { limit: 2, startAfter: '/p/k1' });
      assert.deepEqual(p2.entries.map((e) => e.value), ['v2', 'v3']);
      assert.equal(p2.remaining, 1);
      const p3 = await s.list('/p/', { limit: 2, startAfter: '/p/k3' });
      assert.deepEqual(p3.entries.map((e) => e.value), ['v4']);
      assert.equal(p3.more, false);
      const exact = await s.list('/p/', { limit: 5 });
      assert.equal(exact.entries.length, 5);
      assert.equal(exact.more, false, 'a page that ends exactly at the last key has no more');
      assert.deepEqual((await s.list('/none/')).entries, []);
      assert.equal(await s.count('/p/'), 5);
      assert.equal(await s.count('/none/'), 0);
      const e = (await s.get('/p/k2'))!;
      assert.deepEqual(all.entries[2], e, 'list entries carry mod and create revisions');
    });

    it('list at an old revision returns the state then (consistent paging)', async () => {
      for (const k of ['a', 'b', 'c']) await s.create(`/h/${k}`, `${k}1`);
      const r = await s.currentRevision();
      const before = await s.list('/h/');
      await s.update('/h/a', 'a2', (await s.get('/h/a'))!.modRevision);
      await s.delete('/h/b');
      await s.create('/h/d', 'd1');
      await s.create('/h/0', '01');
      const at = await s.list('/h/', { revision: r });
      assert.equal(at.revision, r);
      assert.deepEqual(at.entries, before.entries);
      const pg1 = await s.list('/h/', { revision: r, limit: 2 });
      assert.deepEqual(pg1.entries.map((e) => [e.key, e.value]), [['/h/a', 'a1'], ['/h/b', 'b1']]);
      assert.equal(pg1.more, true);
      assert.equal(pg1.remaining, 1);
      const pg2 = await s.list('/h/', { revision: r, limit: 2, startAfter: '/h/b' });
      assert.deepEqual(pg2.entries.map((e) => [e.key, e.value]), [['/h/c', 'c1']]);
      assert.equal(pg2.more, false);
      const now = await s.list('/h/');
      assert.deepEqual(now.entries.map((e) => [e.key, e.value]), [['/h/0', '01'], ['/h/a', 'a2'], ['/h/c', 'c1'], ['/h/d', 'd1']]);
    });

    it('watch replays history after a revision in order, then live events, with prevValue', async () => {
      const from = await s.currentRevision();
      await s.create('/w/1', 'a');
      await s.update('/w/1', 'b', (await s.get('/w/1'))!.modRevision);
      const seen: StoreEvent[] = [];
      const w = await s.watch('/w/', from, (ev) => seen.push(ev));
      await s.delete('/w/1');
      await s.create('/x/ignored', 'n');
      await s.create('/w-sibling', 'n');
      const last = await s.create('/w/2', 'c');
      await until(() => seen.length >= 4);
      w.stop();
      await s.create('/w/3', 'after-stop');
      await sleep(50);
      assert.deepEqual(seen.map((e) => [e.type, e.key, e.value, e.prevValue ?? null, e.created]), [
        ['put', '/w/1', 'a', null, true], ['put', '/w/1', 'b', 'a', false], ['delete', '/w/1', 'b', 'b', false], ['put', '/w/2', 'c', null, true],
      ]);
      assert.equal(seen[0]!.revision, from + 1);
      assert.equal(seen[3]!.revision, last);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.revision > seen[i - 1]!.revision);
    });

    it('watch from the current revision sees only later events; two watchers see the same stream', async () => {
      await s.create('/v/old', 'o');
      const from = await s.currentRevision();
      const a: number[] = [];
      const b: number[] = [];
      const wa = await s.watch('/v/', from, (ev) => a.push(ev.revision));
      const wb = await s.watch('/v/', from, (ev) => b.push(ev.revision));
      const r1 = await s.create('/v/new', 'n');
      const r2 = await s.update('/v/old', 'o2', (await s.get('/v/old'))!.modRevision);
      await until(() => a.length >= 2 && b.length >= 2);
      wa.stop();
      wb.stop();
      assert.deepEqual(a, [r1, r2]);
      assert.deepEqual(b, [r1, r2]);
    });

    it('watchers miss nothing under concurrent writes', async () => {
      const from = await s.currentRevision();
      const got: number[] = [];
      const w = await s.watch('/load/', from, (ev) => got.push(ev.revision));
      await Promise.all(Array.from({ length: 200 }, (_, i) => s.create(`/load/${i}`, String(i))));
      await until(() => got.length >= 200);
      w.stop();
      assert.equal(got.length, 200);
      assert.deepEqual(got, [...got].sort((x, y) => x - y));
      assert.equal(new Set(got).size, 200);
    });

    it('a watch started in the middle of a write stream replays then follows with no gap', async () => {
      const from = await s.currentRevision();
      const N = 300;
      let written = 0;
      const writer = (async () => {
        for (let i = 0; i < N; i++) {
          await s.create(`/mid/${String(i).padStart(4, '0')}`, String(i));
          written++;
          // Yield to timers and I/O so the watch below starts while writes are still going on.
          await new Promise((r) => setImmediate(r));
        }
      })();
      await until(() => written >= 50);
      const got: number[] = [];
      const w = await s.watch('/mid/', from, (ev) => got.push(ev.revision));
      assert.ok(written < N, 'the watch started before the writes ended');
      await writer;
      const end = await s.currentRevision();
      await until(() => got.length >= end - from);
      w.stop();
      assert.deepEqual(got, Array.from({ length: end - from }, (_, i) => from + 1 + i), 'every revision exactly once, in order');
    });

    it('compaction: watch and list from before it are Gone ("too old resource version")', async () => {
      const old = await s.currentRevision();
      await s.create('/z/1', 'a');
      await s.create('/z/2', 'b');
      const keep = await s.currentRevision() - 1;
      await s.compact(keep);
      assert.ok(await s.compactedRevision() >= old);
      const gone = (e: unknown) => code(e) === 'Gone' && /too old resource version/.test((e as Error).message);
      await assert.rejects(s.watch('/z/', old - 1, () => {}), gone);
      await assert.rejects(s.list('/z/', { revision: old - 1 }), gone);
      // The compacted revision itself is still readable, and a watch from it sees what followed.
      const got: StoreEvent[] = [];
      const w = await s.watch('/z/', keep, (ev) => got.push(ev));
      await until(() => got.length >= 1);
      w.stop();
      assert.deepEqual(got.map((e) => e.key), ['/z/2']);
      assert.deepEqual((await s.list('/z/', { revision: keep })).entries.map((e) => e.key), ['/z/1']);
      assert.equal((await s.get('/a/1'))!.value, 'one-b', 'compaction keeps the current state');
      assert.equal(await s.count('/p/'), 5);
    });
  });
}
