/**
 * @module store
 * createStore(): the store backend by name. Failures are one line naming what was tried, e.g.
 * `etcd unreachable at http://127.0.0.1:2379 (tried for 5s): connect ECONNREFUSED 127.0.0.1:2379`.
 */
import { join } from 'node:path';
import type { Store } from './types.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';

export interface StoreOptions {
  backend: 'memory' | 'sqlite' | 'etcd';
  /** SQLite file (*.db or :memory:), or a data dir (state.db inside). */
  path?: string;
  /** etcd client URLs (default http://127.0.0.1:2379). */
  etcdServers?: string[];
  /** PEM files for etcd over https: CA, client certificate and key. */
  etcdTls?: { ca?: string; cert?: string; key?: string };
  /** Periodic compaction interval (0 = never). Defaults: SQLite 60 s, etcd 5 min. */
  compactIntervalMs?: number;
}

export async function createStore(o: StoreOptions): Promise<Store> {
  switch (o.backend) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite': {
      const p = o.path ?? ':memory:';
      const file = p.endsWith('.db') || p === ':memory:' ? p : join(p, 'state.db');
      try {
        return new SqliteStore(file, { compactIntervalMs: o.compactIntervalMs });
      } catch (e) {
        throw new Error(`cannot open sqlite store ${file}: ${(e as Error).message}`);
      }
    }
    case 'etcd': {
      const { createEtcdStore } = await import('./etcd.js');
      return createEtcdStore(o);
    }
    default:
      throw new Error(`unknown store backend "${String(o.backend)}": use sqlite, etcd or memory`);
  }
}

export type { Store, StoreEntry, StoreEvent, ListOptions, ListResult, Watcher, StoreErrorCode } from './types.js';
export { StoreError } from './types.js';
export { MemoryStore } from './memory.js';
export { SqliteStore } from './sqlite.js';
