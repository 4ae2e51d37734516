/**
 * @module dns/metrics
 * Prometheus metrics under CoreDNS's names (plugin/metrics/vars, plugin/cache, plugin/forward), so
 * dashboards and alerts written for CoreDNS keep working. Per-query counting is plain arithmetic on
 * typed arrays; prom-client only formats them at scrape time.
 */
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
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

export class DnsMetrics {
  readonly registry = new Registry();
  private readonly requests = new Float64Array(4 * NTYPES);
  private readonly rcodes = new Float64Array(24);
  private readonly buckets = new Float64Array(TIME_BUCKETS.length);
  private durCount = 0;
  private durSum = 0;
  panics = 0;
  private readonly server: string;

  constructor(server: string, opts: { cache?: ResponseCache; forwarder?: Forwarder; processMetrics?: boolean; ready?: () => boolean } = {}) {
    this.server = server;
    const reg = this.registry;
    const self = this;
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
    reg.registerMetric({
      name: 'coredns_dns_request_duration_seconds',
      help: 'Histogram of the time (in seconds) each request took per zone.',
      type: 'histogram', aggregator: 'sum',
      get: async () => {
        const labels = { server, zone: ZONE, view: '' };
        const values = [];
        let acc = 0;
        for (let i = 0; i < TIME_BUCKETS.length; i++) {
          acc += self.buckets[i];
          values.push({ metricName: 'coredns_dns_request_duration_seconds_bucket', labels: { ...labels, le: TIME_BUCKETS[i] }, value: acc });
        }
        values.push({ metricName: 'coredns_dns_request_duration_seconds_bucket', labels: { ...labels, le: '+Inf' }, value: self.durCount });
        values.push({ metricName: 'coredns_dns_request_duration_seconds_sum', labels, value: self.durSum });
        values.push({ metricName: 'coredns_dns_request_duration_seconds_count', labels, value: self.durCount });
        return { name: 'coredns_dns_request_duration_seconds', help: 'Histogram of the time (in seconds) each request took per zone.', type: 'histogram', values, aggregator: 'sum' };
      },
    } as any);
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

    const fwd = opts.forwarder;
    if (fwd) {
      const requests = new Counter({ name: 'coredns_forward_requests_total', help: 'Counter of requests made per upstream.', labelNames: ['to'], registers: [reg] });
      const responses = new Counter({ name: 'coredns_forward_responses_total', help: 'Counter of responses received per upstream.', labelNames: ['to', 'rcode'], registers: [reg] });
      const duration = new Histogram({
        name: 'coredns_proxy_request_duration_seconds', help: 'Histogram of the time each request took.',
        labelNames: ['proxy_name', 'to', 'rcode'], buckets: TIME_BUCKETS, registers: [reg],
      });
      const rejects = new Counter({ name: 'coredns_forward_max_concurrent_rejects_total', help: 'Counter of the number of queries rejected because the concurrent queries were at maximum.', registers: [reg] });
      const failures = new Counter({ name: 'coredns_proxy_healthcheck_failures_total', help: 'Count of failed upstream exchanges.', labelNames: ['proxy_name', 'to'], registers: [reg] });
      fwd.onExchange = (to, rcode, seconds) => {
        requests.inc({ to });
        if (rcode === null) { failures.inc({ proxy_name: 'forward', to }); return; }
        const rc = RCODE_NAMES[rcode] ?? String(rcode);
        responses.inc({ to, rcode: rc });
        duration.observe({ proxy_name: 'forward', to, rcode: rc }, seconds);
      };
      fwd.onReject = () => rejects.inc();
    }

    if (opts.ready) {
      const ready = opts.ready;
      new Gauge({
        name: 'coredns_kubernetes_synced', help: '1 once the Service, EndpointSlice and Namespace caches have synced.', registers: [reg],
        collect() { this.set(ready() ? 1 : 0); },
      });
    }
  }

  /** Count one answered query. */
  request(tcp: boolean, ipv6: boolean, qtype: number, rcode: number, seconds: number): void {
    const t = TYPE_INDEX.get(qtype) ?? OTHER;
    this.requests[((tcp ? 2 : 0) | (ipv6 ? 1 : 0)) * NTYPES + t]++;
    this.rcodes[rcode < 24 ? rcode : 23]++;
    this.durCount++;
    this.durSum += seconds;
    const b = TIME_BUCKETS;
    for (let i = 0; i < b.length; i++) if (seconds <= b[i]) { this.buckets[i]++; break; }
  }

  text(): Promise<string> { return this.registry.metrics(); }
  get contentType(): string { return this.registry.contentType; }
  get serverLabel(): string { return this.server; }
}
