/**
 * @module proxy/proxy
 * `svcplane proxy`, one per node like kube-proxy: the informers (config.ts) feed the two change
 * trackers; the bounded-frequency runner calls syncProxyRules, which applies the trackers to
 * the ServicePortMap, hands the changed service ports to the backend (one atomic write),
 * records metrics, updates the health servers and clears stale UDP conntrack entries.
 * Nothing is programmed until Services and EndpointSlices have both synced.
 */
import { existsSync } from 'node:fs';
import http from 'node:http';
import type { EndpointSlice, Service } from '../api/types.js';
import type { Client } from '../client/rest.js';
import { haveCommand } from '../net/exec.js';
import type { IptablesBackend } from '../net/iptables.js';
import { IptablesProxier } from './backends/iptables/proxier.js';
import { NftablesProxier } from './backends/nftables/proxier.js';
import { UserspaceProxier } from './backends/userspace/proxier.js';
import { isScheduler, SCHEDULERS } from './backends/userspace/schedulers.js';
import { cleanupLeftovers, type ProxyModeName } from './cleanup.js';
import { informerConfig, wireConfig, type ProxyConfig, type Source } from './config.js';
import { clearStaleUDP } from './conntrack.js';
import { EndpointsChangeTracker } from './endpoints-tracker.js';
import { listen, ProxyHealthServer, ServiceHealthServers, type ServiceHealth } from './healthcheck.js';
import { ProxyMetrics } from './metrics.js';
import { BoundedFrequencyRunner } from './runner.js';
import { ServicePortMap } from './service-port-map.js';
import { ServiceChangeTracker } from './service-tracker.js';
import { externalEndpoints } from './topology.js';
import type { BackendOptions, Provider, ServicePort } from './types.js';

export const PROXY_MODES = ['nftables', 'iptables', 'userspace', 'ipvs'] as const;
/** Schedulers the kernel modes can do with one rule (numgen / statistic). */
export const KERNEL_SCHEDULERS = ['random', 'rr'] as const;
export const IPVS_UNAVAILABLE = 'proxy mode ipvs: this kernel has no IPVS (ip_vs module not loaded, and modules cannot be loaded here); use --proxy-mode nftables --scheduler rr for round-robin, or --proxy-mode userspace for the IPVS schedulers (rr, wrr, lc, wlc, sh, dh, sed, nq)';

export interface ProxyOptions {
  /** API client; or `sources` (tests) */
  client?: Client;
  sources?: { services: Source<Service>; slices: Source<EndpointSlice> };
  nodeName: string;
  nodeIP: string;
  mode: string;
  scheduler: string;
  clusterCIDR: string;
  minSyncMs: number;
  syncPeriodMs: number;
  /** host:port, or '' to not serve */
  healthzBind: string;
  metricsBind: string;
  nodePortAddresses?: string[];
  iptablesBackend?: IptablesBackend;
  /** Program another namespace (tests; nftables and iptables only). */
  netns?: string;
  /** Per-endpoint kernel counters (default true). */
  endpointCounters?: boolean;
  /** Bind healthCheckNodePort servers here (default 0.0.0.0). */
  healthCheckBindHost?: string;
}

export interface RunningProxy {
  provider: Provider;
  metrics: ProxyMetrics;
  /** Resolves after the next successful sync (tests). */
  synced(): Promise<void>;
  ports(): ServicePort[];
  stop(opts?: { cleanup?: boolean }): Promise<void>;
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), component: 'proxy', msg, ...extra }));
}

/** Refuse impossible configurations with one line each, before touching the kernel. */
export function validateOptions(o: Pick<ProxyOptions, 'mode' | 'scheduler'>): void {
  if (!(PROXY_MODES as readonly string[]).includes(o.mode)) throw new Error(`--proxy-mode ${o.mode}: must be one of ${PROXY_MODES.join(', ')}`);
  if (o.mode === 'ipvs') {
    // Real IPVS needs the ip_vs module; this build drives it only where present, and says so.
    if (!existsSync('/proc/net/ip_vs') || !haveCommand('ipvsadm')) throw new Error(IPVS_UNAVAILABLE);
    throw new Error('proxy mode ipvs is not built into svcplane; use --proxy-mode nftables --scheduler rr, or --proxy-mode userspace for the IPVS schedulers');
  }
  if (o.mode === 'userspace') {
    if (!isScheduler(o.scheduler)) throw new Error(`--scheduler ${o.scheduler}: the userspace mode supports ${SCHEDULERS.join(', ')}`);
  } else if (!(KERNEL_SCHEDULERS as readonly string[]).includes(o.scheduler)) {
    throw new Error(`--scheduler ${o.scheduler}: --proxy-mode ${o.mode} supports random and rr; use --proxy-mode userspace for ${SCHEDULERS.filter((s) => s !== 'random' && s !== 'rr').join(', ')}`);
  }
}

export function newProvider(o: ProxyOptions): Provider {
  const b: BackendOptions = { nodeName: o.nodeName, nodeIP: o.nodeIP, clusterCIDR: o.clusterCIDR, scheduler: o.scheduler, nodePortAddresses: o.nodePortAddresses ?? [], netns: o.netns, endpointCounters: o.endpointCounters };
  if (o.mode === 'iptables') return new IptablesProxier({ ...b, backend: o.iptablesBackend ?? 'nft' });
  if (o.mode === 'userspace') return new UserspaceProxier(b);
  return new NftablesProxier(b);
}

const sctpAvailable = (): boolean => existsSync('/proc/net/sctp');

export async function startProxy(o: ProxyOptions): Promise<RunningProxy> {
  validateOptions(o);
  const removed = await cleanupLeftovers(o.mode as ProxyModeName, o.netns, o.iptablesBackend ?? 'nft');
  log('removed rules of other modes (if any)', { removed });
  const provider = newProvider(o);
  const svcTracker = new ServiceChangeTracker();
  const epTracker = new EndpointsChangeTracker();
  const portMap = new ServicePortMap();
  const health = new ProxyHealthServer(o.syncPeriodMs * 2 + 5000);
  const svcHealth = new ServiceHealthServers(o.healthCheckBindHost ?? '0.0.0.0', (port, e) => log('healthCheckNodePort server failed', { port, error: String(e) }));
  let current: ServicePort[] = [];
  const metrics = new ProxyMetrics(() => provider, () => current);
  let first = true;
  let pendingTriggers: number[] = [];
  const waiters: (() => void)[] = [];
  const warnedSCTP = new Set<string>();
  const haveSCTP = sctpAvailable();
  let config: ProxyConfig | undefined;

  const syncProxyRules = async (): Promise<void> => {
    if (!config?.isSynced()) return;
    const upd = portMap.update(svcTracker, epTracker);
    pendingTriggers.push(...upd.triggerTimes);
    let ports = portMap.list();
    if (!haveSCTP && ports.some((p) => p.protocol === 'sctp')) {
      for (const p of ports) if (p.protocol === 'sctp' && !warnedSCTP.has(p.key)) { warnedSCTP.add(p.key); log('SCTP is not available in this kernel (no sctp module): service port not programmed', { servicePort: p.key }); }
      ports = ports.filter((p) => p.protocol !== 'sctp');
    }
    const end = metrics.syncDuration.startTimer();
    let st;
    try {
      st = await provider.sync({ ports, changed: first ? undefined : upd.changed });
    } catch (e) {
      end();
      metrics.syncs.inc({ kind: first ? 'full' : 'partial', result: 'error' });
      // The backend rebuilds everything next time; the runner retries after its retry interval.
      log('sync failed; the next sync rewrites every rule', { mode: provider.mode, error: String((e as Error).message).slice(0, 800) });
      throw e;
    }
    end();
    first = false;
    current = ports;
    const now = Date.now();
    for (const t of pendingTriggers) metrics.programmingLatency.observe(Math.max(0, now - t) / 1000);
    pendingTriggers = [];
    metrics.syncs.inc({ kind: st.full ? 'full' : 'partial', result: 'success' });
    metrics.lastSync.setToCurrentTime();
    metrics.chainsWritten.inc(st.chainsWritten);
    metrics.elements.set(st.elements);
    metrics.servicePorts.set(ports.length);
    health.updated();
    if (st.full || upd.changed.size) log('synced', { mode: provider.mode, full: st.full, servicePorts: ports.length, changed: upd.changed.size, chainsWritten: st.chainsWritten, ms: Math.round(st.durationMs) });
    // healthCheckNodePort servers for externalTrafficPolicy Local.
    const want = new Map<number, ServiceHealth>();
    for (const sp of ports) {
      if (!sp.externalLocal || !sp.healthCheckNodePort) continue;
      const local = externalEndpoints(sp, o.nodeName).length;
      const prev = want.get(sp.healthCheckNodePort);
      want.set(sp.healthCheckNodePort, { namespace: sp.namespace, name: sp.name, localEndpoints: Math.max(prev?.localEndpoints ?? 0, local) });
    }
    svcHealth.sync(want);
    // Only after the rules changed: flows to removed UDP endpoints would otherwise be recreated.
    if (upd.staleUDPEndpoints.length || upd.staleUDPServiceIPs.length) await clearStaleUDP(upd, o.netns);
    for (const w of waiters.splice(0)) w();
  };

  const runner = new BoundedFrequencyRunner(syncProxyRules, o.minSyncMs, o.syncPeriodMs);
  const onChange = () => { health.queued(); runner.run(); };
  config = o.sources ? wireConfig(o.sources.services, o.sources.slices, svcTracker, epTracker, onChange)
    : informerConfig(o.client!, svcTracker, epTracker, onChange);
  const servers: http.Server[] = [];
  if (o.healthzBind) { await listen(health.server, o.healthzBind, (e) => log('healthz server failed', { bind: o.healthzBind, error: String(e) })); servers.push(health.server); }
  if (o.metricsBind) {
    const ms = http.createServer((req, res) => {
      if (req.url?.startsWith('/healthz')) { res.writeHead(200); res.end('ok'); return; }
      void metrics.registry.metrics().then((text) => { res.writeHead(200, { 'Content-Type': metrics.registry.contentType }); res.end(text); }, (e) => { res.writeHead(500); res.end(String(e)); });
    });
    await listen(ms, o.metricsBind, (e) => log('metrics server failed', { bind: o.metricsBind, error: String(e) }));
    servers.push(ms);
  }
  await config.start();
  runner.start();
  log('started', { node: o.nodeName, mode: o.mode, scheduler: o.scheduler, clusterCIDR: o.clusterCIDR });
  return {
    provider, metrics,
    synced: () => new Promise((resolve) => waiters.push(resolve)),
    ports: () => current,
    async stop(opts = {}) {
      runner.stop();
      config?.stop();
      svcHealth.close();
      for (const s of servers) s.close();
      if (opts.cleanup || provider.mode === 'userspace') await provider.cleanup();
      provider.close?.();
    },
  };
}
