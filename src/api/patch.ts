/**
 * @module api/patch
 * The three patch types the API server accepts on PATCH:
 * - strategic merge patch (application/strategic-merge-patch+json), following
 *   k8s.io/apimachinery/pkg/util/strategicpatch (mergeMap / mergeSlice / normalizeElementOrder)
 *   with the merge keys of patch-meta.ts and the directives kubectl sends;
 * - JSON merge patch (RFC 7386, application/merge-patch+json);
 * - JSON patch (RFC 6902, application/json-patch+json), with errors worded like the
 *   json-patch library kube-apiserver uses.
 * Inputs are never modified.
 */
import type { KubeObject } from './types.js';
import type { ResourceInfo } from './registry.js';
import { fieldMeta, typeNameFor } from './patch-meta.js';

const DIRECTIVE = '$patch';
const RETAIN_KEYS = '$retainKeys';
const SET_ORDER_PREFIX = '$setElementOrder/';
const DELETE_PRIMITIVE_PREFIX = '$deleteFromPrimitiveList/';

/** A patch that cannot be applied; code is the HTTP status kube-apiserver answers with. */
export class PatchError extends Error {
  readonly code: number;
  readonly reason: 'BadRequest' | 'Invalid' | 'Conflict';
  constructor(message: string, code = 422, reason: 'BadRequest' | 'Invalid' | 'Conflict' = code === 400 ? 'BadRequest' : 'Invalid') {
    super(message);
    this.name = 'PatchError';
    this.code = code;
    this.reason = reason;
  }
}

type Obj = Record<string, unknown>;

export function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function clone<T>(v: T): T {
  return v === undefined ? v : structuredClone(v);
}

/** Deep equality of JSON values (object key order ignored). */
export function jsonEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a)) {
    if (!Array.isArray(b) || a.length !== b.length) return false;
    return a.every((x, i) => jsonEqual(x, b[i]));
  }
  if (isObj(a)) {
    if (!isObj(b)) return false;
    const ka = Object.keys(a);
    if (ka.length !== Object.keys(b).length) return false;
    return ka.every((k) => Object.prototype.hasOwnProperty.call(b, k) && jsonEqual(a[k], b[k]));
  }
  return false;
}

// ====================================================================== JSON merge patch

/** RFC 7386 JSON merge patch. */
export function mergePatch(original: unknown, patch: unknown): unknown {
  if (!isObj(patch)) return clone(patch);
  const out: Obj = isObj(original) ? clone(original) : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

// ====================================================================== JSON patch

function parsePointer(path: unknown): string[] {
  if (typeof path !== 'string') throw new PatchError('invalid JSON pointer: path must be a string', 400);
  if (path === '') return [];
  if (!path.startsWith('/')) throw new PatchError(`invalid JSON pointer "${path}": must start with "/"`, 400);
  return path.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function arrayIndex(tok: string, len: number, allowEnd: boolean, path: string, op: string): number {
  if (tok === '-' && allowEnd) return len;
  if (!/^(0|[1-9][0-9]*)$/.test(tok)) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  const i = Number(tok);
  if (i > len || (!allowEnd && i === len)) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return i;
}

/** The container holding the last token of path (throws when the path does not exist). */
function parentOf(doc: unknown, toks: string[], path: string, op: string): unknown {
  let cur = doc;
  for (const t of toks.slice(0, -1)) {
    if (Array.isArray(cur)) {
      const i = /^(0|[1-9][0-9]*)$/.test(t) ? Number(t) : -1;
      if (i < 0 || i >= cur.length) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
      cur = cur[i];
    } else if (isObj(cur) && Object.prototype.hasOwnProperty.call(cur, t)) {
      cur = cur[t];
    } else {
      throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
    }
  }
  if (!Array.isArray(cur) && !isObj(cur)) throw new PatchError(`${op} operation does not apply: doc is missing path: "${path}": missing value`);
  return cur;
}

function getAt(doc: unknown, path: string, op: string): unknown {
  const toks = parsePointer(path);
  if (toks.length === 0) return doc;
  const parent = parentOf(doc, toks, path, op);
  const last = toks[toks.length - 1];
  if (Array.isArray(parent)) return parent[arrayIndex(last, parent.length, false, path, op)];
  const p = parent as Obj;
  if (!Object.prototype.hasOwnProperty.call(p, last)) throw new PatchError(`${op} operation does not apply: doc is missing key: ${path}: missing value`);
  return p[last];
}

function removeAt(doc: unknown, path: string, op: string): unknown {
  const toks = parsePointer(path);
  if (toks.length === 0) throw new PatchError(`${op} operation does not apply: cannot remove the whole document`);
  const parent = parentOf(doc, toks, path, op);
  const last = toks[toks.length - 1];
  if (Array.isArray(parent)) {
    const i = arrayIndex(last, parent.length, false, path, op);
    return parent.splice(i, 1)[0];
  }
  const p = parent as Obj;
  if (!Object.prototype.hasOwnProperty.call(p, last)) {
    throw new PatchError(op === 'remove' ? `Unable to remove nonexistent key: ${last}: missing value` : `${op} operation does not apply: doc is missing key: ${path}: missing value`);
  }
  const v = p[last];
  delete p[last];
  return v;
}

/** Returns the new document (the root may be replaced). */
function addAt(doc: unknown, path: string, value: unknown, op: string): unknown {
  const toks = parsePointer(path);
  if (toks.length === 0) return value;
  const parent = parentOf(doc, toks, path, op);
  const last = toks[toks.length - 1];
  if (Array.isArray(parent)) parent.splice(arrayIndex(last, parent.length, true, path, op), 0, value);
  else (parent as Obj)[last] = value;
  return doc;
}

/** RFC 6902 JSON patch: add, remove, replace, move, copy, test. */
export function jsonPatch(original: unknown, ops: unknown): unknown {
  if (!Array.isArray(ops)) throw new PatchError('json: cannot unmarshal object into Go value of type jsonpatch.Patch', 400);
  let doc = clone(original);
  for (const raw of ops) {
    if (!isObj(raw)) throw new PatchError('json: cannot unmarshal into Go value of type jsonpatch.Operation', 400);
    const op = raw.op;
    const path = raw.path as string;
    switch (op) {
      case 'add':
        if (!('value' in raw)) throw new PatchError(`add operation does not apply: missing value`);
        doc = addAt(doc, path, clone(raw.value), 'add');
        break;
      case 'remove':
        try {
          removeAt(doc, path, 'remove');
        } catch (e) {
          throw new PatchError(`error in remove for path: '${path}': ${(e as Error).message}`);
        }
        break;
      case 'replace': {
        if (!('value' in raw)) throw new PatchError(`replace operation does not apply: missing value`);
        const toks = parsePointer(path);
        if (toks.length === 0) { doc = clone(raw.value); break; }
        getAt(doc, path, 'replace');
        const parent = parentOf(doc, toks, path, 'replace');
        const last = toks[toks.length - 1];
        if (Array.isArray(parent)) parent[arrayIndex(last, parent.length, false, path, 'replace')] = clone(raw.value);
        else (parent as Obj)[last] = clone(raw.value);
        break;
      }
      case 'move': {
        const from = raw.from as string;
        if (typeof path === 'string' && typeof from === 'string' && path.startsWith(`${from}/`)) {
          throw new PatchError(`move operation does not apply: cannot move "${from}" into its own child "${path}"`);
        }
        const v = removeAt(doc, from, 'move');
        doc = addAt(doc, path, v, 'move');
        break;
      }
      case 'copy': {
        const v = clone(getAt(doc, raw.from as string, 'copy'));
        doc = addAt(doc, path, v, 'copy');
        break;
      }
      case 'test': {
        let cur: unknown;
        try {
          cur = getAt(doc, path, 'test');
        } catch {
          cur = undefined;
        }
        if (cur === undefined ? raw.value !== null : !jsonEqual(cur, raw.value)) {
          throw new PatchError(`testing value ${path} failed: test failed`);
        }
        break;
      }
      default:
        throw new PatchError(`Unexpected kind: ${String(op)}`);
    }
  }
  return doc;
}

// ====================================================================== strategic merge patch

interface ListMeta { strategy: string; mergeKey: string; elemType?: string }

function listMeta(typeName: string | undefined, field: string): ListMeta {
  const m = fieldMeta(typeName, field);
  return { strategy: stripRetainKeys(m.strategy), mergeKey: m.mergeKey ?? '', elemType: m.type };
}

function stripRetainKeys(strategy: string | undefined): string {
  return (strategy ?? '').split(',').filter((s) => s && s !== 'retainKeys').join(',');
}

function badPatchType(v: unknown, m: unknown): PatchError {
  return new PatchError(`Unknown patch type: ${String(v)} in map: ${JSON.stringify(m)}`, 400);
}

function noMergeKey(m: unknown, key: string): PatchError {
  return new PatchError(`map: ${JSON.stringify(m)} does not contain declared merge key: ${key}`, 400);
}

/** Nulls mean "delete"; in a value that does not exist yet there is nothing to delete. */
function discardNulls(v: unknown): unknown {
  if (isObj(v)) {
    const out: Obj = {};
    for (const [k, x] of Object.entries(v)) if (x !== null) out[k] = discardNulls(x);
    return out;
  }
  if (Array.isArray(v)) return v.map(discardNulls);
  return v;
}

function keyOfItem(item: unknown, mergeKey: string): unknown {
  return isObj(item) ? item[mergeKey] : undefined;
}

function indexIn(order: unknown[], item: unknown, mergeKey: string): number {
  if (mergeKey) {
    const k = keyOfItem(item, mergeKey);
    return order.findIndex((o) => isObj(o) && jsonEqual(o[mergeKey], k));
  }
  return order.findIndex((o) => jsonEqual(o, item));
}

/** Stable sort of toSort by position in order; items not in order keep their relative order after. */
function sortByOrder(toSort: unknown[], order: unknown[], mergeKey: string): unknown[] {
  const withIdx = toSort.map((v, i) => ({ v, i, o: indexIn(order, v, mergeKey) }));
  withIdx.sort((a, b) => {
    if (a.o >= 0 && b.o >= 0) return a.o - b.o || a.i - b.i;
    if (a.o >= 0) return -1;
    if (b.o >= 0) return 1;
    return a.i - b.i;
  });
  return withIdx.map((x) => x.v);
}

/** mergeSortedSlice: interleave server-only items into the patch items by the live order. */
function mergeSorted(left: unknown[], right: unknown[], serverOrder: unknown[], mergeKey: string): unknown[] {
  const out: unknown[] = [];
  let i = 0;
  let j = 0;
  while (i < left.length || j < right.length) {
    if (i >= left.length) out.push(right[j++]);
    else if (j >= right.length) out.push(left[i++]);
    else {
      const li = indexIn(serverOrder, left[i], mergeKey);
      const ri = indexIn(serverOrder, right[j], mergeKey);
      if (li >= 0 && ri >= 0 && li < ri) out.push(left[i++]);
      else out.push(right[j++]);
    }
  }
  return out;
}

/** normalizeElementOrder: patch order (or $setElementOrder) first, server-only items where they were. */
function normalizeOrder(merged: unknown[], patchOrder: unknown[], serverOrder: unknown[], mergeKey: string): unknown[] {
  const inPatch: unknown[] = [];
  const serverOnly: unknown[] = [];
  for (const v of merged) (indexIn(patchOrder, v, mergeKey) >= 0 ? inPatch : serverOnly).push(v);
  return mergeSorted(sortByOrder(serverOnly, serverOrder, mergeKey), sortByOrder(inPatch, patchOrder, mergeKey), serverOrder, mergeKey);
}

function dedupeScalars(list: unknown[]): unknown[] {
  const out: unknown[] = [];
  for (const v of list) if (!out.some((x) => jsonEqual(x, v))) out.push(v);
  return out;
}

function mergeSlice(original: unknown[], patch: unknown[], elemType: string | undefined, mergeKey: string, isDeleteList: boolean, path: string): unknown[] {
  if (original.length === 0 && patch.length === 0) return original;
  const sample = patch.length > 0 ? patch[0] : original[0];
  if (!isObj(sample)) {
    if (isDeleteList) return original.filter((o) => !patch.some((p) => jsonEqual(o, p)));
    const merged = dedupeScalars([...original, ...patch]);
    return normalizeOrder(merged, patch, original, '');
  }
  if (!mergeKey) throw new PatchError(`cannot merge lists without merge key for ${path}`, 400);
  // Special elements: {$patch: delete, key: v} and {$patch: replace}.
  let orig = original.slice();
  const plain: unknown[] = [];
  let replace = false;
  for (const p of patch) {
    if (!isObj(p)) throw new PatchError(`${path}: list items must be objects`, 400);
    if (!(DIRECTIVE in p)) { plain.push(p); continue; }
    const d = p[DIRECTIVE];
    if (d === 'delete') {
      if (!(mergeKey in p)) throw noMergeKey(p, mergeKey);
      orig = orig.filter((o) => !(isObj(o) && jsonEqual(o[mergeKey], p[mergeKey])));
    } else if (d === 'replace') {
      replace = true;
    } else if (d === 'merge') {
      throw new PatchError('merging lists cannot yet be specified in the patch', 400);
    } else {
      throw badPatchType(d, p);
    }
  }
  if (replace) return plain.map((p) => mergeMap({}, p as Obj, elemType, path));
  const merged = orig.slice();
  for (const p of plain as Obj[]) {
    if (!(mergeKey in p)) throw noMergeKey(p, mergeKey);
    const at = merged.findIndex((o) => isObj(o) && jsonEqual(o[mergeKey], p[mergeKey]));
    if (at >= 0) merged[at] = mergeMap(merged[at] as Obj, p, elemType, path);
    else merged.push(mergeMap({}, p, elemType, path));
  }
  return normalizeOrder(merged, plain, orig, mergeKey);
}

/** $setElementOrder/<list> (with the list's patch and $deleteFromPrimitiveList), merged together. */
function mergeOrderedLists(original: Obj, patch: Obj, typeName: string | undefined, path: string): void {
  for (const key of Object.keys(patch)) {
    if (!key.startsWith(SET_ORDER_PREFIX)) continue;
    const field = key.slice(SET_ORDER_PREFIX.length);
    const order = patch[key];
    if (!Array.isArray(order)) throw new PatchError(`invalid type for ${key}: must be a list`, 400);
    const lm = listMeta(typeName, field);
    const orig = Array.isArray(original[field]) ? (original[field] as unknown[]) : [];
    let merged: unknown[];
    const patchList = patch[field];
    if (lm.mergeKey) {
      for (const o of order) if (!isObj(o) || !(lm.mergeKey in o)) throw noMergeKey(o, lm.mergeKey);
      merged = Array.isArray(patchList) ? mergeSlice(orig, patchList, lm.elemType, lm.mergeKey, false, `${path}.${field}`) : orig.slice();
    } else {
      const del = patch[DELETE_PRIMITIVE_PREFIX + field];
      merged = Array.isArray(del) ? orig.filter((o) => !del.some((d) => jsonEqual(o, d))) : orig.slice();
      if (Array.isArray(patchList)) merged = dedupeScalars([...merged, ...patchList]);
      delete patch[DELETE_PRIMITIVE_PREFIX + field];
    }
    original[field] = normalizeOrder(merged, order, orig, lm.mergeKey);
    delete patch[key];
    delete patch[field];
  }
}

function mergeMap(original: Obj, patchIn: Obj, typeName: string | undefined, path: string): Obj {
  if (DIRECTIVE in patchIn) {
    const d = patchIn[DIRECTIVE];
    if (d === 'replace') {
      const { [DIRECTIVE]: _, ...rest } = patchIn;
      return discardNulls(rest) as Obj;
    }
    if (d === 'delete') return {};
    if (d !== 'merge') throw badPatchType(d, patchIn);
  }
  const patch: Obj = { ...patchIn };
  delete patch[DIRECTIVE];
  const out: Obj = { ...original };
  if (RETAIN_KEYS in patch) {
    const keep = patch[RETAIN_KEYS];
    if (!Array.isArray(keep)) throw new PatchError(`invalid type for $retainKeys: must be a list`, 400);
    for (const k of Object.keys(out)) if (!keep.includes(k)) delete out[k];
    delete patch[RETAIN_KEYS];
  }
  mergeOrderedLists(out, patch, typeName, path);
  for (const [rawKey, pv] of Object.entries(patch)) {
    let k = rawKey;
    let isDeleteList = false;
    if (k.startsWith(DELETE_PRIMITIVE_PREFIX)) {
      k = k.slice(DELETE_PRIMITIVE_PREFIX.length);
      isDeleteList = true;
      if (!Array.isArray(pv)) throw new PatchError(`invalid type for ${rawKey}: must be a list`, 400);
      if (!(k in out)) continue;
    } else if (k.startsWith('$')) {
      // Unknown directives are dropped rather than stored.
      continue;
    }
    if (pv === null) { delete out[k]; continue; }
    const meta = fieldMeta(typeName, k);
    const sub = `${path}.${k}`;
    const ov = out[k];
    if (isObj(pv)) {
      if (!isObj(ov) || stripRetainKeys(meta.strategy) === 'replace') {
        out[k] = stripRetainKeys(meta.strategy) === 'replace' ? discardNulls(pv) : mergeMap({}, pv, meta.type, sub);
      } else {
        out[k] = mergeMap(ov, pv, meta.type, sub);
      }
    } else if (Array.isArray(pv)) {
      const strategy = stripRetainKeys(meta.strategy);
      if (strategy === 'merge' || isDeleteList) {
        out[k] = mergeSlice(Array.isArray(ov) ? ov : [], pv, meta.type, meta.mergeKey ?? '', isDeleteList, sub);
      } else {
        out[k] = discardNulls(pv);
      }
    } else {
      out[k] = pv;
    }
  }
  return out;
}

/**
 * Strategic merge patch for a built-in kind (the server side of
 * application/strategic-merge-patch+json, as kubectl apply/patch/label send it).
 */
export function strategicMergePatch(original: KubeObject, patch: unknown, info: ResourceInfo): KubeObject {
  if (!isObj(patch)) throw new PatchError('json: cannot unmarshal into Go value of type map[string]interface {}', 400);
  const typeName = typeNameFor(info.group, info.version, info.kind);
  return mergeMap(clone(original) as Obj, clone(patch), typeName, '') as KubeObject;
}
