/**
 * @module proxy/endpointslice-cache
 * EndpointSlices grouped by the Service they belong to (label kubernetes.io/service-name), as
 * kube-proxy's endpointslicecache.go: a Service's endpoints are the union of its slices, each
 * address once per port, with the conditions (ready / serving / terminating) and nodeName.
 */
import type { EndpointSlice } from '../api/types.js';
import type { Protocol, ProxyEndpoint } from './types.js';

export const SERVICE_NAME_LABEL = 'kubernetes.io/service-name';

/** "namespace/service" of a slice, or undefined when it belongs to no Service / is not IPv4. */
export function sliceServiceKey(s: EndpointSlice): string | undefined {
  const svc = s.metadata?.labels?.[SERVICE_NAME_LABEL];
  if (!svc || s.addressType !== 'IPv4') return undefined;
  return `${s.metadata?.namespace}/${svc}`;
}

/** The part of a slice the proxy uses, as a string, to drop no-op updates. */
function sliceFingerprint(s: EndpointSlice): string {
  return JSON.stringify([s.ports ?? [], (s.endpoints ?? []).map((e) => [e.addresses, e.conditions ?? {}, e.nodeName ?? ''])]);
}

export class EndpointSliceCache {
  /** "ns/svc" → slice name → [slice, fingerprint] */
  private readonly bySvc = new Map<string, Map<string, [EndpointSlice, string]>>();

  /** Record a slice; returns its service key when the proxy-relevant content changed. */
  update(s: EndpointSlice): string | undefined {
    const key = sliceServiceKey(s);
    if (!key) return undefined;
    let m = this.bySvc.get(key);
    if (!m) this.bySvc.set(key, (m = new Map()));
    const fp = sliceFingerprint(s);
    const name = s.metadata?.name ?? '';
    if (m.get(name)?.[1] === fp) return undefined;
    m.set(name, [s, fp]);
    return key;
  }

  delete(s: EndpointSlice): string | undefined {
    const key = sliceServiceKey(s);
    if (!key) return undefined;
    const m = this.bySvc.get(key);
    if (!m?.delete(s.metadata?.name ?? '')) return undefined;
    if (!m.size) this.bySvc.delete(key);
    return key;
  }

  /** Endpoints of one service port (matched by port name and protocol), sorted by address. */
  endpoints(svcKey: string, portName: string, protocol: Protocol): ProxyEndpoint[] {
    const out: ProxyEndpoint[] = [];
    const seen = new Set<string>();
    for (const [sl] of this.bySvc.get(svcKey)?.values() ?? []) {
      const sp = (sl.ports ?? []).find((x) => (x.name ?? '') === portName && (x.protocol ?? 'TCP').toLowerCase() === protocol);
      if (!sp?.port) continue;
      for (const ep of sl.endpoints ?? []) {
        const ip = ep.addresses?.[0];
        if (!ip || seen.has(`${ip}:${sp.port}`)) continue;
        seen.add(`${ip}:${sp.port}`);
        const c = ep.conditions ?? {};
        // Unset conditions mean "true" for ready/serving (API contract), "false" for terminating.
        const ready = c.ready !== false;
        out.push({ ip, port: sp.port, nodeName: ep.nodeName ?? undefined, ready, serving: (c.serving ?? ready) !== false, terminating: c.terminating === true });
      }
    }
    return out.sort((a, b) => (a.ip === b.ip ? a.port - b.port : a.ip < b.ip ? -1 : 1));
  }
}
