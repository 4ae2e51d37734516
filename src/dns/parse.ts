/**
 * @module dns/parse
 * Turn a query name inside the cluster zone into the parts the DNS spec defines
 * (CoreDNS plugin/kubernetes/parse.go):
 *
 *   _port._proto.service.namespace.svc.zone   SRV for a named port
 *   endpoint.service.namespace.svc.zone       one endpoint of a Service
 *   service.namespace.svc.zone                a Service
 *   a-b-c-d.namespace.pod.zone                a pod by IP
 *
 * Anything longer, or not ending in svc/pod, is not a name the spec defines: NXDOMAIN.
 */

export const SVC = 'svc';
export const POD = 'pod';

export interface RecordRequest {
  port: string;
  protocol: string;
  endpoint: string;
  service: string;
  namespace: string;
  /** 'svc', 'pod', or '' for the zone apex and the bare svc/pod names (NODATA). */
  podOrSvc: '' | typeof SVC | typeof POD;
}

/** Thrown-free result: null means the name cannot exist (NXDOMAIN). */
export function parseRequest(name: string, zone: string): RecordRequest | null {
  const r: RecordRequest = { port: '', protocol: '', endpoint: '', service: '', namespace: '', podOrSvc: '' };
  const base = trimZone(name, zone);
  if (base === '' || base === SVC || base === POD) return r;
  const segs = base.split('.');
  let last = segs.length - 1;
  const kind = segs[last];
  if (kind !== SVC && kind !== POD) return null;
  r.podOrSvc = kind;
  if (--last < 0) return r;
  r.namespace = segs[last];
  if (--last < 0) return r;
  r.service = segs[last];
  if (--last < 0) return r;
  switch (last) {
    case 0: r.endpoint = segs[0]; break;
    case 1: r.port = stripUnderscore(segs[0]); r.protocol = stripUnderscore(segs[1]); break;
    default: return null; // too long to be anything
  }
  return r;
}

/** The labels of name left of zone ('' when name is the zone). Both lower-case, no trailing dot. */
export function trimZone(name: string, zone: string): string {
  if (name === zone) return '';
  return name.slice(0, name.length - zone.length - 1);
}

/** True when name is zone or below it. */
export function inZone(name: string, zone: string): boolean {
  if (zone === '') return true;
  return name === zone || (name.length > zone.length && name.endsWith(zone) && name.charCodeAt(name.length - zone.length - 1) === 46);
}

function stripUnderscore(s: string): string {
  return s.startsWith('_') ? s.slice(1) : s;
}
