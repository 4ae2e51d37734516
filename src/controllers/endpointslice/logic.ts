/**
 * @module controllers/endpointslice/logic
 * computeSlices: the reconciler of k8s.io/endpointslice (reconciler.go) as a pure function.
 * Desired endpoints are grouped by (address type, resolved ports); for each group the existing
 * slices keep their endpoints in place, gone endpoints are removed, changed ones replaced, and
 * new ones fill slices that are being written anyway before any untouched slice or a new slice,
 * so a single pod change writes a single slice. A Service with no endpoints keeps one
 * placeholder slice.
 */
import type { EndpointSlice, Pod, Service, SliceEndpoint, SlicePort } from '../../api/types.js';
import { isPodReady, podIPs } from '../shared/pods.js';
import { endpointLabels, findPort, shouldPodBeInEndpoints, shouldSetHostname } from '../shared/endpointutil.js';
import { canonicalJSON } from '../shared/hash.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';
export const MANAGED_BY_LABEL = 'endpointslice.kubernetes.io/managed-by';
export const CONTROLLER_MANAGED_BY = 'endpointslice-controller.k8s.io';
export const ZONE_LABEL = 'topology.kubernetes.io/zone';
export const DEFAULT_MAX_ENDPOINTS = 100;

export interface SliceChanges {
  create: EndpointSlice[];
  update: EndpointSlice[];
  delete: EndpointSlice[];
}

type AddressType = 'IPv4' | 'IPv6';
interface Group { addressType: AddressType; ports: SlicePort[]; endpoints: Map<string, SliceEndpoint> }

/** Identity of an endpoint across updates: its pod (or its address when there is no pod). */
export function endpointKey(ep: SliceEndpoint): string {
  return ep.targetRef?.uid ? `uid:${ep.targetRef.uid}` : `ip:${ep.addresses[0]}`;
}

const groupKey = (addressType: string, ports: SlicePort[]) => `${addressType}|${canonicalJSON(sortPorts(ports))}`;

function sortPorts(ports: SlicePort[]): SlicePort[] {
  return [...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || (a.port ?? 0) - (b.port ?? 0));
}

/** podToEndpoint. */
export function podToEndpoint(pod: Pod, svc: Service, ip: string, zone?: string): SliceEndpoint {
  const serving = isPodReady(pod);
  const terminating = !!pod.metadata?.deletionTimestamp;
  // "ready" is never true for a terminating pod unless publishNotReadyAddresses is set.
  const ready = !!svc.spec?.publishNotReadyAddresses || (serving && !terminating);
  const ep: SliceEndpoint = {
    addresses: [ip],
    conditions: { ready, serving, terminating },
    targetRef: { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid },
  };
  if (pod.spec?.nodeName) ep.nodeName = pod.spec.nodeName;
  if (zone) ep.zone = zone;
  if (shouldSetHostname(pod, svc)) ep.hostname = pod.spec!.hostname;
  return ep;
}

/** Desired endpoints grouped by address type and resolved ports. */
export function desiredGroups(svc: Service, pods: Pod[], zoneOf: (node: string) => string | undefined = () => undefined): Map<string, Group> {
  const groups = new Map<string, Group>();
  const families = new Set(svc.spec?.ipFamilies ?? ['IPv4']);
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, true)) continue;
    const ports: SlicePort[] = [];
    for (const sp of svc.spec?.ports ?? []) {
      const port = findPort(pod, sp);
      if (port === undefined) continue;
      const p: SlicePort = { name: sp.name ?? '', port, protocol: sp.protocol ?? 'TCP' };
      if (sp.appProtocol) p.appProtocol = sp.appProtocol;
      ports.push(p);
    }
    for (const ip of podIPs(pod)) {
      const at: AddressType = ip.includes(':') ? 'IPv6' : 'IPv4';
      if (!families.has(at)) continue;
      const k = groupKey(at, ports);
      let g = groups.get(k);
      if (!g) groups.set(k, (g = { addressType: at, ports: sortPorts(ports), endpoints: new Map() }));
      const ep = podToEndpoint(pod, svc, ip, pod.spec?.nodeName ? zoneOf(pod.spec.nodeName) : undefined);
      g.endpoints.set(endpointKey(ep), ep);
    }
  }
  return groups;
}

export function sliceLabels(svc: Service, managedBy = CONTROLLER_MANAGED_BY): Record<string, string> {
  const l = endpointLabels(svc);
  delete l[SERVICE_NAME_LABEL]; delete l[MANAGED_BY_LABEL];
  return { ...l, [SERVICE_NAME_LABEL]: svc.metadata!.name!, [MANAGED_BY_LABEL]: managedBy };
}

export function newSlice(svc: Service, addressType: AddressType, ports: SlicePort[] | null, managedBy = CONTROLLER_MANAGED_BY): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: {
      generateName: `${svc.metadata!.name}-`, namespace: svc.metadata!.namespace,
      labels: sliceLabels(svc, managedBy),
      ownerReferences: [{ apiVersion: 'v1', kind: 'Service', name: svc.metadata!.name!, uid: svc.metadata!.uid!, controller: true, blockOwnerDeletion: true }],
    },
    addressType, endpoints: [], ports: ports as SlicePort[],
  };
}

const epEqual = (a: SliceEndpoint, b: SliceEndpoint) => canonicalJSON(a) === canonicalJSON(b);
const labelsEqual = (a: Record<string, string> | undefined, b: Record<string, string>) => canonicalJSON(a ?? {}) === canonicalJSON(b);
const isPlaceholder = (s: EndpointSlice) => !(s.endpoints?.length) && !(s.ports?.length);

/** The reconciler: what to create, update and delete so `existing` shows `desired`. */
export function computeSlices(svc: Service, desired: Map<string, Group>, existing: EndpointSlice[], maxPerSlice = DEFAULT_MAX_ENDPOINTS, managedBy = CONTROLLER_MANAGED_BY, keyFn: (ep: SliceEndpoint) => string = endpointKey): SliceChanges {
  const out: SliceChanges = { create: [], update: [], delete: [] };
  const wantLabels = sliceLabels(svc, managedBy);
  const byGroup = new Map<string, EndpointSlice[]>();
  for (const s of existing) {
    const k = groupKey(s.addressType, s.ports ?? []);
    if (!desired.has(k)) { out.delete.push(s); continue; }
    let l = byGroup.get(k);
    if (!l) byGroup.set(k, (l = []));
    l.push(s);
  }
  for (const [k, g] of desired) {
    const slices = (byGroup.get(k) ?? []).map((s) => ({ s, eps: [...(s.endpoints ?? [])], dirty: !labelsEqual(s.metadata?.labels, wantLabels) }));
    const remaining = new Map(g.endpoints);
    // 1. existing endpoints: keep, replace when changed, drop when gone (or duplicated).
    for (const x of slices) {
      const next: SliceEndpoint[] = [];
      for (const ep of x.eps) {
        const key = keyFn(ep);
        const want = remaining.get(key);
        if (!want) { x.dirty = true; continue; }
        remaining.delete(key);
        if (!epEqual(ep, want)) x.dirty = true;
        next.push(want);
      }
      x.eps = next;
    }
    // 2. new endpoints fill slices that are written anyway, then untouched slices (fullest that fits), then new slices.
    const rest = [...remaining.values()];
    for (const x of slices) {
      if (!rest.length) break;
      if (!x.dirty || x.eps.length >= maxPerSlice) continue;
      x.eps.push(...rest.splice(0, maxPerSlice - x.eps.length));
    }
    while (rest.length >= maxPerSlice) {
      const s = newSlice(svc, g.addressType, g.ports, managedBy);
      s.endpoints = rest.splice(0, maxPerSlice);
      out.create.push(s);
    }
    if (rest.length) {
      const fits = slices.filter((x) => !x.dirty && x.eps.length + rest.length <= maxPerSlice && x.eps.length > 0)
        .sort((a, b) => b.eps.length - a.eps.length)[0];
      if (fits) { fits.eps.push(...rest.splice(0)); fits.dirty = true; } else {
        const s = newSlice(svc, g.addressType, g.ports, managedBy);
        s.endpoints = rest.splice(0);
        out.create.push(s);
      }
    }
    for (const x of slices) {
      if (!x.dirty) continue;
      if (!x.eps.length && slices.some((y) => y !== x && y.eps.length) ) { out.delete.push(x.s); continue; }
      out.update.push({ ...x.s, metadata: { ...x.s.metadata, labels: wantLabels }, endpoints: x.eps });
    }
  }
  // An empty Service keeps exactly one placeholder slice.
  const remainingCount = existing.length - out.delete.length + out.create.length;
  if (remainingCount === 0) {
    const keep = out.delete.find(isPlaceholder);
    if (keep) {
      out.delete = out.delete.filter((s) => s !== keep);
      if (!labelsEqual(keep.metadata?.labels, wantLabels)) out.update.push({ ...keep, metadata: { ...keep.metadata, labels: wantLabels } });
    } else {
      out.create.push(newSlice(svc, (svc.spec?.ipFamilies?.[0] as AddressType) ?? 'IPv4', null, managedBy));
    }
  } else if (desired.size) {
    // A leftover placeholder is dropped once real slices exist.
    for (const s of existing) if (isPlaceholder(s) && !out.delete.includes(s)) out.delete.push(s);
  }
  return out;
}
