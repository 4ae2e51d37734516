/**
 * @module controllers/shared/slicetracker
 * endpointSliceTracker: remembers the resourceVersion of every slice this loop wrote, so a
 * sync that runs before the informer has seen its own writes waits instead of acting on a
 * stale cache (which would create duplicate slices, since their names are generated).
 */
import type { EndpointSlice } from '../../api/types.js';

const rvNum = (rv: string | undefined) => Number(rv ?? 0) || 0;

export class SliceTracker {
  /** service key → slice name → resourceVersion we wrote (undefined = we deleted it). */
  private readonly m = new Map<string, Map<string, string | undefined>>();

  wrote(svcKey: string, slice: EndpointSlice): void {
    this.entry(svcKey).set(slice.metadata!.name!, slice.metadata?.resourceVersion);
  }

  deleted(svcKey: string, name: string): void {
    this.entry(svcKey).set(name, undefined);
  }

  /** An informer event for a slice: clear what it confirms. */
  observed(svcKey: string, slice: EndpointSlice, deleted: boolean): void {
    const e = this.m.get(svcKey);
    if (!e || !e.has(slice.metadata!.name!)) return;
    const want = e.get(slice.metadata!.name!);
    if (want === undefined ? deleted : (deleted || rvNum(slice.metadata?.resourceVersion) >= rvNum(want))) e.delete(slice.metadata!.name!);
    if (!e.size) this.m.delete(svcKey);
  }

  stale(svcKey: string): boolean {
    return !!this.m.get(svcKey)?.size;
  }

  forget(svcKey: string): void {
    this.m.delete(svcKey);
  }

  private entry(k: string): Map<string, string | undefined> {
    let e = this.m.get(k);
    if (!e) this.m.set(k, (e = new Map()));
    return e;
  }
}
