/**
 * @module dns/reflector
 * List and watch one resource into the DNS index, keeping nothing of the objects. The shared
 * Informer (src/client/informer.ts) keeps every object and holds a whole list in memory before
 * delivering it; at 10k Services and 10k EndpointSlices that doubles this server's resident memory,
 * and DNS needs neither (it keeps its own slim projections). Not even resourceVersions are kept
 * (a key and a version string per object, 2 MB at 10k Services): a re-list delivers every object
 * again and the index drops those its projection shows unchanged; the keys the index holds tell
 * which objects a re-list no longer has. The protocol is the Informer's: list in pages, watch from
 * the list's resourceVersion with bookmarks, resume after a watch ends, re-list on 410 Gone.
 */
import type { KubeObject, WatchEvent } from '../api/types.js';
import type { ResourceInfo } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import type { WatchHandle } from '../client/types.js';

const RETRY_MIN_MS = 200;
const RETRY_MAX_MS = 5000;
/** Ask the server to end the watch now and then, so dead connections are noticed. */
const WATCH_TIMEOUT_SECONDS = 300;
/** Objects per list page: each page is parsed at once, so pages bound the memory a list needs. */
export const LIST_PAGE_SIZE = 100;

export interface ReflectorHandlers {
  /** An object was listed, appeared or changed. */
  upsert(o: KubeObject): void;
  remove(namespace: string, name: string): void;
  /** Keys ("ns/name", or "name" for cluster-scoped objects) of every object the handler holds. */
  keys(): Iterable<string>;
}

export class Reflector {
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  private watchHandle?: WatchHandle;
  private retryMs = RETRY_MIN_MS;

  constructor(private readonly client: Client, readonly resource: ResourceInfo, private readonly handlers: ReflectorHandlers,
    private readonly log: (msg: string, fields?: Record<string, unknown>) => void = () => {}) {}

  hasSynced(): boolean { return this.synced; }

  /** Resolves once the first list has been delivered; watching goes on in the background. */
  async start(): Promise<void> {
    for (;;) {
      try { await this.relist(); break; } catch (e) {
        if (this.stopped) return;
        this.log('list failed', { resource: this.resource.resource, error: String((e as Error)?.message ?? e) });
        await this.backoff();
      }
    }
    this.synced = true;
    this.retryMs = RETRY_MIN_MS;
    void this.watchLoop();
  }

  stop(): void {
    this.stopped = true;
    this.watchHandle?.stop();
  }

  private async backoff(): Promise<void> {
    await new Promise((r) => setTimeout(r, this.retryMs));
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private async relist(): Promise<void> {
    // Only a re-list can find objects gone: on the first list the handler holds none.
    const held = new Set(this.handlers.keys());
    const seen = held.size ? new Set<string>() : undefined;
    let cont: string | undefined;
    let rv = '';
    do {
      const page = await this.client.list<KubeObject>(this.resource, undefined, { limit: LIST_PAGE_SIZE, continue: cont });
      for (const o of page.items) {
        seen?.add(keyOf(o));
        this.handlers.upsert(o);
      }
      cont = page.metadata.continue || undefined;
      rv = page.metadata.resourceVersion ?? rv;
    } while (cont);
    if (seen) {
      for (const k of held) {
        if (seen.has(k)) continue;
        const [ns, name] = splitKey(k);
        this.handlers.remove(ns, name);
      }
    }
    this.resourceVersion = rv;
  }

  private async watchLoop(): Promise<void> {
    while (!this.stopped) {
      let gone = false;
      let sawEvent = false;
      this.watchHandle = this.client.watch<KubeObject>(this.resource, undefined, {
        resourceVersion: this.resourceVersion, allowWatchBookmarks: true, timeoutSeconds: WATCH_TIMEOUT_SECONDS,
      }, (ev) => {
        sawEvent = true;
        if (ev.type === 'ERROR') {
          const st = ev.object as unknown as { code?: number; reason?: string; message?: string };
          if (st.code === 410 || st.reason === 'Expired' || st.reason === 'Gone') gone = true;
          else this.log('watch error', { resource: this.resource.resource, error: st.message });
          return;
        }
        const rv = ev.object?.metadata?.resourceVersion;
        if (rv) this.resourceVersion = rv;
        if (ev.type !== 'BOOKMARK') this.apply(ev);
      });
      await this.watchHandle.done;
      if (this.stopped) return;
      if (gone) {
        try { await this.relist(); this.retryMs = RETRY_MIN_MS; } catch (e) {
          this.log('relist failed', { resource: this.resource.resource, error: String((e as Error)?.message ?? e) });
          await this.backoff();
        }
        continue;
      }
      if (sawEvent) this.retryMs = RETRY_MIN_MS;
      else await this.backoff();
    }
  }

  private apply(ev: WatchEvent<KubeObject>): void {
    const o = ev.object;
    if (ev.type === 'DELETED') this.handlers.remove(o.metadata?.namespace ?? '', o.metadata?.name ?? '');
    else this.handlers.upsert(o);
  }
}

function keyOf(o: KubeObject): string {
  const ns = o.metadata?.namespace;
  return ns ? [ns, o.metadata?.name ?? ''].join('/') : o.metadata?.name ?? '';
}

function splitKey(k: string): [string, string] {
  const i = k.indexOf('/');
  return i < 0 ? ['', k] : [k.slice(0, i), k.slice(i + 1)];
}
