/**
 * @module controllers/shared/endpointutil
 * pkg/controller/util/endpoint: which pods belong in endpoints, hostnames, and resolving a
 * Service port's targetPort against a pod's containers (podutil.FindPort).
 */
import type { Pod, Service, ServicePort } from '../../api/types.js';
import { isPodTerminal, podIPs } from './pods.js';

/** ShouldPodBeInEndpoints. */
export function shouldPodBeInEndpoints(pod: Pod, includeTerminating: boolean): boolean {
  if (isPodTerminal(pod)) return false;
  if (!podIPs(pod).length) return false;
  if (!includeTerminating && pod.metadata?.deletionTimestamp) return false;
  return true;
}

/** ShouldSetHostname: the pod asked for a hostname under this (headless) Service's name. */
export function shouldSetHostname(pod: Pod, svc: Service): boolean {
  return !!pod.spec?.hostname && pod.spec?.subdomain === svc.metadata?.name && svc.metadata?.namespace === pod.metadata?.namespace;
}

/** FindPort: numeric targetPort as is; a name is looked up in the pod's container ports. */
export function findPort(pod: Pod, sp: ServicePort): number | undefined {
  const tp = sp.targetPort ?? sp.port;
  if (typeof tp === 'number') return tp;
  if (/^\d+$/.test(tp)) return Number(tp);
  for (const c of pod.spec?.containers ?? []) {
    for (const p of c.ports ?? []) if (p.name === tp && (p.protocol ?? 'TCP') === (sp.protocol ?? 'TCP')) return p.containerPort;
  }
  return undefined;
}

/** Labels copied from the Service onto its Endpoints/EndpointSlices, plus the headless marker. */
export function endpointLabels(svc: Service, extra: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...(svc.metadata?.labels ?? {}) };
  if (svc.spec?.clusterIP === 'None') out['service.kubernetes.io/headless'] = '';
  else delete out['service.kubernetes.io/headless'];
  return { ...out, ...extra };
}
