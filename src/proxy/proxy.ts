/**
 * @module proxy/proxy
 * `svcplane proxy`: one per node, like kube-proxy. Informers on Services and EndpointSlices feed
 * the tracker; a bounded-frequency runner syncs the backend; health and metrics servers report.
 * Nothing is programmed until both informers have synced.
 */
import http from 'node:http';
import client from 'prom-client';
import type { EndpointSlice, Service } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import { Informer } from '../client/informer.js';
import { run } from '../net/exec.js';
import { buildServicePorts, externalEndpoints } from './tracker.js';
import { ServiceHealthServers } from './healthcheck.js';
import { NftablesProxier } from './backends/nftables/proxier.js';
import type { ServicePort } from './types.js';

export interface ProxyOptions {
  client: Client;
  nodeName: string;
  nodeIP: string;
  mode: string;
  scheduler: string;
  clusterCIDR: string;
  minSyncMs: number;
  syncPeriodMs: number;
  healthzBind: string;
  metricsBind: string;
}

const TRIGGER_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'proxy', msg, ...extra }));
}

function listen(server: http.Server, bind: string): void {
  const i = bind.lastIndexOf(':');
  server.on('error', (e) => log('listen failed', { bind, error: String(e) }));
  server.listen(Number(bind.slice(i + 1)), bind.slice(0, i) || '0.0.0.0');
}

export async function startProxy(o: ProxyOptions): Promise<{ stop(): Promise<void> }> {
  if (o.mode === 'ipvs') {
    throw new Error('proxy mode ipvs: this kernel has no IPVS (ip_vs module not loaded, and modules cannot be loaded here); use --proxy-mode nftables --scheduler rr for round-robin, or --proxy-mode userspace for the IPVS schedulers (rr, wrr, lc, wlc, sh, dh, sed, nq)');
  }
  if (o.mode !== 'nftables') {
    throw new Error(`proxy mode ${o.mode} is not available in this build; use --proxy-mode nftables`);
  }
  // Whatever an iptables-mode proxy left behind goes first (mode switch).
  await run(['sh', '-c', 'for t in nat filter; do for c in $(iptables -t $t -S 2>/dev/null | awk \'/^-N KUBE-/{print $2}\'); do iptables -t $t -F $c; done; iptables -t $t -S 2>/dev/null | grep -- "-j KUBE-" | sed "s/^-A/-D/" | while read -r r; do eval iptables -t $t $r; done; for c in $(iptables -t $t -S 2>/dev/null | awk \'/^-N KUBE-/{print $2}\'); do iptables -t $t -X $c; done; done'], { allowFail: true });
  const backend = new NftablesProxier({ nodeName: o.nodeName, nodeIP: o.nodeIP, clusterCIDR: o.clusterCIDR, scheduler: o.scheduler });
  const registry = new client.Registry();
  const syncDuration = new client.Histogram({ name: 'kubeproxy_sync_proxy_rules_duration_seconds', help: 'Time to sync rules.', buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5], registers: [registry] });
  const progLatency = new client.Histogram({ name: 'kubeproxy_network_programming_duration_seconds', help: 'From an EndpointSlice change to rules live.', buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10], registers: [registry] });
  const elementsGauge = new client.Gauge({ name: 'kubeproxy_sync_proxy_rules_nftables_elements', help: 'Map and set elements programmed.', registers: [registry] });
  const chainsWritten = new client.Counter({ name: 'svcplane_proxy_chains_written_total', help: 'Chains written by syncs (incremental syncs write only changed chains).', registers: [registry] });
  const syncs = new client.Counter({ name: 'kubeproxy_sync_proxy_rules_total', help: 'Syncs by kind.', labelNames: ['kind', 'result'], registers: [registry] });
  let lastPorts: ServicePort[] = [];
  new client.Gauge({
    name: 'svcplane_proxy_service_packets_total', help: 'Packets that entered each service port\'s chain (nft counters).', labelNames: ['namespace', 'service', 'port'], registers: [registry],
    async collect() {
      const { chainId } = await import('./backends/nftables/proxier.js');
      const counters = await backend.counters();
      for (const sp of lastPorts) { const c = counters.get(`svc-${chainId(sp.key)}`); if (c) this.set({ namespace: sp.namespace, service: sp.name, port: sp.portName || String(sp.port) }, c.packets); }
    },
  });
  new client.Gauge({
    name: 'svcplane_proxy_service_bytes_total', help: 'Bytes that entered each service port\'s chain (nft counters).', labelNames: ['namespace', 'service', 'port'], registers: [registry],
    async collect() {
      const { chainId } = await import('./backends/nftables/proxier.js');
      const counters = await backend.counters();
      for (const sp of lastPorts) { const c = counters.get(`svc-${chainId(sp.key)}`); if (c) this.set({ namespace: sp.namespace, service: sp.name, port: sp.portName || String(sp.port) }, c.bytes); }
    },
  });

  const services = new Informer<Service>(o.client, res('services'));
  const slices = new Informer<EndpointSlice>(o.client, res('endpointslices'));
  const hc = new ServiceHealthServers();
  let lastSync = 0;
  const pendingTriggers: number[] = [];
  const udpEndpoints = new Map<string, Set<string>>();

  const sync = async () => {
    if (!services.hasSynced() || !slices.hasSynced()) return;
    const ports = buildServicePorts(services.list(), slices.list());
    const end = syncDuration.startTimer();
    try {
      const st = await backend.sync(ports);
      end();
      syncs.inc({ kind: st.full ? 'full' : 'partial', result: 'success' });
      chainsWritten.inc(st.chainsWritten);
      elementsGauge.set(st.elements);
      lastSync = Date.now();
      lastPorts = ports;
      for (const t of pendingTriggers.splice(0)) progLatency.observe((Date.now() - t) / 1000);
    } catch (e) {
      end();
      syncs.inc({ kind: 'partial', result: 'error' });
      log('sync failed; next sync rebuilds the table', { error: String((e as Error).message).slice(0, 500) });
      throw e;
    }
    // Health check servers for externalTrafficPolicy Local.
    const want = new Map<number, { ns: string; name: string; local: number }>();
    for (const sp of ports) if (sp.externalLocal && sp.healthCheckNodePort) {
      const prev = want.get(sp.healthCheckNodePort)?.local ?? 0;
      want.set(sp.healthCheckNodePort, { ns: sp.namespace, name: sp.name, local: Math.max(prev, externalEndpoints(sp, o.nodeName).length) });
    }
    hc.sync(want);
    // UDP: forget conntrack entries towards endpoints that went away, so clients don't hang.
    for (const sp of ports) {
      if (sp.protocol !== 'udp') continue;
      const now = new Set(sp.endpoints.filter((e) => e.ready).map((e) => e.ip));
      const before = udpEndpoints.get(sp.key);
      udpEndpoints.set(sp.key, now);
      if (!before) continue;
      for (const ip of before) if (!now.has(ip)) await run(['conntrack', '-D', '-p', 'udp', '--reply-src', ip], { allowFail: true });
    }
  };
  const runner = new BoundedFrequencyRunnerLike(sync, o.minSyncMs, o.syncPeriodMs);
  const kick = () => runner.run();
  services.addHandlers({ add: kick, update: (a, b) => { if (a.metadata?.resourceVersion !== b.metadata?.resourceVersion) kick(); }, delete: kick });
  const onSlice = (s: EndpointSlice) => {
    const t = s.metadata?.annotations?.[TRIGGER_ANNOTATION];
    pendingTriggers.push(t ? Date.parse(t) : Date.now());
    kick();
  };
  slices.addHandlers({ add: onSlice, update: (a, b) => { if (a.metadata?.resourceVersion !== b.metadata?.resourceVersion) onSlice(b); }, delete: kick });
  await Promise.all([services.start(), slices.start()]);
  runner.start();

  const healthz = http.createServer((req, resp) => {
    const healthy = lastSync > 0 && Date.now() - lastSync < o.syncPeriodMs * 2 + 5000;
    resp.writeHead(healthy ? 200 : 503, { 'Content-Type': 'application/json' });
    resp.end(JSON.stringify({ lastUpdated: new Date(lastSync).toISOString(), currentTime: new Date().toISOString(), nodeEligible: true }));
    void req;
  });
  listen(healthz, o.healthzBind);
  const metrics = http.createServer(async (_req, resp) => {
    resp.writeHead(200, { 'Content-Type': registry.contentType });
    resp.end(await registry.metrics());
  });
  listen(metrics, o.metricsBind);
  log('started', { node: o.nodeName, mode: o.mode, scheduler: o.scheduler });
  return {
    async stop() {
      runner.stop(); services.stop(); slices.stop(); hc.close(); healthz.close(); metrics.close();
    },
  };
}

import { BoundedFrequencyRunner as BoundedFrequencyRunnerLike } from './runner.js';
