/**
 * @module apiserver/metrics
 * /metrics (Prometheus text, prom-client): requests by verb/resource/code and their latency
 * (names as kube-apiserver's), open watches, and stored objects per resource.
 */
import client from 'prom-client';
import { RESOURCES, storageKey } from '../api/registry.js';
import type { Store } from '../store/types.js';

export class ApiMetrics {
  readonly registry = new client.Registry();
  readonly requests = new client.Counter({ name: 'apiserver_request_total', help: 'Requests by verb, resource and HTTP code.', labelNames: ['verb', 'resource', 'code'], registers: [this.registry] });
  readonly latency = new client.Histogram({
    name: 'apiserver_request_duration_seconds', help: 'Request latency by verb and resource (watches: until the stream ends).', labelNames: ['verb', 'resource'],
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 60], registers: [this.registry],
  });
  watchers = 0;

  constructor(store: Store) {
    const self = this;
    new client.Gauge({ name: 'apiserver_registered_watchers', help: 'Open watch streams.', registers: [this.registry], collect() { this.set(self.watchers); } });
    new client.Gauge({
      name: 'apiserver_storage_objects', help: 'Stored objects by resource.', labelNames: ['resource'], registers: [this.registry],
      async collect() {
        for (const r of RESOURCES) this.set({ resource: r.group ? `${r.resource}.${r.group}` : r.resource }, await store.count(storageKey(r, undefined)));
      },
    });
    new client.Gauge({ name: 'apiserver_storage_revision', help: 'The store revision (every write bumps it; it is the newest resourceVersion).', registers: [this.registry], async collect() { this.set(await store.currentRevision()); } });
  }

  // Label-bound children, looked up once per label set (prom-client hashes labels on every call).
  private readonly counters = new Map<string, client.Counter.Internal>();
  private readonly histograms = new Map<string, client.Histogram.Internal<string>>();

  observe(verb: string, resource: string, code: number, startNs: bigint): void {
    const k = `${verb} ${resource}`;
    const kc = `${k} ${code}`;
    let c = this.counters.get(kc);
    if (!c) { c = this.requests.labels(verb, resource, String(code)); this.counters.set(kc, c); }
    let h = this.histograms.get(k);
    if (!h) { h = this.latency.labels(verb, resource); this.histograms.set(k, h); }
    c.inc();
    h.observe(Number(process.hrtime.bigint() - startNs) / 1e9);
  }
}
