/**
 * bench/store: the Store backends side by side in one run — memory, SQLite (a file in a temp
 * dir) and etcd (one local member started here on free loopback ports, when the etcd binary is
 * installed). Measured at the Store API, with ConfigMap-sized values (~1.2 KB):
 * - creates/s with 16 writes in flight, and sequential (one at a time);
 * - gets/s with 16 in flight;
 * - a list of N (10k) objects, unpaged and in pages of 500 at one revision;
 * - watch latency: from calling update() to the event at a watcher, p50/p99, one write at a time.
 * Prints a markdown table, saves bench/results/store.{md,json}.
 * Run once: npx tsx bench/store.ts   (N=… to change the object count)
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../src/store/memory.js';
import { SqliteStore } from '../src/store/sqlite.js';
import { EtcdStore } from '../src/store/etcd.js';
import { EtcdCluster, findEtcd, freePortBase } from '../src/store/etcd-cluster.js';
import type { Store, StoreEvent } from '../src/store/types.js';

const N = Number(process.env.N ?? 10_000);
const INFLIGHT = 16;
const SEQUENTIAL = 1_000;
const GETS = 20_000;
const WATCH_WRITES = 300;
const PAGE = 500;
const VALUE = JSON.stringify({
  apiVersion: 'v1', kind: 'ConfigMap',
  metadata: { name: 'cm', namespace: 'default', uid: '5f0c1a9e-8d0b-4a57-9b52-7d3f3c1e2a10', labels: { app: 'bench', tier: 'store' } },
  data: { payload: 'x'.repeat(1000) },
});

interface Row {
  store: string;
  createsPerSec: number;
  sequentialCreatesPerSec: number;
  getsPerSec: number;
  list10kMs: number;
  listPagedMs: number;
  watchP50Ms: number;
  watchP99Ms: number;
}

const key = (i: number) => `/registry/configmaps/default/cm-${String(i).padStart(6, '0')}`;

async function parallel(n: number, fn: (i: number) => Promise<unknown>): Promise<number> {
  let next = 0;
  const t0 = performance.now();
  await Promise.all(Array.from({ length: INFLIGHT }, async () => {
    while (next < n) await fn(next++);
  }));
  return (performance.now() - t0) / 1000;
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
}

async function bench(s: Store): Promise<Row> {
  // Creates: N - SEQUENTIAL with 16 in flight, then SEQUENTIAL one at a time.
  const conc = N - SEQUENTIAL;
  const tc = await parallel(conc, (i) => s.create(key(i), VALUE));
  let t0 = performance.now();
  for (let i = conc; i < N; i++) await s.create(key(i), VALUE);
  const ts = (performance.now() - t0) / 1000;
  const tg = await parallel(GETS, (i) => s.get(key((i * 7919) % N)));
  t0 = performance.now();
  const all = await s.list('/registry/configmaps/');
  const list10kMs = performance.now() - t0;
  if (all.entries.length !== N) throw new Error(`${s.name}: listed ${all.entries.length} of ${N}`);
  t0 = performance.now();
  let got = 0;
  let startAfter: string | undefined;
  let revision: number | undefined;
  for (;;) {
    const p = await s.list('/registry/configmaps/', { limit: PAGE, startAfter, revision });
    revision ??= p.revision;
    got += p.entries.length;
    startAfter = p.entries[p.entries.length - 1]?.key;
    if (!p.more) break;
  }
  const listPagedMs = performance.now() - t0;
  if (got !== N) throw new Error(`${s.name}: paged ${got} of ${N}`);

  // Watch latency: one write at a time, timed from the update() call to the event.
  const lat: number[] = [];
  let waiting: ((ev: StoreEvent) => void) | null = null;
  const w = await s.watch('/registry/configmaps/', await s.currentRevision(), (ev) => waiting?.(ev));
  let rev = (await s.get(key(0)))!.modRevision;
  for (let i = 0; i < WATCH_WRITES; i++) {
    const seen = new Promise<StoreEvent>((r) => { waiting = r; });
    const start = performance.now();
    const wrote = s.update(key(0), VALUE.replace('"bench"', `"b${i}"`), rev);
    const ev = await seen;
    lat.push(performance.now() - start);
    rev = await wrote;
    if (ev.revision !== rev) throw new Error(`${s.name}: event ${ev.revision} for write ${rev}`);
  }
  w.stop();
  const r2 = (x: number) => Math.round(x * 100) / 100;
  return {
    store: s.name,
    createsPerSec: Math.round(conc / tc),
    sequentialCreatesPerSec: Math.round(SEQUENTIAL / ts),
    getsPerSec: Math.round(GETS / tg),
    list10kMs: Math.round(list10kMs),
    listPagedMs: Math.round(listPagedMs),
    watchP50Ms: r2(pct(lat, 50)),
    watchP99Ms: r2(pct(lat, 99)),
  };
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'svp-bench-store-'));
  const rows: Row[] = [];
  const notes: string[] = [];
  let cluster: EtcdCluster | undefined;
  try {
    const mem = new MemoryStore();
    rows.push(await bench(mem));
    await mem.close();
    const sq = new SqliteStore(join(dir, 'state.db'), { compactIntervalMs: 0 });
    rows.push(await bench(sq));
    await sq.close();
    if (findEtcd()) {
      cluster = new EtcdCluster({ dataDir: join(dir, 'etcd'), basePort: await freePortBase(2), members: 1, name: `bench-${process.pid}` });
      await cluster.start();
      const et = new EtcdStore({ servers: cluster.endpoints, compactIntervalMs: 0 });
      rows.push(await bench(et));
      await et.close();
    } else {
      notes.push('etcd: skipped (etcd binary not installed)');
    }
  } finally {
    await cluster?.stop();
    rmSync(dir, { recursive: true, force: true });
  }

  const when = new Date().toISOString();
  const head = `# bench/store (${when}, ${cpus().length} cores, load average ${loadavg()[0]!.toFixed(1)}, ${N} objects of ~${VALUE.length} B)`;
  const lines = [
    head, '',
    `| store | creates/s (${INFLIGHT} in flight) | creates/s (sequential) | gets/s (${INFLIGHT} in flight) | list ${N} objects | list in pages of ${PAGE} | watch p50 | watch p99 |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.store} | ${r.createsPerSec} | ${r.sequentialCreatesPerSec} | ${r.getsPerSec} | ${r.list10kMs} ms | ${r.listPagedMs} ms | ${r.watchP50Ms} ms | ${r.watchP99Ms} ms |`),
    '',
    'Watch latency: from calling update() to the event at a watcher, one write at a time. etcd: one local member (etcd 3.4, fsync on every commit), the SQLite file is WAL with synchronous=NORMAL.',
    ...notes,
  ];
  const md = lines.join('\n') + '\n';
  console.log(md);
  const out = join(import.meta.dirname, 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, 'store.md'), md);
  writeFileSync(join(out, 'store.json'), JSON.stringify({ when, cores: cpus().length, loadavg: loadavg(), objects: N, valueBytes: VALUE.length, rows }, null, 2) + '\n');
}

await main();
