/**
 * @module proxy/service-tracker
 * Service events → the current Services and which changed since the last sync, as kube-proxy's
 * servicechangetracker.go. Updates that change nothing the proxy programs (status conditions,
 * managedFields, labels…) are dropped here so they cost no sync.
 */
import type { Service } from '../api/types.js';

export const SCHEDULER_ANNOTATION = 'svcplane.io/scheduler';
export const WEIGHTS_ANNOTATION = 'svcplane.io/weights';

function serviceFingerprint(s: Service): string {
  return JSON.stringify([s.spec ?? {}, s.status?.loadBalancer?.ingress ?? [], s.metadata?.annotations?.[SCHEDULER_ANNOTATION] ?? '', s.metadata?.annotations?.[WEIGHTS_ANNOTATION] ?? '']);
}

export class ServiceChangeTracker {
  private readonly services = new Map<string, [Service, string]>();
  private dirty = new Set<string>();

  /** An added / updated Service, or a deleted one (removed). Returns true when a sync is needed. */
  onService(s: Service, removed = false): boolean {
    const key = `${s.metadata?.namespace}/${s.metadata?.name}`;
    if (removed) {
      if (!this.services.delete(key)) return false;
    } else {
      const fp = serviceFingerprint(s);
      if (this.services.get(key)?.[1] === fp) return false;
      this.services.set(key, [s, fp]);
    }
    this.dirty.add(key);
    return true;
  }

  get(key: string): Service | undefined {
    return this.services.get(key)?.[0];
  }

  keys(): IterableIterator<string> {
    return this.services.keys();
  }

  drain(): Set<string> {
    const d = this.dirty;
    this.dirty = new Set();
    return d;
  }
}
