/**
 * @module store/memory
 * In-memory Store for unit tests: a sorted key map plus an event history for watch replay.
 */
import { StoreError, type ListOptions, type ListResult, type Store, type StoreEntry, type StoreEvent, type Watcher } from './types.js';
import { WatchHub } from './watchers.js';

/** Keep this many events for watchers that start from an old revision. */
const HISTORY = 20_000;

export function tooOld(rev: number, compacted: number): StoreError {
  return new StoreError('Gone', `too old resource version: ${rev} (${compacted})`, undefined, compacted);
}

export class MemoryStore implements Store {
  readonly name = 'memory';
  private readonly data = new Map<string, StoreEntry>();
  private sortedKeys: string[] | null = [];
  private rev = 0;
  private compacted = 0;
  private history: StoreEvent[] = [];
  private readonly hub = new WatchHub();

  async get(key: string): Promise<StoreEntry | null> {
    return this.data.get(key) ?? null;
  }

  private keys(): string[] {
    if (!this.sortedKeys) this.sortedKeys = [...this.data.keys()].sort();
    return this.sortedKeys;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    if (opts.revision && opts.revision < this.compacted) throw tooOld(opts.revision, this.compacted);
    const keys = this.keys();
    let i = lowerBound(keys, opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter + '\0' : prefix);
    const entries: StoreEntry[] = [];
    const limit = opts.limit && opts.limit > 0 ? opts.limit : Infinity;
    for (; i < keys.length && keys[i]!.startsWith(prefix); i++) {
      if (entries.length >= limit) break;
      entries.push(this.data.get(keys[i]!)!);
    }
    let remaining = 0;
    for (let j = i; j < keys.length && keys[j]!.startsWith(prefix); j++) remaining++;
    return { entries, revision: this.rev, more: remaining > 0, remaining };
  }

  async count(prefix: string): Promise<number> {
    let n = 0;
    for (const k of this.data.keys()) if (k.startsWith(prefix)) n++;
    return n;
  }

  private commit(ev: Omit<StoreEvent, 'revision'>): number {
    const revision = ++this.rev;
    const full = { ...ev, revision };
    this.history.push(full);
    if (this.history.length > HISTORY) {
      const drop = this.history.length - HISTORY;
      this.compacted = this.history[drop - 1]!.revision;
      this.history = this.history.slice(drop);
    }
    this.hub.publish(full);
    return revision;
  }

  async create(key: string, value: string): Promise<number> {
    if (this.data.has(key)) throw new StoreError('AlreadyExists', `key ${key} already exists`, key);
    const revision = this.rev + 1;
    this.data.set(key, { key, value, modRevision: revision, createRevision: revision });
    this.sortedKeys = null;
    return this.commit({ type: 'put', key, value, created: true });
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
    if (cur.modRevision !== expectedRevision) throw new StoreError('Conflict', `key ${key} is at revision ${cur.modRevision}, not ${expectedRevision}`, key, cur.modRevision);
    const revision = this.rev + 1;
    this.data.set(key, { key, value, modRevision: revision, createRevision: cur.createRevision });
    return this.commit({ type: 'put', key, value, prevValue: cur.value, created: false });
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
    if (expectedRevision !== undefined && cur.modRevision !== expectedRevision) throw new StoreError('Conflict', `key ${key} is at revision ${cur.modRevision}, not ${expectedRevision}`, key, cur.modRevision);
    this.data.delete(key);
    this.sortedKeys = null;
    const revision = this.commit({ type: 'delete', key, value: cur.value, prevValue: cur.value, created: false });
    return { revision, prev: cur };
  }

  async watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void): Promise<Watcher> {
    if (afterRevision && afterRevision < this.compacted) throw tooOld(afterRevision, this.compacted);
    return this.hub.subscribe(prefix, afterRevision, () => this.history.filter((e) => e.revision > afterRevision && e.key.startsWith(prefix)), onEvent);
  }

  async currentRevision(): Promise<number> { return this.rev; }

  async compact(revision: number): Promise<void> {
    if (revision <= this.compacted) return;
    this.compacted = Math.min(revision, this.rev);
    this.history = this.history.filter((e) => e.revision > this.compacted);
  }

  async compactedRevision(): Promise<number> { return this.compacted; }

  async close(): Promise<void> { /* nothing to release */ }
}

export function lowerBound(keys: string[], k: string): number {
  let lo = 0;
  let hi = keys.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (keys[mid]! < k) lo = mid + 1; else hi = mid;
  }
  return lo;
}
