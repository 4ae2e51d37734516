/**
 * @module proxy/service-port-map
 * The desired state: every ServicePort of every Service, with its endpoints. update() applies
 * what the two trackers recorded since the last sync and reports which service ports changed
 * (so a backend rewrites only those) and, for UDP, which conntrack entries went stale
 * (kube-proxy's UpdateServiceMapResult / UpdateEndpointsMapResult).
 */
import type { Service } from '../api/types.js';
import type { EndpointsChangeTracker } from './endpoints-tracker.js';
import type { EndpointSliceCache } from './endpointslice-cache.js';
import { SCHEDULER_ANNOTATION, WEIGHTS_ANNOTATION, type ServiceChangeTracker } from './service-tracker.js';
import { usable } from './topology.js';
import type { Protocol, ServicePort } from './types.js';

/** sessionAffinityConfig.clientIP.timeoutSeconds default (3 hours), as the API defaults it. */
export const DEFAULT_AFFINITY_TIMEOUT_S = 10800;

/** "10.244.1.5=3,10.244.2.7=1" → {ip: weight}; undefined when absent. */
function parseWeights(s: string | undefined): Record<string, number> | undefined {
  if (!s) return undefined;
  const out: Record<string, number> = {};
  for (const part of s.split(',')) {
    const [ip, w] = part.trim().split('=');
    if (ip && w !== undefined && /^\d+$/.test(w)) out[ip] = Number(w);
  }
  return out;
}

/** The ServicePorts of one Service (none for ExternalName and headless Services). */
export function servicePortsOf(svc: Service, cache: EndpointSliceCache): ServicePort[] {
  const spec = svc.spec;
  if (!spec || spec.type === 'ExternalName') return [];
  if (!spec.clusterIP || spec.clusterIP === 'None') return [];
  const ns = svc.metadata!.namespace!;
  const name = svc.metadata!.name!;
  const external = spec.type === 'NodePort' || spec.type === 'LoadBalancer';
  return (spec.ports ?? []).map((p): ServicePort => {
    const protocol = (p.protocol ?? 'TCP').toLowerCase() as Protocol;
    const portName = p.name ?? '';
    return {
      key: `${ns}/${name}:${portName}/${protocol}`, namespace: ns, name, portName, protocol, port: p.port,
      clusterIP: spec.clusterIP,
      nodePort: external ? p.nodePort ?? undefined : undefined,
      externalIPs: spec.externalIPs ?? [],
      loadBalancerIPs: spec.type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x) : [],
      affinityTimeout: spec.sessionAffinity === 'ClientIP' ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? DEFAULT_AFFINITY_TIMEOUT_S : undefined,
      externalLocal: external && spec.externalTrafficPolicy === 'Local',
      internalLocal: spec.internalTrafficPolicy === 'Local',
      healthCheckNodePort: external && spec.externalTrafficPolicy === 'Local' ? spec.healthCheckNodePort ?? undefined : undefined,
      scheduler: svc.metadata?.annotations?.[SCHEDULER_ANNOTATION],
      weights: parseWeights(svc.metadata?.annotations?.[WEIGHTS_ANNOTATION]),
      endpoints: cache.endpoints(`${ns}/${name}`, portName, protocol),
    };
  });
}

export interface UpdateResult {
  /** Service-port keys added, changed or removed. */
  changed: Set<string>;
  /** UDP endpoints ("ip:port") no longer used: their conntrack entries must go. */
  staleUDPEndpoints: { ip: string; port: number; vips: string[]; vport: number }[];
  /** UDP service IPs whose port went from no endpoints to some (entries made while rejecting). */
  staleUDPServiceIPs: { ip: string; port: number }[];
}

function vipsOf(sp: ServicePort): { ip: string; port: number }[] {
  return [...(sp.clusterIP ? [sp.clusterIP] : []), ...sp.externalIPs, ...sp.loadBalancerIPs].map((ip) => ({ ip, port: sp.port }));
}

export class ServicePortMap {
  private readonly ports = new Map<string, { sp: ServicePort; fp: string }>();
  private readonly bySvc = new Map<string, string[]>();
  private sorted: ServicePort[] | undefined = [];

  update(services: ServiceChangeTracker, endpoints: EndpointsChangeTracker): UpdateResult & { triggerTimes: number[] } {
    const dirty = services.drain();
    const ep = endpoints.drain();
    for (const k of ep.services) dirty.add(k);
    const r: UpdateResult = { changed: new Set(), staleUDPEndpoints: [], staleUDPServiceIPs: [] };
    for (const svcKey of dirty) {
      const svc = services.get(svcKey);
      const next = svc ? servicePortsOf(svc, endpoints.cache) : [];
      const nextKeys = new Set(next.map((p) => p.key));
      for (const old of this.bySvc.get(svcKey) ?? []) {
        if (nextKeys.has(old)) continue;
        const prev = this.ports.get(old)!.sp;
        this.ports.delete(old);
        r.changed.add(old);
        if (prev.protocol === 'udp') this.staleUDP(prev, undefined, r);
      }
      for (const sp of next) {
        const fp = JSON.stringify(sp);
        const prev = this.ports.get(sp.key);
        if (prev?.fp === fp) continue;
        this.ports.set(sp.key, { sp, fp });
        r.changed.add(sp.key);
        if (sp.protocol === 'udp') this.staleUDP(prev?.sp, sp, r);
      }
      if (next.length) this.bySvc.set(svcKey, next.map((p) => p.key)); else this.bySvc.delete(svcKey);
    }
    if (r.changed.size) this.sorted = undefined;
    return { ...r, triggerTimes: ep.triggerTimes };
  }

  private staleUDP(prev: ServicePort | undefined, next: ServicePort | undefined, r: UpdateResult): void {
    const before = prev ? usable(prev.endpoints) : [];
    const after = next ? usable(next.endpoints) : [];
    const keep = new Set(after.map((e) => `${e.ip}:${e.port}`));
    for (const e of before) {
      if (!keep.has(`${e.ip}:${e.port}`)) r.staleUDPEndpoints.push({ ip: e.ip, port: e.port, vips: vipsOf(prev!).map((v) => v.ip), vport: prev!.port });
    }
    if (next && before.length === 0 && after.length > 0) r.staleUDPServiceIPs.push(...vipsOf(next));
  }

  list(): ServicePort[] {
    this.sorted ??= [...this.ports.values()].map((x) => x.sp).sort((a, b) => (a.key < b.key ? -1 : 1));
    return this.sorted;
  }

  get(key: string): ServicePort | undefined {
    return this.ports.get(key)?.sp;
  }
}
