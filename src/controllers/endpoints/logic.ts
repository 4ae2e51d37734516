/**
 * @module controllers/endpoints/logic
 * computeEndpoints: the Endpoints object a selector Service and its pods give, as
 * pkg/controller/endpoint/endpoints_controller.go syncService builds it (ready and not-ready
 * addresses, targetRef, nodeName, hostname, per-pod named ports, subsets repacked by port set,
 * capped at 1000 addresses with the over-capacity annotation).
 */
import type { EndpointAddress, EndpointPort, EndpointSubset, Endpoints, Pod, Service } from '../../api/types.js';
import { isPodReady, podIPs } from '../shared/pods.js';
import { endpointLabels, findPort, shouldPodBeInEndpoints, shouldSetHostname } from '../shared/endpointutil.js';

export const MAX_CAPACITY = 1000;
export const OVER_CAPACITY_ANNOTATION = 'endpoints.kubernetes.io/over-capacity';
export const TRUNCATED = 'truncated';
const LAST_CHANGE_TRIGGER = 'endpoints.kubernetes.io/last-change-trigger-time';

function addressFor(pod: Pod, svc: Service, ip: string): EndpointAddress {
  const a: EndpointAddress = {
    ip,
    targetRef: { kind: 'Pod', namespace: pod.metadata?.namespace, name: pod.metadata?.name, uid: pod.metadata?.uid },
  };
  if (pod.spec?.nodeName) a.nodeName = pod.spec.nodeName;
  if (shouldSetHostname(pod, svc)) a.hostname = pod.spec!.hostname;
  return a;
}

const portsKey = (ports: EndpointPort[]) => JSON.stringify([...ports].sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port));
const byIP = (a: EndpointAddress, b: EndpointAddress) => (a.ip < b.ip ? -1 : a.ip > b.ip ? 1 : (a.targetRef?.uid ?? '').localeCompare(b.targetRef?.uid ?? ''));

/** The subsets for a Service and its (already selected) pods. */
export function computeSubsets(svc: Service, pods: Pod[]): { subsets: EndpointSubset[]; truncated: boolean } {
  const publishNotReady = !!svc.spec?.publishNotReadyAddresses;
  const groups = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  const add = (ports: EndpointPort[], a: EndpointAddress, ready: boolean) => {
    const k = portsKey(ports);
    let g = groups.get(k);
    if (!g) groups.set(k, (g = { ports, ready: [], notReady: [] }));
    (ready ? g.ready : g.notReady).push(a);
  };
  for (const pod of pods) {
    if (!shouldPodBeInEndpoints(pod, publishNotReady)) continue;
    const ip = podIPs(pod).find((x) => !x.includes(':')) ?? podIPs(pod)[0]!;
    const a = addressFor(pod, svc, ip);
    const ready = publishNotReady || isPodReady(pod);
    const sports = svc.spec?.ports ?? [];
    if (!sports.length) {
      // Headless Service without ports: addresses only.
      if (svc.spec?.clusterIP === 'None') add([], a, ready);
      continue;
    }
    for (const sp of sports) {
      const port = findPort(pod, sp);
      if (port === undefined) continue; // named port this pod does not have
      const ep: EndpointPort = { port, protocol: sp.protocol ?? 'TCP' };
      if (sp.name) ep.name = sp.name;
      if (sp.appProtocol) ep.appProtocol = sp.appProtocol;
      add([ep], a, ready);
    }
  }
  // RepackSubsets: addresses with the same port set share a subset.
  const byAddrSet = new Map<string, { ports: EndpointPort[]; ready: EndpointAddress[]; notReady: EndpointAddress[] }>();
  const addrKey = (g: { ready: EndpointAddress[]; notReady: EndpointAddress[] }) =>
    JSON.stringify([g.ready.map((a) => `${a.ip}/${a.targetRef?.uid}`).sort(), g.notReady.map((a) => `${a.ip}/${a.targetRef?.uid}`).sort()]);
  for (const g of groups.values()) {
    const k = addrKey(g);
    const m = byAddrSet.get(k);
    if (m) m.ports.push(...g.ports);
    else byAddrSet.set(k, { ports: [...g.ports], ready: g.ready, notReady: g.notReady });
  }
  let subsets: EndpointSubset[] = [...byAddrSet.values()].map((g) => {
    const s: EndpointSubset = {};
    if (g.ready.length) s.addresses = g.ready.sort(byIP);
    if (g.notReady.length) s.notReadyAddresses = g.notReady.sort(byIP);
    if (g.ports.length) s.ports = g.ports.sort((a, b) => (a.name ?? '').localeCompare(b.name ?? '') || a.port - b.port);
    return s;
  });
  subsets.sort((a, b) => (a.addresses?.[0]?.ip ?? a.notReadyAddresses?.[0]?.ip ?? '').localeCompare(b.addresses?.[0]?.ip ?? b.notReadyAddresses?.[0]?.ip ?? ''));
  // Capacity: ready addresses are kept first, across subsets in order.
  let total = 0;
  for (const s of subsets) total += (s.addresses?.length ?? 0) + (s.notReadyAddresses?.length ?? 0);
  let truncated = false;
  if (total > MAX_CAPACITY) {
    truncated = true;
    let budget = MAX_CAPACITY;
    for (const s of subsets) { if (s.addresses) { s.addresses = s.addresses.slice(0, budget); budget -= s.addresses.length; if (!s.addresses.length) delete s.addresses; } }
    for (const s of subsets) { if (s.notReadyAddresses) { s.notReadyAddresses = s.notReadyAddresses.slice(0, budget); budget -= s.notReadyAddresses.length; if (!s.notReadyAddresses.length) delete s.notReadyAddresses; } }
    subsets = subsets.filter((s) => s.addresses || s.notReadyAddresses);
  }
  return { subsets, truncated };
}

/** The desired Endpoints object; `existing` supplies metadata to keep (resourceVersion, user annotations). */
export function computeEndpoints(svc: Service, pods: Pod[], existing?: Endpoints): Endpoints {
  const { subsets, truncated } = computeSubsets(svc, pods);
  const annotations: Record<string, string> = { ...(existing?.metadata?.annotations ?? {}) };
  delete annotations[LAST_CHANGE_TRIGGER];
  if (truncated) annotations[OVER_CAPACITY_ANNOTATION] = TRUNCATED;
  else delete annotations[OVER_CAPACITY_ANNOTATION];
  const ep: Endpoints = {
    apiVersion: 'v1', kind: 'Endpoints',
    metadata: {
      ...(existing?.metadata ?? {}),
      name: svc.metadata!.name, namespace: svc.metadata!.namespace,
      labels: endpointLabels(svc),
      annotations: Object.keys(annotations).length ? annotations : undefined,
    },
    subsets: subsets.length ? subsets : undefined,
  };
  if (!ep.metadata!.annotations) delete ep.metadata!.annotations;
  return ep;
}

/** Would writing `want` change anything a reader sees? */
export function endpointsEqual(have: Endpoints | undefined, want: Endpoints): boolean {
  if (!have) return false;
  return JSON.stringify(have.subsets ?? []) === JSON.stringify(want.subsets ?? [])
    && JSON.stringify(have.metadata?.labels ?? {}) === JSON.stringify(want.metadata?.labels ?? {})
    && (have.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION] ?? '') === (want.metadata?.annotations?.[OVER_CAPACITY_ANNOTATION] ?? '');
}
