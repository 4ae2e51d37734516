import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { SqliteStore } from './sqlite.js';
import { runStoreConformance } from './conformance.js';

const dir = mkdtempSync(join(tmpdir(), 'svp-sqlite-'));
runStoreConformance('sqlite', async () => new SqliteStore(join(dir, 'conf.db'), { compactIntervalMs: 0 }), async () => rmSync(dir, { recursive: true, force: true }));

test('sqlite: kill -9 mid-stream loses no acknowledged write', async () => {
  const d = mkdtempSync(join(tmpdir(), 'svp-kill-'));
  const db = join(d, 'state.db');
  const script = `
    import { SqliteStore } from ${JSON.stringify(new URL('./sqlite.ts', import.meta.url).pathname)};
    const s = new SqliteStore(${JSON.stringify(db)}, { compactIntervalMs: 0 });
    for (let i = 0; ; i++) { await s.create('/k/' + String(i).padStart(8, '0'), 'v' + i); process.stdout.write(i + '\\n'); }
  `;
  const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
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
  } finally {
    await s.close();
    rmSync(d, { recursive: true, force: true });
  }
});
