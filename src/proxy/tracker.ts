/**
 * @module proxy/tracker
 * Folds Services and EndpointSlices into ServicePorts (the desired state), as kube-proxy's
 * service and endpoints change trackers do, and selects which endpoints each kind of traffic
 * may use (ready ones; serving-and-terminating ones when none is ready; node-local ones for
 * the Local traffic policies).
 */
import type { EndpointSlice, Service } from '../api/types.js';
import type { Protocol, ProxyEndpoint, ServicePort } from './types.js';

export const SCHEDULER_ANNOTATION = 'svcplane.io/scheduler';

/** Index slices by "namespace/service". */
export function slicesByService(slices: EndpointSlice[]): Map<string, EndpointSlice[]> {
  const m = new Map<string, EndpointSlice[]>();
  for (const s of slices) {
    const svc = s.metadata?.labels?.['kubernetes.io/service-name'];
    if (!svc || s.addressType !== 'IPv4') continue;
    const k = `${s.metadata?.namespace}/${svc}`;
    let l = m.get(k);
    if (!l) m.set(k, (l = []));
    l.push(s);
  }
  return m;
}

export function buildServicePorts(services: Service[], slices: EndpointSlice[]): ServicePort[] {
  const byService = slicesByService(slices);
  const out: ServicePort[] = [];
  for (const svc of services) {
    const spec = svc.spec;
    if (!spec || spec.type === 'ExternalName') continue;
    const headless = !spec.clusterIP || spec.clusterIP === 'None';
    const ns = svc.metadata!.namespace!;
    const name = svc.metadata!.name!;
    const svcSlices = byService.get(`${ns}/${name}`) ?? [];
    for (const p of spec.ports ?? []) {
      const protocol = (p.protocol ?? 'TCP').toLowerCase() as Protocol;
      const portName = p.name ?? '';
      const endpoints: ProxyEndpoint[] = [];
      const seen = new Set<string>();
      for (const sl of svcSlices) {
        const sp = (sl.ports ?? []).find((x) => (x.name ?? '') === portName && (x.protocol ?? 'TCP').toLowerCase() === protocol);
        if (!sp?.port) continue;
        for (const ep of sl.endpoints ?? []) {
          const ip = ep.addresses?.[0];
          if (!ip || seen.has(`${ip}:${sp.port}`)) continue;
          seen.add(`${ip}:${sp.port}`);
          const c = ep.conditions ?? {};
          endpoints.push({
            ip, port: sp.port, nodeName: ep.nodeName ?? undefined,
            ready: c.ready !== false, serving: (c.serving ?? c.ready) !== false, terminating: c.terminating === true,
          });
        }
      }
      endpoints.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
      if (headless) continue;
      out.push({
        key: `${ns}/${name}:${portName}/${protocol}`, namespace: ns, name, portName, protocol, port: p.port,
        clusterIP: spec.clusterIP,
        nodePort: spec.type === 'NodePort' || spec.type === 'LoadBalancer' ? p.nodePort ?? undefined : undefined,
        externalIPs: spec.externalIPs ?? [],
        loadBalancerIPs: spec.type === 'LoadBalancer' ? (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x) : [],
        affinityTimeout: spec.sessionAffinity === 'ClientIP' ? spec.sessionAffinityConfig?.clientIP?.timeoutSeconds ?? 10800 : undefined,
        externalLocal: spec.externalTrafficPolicy === 'Local' && (spec.type === 'NodePort' || spec.type === 'LoadBalancer'),
        internalLocal: spec.internalTrafficPolicy === 'Local',
        healthCheckNodePort: spec.healthCheckNodePort ?? undefined,
        scheduler: svc.metadata?.annotations?.[SCHEDULER_ANNOTATION],
        endpoints,
      });
    }
  }
  return out.sort((a, b) => (a.key < b.key ? -1 : 1));
}

/** Ready endpoints, or serving+terminating ones when none is ready (KEP-1669). */
export function usable(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

/** Endpoints for traffic from inside the cluster. */
export function clusterEndpoints(sp: ServicePort, node: string): ProxyEndpoint[] {
  const u = usable(sp.endpoints);
  return sp.internalLocal ? u.filter((e) => e.nodeName === node) : u;
}

/** Endpoints for external traffic (NodePort, LoadBalancer, externalIPs). */
export function externalEndpoints(sp: ServicePort, node: string): ProxyEndpoint[] {
  const u = usable(sp.endpoints);
  return sp.externalLocal ? u.filter((e) => e.nodeName === node) : u;
}
