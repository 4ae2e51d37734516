/**
 * @module store/types
 * The revisioned key-value store behind the API server. One interface, three backends
 * (memory for unit tests, SQLite by default, etcd for HA), one conformance suite
 * (conformance.ts) that every backend passes.
 *
 * Semantics, as etcd's: every successful write bumps one global revision, which becomes the
 * object's resourceVersion. Values are opaque strings (the API server stores JSON).
 */

export interface StoreEntry {
  key: string;
  value: string;
  /** Revision of the last write to this key (its resourceVersion). */
  modRevision: number;
  /** Revision that created this key. */
  createRevision: number;
}

export interface ListOptions {
  /** Max number of entries to return; 0 or undefined = all. */
  limit?: number;
  /** Return keys strictly after this key (the continue token of the previous page). */
  startAfter?: string;
  /** Read at this revision (for consistent paging); must not be compacted. Default: current. */
  revision?: number;
}

export interface ListResult {
  entries: StoreEntry[];
  /** The revision the list was read at. */
  revision: number;
  /** True if more entries exist after the last one returned. */
  more: boolean;
  /** How many entries remain after this page (when known). */
  remaining?: number;
}

export interface StoreEvent {
  type: 'put' | 'delete';
  key: string;
  /** New value for put; the last value for delete. */
  value: string;
  /** Previous value, when there was one. */
  prevValue?: string;
  /** Revision of this event. */
  revision: number;
  /** True when the put created the key. */
  created: boolean;
}

export interface Watcher {
  stop(): void;
}

export type StoreErrorCode = 'NotFound' | 'AlreadyExists' | 'Conflict' | 'Gone' | 'Unavailable';

export class StoreError extends Error {
  constructor(readonly code: StoreErrorCode, message: string, readonly key?: string, readonly currentRevision?: number) {
    super(message);
    this.name = 'StoreError';
  }
}

export interface Store {
  /** Backend name, e.g. "sqlite". */
  readonly name: string;
  get(key: string): Promise<StoreEntry | null>;
  /** All keys starting with prefix, in key order. */
  list(prefix: string, opts?: ListOptions): Promise<ListResult>;
  /** Count of keys under prefix. */
  count(prefix: string): Promise<number>;
  /** Create; fails with AlreadyExists. Returns the new revision. */
  create(key: string, value: string): Promise<number>;
  /**
   * Compare-and-swap: fails with Conflict when the key's modRevision != expectedRevision,
   * NotFound when the key is missing. Returns the new revision.
   */
  update(key: string, value: string, expectedRevision: number): Promise<number>;
  /** Delete, optionally guarded on modRevision. Returns the deleted entry and the delete revision. */
  delete(key: string, expectedRevision?: number): Promise<{ revision: number; prev: StoreEntry }>;
  /**
   * Watch keys under prefix. Delivers, in order and without gaps, every event with
   * revision > afterRevision, then live events. Throws StoreError('Gone') when afterRevision
   * is older than the compacted revision. onError is called if the watch breaks (the caller
   * re-watches from the last revision it saw). onProgress, when the backend has progress
   * notifications (etcd), says every event up to that revision has been delivered (BOOKMARK).
   */
  watch(prefix: string, afterRevision: number, onEvent: (ev: StoreEvent) => void, onError?: (err: Error) => void,
    onProgress?: (revision: number) => void): Promise<Watcher>;
  /** The latest revision. */
  currentRevision(): Promise<number>;
  /** Drop history at or before revision. Watches/lists older than it get Gone. */
  compact(revision: number): Promise<void>;
  /** The oldest revision still available. */
  compactedRevision(): Promise<number>;
  close(): Promise<void>;
}
