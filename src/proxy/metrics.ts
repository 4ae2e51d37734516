/**
 * @module proxy/metrics
 * Prometheus metrics (kube-proxy's names where it has them): sync duration, network programming
 * latency (EndpointSlice change → rules live), rules/elements programmed, syncs by result; and,
 * beyond kube-proxy, per-Service and per-endpoint connection and byte counters read from the
 * backend (nft counters, iptables counters, userspace counts) at scrape time.
 */
import prom from 'prom-client';
import type { Provider, ServicePort } from './types.js';

/** Kernel counters are re-read at most this often. */
export const COUNTERS_MIN_REUSE_MS = 5000;

export class ProxyMetrics {
  readonly registry = new prom.Registry();
  readonly syncDuration = new prom.Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'SyncProxyRules latency in seconds.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30], registers: [this.registry] });
  readonly programmingLatency = new prom.Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'From an EndpointSlice change (last-change-trigger-time, else when observed) to rules live.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60], registers: [this.registry] });
  readonly syncs = new prom.Counter({ name: 'kubeproxy_sync_proxy_rules_total', help: 'Syncs by kind (full/partial) and result.', labelNames: ['kind', 'result'], registers: [this.registry] });
  readonly lastSync = new prom.Gauge({ name: 'kubeproxy_sync_proxy_rules_last_timestamp_seconds', help: 'The last time rules were successfully synced.', registers: [this.registry] });
  readonly elements = new prom.Gauge({ name: 'svcplane_proxy_programmed_elements', help: 'Map/set elements (nftables), rules (iptables) or listeners (userspace) programmed.', registers: [this.registry] });
  readonly chainsWritten = new prom.Counter({ name: 'svcplane_proxy_chains_written_total', help: 'Chains written by syncs (a partial sync writes only changed ones).', registers: [this.registry] });
  readonly servicePorts = new prom.Gauge({ name: 'svcplane_proxy_service_ports', help: 'Service ports in the desired state.', registers: [this.registry] });

  constructor(provider: () => Provider, ports: () => ServicePort[]) {
    prom.collectDefaultMetrics({ register: this.registry });
    // One backend read feeds all four counter families; it is reused for a while (at 10k
    // Services listing the kernel's counters takes seconds), at least twice as long as it took.
    let pending: Promise<Awaited<ReturnType<Provider['counters']>>> | undefined;
    let until = 0;
    const read = () => {
      if (pending && Date.now() < until) return pending;
      const t0 = Date.now();
      pending = provider().counters();
      void pending.then(() => { until = Date.now() + Math.max(COUNTERS_MIN_REUSE_MS, 2 * (Date.now() - t0)); }, () => { until = 0; });
      until = Infinity;
      return pending;
    };
    const svcLabels = ['namespace', 'service', 'port', 'protocol'];
    const forServices = (field: 'connections' | 'bytes') => async function (this: prom.Gauge<string>) {
      const c = await read();
      this.reset();
      for (const sp of ports()) {
        const v = c.services.get(sp.key);
        if (v) this.set({ namespace: sp.namespace, service: sp.name, port: sp.portName || String(sp.port), protocol: sp.protocol }, v[field]);
      }
    };
    const forEndpoints = (field: 'connections' | 'bytes') => async function (this: prom.Gauge<string>) {
      const c = await read();
      this.reset();
      for (const [k, v] of c.endpoints) {
        const m = /^(.*):(\d+)\/(\w+)$/.exec(k);
        if (m) this.set({ endpoint: `${m[1]}:${m[2]}`, protocol: m[3]! }, v[field]);
      }
    };
    // Gauges fed from kernel counters (which reset when the table is rebuilt), hence not Counters.
    new prom.Gauge({ name: 'svcplane_proxy_service_connections', help: 'Connections (first packets) sent to each service port since its rules were written.', labelNames: svcLabels, registers: [this.registry], collect: forServices('connections') });
    new prom.Gauge({ name: 'svcplane_proxy_service_bytes', help: 'Bytes sent towards each service port\'s endpoints (client → server direction in kernel modes; both directions in userspace).', labelNames: svcLabels, registers: [this.registry], collect: forServices('bytes') });
    new prom.Gauge({ name: 'svcplane_proxy_endpoint_connections', help: 'Connections sent to each endpoint.', labelNames: ['endpoint', 'protocol'], registers: [this.registry], collect: forEndpoints('connections') });
    new prom.Gauge({ name: 'svcplane_proxy_endpoint_bytes', help: 'Bytes sent to each endpoint.', labelNames: ['endpoint', 'protocol'], registers: [this.registry], collect: forEndpoints('bytes') });
  }
}
