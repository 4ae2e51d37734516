/**
 * @module store/sqlite
 * The default store: one SQLite file (better-sqlite3, WAL). Two tables: `kv`, the current state
 * (key → value, mod_rev, create_rev), and `log`, an append-only event log whose rowid is the
 * global revision (what watchers replay from; compaction trims it). Every write is one
 * transaction that appends to the log and updates kv, then pushes the event to in-process
 * watchers — no polling.
 *
 * Durability: WAL with synchronous=NORMAL. A committed transaction is in the WAL file before
 * the call returns, so killing the process (kill -9) never loses an acknowledged write; only a
 * power loss could drop the last transactions, as with etcd's default batching.
 */
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { StoreError, type ListOptions, type ListResult, type Store, type StoreEntry, type StoreEvent, type Watcher } from './types.js';
import { WatchHub } from './watchers.js';
import { tooOld } from './memory.js';

/** Events kept for watch replay after a periodic compaction. */
const KEEP_REVISIONS = 50_000;
const COMPACT_EVERY_MS = 60_000;

interface Row { key: string; value: string; mod_rev: number; create_rev: number }
interface LogRow { rev: number; key: string; type: string; value: string; prev_value: string | null; created: number }

export class SqliteStore implements Store {
  readonly name = 'sqlite';
  private readonly db: Database.Database;
  private readonly hub = new WatchHub();
  private rev: number;
  private compacted: number;
  private timer?: NodeJS.Timeout;
  private readonly st: Record<string, Database.Statement>;

  constructor(readonly path: string, opts: { compactIntervalMs?: number } = {}) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true });
    this.db = new Database(path);
    this.db.pragma('journal_mode = WAL');
    this.db.pragma('synchronous = NORMAL');
    this.db.pragma('busy_timeout = 5000');
    this.db.exec(`
      CREATE TABLE IF NOT EXISTS kv (key TEXT PRIMARY KEY, value TEXT NOT NULL, mod_rev INTEGER NOT NULL, create_rev INTEGER NOT NULL) WITHOUT ROWID;
      CREATE TABLE IF NOT EXISTS log (rev INTEGER PRIMARY KEY, key TEXT NOT NULL, type TEXT NOT NULL, value TEXT NOT NULL, prev_value TEXT, created INTEGER NOT NULL);
      CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value INTEGER NOT NULL);
      INSERT OR IGNORE INTO meta(name, value) VALUES ('compacted', 0), ('rev', 0);
    `);
    const q = (s: string) => this.db.prepare(s);
    this.st = {
      get: q('SELECT key, value, mod_rev, create_rev FROM kv WHERE key = ?'),
      list: q('SELECT key, value, mod_rev, create_rev FROM kv WHERE key >= ? AND key < ? ORDER BY key LIMIT ?'),
      countRange: q('SELECT count(*) AS n FROM kv WHERE key >= ? AND key < ?'),
      insertKv: q('INSERT INTO kv(key, value, mod_rev, create_rev) VALUES (?, ?, ?, ?)'),
      updateKv: q('UPDATE kv SET value = ?, mod_rev = ? WHERE key = ?'),
      deleteKv: q('DELETE FROM kv WHERE key = ?'),
      insertLog: q('INSERT INTO log(rev, key, type, value, prev_value, created) VALUES (?, ?, ?, ?, ?, ?)'),
      history: q('SELECT rev, key, type, value, prev_value, created FROM log WHERE rev > ? AND key >= ? AND key < ? ORDER BY rev'),
      setMeta: q('UPDATE meta SET value = ? WHERE name = ?'),
      getMeta: q('SELECT value FROM meta WHERE name = ?'),
      trim: q('DELETE FROM log WHERE rev <= ?'),
    };
    const maxLog = (this.db.prepare('SELECT max(rev) AS r FROM log').get() as { r: number | null }).r ?? 0;
    this.rev = Math.max(maxLog, (this.st.getMeta!.get('rev') as { value: number }).value);
    this.compacted = (this.st.getMeta!.get('compacted') as { value: number }).value;
    const every = opts.compactIntervalMs ?? COMPACT_EVERY_MS;
    if (every > 0) {
      this.timer = setInterval(() => { if (this.rev - KEEP_REVISIONS > this.compacted) void this.compact(this.rev - KEEP_REVISIONS); }, every);
      this.timer.unref();
    }
  }

  private static entry(r: Row): StoreEntry {
    return { key: r.key, value: r.value, modRevision: r.mod_rev, createRevision: r.create_rev };
  }

  async get(key: string): Promise<StoreEntry | null> {
    const r = this.st.get!.get(key) as Row | undefined;
    return r ? SqliteStore.entry(r) : null;
  }

  async list(prefix: string, opts: ListOptions = {}): Promise<ListResult> {
    if (opts.revision && opts.revision < this.compacted) throw tooOld(opts.revision, this.compacted);
    const end = prefixEnd(prefix);
    const start = opts.startAfter !== undefined && opts.startAfter >= prefix ? opts.startAfter + '\0' : prefix;
    const limit = opts.limit && opts.limit > 0 ? opts.limit : -1;
    const rows = this.st.list!.all(start, end, limit === -1 ? -1 : limit + 1) as Row[];
    const more = limit !== -1 && rows.length > limit;
    const page = more ? rows.slice(0, limit) : rows;
    let remaining: number | undefined;
    if (more) {
      const last = page[page.length - 1]!.key;
      remaining = (this.st.countRange!.get(last + '\0', end) as { n: number }).n;
    }
    return { entries: page.map(SqliteStore.entry), revision: this.rev, more, remaining: more ? remaining : 0 };
  }

  async count(prefix: string): Promise<number> {
    return (this.st.countRange!.get(prefix, prefixEnd(prefix)) as { n: number }).n;
  }

  /** One transaction: append to the log, apply to kv, bump rev. Returns the new revision. */
  private write(fn: (rev: number) => StoreEvent): number {
    let ev!: StoreEvent;
    this.db.transaction(() => {
      const rev = this.rev + 1;
      ev = fn(rev);
      this.st.insertLog!.run(rev, ev.key, ev.type, ev.value, ev.prevValue ?? null, ev.created ? 1 : 0);
      this.st.setMeta!.run(rev, 'rev');
    })();
    this.rev = ev.revision;
    this.hub.publish(ev);
    return ev.revision;
  }

  async create(key: string, value: string): Promise<number> {
    return this.write((rev) => {
      try {
        this.st.insertKv!.run(key, value, rev, rev);
      } catch (e) {
        if ((e as { code?: string }).code === 'SQLITE_CONSTRAINT_PRIMARYKEY') throw new StoreError('AlreadyExists', `key ${key} already exists`, key);
        throw e;
      }
      return { type: 'put', key, value, revision: rev, created: true };
    });
  }

  async update(key: string, value: string, expectedRevision: number): Promise<number> {
    return this.write((rev) => {
      const cur = this.st.get!.get(key) as Row | undefined;
      if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
      if (cur.mod_rev !== expectedRevision) throw new StoreError('Conflict', `key ${key} is at revision ${cur.mod_rev}, not ${expectedRevision}`, key, cur.mod_rev);
      this.st.updateKv!.run(value, rev, key);
      return { type: 'put', key, value, prevValue: cur.value, revision: rev, created: false };
    });
  }

  async delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }> {
    let prev!: StoreEntry;
    const revision = this.write((rev) => {
      const cur = this.st.get!.get(key) as Row | undefined;
      if (!cur) throw new StoreError('NotFound', `key ${key} not found`, key);
      if (expectedRevision !== undefined && cur.mod_rev !== expectedRevision) throw new StoreError('Conflict', `key ${key} is at revision ${cur.mod_rev}, not ${expectedRevision}`, key, cur.mod_rev);
      this.st.deleteKv!.run(key);
      prev = SqliteStore.entry(cur);
      return { type: 'delete', key, value: cur.value, prevValue: cur.value, revision: rev, created: false };
    });
    return { revision, prev };
  }

  async watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void): Promise<Watcher> {
    if (afterRevision && afterRevision < this.compacted) throw tooOld(afterRevision, this.compacted);
    const end = prefixEnd(prefix);
    return this.hub.subscribe(prefix, afterRevision, () => afterRevision >= this.rev ? [] : (this.st.history!.all(afterRevision, prefix, end) as LogRow[]).map((r) => ({
      type: r.type as 'put' | 'delete', key: r.key, value: r.value, prevValue: r.prev_value ?? undefined, revision: r.rev, created: r.created === 1,
    })), onEvent);
  }

  async currentRevision(): Promise<number> { return this.rev; }

  async compact(revision: number): Promise<void> {
    const to = Math.min(revision, this.rev);
    if (to <= this.compacted) return;
    this.db.transaction(() => { this.st.trim!.run(to); this.st.setMeta!.run(to, 'compacted'); })();
    this.compacted = to;
  }

  async compactedRevision(): Promise<number> { return this.compacted; }

  async close(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.db.close();
  }
}

/** The smallest string greater than every string starting with prefix. */
export function prefixEnd(prefix: string): string {
  return prefix + '\uffff';
}
