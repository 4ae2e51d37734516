/**
 * @module store/memory
 * In-memory Store for unit tests: a key map (sorted lazily for lists) plus an event history
 * for watch replay and reads at an old revision. Same semantics as the SQLite and etcd stores.
 */
import { StoreError, type ListOptions, type ListResult, type Store, type StoreEntry, type StoreEvent, type Watcher } from './types.js';
import { WatchHub } from './watchers.js';
import { pageAt, rewindFrom, tooOld, type LoggedEvent } from './history.js';

export { tooOld } from './history.js';

/** Keep this many events for watchers and lists that start from an old revision. */
const HISTORY = 20_000;

export class MemoryStore implements Store {
  readonly name = 'memory';
  private readonly data = new Map<string, StoreEntry>();
  private sortedKeys: string[] | null = [];
  private rev = 0;
  private compacted = 0;
  private history: LoggedEvent[] = [];
  private readonly hub = new WatchHub();

  constructor(private readonly opts: { history?: number } = {}) {}

  async get(key: string): Promise<StoreEntry | null> {
    return this.data.get(key) ?? null;
  }

  private keys(): string[] {
    if (!this.sortedKeys) this.sortedKeys = [...this.data.keys()].sort();
    return this.sortedKeys;
  }

  /** Current entries under prefix with key > after, at most n. */
  private current(prefix: string, after: string | undefined, n: number): StoreEntry[] {
    const keys = this.keys();
    const out: StoreEntry[] = [];
    for (let i = lowerBound(keys, after !== undefined && after >= prefix ? after + '\0' : prefix); i < keys.length && keys[i]!.startsWith(prefix) && out.length < n; i++) {
      out.push(this.data.get(keys[i]!)!);
    }
    return out;
  }

  private countAfter(prefix: string, after: string): number {
    const keys = this.keys();
    let n = 0;
    for (let i = lowerBound(keys, after >= prefix ? after + '\0' : prefix); i < keys.length && keys[i]!.startsWith(prefix); i++) n++;
    return n;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    if (opts.revision && opts.revision < this.compacted) throw tooOld(opts.revision, this.compacted);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const at = opts.revision && opts.revision < this.rev ? opts.revision : this.rev;
    const after = opts.startAfter;
    const changes = at === this.rev ? [] : this.history.slice(firstAfter(this.history, at))
      .filter((e) => e.key.startsWith(prefix) && (after === undefined || e.key > after));
    const rw = rewindFrom(changes, (k) => this.data.has(k));
    const page = pageAt(rw, after, limit, (a, n) => this.current(prefix, a, n), (k) => this.countAfter(prefix, k));
    return { ...page, revision: at };
  }

  async count(prefix: string): Promise<number> {
    if (prefix === '') return this.data.size;
    return this.countAfter(prefix, '');
  }

  private commit(ev: Omit<LoggedEvent, 'revision'>): number {
    const revision = ++this.rev;
    const full: LoggedEvent = { ...ev, revision };
    this.history.push(full);
    const max = this.opts.history ?? HISTORY;
    if (this.history.length > max * 1.25) {
      // Trim in batches so a write costs O(1) amortised.
      const drop = this.history.length - max;
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
    return this.commit({ type: 'put', key, value, created: true, prevRevision: 0, createRevision: revision });
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
    if (cur.modRevision !== expectedRevision) throw conflict(key, cur.modRevision, expectedRevision);
    const revision = this.rev + 1;
    this.data.set(key, { key, value, modRevision: revision, createRevision: cur.createRevision });
    return this.commit({ type: 'put', key, value, prevValue: cur.value, created: false, prevRevision: cur.modRevision, createRevision: cur.createRevision });
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }> {
    const cur = this.data.get(key);
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
    if (expectedRevision !== undefined && cur.modRevision !== expectedRevision) throw conflict(key, cur.modRevision, expectedRevision);
    this.data.delete(key);
    this.sortedKeys = null;
    const revision = this.commit({ type: 'delete', key, value: cur.value, prevValue: cur.value, created: false, prevRevision: cur.modRevision, createRevision: cur.createRevision });
    return { revision, prev: cur };
  }

  async watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void): Promise<Watcher> {
    if (afterRevision && afterRevision < this.compacted) throw tooOld(afterRevision, this.compacted);
    return this.hub.subscribe(prefix, afterRevision,
      () => this.history.slice(firstAfter(this.history, afterRevision)).filter((e) => e.key.startsWith(prefix)), onEvent);
  }

  async currentRevision(): Promise<number> { return this.rev; }

  async compact(revision: number): Promise<void> {
    if (revision <= this.compacted) return;
    this.compacted = Math.min(revision, this.rev);
    this.history = this.history.slice(firstAfter(this.history, this.compacted));
  }

  async compactedRevision(): Promise<number> { return this.compacted; }

  async close(): Promise<void> { this.hub.clear(); }
}

export function conflict(key: string, have: number, want: number): StoreError {
  return new StoreError('Conflict', `key ${key} is at revision ${have}, not ${want}`, key, have);
}

/** Index of the first event with revision > rev (history is in revision order). */
function firstAfter(h: StoreEvent[], rev: number): number {
  let lo = 0;
  let hi = h.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (h[mid]!.revision <= rev) lo = mid + 1; else hi = mid;
  }
  return lo;
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
