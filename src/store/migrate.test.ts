import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';
import { exportStore, importStore, readLines } from './migrate.js';
import type { Store } from './types.js';

async function collect(g: AsyncIterable<string>): Promise<string[]> {
  const out: string[] = [];
  for await (const l of g) out.push(l);
  return out;
}

async function dump(s: Store): Promise<Array<[string, string]>> {
  return (await s.list('')).entries.map((e) => [e.key, e.value]);
}

test('migrate: memory → sqlite → memory keeps every key and value byte for byte', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-migrate-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const a = new MemoryStore();
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'web', namespace: 'default', uid: 'u1' }, spec: { clusterIP: '10.96.0.20', ports: [{ port: 80, nodePort: 30080 }] } };
  await a.create('/registry/services/specs/default/web', JSON.stringify(svc));
  await a.create('/registry/namespaces/default', JSON.stringify({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'default' } }));
  // Allocation state as the API server might keep it: not necessarily JSON.
  await a.create('/registry/ranges/serviceips', '10.96.0.0/12|AAEC/w==');
  await a.create('/registry/ranges/servicenodeports', JSON.stringify({ range: '30000-32767', data: 'gA==' }));
  await a.create('/registry/odd/spacing', '{ "not": "canonical" }');
  for (let i = 0; i < 1200; i++) await a.create(`/registry/configmaps/ns${i % 7}/cm-${String(i).padStart(4, '0')}`, JSON.stringify({ kind: 'ConfigMap', data: { i: String(i), text: 'line\nbreak "quoted" ünïcode' } }));
  await a.delete('/registry/configmaps/ns0/cm-0000');

  const lines = await collect(exportStore(a));
  assert.equal(lines.length, await a.count(''));
  assert.ok(lines.every((l) => !l.includes('\n')), 'one object per line');
  assert.deepEqual(JSON.parse(lines.find((l) => l.includes('/registry/services/'))!).value, svc, 'JSON values are inlined');
  assert.equal(JSON.parse(lines.find((l) => l.includes('serviceips'))!).raw, '10.96.0.0/12|AAEC/w==');

  const b = new SqliteStore(join(d, 'state.db'), { compactIntervalMs: 0 });
  t.after(() => b.close());
  assert.deepEqual(await importStore(b, lines), { created: lines.length, updated: 0, unchanged: 0 });
  assert.deepEqual(await dump(b), await dump(a));

  // Through a byte stream, as `svcplane store import < file` reads it.
  const c = new MemoryStore();
  const text = (await collect(exportStore(b))).join('\n') + '\n';
  const r = await importStore(c, readLines(Readable.from([text.slice(0, 1000), text.slice(1000)])));
  assert.equal(r.created, lines.length);
  assert.deepEqual(await dump(c), await dump(a));

  // Rerunning is harmless; a conflicting value needs overwrite.
  assert.deepEqual(await importStore(c, lines), { created: 0, updated: 0, unchanged: lines.length });
  await c.update('/registry/namespaces/default', '{}', (await c.get('/registry/namespaces/default'))!.modRevision);
  await assert.rejects(importStore(c, lines), /\/registry\/namespaces\/default already exists with a different value/);
  assert.equal((await importStore(c, lines, { overwrite: true })).updated, 1);
  assert.deepEqual(await dump(c), await dump(a));
  await assert.rejects(importStore(c, ['{"key": "/x"}', 'nope']), /line 1 \(\/x\): missing "value" or "raw"/);
});

test('migrate: the export is one consistent revision even while writes go on', async () => {
  const s = new MemoryStore();
  for (let i = 0; i < 1100; i++) await s.create(`/registry/pods/p${String(i).padStart(4, '0')}`, '{}');
  const out: string[] = [];
  let n = 0;
  for await (const l of exportStore(s)) {
    out.push(l);
    if (++n === 10) { await s.create('/registry/pods/p9999', '{}'); await s.delete('/registry/pods/p1000'); }
  }
  assert.equal(out.length, 1100);
  assert.ok(out.some((l) => l.includes('p1000')) && !out.some((l) => l.includes('p9999')));
});
