import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { SqliteStore } from './sqlite.js';
import { StoreError } from './types.js';
import { runStoreConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'svp-sqlite-'));
runStoreConformance('sqlite', async () => new SqliteStore(join(dir, 'conf.db'), { compactIntervalMs: 0 }), async () => rmSync(dir, { recursive: true, force: true }));

test('sqlite: kill -9 mid-stream loses no acknowledged write', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-kill-'));
  const db = join(d, 'state.db');
  const script = `
    import { SqliteStore } from ${JSON.stringify(new URL('./sqlite.ts', import.meta.url).pathname)};
    const s = new SqliteStore(${JSON.stringify(db)}, { compactIntervalMs: 0 });
    for (let i = 0; ; i++) { await s.create('/k/' + String(i).padStart(8, '0'), 'v' + i); process.stdout.write(i + '\\n'); }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  t.after(() => { child.kill('SIGKILL'); rmSync(d, { recursive: true, force: true }); });
  let acked = -1;
  let buf = '';
  await new Promise<void>((resolve) => {
    child.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const lines = buf.split('\n');
      buf = lines.pop()!;
      for (const l of lines) acked = Number(l);
      if (acked >= 500) { child.kill('SIGKILL'); resolve(); }
    });
  });
  await new Promise((r) => child.on('exit', r));
  const s = new SqliteStore(db, { compactIntervalMs: 0 });
  try {
    for (let i = 0; i <= acked; i++) assert.ok(await s.get('/k/' + String(i).padStart(8, '0')), `acknowledged write ${i} survived`);
    assert.ok(await s.currentRevision() >= acked + 1);
    const next = await s.currentRevision() + 1;
    assert.equal(await s.create('/k/after-restart', 'v'), next, 'writes continue from the recovered revision');
  } finally {
    await s.close();
  }
});

test('sqlite: revisions, state and compaction survive a reopen; a second opener is refused', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-reopen-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const db = join(d, 'state.db');
  const a = new SqliteStore(db, { compactIntervalMs: 0 });
  await a.create('/r/1', 'one');
  const r2 = await a.create('/r/2', 'two');
  assert.throws(() => new SqliteStore(db, { compactIntervalMs: 0 }), /in use by another process/);
  await a.compact(r2);
  await a.close();
  const b = new SqliteStore(db, { compactIntervalMs: 0 });
  try {
    assert.equal(await b.currentRevision(), r2, 'the revision survives a compaction that emptied the log');
    assert.equal(await b.compactedRevision(), r2);
    assert.equal((await b.get('/r/1'))!.value, 'one');
    assert.equal(await b.create('/r/3', 'three'), r2 + 1);
    await assert.rejects(b.watch('/r/', r2 - 1, () => {}), (e) => e instanceof StoreError && e.code === 'Gone');
  } finally {
    await b.close();
  }
});

test('sqlite: a file in the first layout is migrated (state kept, history compacted)', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-migrate-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const file = join(d, 'state.db');
  const old = new Database(file);
  old.exec(`
    CREATE TABLE kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_rev INTEGER NOT NULL, create_rev INTEGER NOT NULL) WITHOUT ROWID;
    CREATE TABLE log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, prev_value TEXT, created INTEGER NOT NULL);
    CREATE TABLE meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
    INSERT INTO meta VALUES ('compacted', 0), ('rev', 3);
    INSERT INTO kv VALUES ('/m/a', 'A', 1, 1), ('/m/b', 'B2', 3, 2);
    INSERT INTO log VALUES (1, '/m/a', 'put', 'A', NULL, 1), (2, '/m/b', 'put', 'B', NULL, 1), (3, '/m/b', 'put', 'B2', 'B', 0);
  `);
  old.close();
  const s = new SqliteStore(file, { compactIntervalMs: 0 });
  try {
    assert.deepEqual((await s.list('/m/')).entries, [
      { key: '/m/a', value: 'A', modRevision: 1, createRevision: 1 }, { key: '/m/b', value: 'B2', modRevision: 3, createRevision: 2 },
    ]);
    assert.equal(await s.currentRevision(), 3);
    assert.equal(await s.compactedRevision(), 3);
    assert.equal(await s.update('/m/a', 'A2', 1), 4);
    await assert.rejects(s.update('/m/b', 'x', 2), (e) => e instanceof StoreError && e.code === 'Conflict');
  } finally {
    await s.close();
  }
});

test('sqlite: writes issued together share a commit; a failing precondition fails only its own write', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-batch-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const s = new SqliteStore(join(d, 'state.db'), { compactIntervalMs: 0 });
  try {
    const r = await Promise.allSettled([s.create('/g/1', 'a'), s.create('/g/1', 'dup'), s.create('/g/2', 'b'), s.update('/g/9', 'x', 1), s.create('/g/3', 'c')]);
    assert.deepEqual(r.map((x) => x.status), ['fulfilled', 'rejected', 'fulfilled', 'rejected', 'fulfilled']);
    assert.deepEqual(r.filter((x) => x.status === 'fulfilled').map((x) => (x as PromiseFulfilledResult<number>).value), [1, 2, 3], 'failed writes use no revision');
    assert.equal(((r[1] as PromiseRejectedResult).reason as StoreError).code, 'AlreadyExists');
    assert.equal(((r[3] as PromiseRejectedResult).reason as StoreError).code, 'NotFound');
    assert.deepEqual((await s.list('/g/')).entries.map((e) => [e.key, e.value, e.modRevision]), [['/g/1', 'a', 1], ['/g/2', 'b', 2], ['/g/3', 'c', 3]]);
  } finally {
    await s.close();
  }
});
