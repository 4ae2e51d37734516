/**
 * @module store/conformance
 * One behaviour suite every Store backend must pass (memory, SQLite, etcd).
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { StoreError, type Store, type StoreEvent } from './types.js';

const code = (e: unknown) => (e instanceof StoreError ? e.code : String(e));

export function runStoreConformance(name: string, makeStore: () => Promise<Store>, cleanup?: () => Promise<void>): void {
  describe(`store conformance: ${name}`, () => {
    let s: Store;
    before(async () => { s = await makeStore(); });
    after(async () => { await s.close(); await cleanup?.(); });

    it('create, get, a global monotonic revision, AlreadyExists', async () => {
      const r0 = await s.currentRevision();
      const r1 = await s.create('/a/1', 'one');
      const r2 = await s.create('/b/1', 'two');
      assert.ok(r1 > r0 && r2 === r1 + 1);
      assert.deepEqual(await s.get('/a/1'), { key: '/a/1', value: 'one', modRevision: r1, createRevision: r1 });
      await assert.rejects(s.create('/a/1', 'x'), (e) => code(e) === 'AlreadyExists');
      assert.equal(await s.get('/nope'), null);
    });

    it('update is compare-and-swap on the revision', async () => {
      const e = (await s.get('/a/1'))!;
      const r = await s.update('/a/1', 'one-b', e.modRevision);
      await assert.rejects(s.update('/a/1', 'stale', e.modRevision), (x) => code(x) === 'Conflict');
      await assert.rejects(s.update('/missing', 'v', 1), (x) => code(x) === 'NotFound');
      const now = (await s.get('/a/1'))!;
      assert.equal(now.value, 'one-b');
      assert.equal(now.modRevision, r);
      assert.equal(now.createRevision, e.createRevision);
    });

    it('delete with and without precondition', async () => {
      await s.create('/c/1', 'x');
      const e = (await s.get('/c/1'))!;
      await assert.rejects(s.delete('/c/1', e.modRevision + 100), (x) => code(x) === 'Conflict');
      const d = await s.delete('/c/1', e.modRevision);
      assert.equal(d.prev.value, 'x');
      assert.equal(await s.get('/c/1'), null);
      await assert.rejects(s.delete('/c/1'), (x) => code(x) === 'NotFound');
    });

    it('list by prefix in key order, with limit/startAfter paging and a remaining count', async () => {
      for (let i = 0; i < 5; i++) await s.create(`/p/k${i}`, `v${i}`);
      await s.create('/q/other', 'x');
      const all = await s.list('/p/');
      assert.deepEqual(all.entries.map((e) => e.key), ['/p/k0', '/p/k1', '/p/k2', '/p/k3', '/p/k4']);
      const p1 = await s.list('/p/', { limit: 2 });
      assert.deepEqual(p1.entries.map((e) => e.value), ['v0', 'v1']);
      assert.equal(p1.more, true);
      assert.equal(p1.remaining, 3);
      const p2 = await s.list('/p/', { limit: 2, startAfter: '/p/k1' });
      assert.deepEqual(p2.entries.map((e) => e.value), ['v2', 'v3']);
      const p3 = await s.list('/p/', { limit: 2, startAfter: '/p/k3' });
      assert.deepEqual(p3.entries.map((e) => e.value), ['v4']);
      assert.equal(p3.more, false);
      assert.equal(await s.count('/p/'), 5);
    });

    it('watch replays history after a revision in order, then live events, with prevValue', async () => {
      const from = await s.currentRevision();
      await s.create('/w/1', 'a');
      await s.update('/w/1', 'b', (await s.get('/w/1'))!.modRevision);
      const seen: StoreEvent[] = [];
      const w = await s.watch('/w/', from, (ev) => seen.push(ev));
      await s.delete('/w/1');
      await s.create('/x/ignored', 'n');
      await s.create('/w/2', 'c');
      await new Promise((r) => setTimeout(r, 50));
      w.stop();
      await s.create('/w/3', 'after-stop');
      await new Promise((r) => setTimeout(r, 20));
      assert.deepEqual(seen.map((e) => [e.type, e.key, e.value, e.prevValue ?? null, e.created]), [
        ['put', '/w/1', 'a', null, true], ['put', '/w/1', 'b', 'a', false], ['delete', '/w/1', 'b', 'b', false], ['put', '/w/2', 'c', null, true],
      ]);
      for (let i = 1; i < seen.length; i++) assert.ok(seen[i]!.revision > seen[i - 1]!.revision);
    });

    it('watchers miss nothing under concurrent writes', async () => {
      const from = await s.currentRevision();
      const got: number[] = [];
      const w = await s.watch('/load/', from, (ev) => got.push(ev.revision));
      await Promise.all(Array.from({ length: 200 }, (_, i) => s.create(`/load/${i}`, String(i))));
      await new Promise((r) => setTimeout(r, 100));
      w.stop();
      assert.equal(got.length, 200);
      assert.deepEqual(got, [...got].sort((a, b) => a - b));
      assert.equal(new Set(got).size, 200);
    });

    it('a watch from a compacted revision is Gone ("too old resource version")', async () => {
      const old = await s.currentRevision();
      await s.create('/z/1', 'a');
      await s.create('/z/2', 'b');
      await s.compact(await s.currentRevision() - 1);
      assert.ok(await s.compactedRevision() >= old);
      await assert.rejects(s.watch('/z/', old - 1, () => {}), (e) => code(e) === 'Gone' && /too old resource version/.test((e as Error).message));
    });
  });
}
