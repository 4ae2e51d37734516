/**
 * @module apiserver/codec
 * How objects are kept in the store and turned back into JSON. Stored values are JSON with a
 * fixed head — `{"apiVersion":…,"kind":…,"metadata":{` — and no resourceVersion (the store's
 * revision is the resourceVersion). Because the head is fixed, the hot paths (get, list, watch)
 * splice `"resourceVersion":"N",` into the stored text instead of parsing and re-serialising
 * every object; values written before this layout (or by other writers) fall back to a parse.
 */
import { groupVersion, type ResourceInfo } from '../api/registry.js';
import type { KubeObject } from '../api/types.js';

type Obj = Record<string, any>;

const heads = new WeakMap<ResourceInfo, string>();

/** `{"apiVersion":"apps/v1","kind":"Deployment","metadata":{` for a resource. */
export function headOf(info: ResourceInfo): string {
  let h = heads.get(info);
  if (!h) { h = `{"apiVersion":${JSON.stringify(groupVersion(info))},"kind":${JSON.stringify(info.kind)},"metadata":{`; heads.set(info, h); }
  return h;
}

/** Serialise an object for storage: fixed head, metadata without resourceVersion. */
export function encodeObject(info: ResourceInfo, obj: KubeObject): string {
  const { apiVersion: _a, kind: _k, metadata, ...rest } = obj as Obj;
  const { resourceVersion: _rv, ...md } = (metadata ?? {}) as Obj;
  return JSON.stringify({ apiVersion: groupVersion(info), kind: info.kind, metadata: md, ...rest });
}

/** Parse a stored value into an object carrying its resourceVersion. */
export function decodeObject(info: ResourceInfo, value: string, rev: number): KubeObject {
  const o = JSON.parse(value) as Obj;
  o.apiVersion = groupVersion(info);
  o.kind = info.kind;
  o.metadata = { ...o.metadata, resourceVersion: String(rev) };
  return o as KubeObject;
}

function rvField(rev: number, next: string): string {
  return next === '}' ? `"resourceVersion":"${rev}"` : `"resourceVersion":"${rev}",`;
}

/** The object's JSON with its resourceVersion, without parsing when the value has the fixed head. */
export function objectJSON(info: ResourceInfo, value: string, rev: number): string {
  const head = headOf(info);
  if (value.startsWith(head)) return head + rvField(rev, value[head.length]!) + value.slice(head.length);
  return JSON.stringify(decodeObject(info, value, rev));
}

/** The JSON of a list item: as kube-apiserver, items carry no apiVersion/kind. */
export function listItemJSON(info: ResourceInfo, value: string, rev: number): string {
  const head = headOf(info);
  if (value.startsWith(head)) return `{"metadata":{` + rvField(rev, value[head.length]!) + value.slice(head.length);
  const { apiVersion: _a, kind: _k, ...rest } = decodeObject(info, value, rev) as Obj;
  return JSON.stringify(rest);
}

/** The namespace part of a storage key under `prefix` (the resource's all-namespaces prefix). */
export function namespaceOfKey(info: ResourceInfo, prefix: string, key: string): string | undefined {
  if (!info.namespaced) return undefined;
  const slash = key.indexOf('/', prefix.length);
  return slash < 0 ? undefined : key.slice(prefix.length, slash);
}
