/**
 * @module store/sqlite
 * The default store: one SQLite file (better-sqlite3, WAL), laid out like k3s's kine:
 *
 * - `log`: append-only, one row per write, primary key = the global revision; each row has the
 *   key, the value (the last value for a delete), created/deleted flags, create_rev, prev_rev
 *   and prev_value. Watchers replay it; reads at an old revision rewind the current state with
 *   it (history.ts); compaction trims it from the front.
 * - `kv`: the current state (key → value, mod_rev, create_rev), so get/list/count never scan
 *   the log. A rowid table with a unique key index: objects are ~1-4 KB, and in a WITHOUT ROWID
 *   table rows that large spill into overflow pages, which made writes 2-3x slower.
 * - `meta`: the compacted revision (and the revision at the last compaction, since the log may
 *   be empty right after one).
 *
 * Every write checks its precondition, updates kv and appends to log (prepared statements).
 * Writes issued in the same event-loop turn share one transaction (group commit: each write is
 * its own savepoint, so one failing precondition fails only that write); when it commits, the
 * events are pushed to in-process watchers in revision order — no polling. A commit costs ~10
 * write() calls, so on a busy machine this is what keeps concurrent writers fast.
 *
 * One process owns the file: it is opened with locking_mode=EXCLUSIVE (a second process gets
 * "database is locked"), which also saves the per-statement lock syscalls, and read through
 * mmap, so a get makes no syscall at all.
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction has been written to the WAL
 * file (the OS holds it) before the call returns, so killing the process — even kill -9 — never
 * loses an acknowledged write. Only an OS crash or power loss can drop the last transactions
 * (fsync happens at checkpoints); use `synchronous: 'FULL'` to fsync every commit.
 */
import Database from 'better-sqlite3';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError, type ListOptions, type ListResult, type Store, type StoreEntry, type StoreEvent, type Watcher } from './types.js';
import { WatchHub } from './watchers.js';
import { pageAt, rewindFrom, tooOld, type LoggedEvent } from './history.js';
import { conflict } from './memory.js';

/** Revisions kept for watch replay and old reads by the periodic compaction. */
const KEEP_REVISIONS = 50_000;
const COMPACT_EVERY_MS = 60_000;
/** Page cache and mmap window: the whole state of a small cluster stays in memory. */
const CACHE_KIB = 65_536;
const MMAP_BYTES = 1 << 30;

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS kv (id INTEGER PRIMARY KEY, key TEXT NOT NULL UNIQUE, value TEXT NOT NULL, mod_rev INTEGER NOT NULL, create_rev INTEGER NOT NULL);
  CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, value TEXT NOT NULL,
    created INTEGER NOT NULL, deleted INTEGER NOT NULL, create_rev INTEGER NOT NULL, prev_rev INTEGER NOT NULL, prev_value TEXT);
  CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
  INSERT OR IGNORE INTO meta(name, value) VALUES ('compacted', 0), ('rev', 0);
`;

export interface SqliteStoreOptions {
  /** Periodic compaction interval (0 = never; compact() still works). Default 60 s. */
  compactIntervalMs?: number;
  /** Revisions the periodic compaction keeps. Default 50,000. */
  keepRevisions?: number;
  /** NORMAL (default; durable against process crashes) or FULL (fsync every commit). */
  synchronous?: 'NORMAL' | 'FULL';
}

interface PendingWrite {
  /** Runs inside the batch transaction (as a savepoint); returns the event to publish. */
  apply(rev: number): StoreEvent;
  resolve(ev: StoreEvent): void;
  reject(e: unknown): void;
}

interface Row { key: string; value: string; mod_rev: number; create_rev: number }
interface LogRow { rev: number; key: string; value: string; created: number; deleted: number; create_rev: number; prev_rev: number; prev_value: string | null }

export class SqliteStore implements Store {
  readonly name = 'sqlite';
  private readonly db: Database.Database;
  private readonly hub = new WatchHub();
  private rev: number;
  private compacted: number;
  private timer?: NodeJS.Timeout;
  private readonly st;
  private readonly tx;
  private queue: PendingWrite[] = [];
  private flushScheduled = false;

  constructor(readonly path: string, opts: SqliteStoreOptions = {}) {
    if (path !== ':memory:') {
      mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
      // The file holds Secrets: 0600 from its creation (SQLite gives its -wal and -shm the
      // database file's mode), and tightened on files made before.
      closeSync(openSync(path, 'a', 0o600));
      ownerOnly(path);
    }
    this.db = new Database(path);
    try {
      this.db.pragma('locking_mode = EXCLUSIVE');
      this.db.pragma('busy_timeout = 2000');
      this.db.pragma('journal_mode = WAL');
      if (path !== ':memory:') for (const f of [`${path}-wal`, `${path}-shm`]) if (existsSync(f)) ownerOnly(f);
    } catch (e) {
      this.db.close();
      if ((e as { code?: string }).code === 'SQLITE_BUSY') throw new Error(`sqlite store ${path} is in use by another process (database is locked)`);
      throw e;
    }
    this.db.pragma(`synchronous = ${opts.synchronous ?? 'NORMAL'}`);
    this.db.pragma(`cache_size = -${CACHE_KIB}`);
    this.db.pragma(`mmap_size = ${MMAP_BYTES}`);
    migrateOldLayout(this.db);
    this.db.exec(SCHEMA);
    const q = (s: string) => this.db.prepare(s);
    const cols = 'key, value, mod_rev, create_rev';
    const logCols = 'rev, key, value, created, deleted, create_rev, prev_rev, prev_value';
    this.st = {
      get: q(`SELECT ${cols} FROM kv WHERE key = ?`),
      exists: q('SELECT 1 FROM kv WHERE key = ?').pluck(),
      listFrom: q(`SELECT ${cols} FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?`),
      listAfter: q(`SELECT ${cols} FROM kv WHERE key > ? AND key < ? ORDER BY key LIMIT ?`),
      countFrom: q('SELECT count(*) FROM kv WHERE key >= ? AND key < ?').pluck(),
      countAfter: q('SELECT count(*) FROM kv WHERE key > ? AND key < ?').pluck(),
      insertKv: q('INSERT INTO kv(key, value, mod_rev, create_rev) VALUES (?, ?, ?, ?)'),
      updateKv: q('UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?'),
      deleteKv: q('DELETE FROM kv WHERE key = ?'),
      insertLog: q(`INSERT INTO log(${logCols}) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`),
      changes: q(`SELECT ${logCols} FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev`),
      maxRev: q('SELECT max(rev) FROM log').pluck(),
      getMeta: q('SELECT value FROM meta WHERE name = ?').pluck(),
      setMeta: q('UPDATE meta SET value = ? WHERE name = ?'),
      trim: q('DELETE FROM log WHERE rev <= ?'),
    };
    const st = this.st;
    const row = (key: string) => st.get.get(key) as Row | undefined;
    this.tx = {
      create: this.db.transaction((key: string, value: string, rev: number) => {
        try {
          st.insertKv.run(key, value, rev, rev);
        } catch (e) {
          if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_UNIQUE') throw new StoreError('AlreadyExists', `key ${key} already exists`, key);
          throw e;
        }
        st.insertLog.run(rev, key, value, 1, 0, rev, 0, null);
      }),
      update: this.db.transaction((key: string, value: string, expected: number, rev: number): Row => {
        const cur = row(key);
        if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
        if (cur.mod_rev !== expected) throw conflict(key, cur.mod_rev, expected);
        st.updateKv.run(value, rev, key);
        st.insertLog.run(rev, key, value, 0, 0, cur.create_rev, cur.mod_rev, cur.value);
        return cur;
      }),
      delete: this.db.transaction((key: string, expected: number | undefined, rev: number): Row => {
        const cur = row(key);
        if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
        if (expected !== undefined && cur.mod_rev !== expected) throw conflict(key, cur.mod_rev, expected);
        st.deleteKv.run(key);
        st.insertLog.run(rev, key, cur.value, 0, 1, cur.create_rev, cur.mod_rev, cur.value);
        return cur;
      }),
      batch: this.db.transaction((ops: PendingWrite[], first: number): Array<StoreEvent | { error: unknown }> => {
        let rev = first;
        return ops.map((op) => {
          try {
            const ev = op.apply(rev);
            rev++;
            return ev;
          } catch (error) {
            return { error };
          }
        });
      }),
      compact: this.db.transaction((to: number, rev: number) => {
        st.trim.run(to);
        st.setMeta.run(to, 'compacted');
        st.setMeta.run(rev, 'rev');
      }),
    };
    this.compacted = st.getMeta.get('compacted') as number;
    this.rev = Math.max((st.maxRev.get() as number | null) ?? 0, st.getMeta.get('rev') as number, this.compacted);
    const every = opts.compactIntervalMs ?? COMPACT_EVERY_MS;
    const keep = opts.keepRevisions ?? KEEP_REVISIONS;
    if (every > 0) {
      this.timer = setInterval(() => { if (this.rev - keep > this.compacted) void this.compact(this.rev - keep); }, every);
      this.timer.unref();
    }
  }

  async get(key: string): Promise<StoreEntry | null> {
    const r = this.st.get.get(key) as Row | undefined;
    return r ? entry(r) : null;
  }

  /** Current entries under prefix with key > after (from the prefix when undefined), at most n. */
  private current(prefix: string, end: string, after: string | undefined, n: number): StoreEntry[] {
    const lim = n === Infinity ? -1 : n;
    const rows = (after !== undefined && after >= prefix ? this.st.listAfter.all(after, end, lim) : this.st.listFrom.all(prefix, end, lim)) as Row[];
    return rows.map(entry);
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    if (opts.revision && opts.revision < this.compacted) throw tooOld(opts.revision, this.compacted);
    const end = prefixEnd(prefix);
    const limit = opts.limit && opts.limit > 0 ? opts.limit : 0;
    const at = opts.revision && opts.revision < this.rev ? opts.revision : this.rev;
    const after = opts.startAfter;
    const from = after !== undefined && after >= prefix ? after : undefined;
    const changes = at === this.rev ? [] : (this.st.changes.all(at, prefix, end) as LogRow[]).map(logged)
      .filter((e) => from === undefined || e.key > from);
    const rw = rewindFrom(changes, (k) => this.st.exists.get(k) !== undefined);
    const page = pageAt(rw, from, limit, (a, n) => this.current(prefix, end, a, n), (k) => this.st.countAfter.get(k, end) as number);
    return { ...page, revision: at };
  }

  async count(prefix: string): Promise<number> {
    return this.st.countFrom.get(prefix, prefixEnd(prefix)) as number;
  }

  async create(key: string, value: string): Promise<number> {
    const ev = await this.enqueue((rev) => {
      this.tx.create(key, value, rev);
      return { type: 'put', key, value, revision: rev, created: true };
    });
    return ev.revision;
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    const ev = await this.enqueue((rev) => {
      const cur = this.tx.update(key, value, expectedRevision, rev);
      return { type: 'put', key, value, prevValue: cur.value, revision: rev, created: false };
    });
    return ev.revision;
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }> {
    let prev!: StoreEntry;
    const ev = await this.enqueue((rev) => {
      const cur = this.tx.delete(key, expectedRevision, rev);
      prev = entry(cur);
      return { type: 'delete', key, value: cur.value, prevValue: cur.value, revision: rev, created: false };
    });
    return { revision: ev.revision, prev };
  }

  private enqueue(apply: (rev: number) => StoreEvent): Promise<StoreEvent> {
    if (!this.db.open) return Promise.reject(new StoreError('Unavailable', `sqlite store ${this.path} is closed`));
    return new Promise((resolve, reject) => {
      this.queue.push({ apply, resolve, reject });
      if (!this.flushScheduled) {
        this.flushScheduled = true;
        setImmediate(() => this.flush());
      }
    });
  }

  /** Commit every queued write in one transaction, then acknowledge and publish in order. */
  private flush(): void {
    this.flushScheduled = false;
    const ops = this.queue;
    this.queue = [];
    if (ops.length === 0) return;
    let results: Array<StoreEvent | { error: unknown }>;
    try {
      results = this.tx.batch(ops, this.rev + 1);
    } catch (e) {
      for (const op of ops) op.reject(e);
      return;
    }
    for (let i = 0; i < ops.length; i++) {
      const r = results[i]!;
      if ('error' in r) { ops[i]!.reject(r.error); continue; }
      this.rev = r.revision;
      this.hub.publish(r);
      ops[i]!.resolve(r);
    }
  }

  async watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void): Promise<Watcher> {
    if (afterRevision && afterRevision < this.compacted) throw tooOld(afterRevision, this.compacted);
    const end = prefixEnd(prefix);
    return this.hub.subscribe(prefix, afterRevision,
      () => afterRevision >= this.rev ? [] : (this.st.changes.all(afterRevision, prefix, end) as LogRow[]).map(logged), onEvent);
  }

  async currentRevision(): Promise<number> { return this.rev; }

  async compact(revision: number): Promise<void> {
    const to = Math.min(revision, this.rev);
    if (to <= this.compacted) return;
    this.tx.compact(to, this.rev);
    this.compacted = to;
  }

  async compactedRevision(): Promise<number> { return this.compacted; }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    if (this.db.open) this.flush();
    this.hub.clear();
    if (this.db.open) this.db.close();
  }
}

function entry(r: Row): StoreEntry {
  return { key: r.key, value: r.value, modRevision: r.mod_rev, createRevision: r.create_rev };
}

function logged(r: LogRow): LoggedEvent {
  return {
    type: r.deleted ? 'delete' : 'put', key: r.key, value: r.value, prevValue: r.prev_value ?? undefined, revision: r.rev,
    created: r.created === 1, prevRevision: r.prev_rev, createRevision: r.create_rev,
  };
}

/**
 * Files written by the first layout: kv was a WITHOUT ROWID table (copied into the rowid
 * layout) and the log did not carry create/prev revisions (history cannot be rebuilt from it,
 * so it is replaced and everything up to its last revision is marked compacted).
 */
/** chmod 0600, when ours to change (a store opened read-only by its owner's tools is left alone). */
function ownerOnly(path: string): void {
  try { chmodSync(path, 0o600); } catch { /* not ours */ }
}

function migrateOldLayout(db: Database.Database): void {
  const sqlOf = (t: string) => db.prepare('SELECT sql FROM sqlite_master WHERE type = ? AND name = ?').pluck().get('table', t) as string | undefined;
  const kv = sqlOf('kv');
  const logCols = db.prepare("SELECT name FROM pragma_table_info('log')").pluck().all() as string[];
  const oldKv = kv !== undefined && /WITHOUT ROWID/i.test(kv);
  const oldLog = logCols.includes('type');
  if (!oldKv && !oldLog) return;
  db.transaction(() => {
    if (oldKv) db.exec('ALTER TABLE kv RENAME TO kv_old');
    let last = 0;
    if (oldLog) {
      last = (db.prepare('SELECT max(rev) FROM log').pluck().get() as number | null) ?? 0;
      db.exec('DROP TABLE log');
    }
    db.exec(SCHEMA);
    if (oldKv) db.exec('INSERT INTO kv(key, value, mod_rev, create_rev) SELECT key, value, mod_rev, create_rev FROM kv_old ORDER BY key; DROP TABLE kv_old');
    if (oldLog) {
      const rev = Math.max(last, db.prepare("SELECT value FROM meta WHERE name = 'rev'").pluck().get() as number,
        (db.prepare('SELECT max(mod_rev) FROM kv').pluck().get() as number | null) ?? 0);
      db.prepare("UPDATE meta SET value = ? WHERE name IN ('rev', 'compacted')").run(rev);
    }
  })();
}

/** The smallest string greater than every string starting with prefix (byte order, as SQLite compares). */
export function prefixEnd(prefix: string): string {
  if (prefix === '') return '\u{10FFFF}';
  return prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1);
}
