/**
 * Watch over HTTP on the memory store: initial events, resume, selectors moving objects in and
 * out, Table rows, the initial-events-end bookmark, 410 after compaction, and fan-out through
 * one shared store watch.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { res } from '../api/registry.js';
import { startApiServer, type ApiServer } from './server.js';
import { request, socketConn, watch, type Conn } from './testing.js';

const NS = '/api/v1/namespaces/default';
const CM = `${NS}/configmaps`;

describe('watch', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-apiwatch-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let c: Conn;
  const streams: { close(): void }[] = [];
  const open = (path: string, headers?: Record<string, string>) => { const w = watch(c, path, headers); streams.push(w); return w; };
  before(async () => { srv = await startApiServer({ dataDir: dir, store, port: 0 }); c = socketConn(dir); });
  after(async () => { for (const s of streams) s.close(); await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('without resourceVersion: current objects as ADDED, then changes in order', async () => {
    await request(c, 'POST', CM, { metadata: { name: 'a' } });
    const w = open(`${CM}?watch=1`);
    assert.equal((await w.headers)['content-type'], 'application/json');
    await w.waitFor(1);
    await request(c, 'PATCH', `${CM}/a`, { data: { x: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
    await request(c, 'DELETE', `${CM}/a`);
    const ev = await w.waitFor(3);
    assert.deepEqual(ev.map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'a'], ['MODIFIED', 'a'], ['DELETED', 'a']]);
    assert.equal(ev[1].object.data.x, '1');
    assert.equal(ev[0].object.kind, 'ConfigMap');
    assert.ok(Number(ev[2].object.metadata.resourceVersion) > Number(ev[1].object.metadata.resourceVersion));
  });

  it('resumes from a resourceVersion (recent: from the cache; older: from the store)', async () => {
    const list = (await request(c, 'GET', CM)).json;
    const rv = list.metadata.resourceVersion;
    await request(c, 'POST', CM, { metadata: { name: 'r1' } });
    await request(c, 'POST', CM, { metadata: { name: 'r2' } });
    const w = open(`/api/v1/watch/namespaces/default/configmaps?resourceVersion=${rv}`);
    assert.deepEqual((await w.waitFor(2)).map((e) => [e.type, e.object.metadata.name]), [['ADDED', 'r1'], ['ADDED', 'r2']]);
    // A revision before the cache started (1) replays from the store's history.
    const old = open(`${CM}?watch=true&resourceVersion=1`);
    const evs = await old.waitFor(1);
    assert.equal(evs[0].object.metadata.namespace !== undefined, true);
  });

  it('selectors: objects entering the selection are ADDED, leaving it DELETED', async () => {
    const rv = (await request(c, 'GET', CM)).json.metadata.resourceVersion;
    const w = open(`${CM}?watch=1&labelSelector=app%3Dweb&resourceVersion=${rv}`);
    await w.headers;
    await request(c, 'POST', CM, { metadata: { name: 's', labels: { app: 'other' } } });
    await request(c, 'PATCH', `${CM}/s`, { metadata: { labels: { app: 'web' } } }, { 'Content-Type': 'application/merge-patch+json' });
    await request(c, 'PATCH', `${CM}/s`, { data: { a: '1' } }, { 'Content-Type': 'application/merge-patch+json' });
    await request(c, 'PATCH', `${CM}/s`, { metadata: { labels: { app: 'db' } } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.deepEqual((await w.waitFor(3)).map((e) => e.type), ['ADDED', 'MODIFIED', 'DELETED']);
  });

  it('one object by name, other namespaces filtered out', async () => {
    const rv = (await request(c, 'GET', CM)).json.metadata.resourceVersion;
    const w = open(`${CM}/one?watch=1&resourceVersion=${rv}`);
    await w.headers;
    await request(c, 'POST', '/api/v1/namespaces/kube-system/configmaps', { metadata: { name: 'one' } });
    await request(c, 'POST', CM, { metadata: { name: 'two' } });
    await request(c, 'POST', CM, { metadata: { name: 'one' } });
    const ev = await w.waitFor(1);
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(ev.map((e) => [e.type, e.object.metadata.namespace, e.object.metadata.name]), [['ADDED', 'default', 'one']]);
  });

  it('Table watch: column definitions only in the first event', async () => {
    const w = open(`${NS}/services?watch=1`, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' });
    await w.waitFor(1);
    await request(c, 'PATCH', `${NS}/services/kubernetes`, { metadata: { labels: { t: '1' } } }, { 'Content-Type': 'application/merge-patch+json' });
    const ev = await w.waitFor(2);
    assert.equal(ev[0].object.kind, 'Table');
    assert.equal(ev[0].object.columnDefinitions.length, 7);
    assert.deepEqual(ev[1].object.columnDefinitions, []);
    assert.equal(ev[1].object.rows[0].cells[0], 'kubernetes');
  });

  it('sendInitialEvents ends the initial state with a bookmark', async () => {
    const w = open(`${CM}?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan`);
    const n = (await request(c, 'GET', CM)).json.items.length;
    const ev = await w.waitFor(n + 1);
    assert.equal(ev[n].type, 'BOOKMARK');
    assert.equal(ev[n].object.metadata.annotations['k8s.io/initial-events-end'], 'true');
  });

  it('BOOKMARKs carry the store\'s progress, past writes to other resources', async () => {
    process.env.SVCPLANE_BOOKMARK_MS = '100';
    try {
      const rv = (await request(c, 'GET', `${NS}/secrets`)).json.metadata.resourceVersion;
      const w = open(`${NS}/secrets?watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`);
      await w.headers;
      const cm = (await request(c, 'POST', CM, { metadata: { name: 'progress' } })).json;
      for (let i = 0; i < 50; i++) {
        const b = w.events.filter((e) => e.type === 'BOOKMARK').pop();
        if (b && Number(b.object.metadata.resourceVersion) >= Number(cm.metadata.resourceVersion)) break;
        await new Promise((r) => setTimeout(r, 50));
      }
      const b = w.events.filter((e) => e.type === 'BOOKMARK').pop();
      assert.ok(b, 'a bookmark arrived');
      assert.equal(b.object.kind, 'Secret');
      assert.ok(Number(b.object.metadata.resourceVersion) >= Number(cm.metadata.resourceVersion), 'the bookmark is at or past the configmap write');
      assert.ok(w.events.every((e) => e.type === 'BOOKMARK'), 'no secret events');
    } finally {
      delete process.env.SVCPLANE_BOOKMARK_MS;
    }
  });

    it('a compacted resourceVersion is a 410 Expired ERROR event', async () => {
    for (let i = 0; i < 3; i++) await request(c, 'POST', CM, { metadata: { name: `c${i}` } });
    await store.compact(await store.currentRevision());
    const w = open(`${CM}?watch=1&resourceVersion=2`);
    const [ev] = await w.waitFor(1);
    assert.equal(ev.type, 'ERROR');
    assert.equal(ev.object.code, 410);
    assert.equal(ev.object.reason, 'Expired');
    assert.match(ev.object.message, /too old resource version/);
  });

  it('100 watchers share one store watch and all see every event; closed watches are released', async () => {
    const rv = (await request(c, 'GET', CM)).json.metadata.resourceVersion;
    const cache = srv.storage.caches.get(res('configmaps'));
    const before = cache.watchers;
    const ws = Array.from({ length: 100 }, () => open(`${CM}?watch=1&resourceVersion=${rv}`));
    await Promise.all(ws.map((w) => w.headers));
    for (let i = 0; i < 5; i++) await request(c, 'POST', CM, { metadata: { name: `fan${i}` } });
    for (const w of ws) assert.equal((await w.waitFor(5)).length, 5);
    assert.equal(cache.watchers, before + 100);
    for (const w of ws) w.close();
    for (let i = 0; i < 50 && cache.watchers > before; i++) await new Promise((r) => setTimeout(r, 20));
    assert.equal(cache.watchers, before);
  });
});
