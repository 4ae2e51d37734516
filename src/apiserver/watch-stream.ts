/**
 * @module apiserver/watch-stream
 * One HTTP watch: newline-delimited `{"type","object"}` events over a chunked response whose
 * headers go out at once (kubectl waits for them). Plain JSON watchers share each event's
 * encoded line (see watch-cache.ts); Table watchers (`kubectl get -w`) get rows, with column
 * definitions only in the first event; PartialObjectMetadata watchers get metadata only.
 * BOOKMARKs when allowed, the initial-events-end bookmark for sendInitialEvents, 410 as an ERROR
 * event, and the watch ends when the client goes away, times out, or cannot keep up.
 */
import type http from 'node:http';
import { groupVersion, type ResourceInfo } from '../api/registry.js';
import { printTable } from '../api/printers.js';
import { HttpError, badRequest } from './errors.js';
import { contentType, partialObjectMetadata, type Format } from './content.js';
import { parseSelector, type Storage } from './storage.js';
import type { CachedEvent, WatchEventType } from './watch-cache.js';

/** BOOKMARK period (SVCPLANE_BOOKMARK_MS overrides it, for tests). */
const BOOKMARK_EVERY_MS = 30_000;
/** A watcher this far behind (bytes queued) is dropped, as kube-apiserver drops slow watchers. */
const MAX_QUEUED_BYTES = 64 * 1024 * 1024;
/** Server-side watch lifetime when the client sets none (randomised, as upstream, 30–60 min). */
const MIN_TIMEOUT_S = 1800;

export interface WatchRequest {
  storage: Storage;
  resp: http.ServerResponse;
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  q: URLSearchParams;
  format: Format;
  /** Called once when the stream ends (for the watchers gauge). */
  onEnd?: () => void;
}

export async function serveWatch(w: WatchRequest): Promise<void> {
  const { storage, resp, info, q, format } = w;
  const fieldSel = w.name ? `metadata.name=${w.name}${q.get('fieldSelector') ? ',' + q.get('fieldSelector') : ''}` : q.get('fieldSelector') ?? undefined;
  const sel = parseSelector(info, q.get('labelSelector') ?? undefined, fieldSel);
  const bookmarks = q.get('allowWatchBookmarks') === 'true';
  const bookmarkEveryMs = Number(process.env.SVCPLANE_BOOKMARK_MS) || BOOKMARK_EVERY_MS;
  const sendInitial = q.get('sendInitialEvents');
  if (sendInitial === 'true' && (!bookmarks || q.get('resourceVersionMatch') !== 'NotOlderThan')) {
    throw badRequest('sendInitialEvents requires setting allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan');
  }
  let fromRV = q.get('resourceVersion') ?? undefined;
  // sendInitialEvents=true: the current state first (as for no resourceVersion), then a bookmark.
  if (sendInitial === 'true') fromRV = undefined;
  else if (sendInitial === 'false' && (!fromRV || fromRV === '0')) fromRV = String(await storage.store.currentRevision());

  resp.writeHead(200, { 'Content-Type': format.kind === 'yaml' ? 'application/json' : contentType(format), 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
  resp.flushHeaders();

  const includeObject = (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata';
  const gv = groupVersion(info);
  let firstTable = true;
  let lastRV = Number(fromRV ?? 0) || 0;
  let ended = false;
  let sub: { stop(): void; cache?: { progressRevision(): Promise<number> } } | undefined;
  let bookmarkTimer: NodeJS.Timeout | undefined;
  let timeoutTimer: NodeJS.Timeout | undefined;

  const end = () => {
    if (ended) return;
    ended = true;
    sub?.stop();
    clearTimeout(bookmarkTimer);
    clearTimeout(timeoutTimer);
    w.onEnd?.();
    if (!resp.writableEnded) resp.end();
  };
  // The response's close (not the request's, which fires once its body is read) means the client went away.
  resp.on('close', end);

  const write = (chunk: string | Buffer) => {
    if (ended) return;
    resp.write(chunk);
    if (resp.writableLength > MAX_QUEUED_BYTES) end();
  };
  const writeObject = (type: string, obj: unknown) => write(JSON.stringify({ type, object: obj }) + '\n');

  const deliver = (type: WatchEventType, ev: CachedEvent, which: 'cur' | 'prev') => {
    if (ev.rev > lastRV) lastRV = ev.rev;
    if (format.kind === 'json' || format.kind === 'yaml') return write(ev.line(type, which));
    const obj = ev.obj(which);
    if (format.kind === 'partial') return writeObject(type, partialObjectMetadata(obj, format.version));
    const t = printTable(info, [obj], { includeObject, noHeaders: !firstTable }) as unknown as Record<string, unknown>;
    t.apiVersion = `meta.k8s.io/${format.version}`;
    firstTable = false;
    writeObject(type, t);
  };
  const bookmark = (rv: number, initialEnd = false) => writeObject('BOOKMARK', {
    kind: info.kind, apiVersion: gv,
    metadata: { resourceVersion: String(rv), ...(initialEnd ? { annotations: { 'k8s.io/initial-events-end': 'true' } } : {}) },
  });

  // Replays arrive in bursts: coalesce them into few socket writes.
  resp.cork();
  try {
    sub = await storage.watch(info, w.namespace, fromRV, sel, deliver, () => end(), (rev) => {
      if (rev > lastRV) lastRV = rev;
      if (sendInitial === 'true') bookmark(rev, true);
    });
  } catch (e) {
    const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', `Internal error occurred: ${(e as Error).message}`);
    writeObject('ERROR', err.status());
    process.nextTick(() => resp.uncork());
    end();
    return;
  }
  process.nextTick(() => resp.uncork());
  if (ended) { sub.stop(); return; }

  if (bookmarks) {
    const tick = async () => {
      // From the shared cache every event up to its progress revision has been offered to this watcher.
      const rv = Math.max(lastRV, (await sub?.cache?.progressRevision()) ?? 0);
      if (ended) return;
      if (rv) bookmark(rv);
      bookmarkTimer = setTimeout(tick, bookmarkEveryMs);
    };
    bookmarkTimer = setTimeout(tick, bookmarkEveryMs);
  }
  const timeout = Number(q.get('timeoutSeconds') ?? 0);
  const limit = (timeout > 0 ? timeout : MIN_TIMEOUT_S * (1 + Math.random())) * 1000;
  timeoutTimer = setTimeout(end, limit);
}

