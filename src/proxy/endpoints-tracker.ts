/**
 * @module proxy/endpoints-tracker
 * EndpointSlice events → the set of Services whose endpoints changed since the last sync, plus
 * when each change was triggered (annotation endpoints.kubernetes.io/last-change-trigger-time,
 * else the time the proxy saw it) for the network-programming-latency metric. No-op updates
 * (same addresses, ports and conditions) mark nothing.
 */
import type { EndpointSlice } from '../api/types.js';
import { EndpointSliceCache } from './endpointslice-cache.js';

export const TRIGGER_TIME_ANNOTATION = 'endpoints.kubernetes.io/last-change-trigger-time';

export class EndpointsChangeTracker {
  readonly cache = new EndpointSliceCache();
  private dirty = new Set<string>();
  private triggers: number[] = [];

  constructor(private readonly now: () => number = Date.now) {}

  /** An added or updated slice (removed = deleted). Returns true when a sync is needed. */
  onSlice(s: EndpointSlice, removed = false): boolean {
    const key = removed ? this.cache.delete(s) : this.cache.update(s);
    if (!key) return false;
    this.dirty.add(key);
    const t = Date.parse(s.metadata?.annotations?.[TRIGGER_TIME_ANNOTATION] ?? '');
    this.triggers.push(Number.isFinite(t) ? t : this.now());
    return true;
  }

  /** Services changed since the last call, and the trigger times of those changes. */
  drain(): { services: Set<string>; triggerTimes: number[] } {
    const out = { services: this.dirty, triggerTimes: this.triggers };
    this.dirty = new Set();
    this.triggers = [];
    return out;
  }
}
