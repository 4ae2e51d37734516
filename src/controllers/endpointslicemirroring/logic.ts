/**
 * @module controllers/endpointslicemirroring/logic
 * Mirroring as pkg/controller/endpointslicemirroring: the subsets of a user-managed Endpoints
 * (for a Service without selector) become EndpointSlices managed by
 * endpointslicemirroring-controller.k8s.io, owned by the Endpoints, using the same
 * minimal-churn reconciler as the EndpointSlice controller.
 */
import type { EndpointSlice, Endpoints, Service, SliceEndpoint, SlicePort } from '../../api/types.js';
import { canonicalJSON } from '../shared/hash.js';
import { computeSlices, type SliceChanges } from '../endpointslice/logic.js';

export const MIRROR_MANAGED_BY = 'endpointslicemirroring-controller.k8s.io';
export const SKIP_MIRROR_LABEL = 'endpointslice.kubernetes.io/skip-mirror';
/** Labels never copied from Endpoints to mirrored slices. */
const SKIP_LABELS = [SKIP_MIRROR_LABEL, 'service.kubernetes.io/headless'];
const SKIP_ANNOTATIONS = ['endpoints.kubernetes.io/last-change-trigger-time', 'kubectl.kubernetes.io/last-applied-configuration'];

/** shouldMirror: a selector-less Service's Endpoints, unless labelled skip-mirror=true. */
export function shouldMirror(ep: Endpoints | undefined, svc: Service | undefined): boolean {
  if (!ep || !svc) return false;
  if (ep.metadata?.labels?.[SKIP_MIRROR_LABEL] === 'true') return false;
  if (svc.spec?.selector && Object.keys(svc.spec.selector).length) return false;
  return svc.spec?.type !== 'ExternalName';
}

export function mirrorGroups(ep: Endpoints): Map<string, { addressType: 'IPv4' | 'IPv6'; ports: SlicePort[]; endpoints: Map<string, SliceEndpoint> }> {
  const groups = new Map<string, { addressType: 'IPv4' | 'IPv6'; ports: SlicePort[]; endpoints: Map<string, SliceEndpoint> }>();
  for (const ss of ep.subsets ?? []) {
    const ports: SlicePort[] = (ss.ports ?? []).map((p) => {
      const o: SlicePort = { name: p.name ?? '', port: p.port, protocol: p.protocol ?? 'TCP' };
      if (p.appProtocol) o.appProtocol = p.appProtocol;
      return o;
    }).sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0));
    const add = (a: NonNullable<typeof ss.addresses>[number], ready: boolean) => {
      const at = a.ip.includes(':') ? 'IPv6' : 'IPv4';
      const k = `${at}|${canonicalJSON(ports)}`;
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { addressType: at, ports, endpoints: new Map() }));
      const e: SliceEndpoint = { addresses: [a.ip], conditions: { ready } };
      if (a.hostname) e.hostname = a.hostname;
      if (a.nodeName) e.nodeName = a.nodeName;
      if (a.targetRef) e.targetRef = a.targetRef;
      // Mirrored endpoints are keyed by address: the same IP twice in Endpoints is one endpoint.
      const key = mirrorKey(e);
      if (!g.endpoints.has(key)) g.endpoints.set(key, e);
    };
    for (const a of ss.addresses ?? []) add(a, true);
    for (const a of ss.notReadyAddresses ?? []) add(a, false);
  }
  return groups;
}

/** computeMirrorSlices: what to write so the mirrored slices show the Endpoints. */
export function computeMirrorSlices(ep: Endpoints, existing: EndpointSlice[], maxPerSlice = 1000): SliceChanges {
  const labels = { ...(ep.metadata?.labels ?? {}) };
  for (const l of SKIP_LABELS) delete labels[l];
  // Reuse the reconciler with the Endpoints standing in for the Service (same name, its labels).
  const owner = { metadata: { name: ep.metadata!.name, namespace: ep.metadata!.namespace, uid: ep.metadata!.uid, labels }, spec: {} } as Service;
  // Mirrored endpoints are keyed by address (mirrorKey), not by pod.
  const ch = computeSlices(owner, mirrorGroups(ep), existing, maxPerSlice, MIRROR_MANAGED_BY, mirrorKey);
  const fix = (s: EndpointSlice) => {
    s.metadata!.ownerReferences = [{ apiVersion: 'v1', kind: 'Endpoints', name: ep.metadata!.name!, uid: ep.metadata!.uid!, controller: true, blockOwnerDeletion: true }];
    const ann: Record<string, string> = { ...(ep.metadata?.annotations ?? {}) };
    for (const a of SKIP_ANNOTATIONS) delete ann[a];
    if (Object.keys(ann).length) s.metadata!.annotations = ann;
    return s;
  };
  ch.create.forEach(fix);
  return ch;
}

/** Mirrored endpoints are identified by their address. */
export function mirrorKey(e: SliceEndpoint): string {
  return `ip:${e.addresses[0]}`;
}
