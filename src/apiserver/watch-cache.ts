/**
 * @module apiserver/watch-cache
 * One store watch per resource, fanned out in process to every HTTP watch of that resource, as
 * kube-apiserver's watch cache (cacher) does: 100 watchers mean one store subscription, each
 * event's object parsed at most once and its JSON built at most once (shared by every watcher
 * that sends it unchanged). A window of recent events lets clients resume from a recent
 * resourceVersion without touching the store; older resumes go to the store's own history
 * (which answers 410 Gone once it is compacted).
 *
 * With a store that delivers events synchronously at commit (SQLite, memory), the cache also
 * keeps each object's JSON for GET by name: every write's event replaces or drops the entry
 * before the write is acknowledged, so a GET served from it is as fresh as a store read.
 */
import type { ResourceInfo } from '../api/registry.js';
import { storageKey } from '../api/registry.js';
import type { KubeObject } from '../api/types.js';
import type { Store, StoreEvent, Watcher } from '../store/types.js';
import { decodeObject, namespaceOfKey, objectJSON } from './codec.js';

/** Recent events kept per resource for resuming watches. */
const WINDOW = 2048;
/** Stores whose watch events are delivered in the committing call, before the write returns. */
const SYNC_EVENT_STORES = new Set(['sqlite', 'memory']);

/** A stored object as GET answers it: the store's value and revision, its JSON bytes built once. */
interface CachedObject { value: string; rev: number; json?: Buffer }

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

/** A store event, decoded lazily: JSON-only watchers never parse it. */
export class CachedEvent {
  readonly namespace: string | undefined;
  private curObj?: KubeObject;
  private prevObj?: KubeObject;
  private curJson?: string;
  private prevJson?: string;

  constructor(readonly info: ResourceInfo, prefix: string, readonly ev: StoreEvent) {
    this.namespace = namespaceOfKey(info, prefix, ev.key);
  }

  get rev(): number { return this.ev.revision; }

  /** The object after the event (for a delete: its last state, at the delete's revision). */
  obj(which: 'cur' | 'prev'): KubeObject {
    if (which === 'cur' && this.ev.type === 'put') return (this.curObj ??= decodeObject(this.info, this.ev.value, this.ev.revision));
    return (this.prevObj ??= decodeObject(this.info, this.ev.prevValue ?? this.ev.value, this.ev.revision));
  }

  private lines?: Map<string, Buffer>;

  /** The watch line `{"type":…,"object":…}\n` for plain JSON watchers, encoded once. */
  line(type: WatchEventType, which: 'cur' | 'prev'): Buffer {
    const k = type + which;
    let b = this.lines?.get(k);
    if (!b) {
      b = Buffer.from(`{"type":"${type}","object":${this.json(which)}}\n`);
      (this.lines ??= new Map()).set(k, b);
    }
    return b;
  }

  json(which: 'cur' | 'prev'): string {
    if (which === 'cur' && this.ev.type === 'put') return (this.curJson ??= objectJSON(this.info, this.ev.value, this.ev.revision));
    return (this.prevJson ??= objectJSON(this.info, this.ev.prevValue ?? this.ev.value, this.ev.revision));
  }
}

/** Decides what one watcher sees of an event; undefined = nothing. */
export type Filter = (ev: CachedEvent) => { type: WatchEventType; which: 'cur' | 'prev' } | undefined;

export interface Subscription {
  stop(): void;
}

interface Sub {
  namespace?: string;
  filter: Filter;
  fromRev: number;
  deliver: (type: WatchEventType, ev: CachedEvent, which: 'cur' | 'prev') => void;
  onClose: (reason: string) => void;
}

/**
 * The plain filter: ADDED on create, MODIFIED on update, DELETED on delete; with a selector,
 * objects entering the selection are ADDED and leaving it DELETED (as kube-apiserver).
 */
export function selectorFilter(matches: ((o: KubeObject) => boolean) | undefined): Filter {
  if (!matches) {
    return (ev) => ev.ev.type === 'delete' ? { type: 'DELETED', which: 'prev' } : { type: ev.ev.created ? 'ADDED' : 'MODIFIED', which: 'cur' };
  }
  return (ev) => {
    if (ev.ev.type === 'delete') return matches(ev.obj('prev')) ? { type: 'DELETED', which: 'prev' } : undefined;
    const now = matches(ev.obj('cur'));
    if (ev.ev.created) return now ? { type: 'ADDED', which: 'cur' } : undefined;
    const before = ev.ev.prevValue !== undefined && matches(ev.obj('prev'));
    if (now) return { type: before ? 'MODIFIED' : 'ADDED', which: 'cur' };
    return before ? { type: 'DELETED', which: 'cur' } : undefined;
  };
}

export class WatchCache {
  readonly prefix: string;
  private readonly window: CachedEvent[] = [];
  /** Every event with a revision above lowWater is in the window. */
  private lowWater = 0;
  /** The last revision seen from the store. */
  lastRev = 0;
  private readonly subs = new Set<Sub>();
  private storeWatch?: Watcher;
  private starting?: Promise<void>;
  /** Objects by storage key, while the store watch is live (sync-event stores only). */
  private objects?: Map<string, CachedObject>;

  constructor(private readonly store: Store, readonly info: ResourceInfo) {
    this.prefix = storageKey(info, undefined);
  }

  /** The JSON of the object at `key` (with its resourceVersion), when the cache holds it. */
  objectJSON(key: string): Buffer | undefined {
    const o = this.objects?.get(key);
    if (!o) return undefined;
    return (o.json ??= Buffer.from(objectJSON(this.info, o.value, o.rev)));
  }

  /**
   * Offer a value read from the store (or just written) at a time the cache had seen events up
   * to `seenRev`: kept only if no event arrived since, so a newer value is never replaced.
   */
  offerObject(key: string, value: string, rev: number, seenRev: number): void {
    if (this.objects && this.lastRev === seenRev && rev <= seenRev) this.objects.set(key, { value, rev });
  }

  /** Is the object cache live (events flowing), so reads can be served from it? */
  get holdsObjects(): boolean { return this.objects !== undefined; }

  /** Start the store watch for the object cache, if this store can keep one (first GET). */
  startObjects(): void {
    if (!this.starting && SYNC_EVENT_STORES.has(this.store.name)) this.start().catch(() => { /* reads keep going to the store */ });
  }

  /**
   * The revision up to which every event of this resource has been delivered (a BOOKMARK's):
   * the last event's or the store's latest progress notification; with a store that delivers
   * events at commit, the store's current revision.
   */
  async progressRevision(): Promise<number> {
    if (this.starting && SYNC_EVENT_STORES.has(this.store.name)) return Math.max(this.lastRev, await this.store.currentRevision());
    return this.lastRev;
  }

  get watchers(): number { return this.subs.size; }

  /** Start the store watch (once); resolves when events after the current revision flow in. */
  start(): Promise<void> {
    this.starting ??= (async () => {
      const rev = await this.store.currentRevision();
      this.lowWater = rev;
      this.lastRev = rev;
      this.storeWatch = await this.store.watch(this.prefix, rev, (ev) => this.onEvent(ev), (err) => this.fail(err),
        (progress) => { if (progress > this.lastRev) this.lastRev = progress; });
      // The store's history replay and buffered events are delivered by now: the watch is live.
      if (SYNC_EVENT_STORES.has(this.store.name)) this.objects = new Map();
    })().catch((e) => { this.starting = undefined; throw e; });
    return this.starting;
  }

  private onEvent(raw: StoreEvent): void {
    const ev = new CachedEvent(this.info, this.prefix, raw);
    this.lastRev = raw.revision;
    if (this.objects) {
      if (raw.type === 'put') this.objects.set(raw.key, { value: raw.value, rev: raw.revision });
      else this.objects.delete(raw.key);
    }
    this.window.push(ev);
    if (this.window.length > WINDOW) this.lowWater = this.window.splice(0, this.window.length - WINDOW).pop()!.rev;
    for (const s of this.subs) this.send(s, ev);
  }

  private send(s: Sub, ev: CachedEvent): void {
    if (ev.rev <= s.fromRev) return;
    if (s.namespace !== undefined && ev.namespace !== s.namespace) return;
    const d = s.filter(ev);
    if (d) s.deliver(d.type, ev, d.which);
  }

  /** The store watch broke: end every watch (clients re-watch) and start afresh next time. */
  private fail(err: Error): void {
    const subs = [...this.subs];
    this.stop();
    for (const s of subs) s.onClose(err.message);
  }

  /** Can a watch from `rev` be served from the window? */
  covers(rev: number): boolean {
    return this.starting !== undefined && rev >= this.lowWater;
  }

  /**
   * Watch from `fromRev` (events after it). Call start() first and check covers(); the window's
   * events are replayed synchronously, so the caller must be ready to receive them.
   */
  subscribe(namespace: string | undefined, filter: Filter, fromRev: number,
    deliver: Sub['deliver'], onClose: Sub['onClose']): Subscription {
    const s: Sub = { namespace, filter, fromRev, deliver, onClose };
    for (const ev of this.window) this.send(s, ev);
    this.subs.add(s);
    return { stop: () => { this.subs.delete(s); } };
  }

  stop(): void {
    this.storeWatch?.stop();
    this.storeWatch = undefined;
    this.starting = undefined;
    this.objects = undefined;
    this.subs.clear();
    this.window.length = 0;
  }
}

/** The watch caches of a server, one per resource, started on first use. */
export class WatchCaches {
  private readonly caches = new Map<ResourceInfo, WatchCache>();
  constructor(private readonly store: Store) {}

  /** The cache of a resource if one was made (no store watch is started). */
  peek(info: ResourceInfo): WatchCache | undefined { return this.caches.get(info); }

  get(info: ResourceInfo): WatchCache {
    let c = this.caches.get(info);
    if (!c) { c = new WatchCache(this.store, info); this.caches.set(info, c); }
    return c;
  }

  get watchers(): number {
    let n = 0;
    for (const c of this.caches.values()) n += c.watchers;
    return n;
  }

  stop(): void { for (const c of this.caches.values()) c.stop(); }
}
