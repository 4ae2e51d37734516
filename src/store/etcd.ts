/**
 * @module store/etcd
 * The Store on etcd v3 (the `etcd3` client; Debian's etcd 3.4 server), laid out as Kubernetes
 * does: keys as given (/registry/<resource>/<namespace>/<name>), resourceVersion = etcd's
 * mod_revision, create = a txn guarded on create_revision = 0, update/delete = txns guarded on
 * mod_revision, lists are ranges (paged with limit at one fixed revision), watches are etcd
 * watches with prev_kv and progress notifications, compaction is etcd's (recorded under
 * `compact_rev_key`, as kube-apiserver does, so every API server knows the compacted revision).
 *
 * Availability: when etcd cannot be reached every call fails with StoreError('Unavailable')
 * (the API server answers 503) after a short deadline, and the client reconnects by itself.
 * A watch whose stream breaks reopens from the revision after the last event it delivered, so
 * no event is missed or repeated; if that revision was compacted meanwhile, onError gets Gone.
 */
import { readFileSync } from 'node:fs';
import { Etcd3, type IKeyValue, type IWatchResponse, type IRequestOp, type ICompare, type IOptions } from 'etcd3';
import { circuitBreaker, handleWhen, ConsecutiveBreaker, retry } from 'cockatiel';
import { isRecoverableError } from 'etcd3';
import { StoreError, type ListOptions, type ListResult, type Store, type StoreEntry, type StoreEvent, type Watcher } from './types.js';
import { tooOld } from './history.js';

import { COMPACT_KEY } from './constants.js';

export { COMPACT_KEY };
/** Deadline of one unary call; past it the call fails as Unavailable. */
const CALL_DEADLINE_MS = 5_000;
/** How long createEtcdStore() tries to reach etcd before giving up. */
const CONNECT_TIMEOUT_MS = 5_000;
/** A watch that cannot be established within this fails as Unavailable. */
const WATCH_CONNECT_TIMEOUT_MS = 5_000;
/** kube-apiserver's default --etcd-compaction-interval. */
const COMPACT_EVERY_MS = 5 * 60_000;
/** Reconnect backoff of a broken watch stream. */
const WATCH_RETRY_MIN_MS = 100;
const WATCH_RETRY_MAX_MS = 2_000;
const MAX_RESPONSE_BYTES = 512 * 1024 * 1024;
/** A member that failed 3 calls in a row is skipped for this long. */
const HOST_BREAK_MS = 1_000;

export interface EtcdStoreOptions {
  /** Client URLs, e.g. http://127.0.0.1:2379 (https:// with tls). */
  servers: string[];
  tls?: { ca?: string; cert?: string; key?: string };
  /** Periodic compaction (0 = never). Default 5 min. */
  compactIntervalMs?: number;
}

interface WatchCreated { res: IWatchResponse }

const enc = (s: string) => Buffer.from(s);

export class EtcdStore implements Store {
  readonly name = 'etcd';
  private readonly client: Etcd3;
  private readonly servers: string;
  private compacted = 0;
  private timer?: NodeJS.Timeout;
  private readonly watches = new Set<EtcdWatch>();
  private lastFailure?: string;

  constructor(readonly opts: EtcdStoreOptions) {
    this.servers = opts.servers.join(',');
    const o: IOptions = {
      hosts: opts.servers,
      // An unpaged list of 10k objects is ~10-30 MB; gRPC's default cap is 4 MB.
      grpcOptions: { 'grpc.max_receive_message_length': MAX_RESPONSE_BYTES },
      dialTimeout: CALL_DEADLINE_MS,
      defaultCallOptions: (ctx) => (ctx.isStream ? {} : { deadline: Date.now() + CALL_DEADLINE_MS }),
      faultHandling: {
        host: () => circuitBreaker(handleWhen(isRecoverableError), { halfOpenAfter: HOST_BREAK_MS, breaker: new ConsecutiveBreaker(3) }),
        global: retry(handleWhen(isRecoverableError), { maxAttempts: Math.max(2, opts.servers.length) }),
      },
    };
    if (opts.tls?.ca || opts.tls?.cert) {
      o.credentials = {
        rootCertificate: readFileSync(opts.tls.ca!),
        ...(opts.tls.key ? { privateKey: readFileSync(opts.tls.key) } : {}),
        ...(opts.tls.cert ? { certChain: readFileSync(opts.tls.cert) } : {}),
      };
    }
    this.client = new Etcd3(o);
    const every = opts.compactIntervalMs ?? COMPACT_EVERY_MS;
    if (every > 0) {
      // As kube-apiserver: each tick compacts to the revision seen at the previous tick, so
      // watchers always have at least one interval of history.
      let seen = 0;
      this.timer = setInterval(() => {
        void (async () => {
          const now = await this.currentRevision();
          if (seen > 0) await this.compact(seen);
          seen = now;
        })().catch(() => { /* retried next tick */ });
      }, every);
      this.timer.unref();
    }
  }

  /** Map a client error: compaction → Gone, anything else → Unavailable naming the servers. */
  private fail(e: unknown): never {
    if (e instanceof StoreError) throw e;
    const msg = (e as Error)?.message ?? String(e);
    if (/required revision has been compacted/.test(msg)) throw new StoreError('Gone', `too old resource version: ${msg}`, undefined, this.compacted);
    // While a member's circuit is open the client only says so; name the failure that opened it.
    let why = reason(msg);
    if (/circuit breaker is open/.test(why)) why = this.lastFailure ?? why;
    else this.lastFailure = why;
    throw new StoreError('Unavailable', `etcd unavailable at ${this.servers}: ${why}`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try { return await fn(); } catch (e) { this.fail(e); }
  }

  async get(key: string): Promise<StoreEntry | null> {
    const r = await this.call(() => this.client.kv.range({ key: enc(key) }));
    return r.kvs.length ? entry(r.kvs[0]!) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const start = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter + '\0' : prefix;
    if (opts.revision && opts.revision < this.compacted) throw tooOld(opts.revision, this.compacted);
    const r = await this.call(() => this.client.kv.range({
      key: enc(start || '\0'), range_end: enc(prefixEnd(prefix)), limit,
      // A fixed revision reads the same on every member: serve it locally.
      ...(opts.revision ? { revision: opts.revision, serializable: true } : {}),
    })).catch((e: unknown) => {
      if (e instanceof StoreError && e.code === 'Gone') throw tooOld(opts.revision ?? 0, this.compacted);
      throw e;
    });
    const entries = r.kvs.map(entry);
    const remaining = Math.max(0, Number(r.count) - entries.length);
    return { entries, revision: opts.revision || Number(r.header.revision), more: r.more, remaining };
  }

  async count(prefix: string): Promise<number> {
    const r = await this.call(() => this.client.kv.range({ key: enc(prefix || '\0'), range_end: enc(prefixEnd(prefix)), count_only: true }));
    return Number(r.count);
  }

  private txn(compare: ICompare[], success: IRequestOp[], failure: IRequestOp[]) {
    return this.call(() => this.client.kv.txn({ compare, success, failure }));
  }

  async create(key: string, value: string): Promise<number> {
    const r = await this.txn([{ key: enc(key), target: 'Create', result: 'Equal', create_revision: 0 }],
      [{ request_put: { key: enc(key), value: enc(value) } }], []);
    if (!r.succeeded) throw new StoreError('AlreadyExists', `key ${key} already exists`, key);
    return Number(r.header.revision);
  }

  /** Why a guarded txn failed, from the range in its failure branch. */
  private guardFailed(key: string, kvs: IKeyValue[] | undefined, expected: number | undefined): never {
    const cur = kvs?.[0];
    if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
    const have = Number(cur.mod_revision);
    throw new StoreError('Conflict', `key ${key} is at revision ${have}, not ${expected}`, key, have);
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    const r = await this.txn([
      { key: enc(key), target: 'Create', result: 'Greater', create_revision: 0 },
      { key: enc(key), target: 'Mod', result: 'Equal', mod_revision: expectedRevision },
    ], [{ request_put: { key: enc(key), value: enc(value) } }], [{ request_range: { key: enc(key) } }]);
    if (!r.succeeded) this.guardFailed(key, r.responses[0]?.response_range?.kvs, expectedRevision);
    return Number(r.header.revision);
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }> {
    const compare: ICompare[] = [{ key: enc(key), target: 'Create', result: 'Greater', create_revision: 0 }];
    if (expectedRevision !== undefined) compare.push({ key: enc(key), target: 'Mod', result: 'Equal', mod_revision: expectedRevision });
    const r = await this.txn(compare, [{ request_delete_range: { key: enc(key), prev_kv: true } }], [{ request_range: { key: enc(key) } }]);
    if (!r.succeeded) this.guardFailed(key, r.responses[0]?.response_range?.kvs, expectedRevision);
    const prev = r.responses[0]?.response_delete_range?.prev_kvs?.[0];
    if (!prev) throw new StoreError('NotFound', `key ${key} not found`, key);
    return { revision: Number(r.header.revision), prev: entry(prev) };
  }

  async watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void, onError?: (err: Error) => void,
    onProgress?: (revision: number) => void): Promise<Watcher> {
    if (afterRevision && afterRevision < this.compacted) throw tooOld(afterRevision, this.compacted);
    const w = new EtcdWatch(this.client, prefix, afterRevision, onEvent, onError, onProgress, () => this.watches.delete(w));
    this.watches.add(w);
    try {
      await w.start();
    } catch (e) {
      w.stop();
      if (e instanceof StoreError && e.code === 'Gone') {
        this.compacted = Math.max(this.compacted, e.currentRevision ?? 0);
        throw tooOld(afterRevision, this.compacted);
      }
      this.fail(e);
    }
    return { stop: () => w.stop() };
  }

  async currentRevision(): Promise<number> {
    const r = await this.call(() => this.client.kv.range({ key: enc(COMPACT_KEY), count_only: true }));
    return Number(r.header.revision);
  }

  async compact(revision: number): Promise<void> {
    const to = Math.min(revision, await this.currentRevision());
    if (to <= this.compacted) return;
    // Record first: a reader that sees the key knows reads below it are gone.
    await this.call(() => this.client.kv.put({ key: enc(COMPACT_KEY), value: enc(String(to)) }));
    try {
      await this.client.kv.compact({ revision: to, physical: false });
    } catch (e) {
      if (!/required revision has been compacted/.test((e as Error).message)) this.fail(e);
    }
    this.compacted = Math.max(this.compacted, to);
  }

  async compactedRevision(): Promise<number> {
    const r = await this.call(() => this.client.kv.range({ key: enc(COMPACT_KEY) }));
    const v = r.kvs[0] ? Number(r.kvs[0].value.toString()) : 0;
    this.compacted = Math.max(this.compacted, Number.isFinite(v) ? v : 0);
    return this.compacted;
  }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    for (const w of [...this.watches]) w.stop();
    this.client.close();
  }
}

/**
 * One Store watch = one etcd watch stream, reopened from the last delivered revision + 1 when
 * it breaks (etcd3's own resume uses the response header revision, which can skip events when
 * a stream breaks while a watcher is still catching up).
 */
class EtcdWatch {
  private stream?: { write(x: unknown): unknown; cancel?(): void; end?(): void; on(ev: string, fn: (x: any) => void): unknown; removeAllListeners(): unknown };
  private stopped = false;
  private lastRev: number;
  private retryMs = WATCH_RETRY_MIN_MS;
  private retryTimer?: NodeJS.Timeout;

  constructor(private readonly client: Etcd3, private readonly prefix: string, after: number,
    private readonly onEvent: (ev: StoreEvent) => void, private readonly onError: ((err: Error) => void) | undefined,
    private readonly onProgress: ((rev: number) => void) | undefined, private readonly onStop: () => void) {
    this.lastRev = after;
  }

  /** Open the stream; resolves once etcd confirms the watch, rejects with Gone when compacted. */
  start(): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new StoreError('Unavailable', `watch on ${this.prefix} not established within ${WATCH_CONNECT_TIMEOUT_MS / 1000}s`)), WATCH_CONNECT_TIMEOUT_MS);
      this.open((err) => { clearTimeout(timer); if (err) reject(err); else resolve(); });
    });
  }

  private open(first?: (err?: Error) => void): void {
    if (this.stopped) return;
    let settled = false;
    const settle = (err?: Error) => { if (!settled) { settled = true; first?.(err); } };
    this.client.watchClient.watch().then((stream) => {
      if (this.stopped) { stream.cancel?.(); return; }
      this.stream = stream as unknown as EtcdWatch['stream'];
      stream.on('data', (res: IWatchResponse) => {
        if (res.created && !res.canceled) { this.retryMs = WATCH_RETRY_MIN_MS; settle(); return; }
        if (res.canceled) {
          const compacted = Number(res.compact_revision);
          const err = compacted > 0
            ? new StoreError('Gone', `too old resource version: ${this.lastRev} (${compacted})`, undefined, compacted)
            : new StoreError('Unavailable', `watch on ${this.prefix} canceled by etcd: ${res.cancel_reason}`);
          // The first attempt reports to watch()'s caller; a reconnect retries or reports Gone.
          if (!settled && first) { this.detach(); settle(err); } else this.broken(err, compacted > 0);
          return;
        }
        this.handle(res);
      });
      const lost = (e?: Error) => {
        if (this.stopped) return;
        const err = new StoreError('Unavailable', `watch on ${this.prefix}: ${e?.message ?? 'stream ended'}`);
        if (!settled && first) { this.detach(); settle(err); return; }
        this.broken(err, false);
      };
      stream.on('error', lost);
      stream.on('end', () => lost());
      stream.write({ create_request: { key: enc(this.prefix || '\0'), range_end: enc(prefixEnd(this.prefix)), start_revision: this.lastRev + 1, prev_kv: true, progress_notify: true } });
    }).catch((e: Error) => {
      if (!settled && first) { settle(e); return; }
      this.broken(e, false);
    });
  }

  private handle(res: IWatchResponse): void {
    if (!res.events?.length) {
      // Progress notification: every event up to header.revision has been sent.
      const rev = Number(res.header.revision);
      if (rev > this.lastRev) { this.lastRev = rev; this.onProgress?.(rev); }
      return;
    }
    for (const e of res.events) {
      const rev = Number(e.kv.mod_revision);
      if (rev <= this.lastRev) continue;
      this.lastRev = rev;
      const prev = e.prev_kv ? e.prev_kv.value.toString() : undefined;
      const ev: StoreEvent = e.type === 'Delete'
        ? { type: 'delete', key: e.kv.key.toString(), value: prev ?? '', prevValue: prev, revision: rev, created: false }
        : { type: 'put', key: e.kv.key.toString(), value: e.kv.value.toString(), prevValue: prev, revision: rev, created: e.kv.create_revision === e.kv.mod_revision };
      if (this.stopped) return;
      try { this.onEvent(ev); } catch (err) { console.error(JSON.stringify({ level: 'error', component: 'store', msg: 'watch handler threw', error: String(err) })); }
    }
  }

  /** The stream broke: reopen from lastRev + 1, unless the history is gone. */
  private broken(err: Error, fatal: boolean): void {
    this.detach();
    if (this.stopped) return;
    if (fatal) { this.stop(); this.onError?.(err); return; }
    clearTimeout(this.retryTimer);
    this.retryTimer = setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, WATCH_RETRY_MAX_MS);
  }

  private detach(): void {
    const s = this.stream;
    this.stream = undefined;
    if (!s) return;
    s.removeAllListeners();
    s.on('error', () => { /* cancelled */ });
    try { s.cancel?.(); } catch { /* already closed */ }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.retryTimer);
    this.detach();
    this.onStop();
  }
}

/** The useful part of a gRPC error: "connect ECONNREFUSED 127.0.0.1:2379" rather than the wrapping. */
function reason(msg: string): string {
  const line = msg.replace(/^\w*Error: /, '').split('\n')[0]!;
  const inner = /Last error: (?:\w*Error: )?(.*?)\.?(?: Resolution note:.*)?$/.exec(line);
  return inner?.[1] || line;
}

function entry(kv: IKeyValue): StoreEntry {
  return { key: kv.key.toString(), value: kv.value.toString(), modRevision: Number(kv.mod_revision), createRevision: Number(kv.create_revision) };
}

/** etcd's range end for a prefix: the prefix with its last byte incremented ("\0" = every key). */
export function prefixEnd(prefix: string): string {
  if (prefix === '') return '\0';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}

/**
 * Connect, retrying for a few seconds; fails with one line naming what was tried, e.g.
 * `etcd unreachable at http://127.0.0.1:2379 (tried for 5s): connect ECONNREFUSED 127.0.0.1:2379`.
 */
export async function createEtcdStore(o: { etcdServers?: string[]; etcdTls?: EtcdStoreOptions['tls']; compactIntervalMs?: number }): Promise<Store> {
  const servers = o.etcdServers?.length ? o.etcdServers : ['http://127.0.0.1:2379'];
  const s = new EtcdStore({ servers, tls: o.etcdTls, compactIntervalMs: o.compactIntervalMs });
  const end = Date.now() + CONNECT_TIMEOUT_MS;
  let last: unknown;
  for (;;) {
    try {
      await s.currentRevision();
      await s.compactedRevision();
      return s;
    } catch (e) {
      last = e;
      if (Date.now() >= end) break;
      await new Promise((r) => setTimeout(r, 250));
    }
  }
  await s.close();
  const why = ((last as Error)?.message ?? String(last)).replace(/^etcd unavailable at \S+: /, '');
  throw new Error(`etcd unreachable at ${servers.join(',')} (tried for ${CONNECT_TIMEOUT_MS / 1000}s): ${why}`);
}
