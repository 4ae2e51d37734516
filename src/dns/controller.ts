/**
 * @module dns/controller
 * Watching is separate from answering (CoreDNS plugin/kubernetes/controller.go). `DnsController` is
 * what the record builders read: Services and EndpointSlices by name and by IP, namespaces, the SOA
 * serial and whether the caches have synced. `DnsIndex` implements it in memory and is fed either by
 * `KubeDnsController` (list+watch on any Kubernetes API server) or directly by tests.
 */
import type { MetaObject } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import { Reflector } from './reflector.js';
import {
  type DnsEndpoints, type DnsService, isHeadless, sameEndpoints, sameService, toDnsEndpoints, toDnsService,
} from './objects.js';

/** What changed, so answer caches can drop just the affected names. */
export interface Change {
  /** "ns/name" of Services whose names may answer differently now. */
  services: string[];
  /** Answers by IP (PTR) may differ. */
  reverse: boolean;
  /** A namespace appeared or went away: anything may differ. */
  all: boolean;
}

export interface DnsController {
  hasSynced(): boolean;
  service(namespace: string, name: string): DnsService | undefined;
  /** Every EndpointSlice of a Service. */
  endpoints(namespace: string, service: string): DnsEndpoints[];
  namespaceExists(namespace: string): boolean;
  /** Services whose ClusterIPs include ip. */
  servicesByIP(ip: string): DnsService[];
  /** EndpointSlices with a ready address ip. */
  endpointsByIP(ip: string): DnsEndpoints[];
  /** Unix seconds of the last change DNS can see: the SOA serial. */
  modified(): number;
  onChange(fn: (c: Change) => void): void;
}

/** "ns/name", built by join so V8 stores one flat string rather than a tree of concatenations. */
const key = (ns: string, name: string): string => [ns, name].join('/');

/**
 * A multi-map holding one string or an array of them per key: almost every IP and Service has
 * exactly one entry, and a Set per key costs ~250 bytes (10 MB at 10k Services).
 */
type MultiMap = Map<string, string | string[]>;

function addTo(m: MultiMap, k: string, v: string): void {
  const cur = m.get(k);
  if (cur === undefined) m.set(k, v);
  else if (typeof cur === 'string') { if (cur !== v) m.set(k, [cur, v]); } else if (!cur.includes(v)) cur.push(v);
}
function removeFrom(m: MultiMap, k: string, v: string): void {
  const cur = m.get(k);
  if (cur === undefined) return;
  if (typeof cur === 'string') { if (cur === v) m.delete(k); return; }
  const rest = cur.filter((x) => x !== v);
  if (!rest.length) m.delete(k); else m.set(k, rest.length === 1 ? rest[0] : rest);
}
function valuesOf(m: MultiMap, k: string): readonly string[] {
  const cur = m.get(k);
  return cur === undefined ? [] : typeof cur === 'string' ? [cur] : cur;
}

/** The in-memory indexes DNS answers from. */
export class DnsIndex implements DnsController {
  private readonly services = new Map<string, DnsService>();
  /** slice "ns/name" → projection */
  private readonly slices = new Map<string, DnsEndpoints>();
  /** service "ns/name" → slice keys */
  private readonly slicesBySvc: MultiMap = new Map();
  private readonly svcByIP: MultiMap = new Map();
  private readonly slicesByIP: MultiMap = new Map();
  private readonly namespaces = new Set<string>();
  private readonly listeners: ((c: Change) => void)[] = [];
  private synced = false;
  private lastModified: number;

  /** podNames: keep endpoints' pod names (only `--endpoint-pod-names` answers with them). */
  constructor(private readonly now: () => number = () => Math.floor(Date.now() / 1000), private readonly podNames = true) {
    this.lastModified = now();
  }

  hasSynced(): boolean { return this.synced; }
  markSynced(v = true): void { this.synced = v; }
  modified(): number { return this.lastModified; }
  onChange(fn: (c: Change) => void): void { this.listeners.push(fn); }

  service(namespace: string, name: string): DnsService | undefined {
    return this.services.get(key(namespace, name));
  }

  endpoints(namespace: string, service: string): DnsEndpoints[] {
    const out: DnsEndpoints[] = [];
    for (const k of valuesOf(this.slicesBySvc, key(namespace, service))) { const e = this.slices.get(k); if (e) out.push(e); }
    return out;
  }

  namespaceExists(namespace: string): boolean { return this.namespaces.has(namespace); }

  servicesByIP(ip: string): DnsService[] {
    const out: DnsService[] = [];
    for (const k of valuesOf(this.svcByIP, ip)) { const s = this.services.get(k); if (s) out.push(s); }
    return out;
  }

  endpointsByIP(ip: string): DnsEndpoints[] {
    const out: DnsEndpoints[] = [];
    for (const k of valuesOf(this.slicesByIP, ip)) { const e = this.slices.get(k); if (e) out.push(e); }
    return out;
  }

  get serviceCount(): number { return this.services.size; }
  /** Keys ("ns/name") of every Service, EndpointSlice; names of every namespace (for a re-list). */
  serviceKeys(): Iterable<string> { return this.services.keys(); }
  sliceKeys(): Iterable<string> { return this.slices.keys(); }
  namespaceNames(): Iterable<string> { return this.namespaces; }

  private changed(c: Change): void {
    this.lastModified = this.now();
    for (const l of this.listeners) l(c);
  }

  /** Add or replace a Service (an API object or a projection). Returns false when DNS sees no difference. */
  upsertService(o: MetaObject | DnsService): boolean {
    const s = 'clusterIPs' in o ? o as DnsService : toDnsService(o as MetaObject);
    const k = key(s.namespace, s.name);
    const old = this.services.get(k);
    if (old && sameService(old, s)) return false;
    if (old) for (const ip of old.clusterIPs) removeFrom(this.svcByIP, ip, k);
    this.services.set(k, s);
    if (!isHeadless(s)) for (const ip of s.clusterIPs) if (ip) addTo(this.svcByIP, ip, k);
    this.changed({ services: [k], reverse: true, all: false });
    return true;
  }

  deleteService(namespace: string, name: string): void {
    const k = key(namespace, name);
    const old = this.services.get(k);
    if (!old) return;
    for (const ip of old.clusterIPs) removeFrom(this.svcByIP, ip, k);
    this.services.delete(k);
    this.changed({ services: [k], reverse: true, all: false });
  }

  upsertEndpointSlice(o: MetaObject | DnsEndpoints): boolean {
    const e = 'addresses' in o ? o as DnsEndpoints : toDnsEndpoints(o as MetaObject, this.podNames);
    const k = key(e.namespace, e.name);
    const old = this.slices.get(k);
    if (old && sameEndpoints(old, e)) return false;
    if (old) this.unindexSlice(k, old);
    this.slices.set(k, e);
    if (e.service) addTo(this.slicesBySvc, key(e.namespace, e.service), k);
    for (const a of e.addresses) addTo(this.slicesByIP, a.ip, k);
    const svcs = [key(e.namespace, e.service)];
    if (old && old.service !== e.service) svcs.push(key(old.namespace, old.service));
    this.changed({ services: svcs, reverse: true, all: false });
    return true;
  }

  deleteEndpointSlice(namespace: string, name: string): void {
    const k = key(namespace, name);
    const old = this.slices.get(k);
    if (!old) return;
    this.unindexSlice(k, old);
    this.slices.delete(k);
    this.changed({ services: [key(old.namespace, old.service)], reverse: true, all: false });
  }

  private unindexSlice(k: string, old: DnsEndpoints): void {
    if (old.service) removeFrom(this.slicesBySvc, key(old.namespace, old.service), k);
    for (const a of old.addresses) removeFrom(this.slicesByIP, a.ip, k);
  }

  addNamespace(name: string): void {
    if (this.namespaces.has(name)) return;
    this.namespaces.add(name);
    this.changed({ services: [], reverse: false, all: true });
  }

  deleteNamespace(name: string): void {
    if (!this.namespaces.delete(name)) return;
    this.changed({ services: [], reverse: false, all: true });
  }
}

export interface KubeDnsControllerOptions {
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

/**
 * Services, EndpointSlices (discovery.k8s.io/v1) and Namespaces listed and watched into a DnsIndex.
 * Pods are not watched: pod records are answered in "pods insecure" mode, from the name alone.
 * Reflectors (reflector.ts), not Informers: DNS keeps its own projections, so caching the objects
 * again would only cost memory.
 */
export class KubeDnsController {
  readonly index: DnsIndex;
  private readonly reflectors: Reflector[] = [];

  constructor(private readonly client: Client, index?: DnsIndex, private readonly opts: KubeDnsControllerOptions = {}) {
    this.index = index ?? new DnsIndex();
  }

  async start(): Promise<void> {
    const idx = this.index;
    const log = this.opts.log;
    this.reflectors.push(
      new Reflector(this.client, res('services'), {
        upsert: (o) => idx.upsertService(o),
        remove: (ns, name) => idx.deleteService(ns, name),
        keys: () => idx.serviceKeys(),
      }, log),
      new Reflector(this.client, res('endpointslices'), {
        upsert: (o) => idx.upsertEndpointSlice(o),
        remove: (ns, name) => idx.deleteEndpointSlice(ns, name),
        keys: () => idx.sliceKeys(),
      }, log),
      new Reflector(this.client, res('namespaces'), {
        upsert: (o) => idx.addNamespace(o.metadata?.name ?? ''),
        remove: (_ns, name) => idx.deleteNamespace(name),
        keys: () => idx.namespaceNames(),
      }, log),
    );
    await Promise.all(this.reflectors.map((r) => r.start()));
    idx.markSynced();
    log?.('caches synced', { services: idx.serviceCount });
  }

  stop(): void {
    for (const r of this.reflectors) r.stop();
  }
}
