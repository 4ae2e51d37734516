/**
 * @module dns/objects
 * Slim projections of Services and EndpointSlices: only what DNS answers from (like CoreDNS's
 * plugin/kubernetes/object). Holding these instead of whole API objects keeps 10k Services in a
 * few megabytes, and comparing projections tells which updates DNS cannot see.
 */
import type { MetaObject } from '../api/types.js';

/** The label that ties an EndpointSlice to its Service (discovery.k8s.io/v1). */
export const LABEL_SERVICE_NAME = 'kubernetes.io/service-name';
export const CLUSTER_IP_NONE = 'None';

export interface SvcPort { name: string; port: number; protocol: string }

export interface DnsService {
  name: string;
  namespace: string;
  type: string;
  /** spec.clusterIPs (or [spec.clusterIP]); ['None'] for headless. */
  clusterIPs: string[];
  externalName: string;
  /** One sentinel port -1 when the Service has none (CoreDNS does the same: A records still answer). */
  ports: SvcPort[];
}

export interface DnsAddress {
  ip: string;
  /** endpoints[].hostname (StatefulSet pods behind their governing headless Service). */
  hostname: string;
  /** endpoints[].targetRef.name, when a valid label. */
  targetRefName: string;
}

export interface DnsEndpoints {
  /** The slice's own name (several slices may serve one Service). */
  name: string;
  namespace: string;
  /** The Service this slice belongs to (label kubernetes.io/service-name). */
  service: string;
  /** Ready addresses only (conditions.ready unset counts as ready, per the API docs). */
  addresses: DnsAddress[];
  ports: SvcPort[];
}

type Obj = MetaObject & { spec?: any; status?: any; endpoints?: any[]; ports?: any[] };

/**
 * One copy of strings that repeat across thousands of objects (namespaces, types, protocols, port
 * names): JSON.parse gives every object its own.
 */
const interned = new Map<string, string>();
const MAX_INTERNED = 10000;
export function intern(s: string): string {
  const got = interned.get(s);
  if (got !== undefined) return got;
  if (interned.size < MAX_INTERNED) interned.set(s, s);
  return s;
}

/**
 * One copy of each distinct port list: thousands of Services expose the same ports (80/TCP "http"),
 * and an array plus an object per port per Service and per EndpointSlice cost ~100 bytes each. The
 * lists are frozen: nothing may change one in place.
 */
const portLists = new Map<string, readonly SvcPort[]>();
const MAX_PORT_LISTS = 10000;
const NO_PORTS: readonly SvcPort[] = Object.freeze([Object.freeze({ name: '', port: -1, protocol: '' })]);

function sharedPorts(raw: unknown, defaultPort: (p: any) => number): SvcPort[] {
  if (!Array.isArray(raw) || !raw.length) return NO_PORTS as SvcPort[];
  const ports = raw.map((p: any) => ({ name: intern(String(p?.name ?? '')), port: defaultPort(p), protocol: intern(String(p?.protocol ?? 'TCP')) }));
  const sig = ports.map((p) => `${p.name}/${p.port}/${p.protocol}`).join(',');
  const got = portLists.get(sig);
  if (got) return got as SvcPort[];
  const list = Object.freeze(ports.map((p) => Object.freeze(p)));
  if (portLists.size < MAX_PORT_LISTS) portLists.set(sig, list);
  return list as SvcPort[];
}

export function isHeadless(s: DnsService): boolean {
  return s.clusterIPs[0] === CLUSTER_IP_NONE;
}

export function toDnsService(o: Obj): DnsService {
  const spec = o.spec ?? {};
  const ips: string[] = Array.isArray(spec.clusterIPs) && spec.clusterIPs.length ? [...spec.clusterIPs] : [spec.clusterIP ?? ''];
  const ports = sharedPorts(spec.ports, (p) => Number(p?.port ?? -1));
  return {
    name: o.metadata?.name ?? '',
    namespace: intern(o.metadata?.namespace ?? ''),
    type: intern(String(spec.type ?? 'ClusterIP')),
    clusterIPs: ips,
    // DNS names compare in lower case; a trailing dot (fully qualified) is allowed in the API.
    externalName: String(spec.externalName ?? '').toLowerCase().replace(/\.$/, ''),
    ports,
  };
}

function ready(v: unknown): boolean {
  return v === undefined || v === null || v === true;
}

/**
 * podNames: keep each endpoint's pod name (targetRef.name), which only `--endpoint-pod-names` uses;
 * without it that is one string per endpoint DNS never reads.
 */
export function toDnsEndpoints(o: Obj, podNames = true): DnsEndpoints {
  const addresses: DnsAddress[] = [];
  for (const ep of o.endpoints ?? []) {
    if (!ready(ep?.conditions?.ready)) continue;
    const ref = ep.targetRef?.name;
    for (const ip of ep.addresses ?? []) {
      addresses.push({
        ip: String(ip),
        hostname: ep.hostname ? String(ep.hostname) : '',
        // Names longer than a label cannot appear in a DNS name.
        targetRefName: podNames && typeof ref === 'string' && ref.length < 64 ? ref : '',
      });
    }
  }
  const ports = sharedPorts(o.ports, (p) => (p?.port == null ? -1 : Number(p.port)));
  return {
    name: o.metadata?.name ?? '',
    namespace: intern(o.metadata?.namespace ?? ''),
    service: o.metadata?.labels?.[LABEL_SERVICE_NAME] ?? '',
    addresses,
    ports,
  };
}

/**
 * The DNS name of an endpoint: its hostname, else (endpoint_pod_names) its pod's name, else its
 * IP with dashes (10-244-1-5; for IPv6 colons become dashes and a trailing dash gets a 0).
 */
export function endpointHostname(a: DnsAddress, endpointPodNames = false): string {
  if (a.hostname) return a.hostname;
  if (endpointPodNames && a.targetRefName) return a.targetRefName;
  if (a.ip.includes('.')) return a.ip.replaceAll('.', '-');
  if (a.ip.includes(':')) {
    const h = a.ip.replaceAll(':', '-');
    return h.endsWith('-') ? h + '0' : h;
  }
  return '';
}

/** Equal projections answer every question the same way. */
export function sameService(a: DnsService | undefined, b: DnsService | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

export function sameEndpoints(a: DnsEndpoints | undefined, b: DnsEndpoints | undefined): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}
