/** @module client/keys — cache keys as client-go spells them: "namespace/name", or "name" for cluster-scoped objects. */
import type { MetaObject } from '../api/types.js';

export function keyOf(obj: MetaObject): string {
  const ns = obj.metadata?.namespace;
  return ns ? `${ns}/${obj.metadata?.name}` : String(obj.metadata?.name);
}

export function splitKey(key: string): { namespace?: string; name: string } {
  const i = key.indexOf('/');
  return i < 0 ? { name: key } : { namespace: key.slice(0, i), name: key.slice(i + 1) };
}
