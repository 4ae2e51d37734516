/**
 * @module proxy/testing/fixtures
 * Builders for the fake Services and EndpointSlices the proxy tests feed in (kube-proxy's
 * makeTestService / makeTestEndpointSlice with mutators), plus a fake informer source.
 */
import type { EndpointSlice, Service } from '../../api/types.js';
import type { Source } from '../config.js';
import { EndpointsChangeTracker } from '../endpoints-tracker.js';
import { ServicePortMap } from '../service-port-map.js';
import { ServiceChangeTracker } from '../service-tracker.js';
import type { ServicePort } from '../types.js';

export function makeService(ns: string, name: string, mutate: (s: Service) => void = () => {}): Service {
  const s: Service = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { namespace: ns, name, resourceVersion: '1' },
    spec: { type: 'ClusterIP', clusterIP: '10.96.0.10', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  };
  mutate(s);
  return s;
}

export interface EP { ip: string; node?: string; ready?: boolean; serving?: boolean; terminating?: boolean }

export function makeSlice(ns: string, svc: string, eps: EP[], ports: { name?: string; port: number; protocol?: string }[] = [{ name: 'http', port: 8080 }], sliceName = `${svc}-abc`): EndpointSlice {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', addressType: 'IPv4',
    metadata: { namespace: ns, name: sliceName, labels: { 'kubernetes.io/service-name': svc }, resourceVersion: '1' },
    ports: ports.map((p) => ({ name: p.name, port: p.port, protocol: (p.protocol ?? 'TCP') })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip], nodeName: e.node,
      conditions: { ready: e.ready ?? true, serving: e.serving ?? e.ready ?? true, terminating: e.terminating ?? false },
    })),
  };
}

/** Fold objects into service ports the way the proxy does. */
export class Desired {
  readonly svc = new ServiceChangeTracker();
  readonly ep = new EndpointsChangeTracker();
  readonly map = new ServicePortMap();
  constructor(services: Service[] = [], slices: EndpointSlice[] = []) {
    for (const s of services) this.svc.onService(s);
    for (const s of slices) this.ep.onSlice(s);
  }
  update() { return this.map.update(this.svc, this.ep); }
  ports(): ServicePort[] { return this.map.list(); }
}

/** An informer stand-in: push objects; handlers fire as an informer's would. */
export class FakeSource<T extends { metadata?: { namespace?: string; name?: string } }> implements Source<T> {
  private readonly handlers: { add?(o: T): void; update?(a: T, b: T): void; delete?(o: T): void }[] = [];
  private readonly objs = new Map<string, T>();
  private synced = false;
  addHandlers(h: { add?(o: T): void; update?(a: T, b: T): void; delete?(o: T): void }): void { this.handlers.push(h); }
  /** Like an informer's initial list: objects set before start() reach the handlers as adds. */
  async start(): Promise<void> {
    this.synced = true;
    for (const o of this.objs.values()) for (const h of this.handlers) h.add?.(o);
  }
  hasSynced(): boolean { return this.synced; }
  stop(): void {}
  private key(o: T): string { return `${o.metadata?.namespace}/${o.metadata?.name}`; }
  set(o: T): void {
    const prev = this.objs.get(this.key(o));
    this.objs.set(this.key(o), o);
    if (!this.synced) return;
    for (const h of this.handlers) { if (prev) h.update?.(prev, o); else h.add?.(o); }
  }
  remove(o: T): void {
    if (!this.objs.delete(this.key(o)) || !this.synced) return;
    for (const h of this.handlers) h.delete?.(o);
  }
}
