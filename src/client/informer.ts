/**
 * @module client/informer
 * A shared-informer in the client-go sense: list, then watch from the list's resourceVersion,
 * keeping a local cache with indexes and calling handlers on add/update/delete. A watch that
 * ends is resumed from the last seen resourceVersion; 410 Gone triggers a re-list whose
 * differences against the cache are delivered as events, so handlers never miss a change.
 * An optional resync re-delivers every cached object as an update (same object twice).
 */
import type { KubeObject, MetaObject, WatchEvent } from '../api/types.js';
import type { ResourceInfo } from '../api/registry.js';
import type { Client } from './rest.js';
import type { EventHandlers, WatchHandle } from './types.js';
import { keyOf } from './keys.js';

export interface InformerOptions {
  namespace?: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Re-deliver all objects as updates this often (0 = never). */
  resyncMs?: number;
  /** Page size for the initial list. */
  pageSize?: number;
}

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;
/** Ask the server to end the watch now and then, so dead connections are noticed. */
const WATCH_TIMEOUT_SECONDS = 300;

export class Informer<T extends MetaObject = KubeObject> {
  private readonly cache = new Map<string, T>();
  private readonly handlers: EventHandlers<T>[] = [];
  private readonly indexers = new Map<string, (o: T) => string[]>();
  private readonly indexes = new Map<string, Map<string, Set<string>>>();
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  private watchHandle?: WatchHandle;
  private resyncTimer?: NodeJS.Timeout;
  private retryMs = RETRY_MIN_MS;

  constructor(private readonly client: Client, readonly resource: ResourceInfo, private readonly opts: InformerOptions = {}) {}

  addHandlers(h: EventHandlers<T>): this {
    this.handlers.push(h);
    // Late registration sees the current state, as client-go's AddEventHandler does.
    if (this.synced) for (const o of this.cache.values()) h.add?.(o);
    return this;
  }

  addIndex(name: string, fn: (o: T) => string[]): this {
    this.indexers.set(name, fn);
    const idx = new Map<string, Set<string>>();
    this.indexes.set(name, idx);
    for (const [k, o] of this.cache) for (const v of fn(o)) this.indexAdd(idx, v, k);
    return this;
  }

  byIndex(name: string, value: string): T[] {
    const keys = this.indexes.get(name)?.get(value);
    if (!keys) return [];
    const out: T[] = [];
    for (const k of keys) { const o = this.cache.get(k); if (o) out.push(o); }
    return out;
  }

  get(key: string): T | undefined {
    return this.cache.get(key);
  }

  list(): T[] {
    return [...this.cache.values()];
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion of the last event or list seen. */
  lastResourceVersion(): string {
    return this.resourceVersion;
  }

  /** Start: resolves once the initial list is in the cache and delivered to handlers. */
  async start(): Promise<void> {
    for (;;) {
      try {
        await this.relist();
        break;
      } catch (e) {
        if (this.stopped) return;
        this.log('list failed', e);
        await this.backoff();
      }
    }
    this.synced = true;
    this.retryMs = RETRY_MIN_MS;
    void this.watchLoop();
    if (this.opts.resyncMs) {
      this.resyncTimer = setInterval(() => {
        for (const o of this.cache.values()) for (const h of this.handlers) h.update?.(o, o);
      }, this.opts.resyncMs);
      this.resyncTimer.unref();
    }
  }

  stop(): void {
    this.stopped = true;
    this.watchHandle?.stop();
    if (this.resyncTimer) clearInterval(this.resyncTimer);
  }

  private log(msg: string, e: unknown): void {
    if (process.env.SVCPLANE_QUIET_INFORMERS) return;
    console.error(JSON.stringify({ level: 'warn', component: 'informer', resource: this.resource.resource, msg, error: String((e as Error)?.message ?? e) }));
  }

  private async backoff(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.retryMs));
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  /** List everything and reconcile the cache, delivering differences as events. */
  private async relist(): Promise<void> {
    const seen = new Map<string, T>();
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list<T>(this.resource, this.opts.namespace, {
        labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector,
        limit: this.opts.pageSize ?? 500, continue: cont,
      });
      for (const o of page.items) {
        // Lists return items without kind; fill it in so handlers see whole objects.
        o.kind ??= this.resource.kind;
        o.apiVersion ??= this.resource.group ? `${this.resource.group}/${this.resource.version}` : this.resource.version;
        seen.set(keyOf(o), o);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    for (const [k, old] of [...this.cache]) if (!seen.has(k)) this.apply({ type: 'DELETED', object: old });
    for (const [k, o] of seen) {
      const old = this.cache.get(k);
      if (!old) this.apply({ type: 'ADDED', object: o });
      else if (old.metadata?.resourceVersion !== o.metadata?.resourceVersion) this.apply({ type: 'MODIFIED', object: o });
    }
    this.resourceVersion = rv;
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      let gone = false;
      let sawEvent = false;
      this.watchHandle = this.client.watch<T>(this.resource, this.opts.namespace, {
        labelSelector: this.opts.labelSelector, fieldSelector: this.opts.fieldSelector,
        resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS,
      }, (ev) => {
        sawEvent = true;
        if (ev.type === 'ERROR') {
          const st = ev.object as unknown as { code?: number; reason?: string };
          if (st.code === 410 || st.reason === 'Expired' || st.reason === 'Gone') gone = true;
          else this.log('watch error', (ev.object as any)?.message);
          return;
        }
        if (ev.type === 'BOOKMARK') {
          const rv = ev.object.metadata?.resourceVersion;
          if (rv) this.resourceVersion = rv;
          return;
        }
        this.apply(ev);
      });
      await this.watchHandle.done;
      if (this.stopped) return;
      if (gone) {
        try { await this.relist(); this.retryMs = RETRY_MIN_MS; } catch (e) { this.log('relist failed', e); await this.backoff(); }
        continue;
      }
      if (sawEvent) this.retryMs = RETRY_MIN_MS;
      else await this.backoff();
    }
  }

  private apply(ev: WatchEvent<T>): void {
    const o = ev.object;
    o.kind ??= this.resource.kind;
    const k = keyOf(o);
    const rv = o.metadata?.resourceVersion;
    if (rv) this.resourceVersion = rv;
    const old = this.cache.get(k);
    if (ev.type === 'DELETED') {
      if (!old) return;
      this.cache.delete(k);
      this.reindex(k, old, undefined);
      for (const h of this.handlers) h.delete?.(o);
      return;
    }
    this.cache.set(k, o);
    this.reindex(k, old, o);
    if (old) for (const h of this.handlers) h.update?.(old, o);
    else for (const h of this.handlers) h.add?.(o);
  }

  private indexAdd(idx: Map<string, Set<string>>, v: string, k: string): void {
    let s = idx.get(v);
    if (!s) idx.set(v, (s = new Set()));
    s.add(k);
  }

  private reindex(k: string, old: T | undefined, cur: T | undefined): void {
    for (const [name, fn] of this.indexers) {
      const idx = this.indexes.get(name)!;
      if (old) for (const v of fn(old)) { const s = idx.get(v); s?.delete(k); if (s && !s.size) idx.delete(v); }
      if (cur) for (const v of fn(cur)) this.indexAdd(idx, v, k);
    }
  }
}
