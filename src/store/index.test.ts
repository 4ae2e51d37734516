import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createStore } from './index.js';
import { freePortBase } from './etcd-cluster.js';

test('createStore: memory, sqlite in a data dir, and one-line errors', async (t) => {
  const d = mkdtempSync(join(tmpdir(), 'svp-create-'));
  t.after(() => rmSync(d, { recursive: true, force: true }));
  const m = await createStore({ backend: 'memory' });
  assert.equal(m.name, 'memory');
  await m.close();
  const s = await createStore({ backend: 'sqlite', path: d, compactIntervalMs: 0 });
  try {
    assert.equal(s.name, 'sqlite');
    await s.create('/x', 'y');
    await assert.rejects(createStore({ backend: 'sqlite', path: join(d, 'state.db') }), /^Error: cannot open sqlite store .*state\.db: .*in use by another process/);
  } finally {
    await s.close();
  }
  await assert.rejects(createStore({ backend: 'nope' as 'memory' }), /unknown store backend "nope"/);
  const port = await freePortBase(1);
  await assert.rejects(createStore({ backend: 'etcd', etcdServers: [`http://127.0.0.1:${port}`] }),
    (e: Error) => e.message.startsWith(`etcd unreachable at http://127.0.0.1:${port} (tried for 5s): `) && !e.message.includes('\n'));
});
