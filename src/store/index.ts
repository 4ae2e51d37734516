/** @module store — createStore(): the store backend by name. */
import { join } from 'node:path';
import type { Store } from './types.js';
import { MemoryStore } from './memory.js';
import { SqliteStore } from './sqlite.js';

export interface StoreOptions {
  backend: 'memory' | 'sqlite' | 'etcd';
  /** SQLite file, or a data dir (state.db inside). */
  path?: string;
  etcdServers?: string[];
  etcdTls?: { ca?: string; cert?: string; key?: string };
  compactIntervalMs?: number;
}

export async function createStore(o: StoreOptions): Promise<Store> {
  switch (o.backend) {
    case 'memory':
      return new MemoryStore();
    case 'sqlite': {
      const p = o.path ?? ':memory:';
      return new SqliteStore(p.endsWith('.db') || p === ':memory:' ? p : join(p, 'state.db'), { compactIntervalMs: o.compactIntervalMs });
    }
    case 'etcd': {
      const mod = (await import('./etcd.js' as string).catch(() => null)) as { createEtcdStore?: (o: StoreOptions) => Promise<Store> } | null;
      if (!mod?.createEtcdStore) throw new Error('the etcd store is not available in this build');
      return mod.createEtcdStore(o);
    }
    default:
      throw new Error(`unknown store backend "${String(o.backend)}": use sqlite, etcd or memory`);
  }
}

export type { Store } from './types.js';
export { StoreError } from './types.js';
