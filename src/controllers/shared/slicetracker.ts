/**
 * @module controllers/shared/slicetracker
 * endpointSliceTracker: remembers the resourceVersion of every slice this loop wrote, so a
 * sync that runs before the informer has seen its own writes waits instead of acting on a
 * stale cache (which would create duplicate slices, since their names are generated).
 * The watch event may arrive before the write's response, so a write the informer already
 * reflects is not recorded; entries also expire, so a lost event cannot wedge a Service.
 */
import type { EndpointSlice } from '../../api/types.js';

const rvNum = (rv: string | undefined) => Number(rv ?? 0) || 0;
/** Beyond this, trust the cache anyway (the informer re-lists on trouble). */
const EXPIRE_MS = 5000;

interface Entry { rv?: string; at: number }

export class SliceTracker {
  /** service key → slice name → resourceVersion we wrote (undefined = we deleted it). */
  private readonly m = new Map<string, Map<string, Entry>>();

  /** @param cached the informer's current copy of the slice, if any */
  wrote(svcKey: string, slice: EndpointSlice, cached: EndpointSlice | undefined): void {
    if (cached && rvNum(cached.metadata?.resourceVersion) >= rvNum(slice.metadata?.resourceVersion)) return;
    this.entry(svcKey).set(slice.metadata!.name!, { rv: slice.metadata?.resourceVersion, at: Date.now() });
  }

  deleted(svcKey: string, name: string, cached: EndpointSlice | undefined): void {
    if (!cached) return;
    this.entry(svcKey).set(name, { at: Date.now() });
  }

  /** An informer event for a slice: clear what it confirms. */
  observed(svcKey: string, slice: EndpointSlice, deleted: boolean): void {
    const e = this.m.get(svcKey);
    const want = e?.get(slice.metadata!.name!);
    if (!e || !want) return;
    if (want.rv === undefined ? deleted : (deleted || rvNum(slice.metadata?.resourceVersion) >= rvNum(want.rv))) e.delete(slice.metadata!.name!);
    if (!e.size) this.m.delete(svcKey);
  }

  stale(svcKey: string): boolean {
    const e = this.m.get(svcKey);
    if (!e) return false;
    const now = Date.now();
    for (const [k, v] of e) if (now - v.at > EXPIRE_MS) e.delete(k);
    if (!e.size) { this.m.delete(svcKey); return false; }
    return true;
  }

  forget(svcKey: string): void {
    this.m.delete(svcKey);
  }

  private entry(k: string): Map<string, Entry> {
    let e = this.m.get(k);
    if (!e) this.m.set(k, (e = new Map()));
    return e;
  }
}
