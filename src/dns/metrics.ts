/**
 * @module dns/metrics
 * Prometheus metrics under CoreDNS's names (plugin/metrics/vars, plugin/cache, plugin/forward), so
 * dashboards and alerts written for CoreDNS keep working. Per-query counting is plain arithmetic on
 * typed arrays; prom-client only formats them at scrape time, and is loaded on the first scrape
 * (it costs ~8 MB of resident memory, an eighth of this server's budget, that an unscraped server
 * need not pay).
 */
import type { Registry } from 'prom-client';
import type { ResponseCache } from './cache/cache.js';
import type { Forwarder } from './forward/forward.js';

/** CoreDNS plugin.TimeBuckets: prometheus.ExponentialBuckets(0.00025, 2, 16). */
export const TIME_BUCKETS = Array.from({ length: 16 }, (_, i) => 0.00025 * 2 ** i);

/** Query types CoreDNS reports by name; anything else is "other". */
const TYPE_LABELS: [number, string][] = [
  [1, 'A'], [28, 'AAAA'], [5, 'CNAME'], [2, 'NS'], [6, 'SOA'], [12, 'PTR'], [15, 'MX'], [16, 'TXT'], [33, 'SRV'],
  [35, 'NAPTR'], [64, 'SVCB'], [65, 'HTTPS'], [255, 'ANY'], [251, 'IXFR'], [252, 'AXFR'], [43, 'DS'], [48, 'DNSKEY'],
];
const OTHER = TYPE_LABELS.length;
const TYPE_INDEX = new Map(TYPE_LABELS.map(([t], i) => [t, i]));
const NTYPES = TYPE_LABELS.length + 1;
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED', 'YXDOMAIN', 'YXRRSET', 'NXRRSET', 'NOTAUTH', 'NOTZONE'];
/** CoreDNS labels requests with the server block's zone; kubeadm's Corefile has one block, ".". */
const ZONE = '.';

export type Proto = 'udp' | 'tcp';

/** Upstream exchanges per (to, rcode), kept as numbers until a scrape. */
class ForwardStats {
  readonly requests = new Map<string, number>();
  readonly failures = new Map<string, number>();
  /** "to|rcode" → [bucket counts..., count, sum] */
  readonly responses = new Map<string, Float64Array>();
  rejects = 0;

  exchange(to: string, rcode: number | null, seconds: number): void {
    this.requests.set(to, (this.requests.get(to) ?? 0) + 1);
    if (rcode === null) { this.failures.set(to, (this.failures.get(to) ?? 0) + 1); return; }
    const k = `${to}|${RCODE_NAMES[rcode] ?? String(rcode)}`;
    let h = this.responses.get(k);
    if (!h) this.responses.set(k, (h = new Float64Array(TIME_BUCKETS.length + 2)));
    observe(h, seconds);
  }
}

/** Add one observation to [bucket counts (not cumulative)..., count, sum]. */
function observe(h: Float64Array, v: number): void {
  const n = TIME_BUCKETS.length;
  for (let i = 0; i < n; i++) if (v <= TIME_BUCKETS[i]) { h[i]++; break; }
  h[n]++;
  h[n + 1] += v;
}

function histogramValues(name: string, labels: Record<string, string>, h: Float64Array): { metricName: string; labels: Record<string, string | number>; value: number }[] {
  const n = TIME_BUCKETS.length;
  const out = [];
  let acc = 0;
  for (let i = 0; i < n; i++) { acc += h[i]; out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: TIME_BUCKETS[i] }, value: acc }); }
  out.push({ metricName: `${name}_bucket`, labels: { ...labels, le: '+Inf' }, value: h[n] });
  out.push({ metricName: `${name}_sum`, labels, value: h[n + 1] });
  out.push({ metricName: `${name}_count`, labels, value: h[n] });
  return out;
}

export interface MetricsSources { cache?: ResponseCache; forwarder?: Forwarder; processMetrics?: boolean; ready?: () => boolean }

export class DnsMetrics {
  private registry?: Promise<Registry>;
  private readonly requests = new Float64Array(4 * NTYPES);
  private readonly rcodes = new Float64Array(24);
  private readonly duration = new Float64Array(TIME_BUCKETS.length + 2);
  private readonly fwd = new ForwardStats();
  panics = 0;
  private readonly server: string;

  constructor(server: string, private readonly src: MetricsSources = {}) {
    this.server = server;
    if (src.forwarder) {
      src.forwarder.onExchange = (to, rcode, seconds) => this.fwd.exchange(to, rcode, seconds);
      src.forwarder.onReject = () => { this.fwd.rejects++; };
    }
  }

  private async build(): Promise<Registry> {
    const { Counter, Gauge, Registry, collectDefaultMetrics } = await import('prom-client');
    const reg = new Registry();
    const self = this;
    const server = this.server;
    const opts = this.src;
    if (opts.processMetrics !== false) collectDefaultMetrics({ register: reg });

    new Counter({
      name: 'coredns_dns_requests_total', help: 'Counter of DNS requests made per zone, protocol and family.',
      labelNames: ['server', 'zone', 'view', 'proto', 'family', 'type'], registers: [reg],
      collect() {
        this.reset();
        for (let i = 0; i < self.requests.length; i++) {
          const v = self.requests[i];
          if (!v) continue;
          const pf = Math.floor(i / NTYPES), t = i % NTYPES;
          this.inc({ server, zone: ZONE, view: '', proto: pf & 2 ? 'tcp' : 'udp', family: pf & 1 ? '2' : '1', type: t === OTHER ? 'other' : TYPE_LABELS[t][1] }, v);
        }
      },
    });
    new Counter({
      name: 'coredns_dns_responses_total', help: 'Counter of response status codes.',
      labelNames: ['server', 'zone', 'view', 'rcode', 'plugin'], registers: [reg],
      collect() {
        this.reset();
        self.rcodes.forEach((v, rc) => { if (v) this.inc({ server, zone: ZONE, view: '', rcode: RCODE_NAMES[rc] ?? String(rc), plugin: '' }, v); });
      },
    });
    const histogram = (name: string, help: string, values: () => ReturnType<typeof histogramValues>): void => {
      reg.registerMetric({
        name, help, type: 'histogram', aggregator: 'sum',
        get: async () => ({ name, help, type: 'histogram', aggregator: 'sum', values: values() }),
      } as any);
    };
    histogram('coredns_dns_request_duration_seconds', 'Histogram of the time (in seconds) each request took per zone.',
      () => histogramValues('coredns_dns_request_duration_seconds', { server, zone: ZONE, view: '' }, self.duration));
    new Counter({
      name: 'coredns_panics_total', help: 'A metrics that counts the number of panics.', registers: [reg],
      collect() { this.reset(); this.inc(self.panics); },
    });

    const cache = opts.cache;
    if (cache) {
      const zones = ZONE;
      new Gauge({
        name: 'coredns_cache_entries', help: 'The number of elements in the cache.', labelNames: ['server', 'type', 'zones', 'view'], registers: [reg],
        collect() { for (const t of ['success', 'denial'] as const) this.set({ server, type: t, zones, view: '' }, cache.count(t)); },
      });
      new Counter({
        name: 'coredns_cache_hits_total', help: 'The count of cache hits.', labelNames: ['server', 'type', 'zones', 'view'], registers: [reg],
        collect() { this.reset(); for (const t of ['success', 'denial'] as const) this.inc({ server, type: t, zones, view: '' }, cache.hits[t]); },
      });
      new Counter({
        name: 'coredns_cache_misses_total', help: 'The count of cache misses.', labelNames: ['server', 'zones', 'view'], registers: [reg],
        collect() { this.reset(); this.inc({ server, zones, view: '' }, cache.misses); },
      });
      new Counter({
        name: 'coredns_cache_requests_total', help: 'The count of cache requests.', labelNames: ['server', 'zones', 'view'], registers: [reg],
        collect() { this.reset(); this.inc({ server, zones, view: '' }, cache.misses + cache.hits.success + cache.hits.denial); },
      });
    }

    if (opts.forwarder) {
      const f = this.fwd;
      new Counter({
        name: 'coredns_forward_requests_total', help: 'Counter of requests made per upstream.', labelNames: ['to'], registers: [reg],
        collect() { this.reset(); for (const [to, v] of f.requests) this.inc({ to }, v); },
      });
      new Counter({
        name: 'coredns_forward_responses_total', help: 'Counter of responses received per upstream.', labelNames: ['to', 'rcode'], registers: [reg],
        collect() { this.reset(); for (const [k, h] of f.responses) { const [to, rcode] = k.split('|'); this.inc({ to, rcode }, h[TIME_BUCKETS.length]); } },
      });
      histogram('coredns_proxy_request_duration_seconds', 'Histogram of the time each request took.',
        () => [...f.responses].flatMap(([k, h]) => { const [to, rcode] = k.split('|'); return histogramValues('coredns_proxy_request_duration_seconds', { proxy_name: 'forward', to, rcode }, h); }));
      new Counter({
        name: 'coredns_proxy_healthcheck_failures_total', help: 'Count of upstream exchanges that got no answer.', labelNames: ['proxy_name', 'to'], registers: [reg],
        collect() { this.reset(); for (const [to, v] of f.failures) this.inc({ proxy_name: 'forward', to }, v); },
      });
      new Counter({
        name: 'coredns_forward_max_concurrent_rejects_total', help: 'Counter of the number of queries rejected because the concurrent queries were at maximum.', registers: [reg],
        collect() { this.reset(); this.inc(f.rejects); },
      });
    }

    if (opts.ready) {
      const ready = opts.ready;
      new Gauge({
        name: 'coredns_kubernetes_synced', help: '1 once the Service, EndpointSlice and Namespace caches have synced.', registers: [reg],
        collect() { this.set(ready() ? 1 : 0); },
      });
    }
    return reg;
  }

  /** Count one answered query. */
  request(tcp: boolean, ipv6: boolean, qtype: number, rcode: number, seconds: number): void {
    const t = TYPE_INDEX.get(qtype) ?? OTHER;
    this.requests[((tcp ? 2 : 0) | (ipv6 ? 1 : 0)) * NTYPES + t]++;
    this.rcodes[rcode < 24 ? rcode : 23]++;
    observe(this.duration, seconds);
  }

  /** The Prometheus text exposition (prom-client is loaded on the first call). */
  async text(): Promise<string> {
    this.registry ??= this.build();
    return (await this.registry).metrics();
  }

  readonly contentType = 'text/plain; version=0.0.4; charset=utf-8';
  get serverLabel(): string { return this.server; }
}
