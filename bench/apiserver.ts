/**
 * bench/apiserver: the API server's throughput through its real HTTP interface (HTTPS with
 * keep-alive, 16 requests in flight), on SQLite and memory in one run:
 * creates/s, gets/s, list of 10k objects, and watch fan-out (one write → 100 watchers, p50/p99).
 * Prints a table and saves bench/results/apiserver.{md,json}.  Run: npx tsx bench/apiserver.ts
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startApiServer } from '../src/apiserver/server.js';
import { createStore } from '../src/store/index.js';
import { Client } from '../src/client/rest.js';
import { res } from '../src/api/registry.js';

const N = Number(process.env.N ?? 10_000);
const INFLIGHT = 16;
const WATCHERS = 100;

async function pool<T>(n: number, fn: (i: number) => Promise<T>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => { while (next < n) await fn(next++); }));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function benchOne(backend: 'sqlite' | 'memory') {
  const dir = mkdtempSync(join(tmpdir(), 'svp-bench-api-'));
  const store = await createStore({ backend, path: join(dir, 'state.db'), compactIntervalMs: 0 });
  const srv = await startApiServer({ dataDir: dir, store, port: 0 });
  const client = Client.fromKubeconfig(join(dir, 'kubeconfig'));
  const cm = res('configmaps');
  try {
    let t = performance.now();
    await pool(N, (i) => client.create(cm, 'default', { metadata: { name: `cm-${i}` }, data: { k: `v${i}` } }));
    const creates = N / ((performance.now() - t) / 1000);
    t = performance.now();
    await pool(N, (i) => client.get(cm, 'default', `cm-${i % N}`));
    const gets = N / ((performance.now() - t) / 1000);
    t = performance.now();
    const list = await client.list(cm, 'default');
    const listMs = performance.now() - t;
    if (list.items.length < N) throw new Error(`list returned ${list.items.length}`);
    // Watch fan-out: 100 watchers, 50 writes; latency from write acknowledged to each event.
    const lat: number[] = [];
    const sent = new Map<string, number>();
    const handles = Array.from({ length: WATCHERS }, () => client.watch(cm, 'default', { resourceVersion: list.metadata.resourceVersion }, (ev) => {
      const s = sent.get(ev.object.metadata?.name ?? '');
      if (s !== undefined && ev.type === 'ADDED') lat.push(performance.now() - s);
    }));
    await new Promise((r) => setTimeout(r, 500));
    for (let i = 0; i < 50; i++) {
      const name = `w-${i}`;
      sent.set(name, performance.now());
      await client.create(cm, 'default', { metadata: { name } });
      await new Promise((r) => setTimeout(r, 20));
    }
    await new Promise((r) => setTimeout(r, 500));
    for (const h of handles) h.stop();
    return { backend, creates, gets, listMs, watchEvents: lat.length, watchP50: pct(lat, 50), watchP99: pct(lat, 99) };
  } finally {
    client.close();
    await srv.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = [];
  for (const b of ['sqlite', 'memory'] as const) rows.push(await benchOne(b));
  const md = [
    `| store | creates/s | gets/s | list ${N} objects | watch fan-out to ${WATCHERS} (events) | watch p50 | watch p99 |`,
    '|---|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.backend} | ${r.creates.toFixed(0)} | ${r.gets.toFixed(0)} | ${r.listMs.toFixed(0)} ms | ${r.watchEvents} | ${r.watchP50.toFixed(1)} ms | ${r.watchP99.toFixed(1)} ms |`),
  ].join('\n');
  console.log(md);
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'apiserver.md'), `# bench/apiserver (${new Date().toISOString()}, 2 cores, HTTPS keep-alive, ${INFLIGHT} in flight)\n\n${md}\n`);
  writeFileSync(join(import.meta.dirname, 'results', 'apiserver.json'), JSON.stringify({ date: new Date().toISOString(), inflight: INFLIGHT, rows }, null, 2));
  process.exit(0);
}

main().catch((e) => { console.error(e); process.exit(1); });
