/**
 * bench/controllers: EndpointSlice controller latency and write amplification.
 * For S Services × 10 pods (S = 1,000 and 10,000: 10k and 100k endpoints), seeded into the
 * controllers' in-memory API, the controller-manager (endpointslice + endpoints loops) starts,
 * builds every slice, then a sample of pods flips Ready one at a time; for each flip we time
 * "pod status PATCH answered → the slice showing the new condition arrives on a watch" and
 * count slice writes per pod change. Run: node --import tsx bench/controllers.ts [sizes…]
 */
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { Client } from '../src/client/rest.js';
import { res } from '../src/api/registry.js';
import type { EndpointSlice } from '../src/api/types.js';
import { FakeApi } from '../src/controllers/testing/fakeapi.js';
import { startControllerManager } from '../src/controllers/manager.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

const PODS_PER_SERVICE = 10;
const SAMPLES = 200;
const sizes = process.argv.slice(2).map(Number).filter(Boolean);
const SIZES = sizes.length ? sizes : [1000, 10000];

const pct = (xs: number[], p: number) => { const s = [...xs].sort((a, b) => a - b); return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!; };

async function run(services: number) {
  const api = new FakeApi();
  const url = await api.start();
  const client = new Client({ server: url });
  api.seed('namespaces', { metadata: { name: 'default' } });
  api.seed('nodes', { metadata: { name: 'n1', labels: { 'topology.kubernetes.io/zone': 'a' } }, status: { conditions: [{ type: 'Ready', status: 'True' }] } });
  const readyCond = (s: string) => [{ type: 'Ready', status: s, lastTransitionTime: new Date().toISOString() }];
  for (let s = 0; s < services; s++) {
    api.seed('services', { apiVersion: 'v1', kind: 'Service', metadata: { name: `svc-${s}`, namespace: 'default' }, spec: { selector: { app: `app-${s}` }, clusterIP: `10.96.${s >> 8}.${s & 255}`, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] } });
    for (let p = 0; p < PODS_PER_SERVICE; p++) {
      const n = s * PODS_PER_SERVICE + p;
      const ip = `10.${(n >> 16) & 255}.${(n >> 8) & 255}.${n & 255}`;
      api.seed('pods', { apiVersion: 'v1', kind: 'Pod', metadata: { name: `pod-${s}-${p}`, namespace: 'default', labels: { app: `app-${s}` } }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'x' }] }, status: { phase: 'Running', podIP: ip, podIPs: [{ ip }], conditions: readyCond('True') } });
    }
  }
  const t0 = Date.now();
  const cm = await startControllerManager(client, { leaderElect: false, controllers: ['endpointslice'], workers: 4, port: 0 });
  // Initial build: every Service has its slice.
  for (;;) {
    const created = api.writes.get('create endpointslices') ?? 0;
    if (created >= services) break;
    await new Promise((r) => setTimeout(r, 200));
  }
  await new Promise((r) => setTimeout(r, 500));
  const initialMs = Date.now() - t0;
  // Watch slices from now on.
  const waiters = new Map<string, (s: EndpointSlice) => void>();
  const w = client.watch<EndpointSlice>(res('endpointslices'), 'default', { resourceVersion: String((await client.list(res('endpointslices'), 'default', { limit: 1 })).metadata.resourceVersion) }, (ev) => {
    for (const e of ev.object.endpoints ?? []) {
      const k = `${e.targetRef?.name}/${e.conditions?.ready}`;
      const f = waiters.get(k);
      if (f) { waiters.delete(k); f(ev.object); }
    }
  });
  const lat: number[] = [];
  const writesBefore = (api.writes.get('update endpointslices') ?? 0) + (api.writes.get('create endpointslices') ?? 0) + (api.writes.get('delete endpointslices') ?? 0);
  for (let i = 0; i < SAMPLES; i++) {
    const s = Math.floor((i * 7919) % services), p = i % PODS_PER_SERVICE;
    const name = `pod-${s}-${p}`;
    // Not ready, then ready again: two pod changes, we time the "becomes ready" one.
    await client.patch(res('pods'), 'default', name, { status: { conditions: readyCond('False') } }, 'merge', 'status');
    await new Promise<void>((r) => waiters.set(`${name}/false`, () => r()));
    const seen = new Promise<void>((r) => waiters.set(`${name}/true`, () => r()));
    const start = performance.now();
    await client.patch(res('pods'), 'default', name, { status: { conditions: readyCond('True') } }, 'merge', 'status');
    await seen;
    lat.push(performance.now() - start);
  }
  await new Promise((r) => setTimeout(r, 300));
  const writesAfter = (api.writes.get('update endpointslices') ?? 0) + (api.writes.get('create endpointslices') ?? 0) + (api.writes.get('delete endpointslices') ?? 0);
  w.stop();
  await cm.stop();
  client.close();
  await api.stop();
  const mem = process.memoryUsage().rss;
  return {
    services, endpoints: services * PODS_PER_SERVICE, initialSyncMs: initialMs,
    p50Ms: +pct(lat, 50).toFixed(2), p99Ms: +pct(lat, 99).toFixed(2), maxMs: +Math.max(...lat).toFixed(2),
    podChanges: SAMPLES * 2, sliceWrites: writesAfter - writesBefore, writesPerPodChange: +((writesAfter - writesBefore) / (SAMPLES * 2)).toFixed(3),
    rssMB: Math.round(mem / 1e6),
  };
}

const rows = [];
for (const s of SIZES) {
  const r = await run(s);
  rows.push(r);
  console.log(JSON.stringify(r));
}
const md = [
  '# bench/controllers — EndpointSlice controller',
  '',
  `Pod Ready flip → EndpointSlice with the new condition seen on a watch (in-memory API over HTTP on loopback, ${SAMPLES} sequential samples per size, 10 pods per Service, max 100 endpoints per slice). ${new Date().toISOString()}, node ${process.version}.`,
  '',
  '| Services | endpoints | initial build (ms) | p50 (ms) | p99 (ms) | max (ms) | slice writes / pod change | RSS (MB) |',
  '|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.services} | ${r.endpoints} | ${r.initialSyncMs} | ${r.p50Ms} | ${r.p99Ms} | ${r.maxMs} | ${r.writesPerPodChange} | ${r.rssMB} |`),
  '',
];
mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
writeFileSync(join(import.meta.dirname, 'results', 'controllers.json'), JSON.stringify(rows, null, 2));
writeFileSync(join(import.meta.dirname, 'results', 'controllers.md'), md.join('\n'));
console.log(md.join('\n'));
process.exit(0);
