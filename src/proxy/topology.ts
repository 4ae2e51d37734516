/**
 * @module proxy/topology
 * Which endpoints each kind of traffic may use, as kube-proxy's topology.go
 * (CategorizeEndpoints): ready endpoints; when none is ready, serving-and-terminating ones
 * (KEP-1669, so connections drain instead of failing during a rollout); node-local subsets for
 * internalTrafficPolicy / externalTrafficPolicy Local.
 */
import type { ProxyEndpoint, ServicePort } from './types.js';

/** Ready endpoints, or serving+terminating ones when none is ready. */
export function usable(eps: ProxyEndpoint[]): ProxyEndpoint[] {
  const ready = eps.filter((e) => e.ready);
  return ready.length ? ready : eps.filter((e) => e.serving && e.terminating);
}

/** Endpoints for traffic from inside the cluster (ClusterIP). */
export function clusterEndpoints(sp: ServicePort, node: string): ProxyEndpoint[] {
  const u = usable(sp.endpoints);
  if (!sp.internalLocal) return u;
  // The fallback applies to the local subset on its own (a local terminating endpoint beats none).
  return usable(sp.endpoints.filter((e) => e.nodeName === node));
}

/** Endpoints for external traffic (NodePort, LoadBalancer, externalIPs). */
export function externalEndpoints(sp: ServicePort, node: string): ProxyEndpoint[] {
  if (!sp.externalLocal) return usable(sp.endpoints);
  return usable(sp.endpoints.filter((e) => e.nodeName === node));
}
