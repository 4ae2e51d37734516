/**
 * @module store/migrate
 * Moving a cluster's state between backends (`svcplane store export` / `import`): every key —
 * objects and the allocation state the API server keeps under /registry/… — as a stream of JSON
 * lines `{"key":"/registry/services/specs/default/web","value":{…}}`. Values that are JSON are
 * inlined (readable, diffable); anything else is carried as `"raw":"…"`. The export is read at
 * one revision, page by page, so it is a consistent snapshot even while writes go on.
 */
import type { Store } from './types.js';
import { StoreError } from './types.js';
import { COMPACT_KEY } from './constants.js';

/** Entries per page while exporting. */
const PAGE = 500;

export interface ExportLine {
  key: string;
  /** The stored value, parsed, when it is JSON. */
  value?: unknown;
  /** The stored value as is, when it is not JSON. */
  raw?: string;
}

/** Keys that belong to the backend itself, not to the cluster. */
const INTERNAL_KEYS = new Set([COMPACT_KEY]);

/** One JSON line (no trailing newline) per key under prefix, in key order, at one revision. */
export async function* exportStore(store: Store, prefix = ''): AsyncGenerator<string> {
  let revision: number | undefined;
  let startAfter: string | undefined;
  for (;;) {
    const page = await store.list(prefix, { limit: PAGE, startAfter, revision });
    revision ??= page.revision;
    for (const e of page.entries) {
      startAfter = e.key;
      if (INTERNAL_KEYS.has(e.key)) continue;
      yield JSON.stringify(toLine(e.key, e.value));
    }
    if (!page.more || page.entries.length === 0) return;
  }
}

function toLine(key: string, value: string): ExportLine {
  try {
    const parsed: unknown = JSON.parse(value);
    // Only when it serialises back to exactly the same bytes, so import restores them verbatim.
    if (JSON.stringify(parsed) === value) return { key, value: parsed };
  } catch { /* not JSON */ }
  return { key, raw: value };
}

export interface ImportOptions {
  /** Replace keys that exist with a different value (default: fail naming the key). */
  overwrite?: boolean;
}

export interface ImportResult {
  created: number;
  updated: number;
  unchanged: number;
}

/**
 * Write every line's key into store. Blank lines are skipped; a malformed line fails with its
 * line number. Keys already holding the same value count as unchanged, so an import can be rerun.
 */
export async function importStore(store: Store, lines: AsyncIterable<string> | Iterable<string>, opts: ImportOptions = {}): Promise<ImportResult> {
  const res: ImportResult = { created: 0, updated: 0, unchanged: 0 };
  let n = 0;
  for await (const line of lines) {
    n++;
    if (!line.trim()) continue;
    let l: ExportLine;
    try {
      l = JSON.parse(line) as ExportLine;
    } catch (e) {
      throw new Error(`line ${n}: invalid JSON: ${(e as Error).message}`);
    }
    if (typeof l?.key !== 'string' || !l.key) throw new Error(`line ${n}: missing "key"`);
    if (l.raw === undefined && l.value === undefined) throw new Error(`line ${n} (${l.key}): missing "value" or "raw"`);
    const value = l.raw !== undefined ? String(l.raw) : JSON.stringify(l.value);
    try {
      await store.create(l.key, value);
      res.created++;
    } catch (e) {
      if (!(e instanceof StoreError && e.code === 'AlreadyExists')) throw e;
      const cur = await store.get(l.key);
      if (cur && cur.value === value) { res.unchanged++; continue; }
      if (!opts.overwrite) throw new Error(`line ${n}: ${l.key} already exists with a different value (import with overwrite to replace it)`);
      if (cur) await store.update(l.key, value, cur.modRevision); else await store.create(l.key, value);
      res.updated++;
    }
  }
  return res;
}

/** Split a byte stream (a file, stdin) into lines for importStore. */
export async function* readLines(input: AsyncIterable<Buffer | string>): AsyncGenerator<string> {
  let buf = '';
  for await (const chunk of input) {
    buf += chunk.toString();
    let i: number;
    while ((i = buf.indexOf('\n')) >= 0) {
      yield buf.slice(0, i);
      buf = buf.slice(i + 1);
    }
  }
  if (buf) yield buf;
}
