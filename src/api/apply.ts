/**
 * @module api/apply
 * Server-side apply (application/apply-patch+yaml) and field ownership, modelled on
 * sigs.k8s.io/structured-merge-diff as kube-apiserver uses it:
 * - every write records which manager owns which fields in metadata.managedFields
 *   (fieldsType FieldsV1: {"f:spec":{"f:ports":{".":{},"k:{\"port\":80,\"protocol\":\"TCP\"}":{...}}}});
 * - an apply that changes a field another manager owns, to a different value, is a conflict
 *   (409) unless force=true, which moves ownership to the applier;
 * - fields the applier owned before and no longer applies are removed unless someone else owns them.
 * List and map semantics (associative by keys, set, atomic) come from the OpenAPI schemas'
 * x-kubernetes-list-type / x-kubernetes-list-map-keys.
 */
import type { KubeObject } from './types.js';
import { groupVersion, type ResourceInfo } from './registry.js';
import { typeNameFor } from './patch-meta.js';
import { schemaByName } from './openapi.js';
import { isObj, clone, jsonEqual } from './patch.js';

type Schema = Record<string, unknown>;
type Obj = Record<string, unknown>;

const REF_PREFIX = '#/components/schemas/';
const FIELDS_TYPE = 'FieldsV1';
/** Set by the system, never owned by a manager. */
const UNOWNED_METADATA = ['name', 'namespace', 'uid', 'resourceVersion', 'generation', 'creationTimestamp', 'deletionTimestamp',
  'deletionGracePeriodSeconds', 'managedFields', 'selfLink', 'generateName'];
const UNOWNED_ROOT = ['apiVersion', 'kind'];
const KUBECTL_MANAGER = 'kubectl';
const LAST_APPLIED = 'kubectl.kubernetes.io/last-applied-configuration';
/** List-map keys are defaulted before keying (Service/container ports omit protocol: TCP). */
const KEY_DEFAULTS: Record<string, unknown> = { protocol: 'TCP' };

export interface ManagedFieldsEntry {
  manager: string;
  operation: 'Apply' | 'Update';
  apiVersion: string;
  time?: string;
  fieldsType: string;
  fieldsV1: Obj;
  subresource?: string;
}

export interface ApplyConflict { field: string; manager: string }

// ---------------------------------------------------------------- schema access

const resolved = new WeakMap<Schema, Schema | undefined>();

/** Follows $ref / single allOf (cached: every write walks the schemas). */
function resolve(s: Schema | undefined): Schema | undefined {
  if (!s) return undefined;
  if (resolved.has(s)) return resolved.get(s);
  let out: Schema | undefined = s;
  if (typeof s.$ref === 'string') out = resolve(schemaByName(s.$ref.slice(REF_PREFIX.length)));
  else if (Array.isArray(s.allOf) && s.allOf.length > 0 && !s.properties) {
    // Keep the list/map extensions that sit beside allOf.
    const inner = resolve((s.allOf as Schema[])[0]);
    const ext = Object.entries(s).filter(([k]) => k.startsWith('x-kubernetes-'));
    out = inner && ext.length ? { ...inner, ...Object.fromEntries(ext) } : inner ?? s;
  }
  resolved.set(s, out);
  return out;
}

type Kind = { t: 'struct'; props: Record<string, Schema> } | { t: 'map'; elem: Schema | undefined } |
  { t: 'assoc'; keys: string[]; elem: Schema | undefined } | { t: 'set' } | { t: 'leaf' };

function kindOf(s: Schema | undefined, v: unknown): Kind {
  const r = resolve(s);
  if (!r || r['x-kubernetes-preserve-unknown-fields'] || r.format === 'int-or-string' || r['x-kubernetes-map-type'] === 'atomic') return { t: 'leaf' };
  if (Array.isArray(v)) {
    const lt = r['x-kubernetes-list-type'];
    if (lt === 'map') return { t: 'assoc', keys: (r['x-kubernetes-list-map-keys'] as string[]) ?? [], elem: r.items as Schema };
    if (lt === 'set') return { t: 'set' };
    return { t: 'leaf' };
  }
  if (isObj(v)) {
    if (r.properties) return { t: 'struct', props: r.properties as Record<string, Schema> };
    if (r.additionalProperties && typeof r.additionalProperties === 'object') return { t: 'map', elem: r.additionalProperties as Schema };
    // Free-form objects without schema (FieldsV1) and unknown types: granular maps.
    if (r.type === 'object' && !r.properties && !r.additionalProperties) return { t: 'leaf' };
    return { t: 'map', elem: undefined };
  }
  return { t: 'leaf' };
}

function itemKey(item: unknown, keys: string[]): string {
  const o: Obj = {};
  for (const k of [...keys].sort()) {
    const v = isObj(item) && item[k] !== undefined ? item[k] : KEY_DEFAULTS[k];
    if (v !== undefined) o[k] = v;
  }
  return `k:${JSON.stringify(o)}`;
}

// ---------------------------------------------------------------- field sets

/** A field path: elements 'f:name', 'k:{...}', 'v:<json>', joined by \u0000 into a set key. */
const SEP = '\u0000';

interface FieldSet { members: Set<string>; leaves: Set<string> }

function emptySet(): FieldSet { return { members: new Set(), leaves: new Set() }; }

function join(path: string, el: string): string {
  return path === '' ? el : path + SEP + el;
}

function collect(v: unknown, s: Schema | undefined, path: string, out: FieldSet): void {
  const k = kindOf(s, v);
  switch (k.t) {
    case 'struct': {
      let any = false;
      for (const f in v as Obj) {
        const x = (v as Obj)[f];
        if (x === undefined) continue;
        any = true;
        collect(x, k.props[f], join(path, `f:${f}`), out);
      }
      if (!any && path !== '') { out.members.add(path); out.leaves.add(path); }
      return;
    }
    case 'map':
      if (path !== '') out.members.add(path);
      for (const f in v as Obj) collect((v as Obj)[f], k.elem, join(path, `f:${f}`), out);
      return;
    case 'assoc': {
      out.members.add(path);
      const props = resolve(k.elem)?.properties as Record<string, Schema> | undefined;
      for (const item of v as unknown[]) {
        const p = join(path, itemKey(item, k.keys));
        out.members.add(p);
        if (isObj(item)) for (const f in item) collect(item[f], props?.[f], join(p, `f:${f}`), out);
      }
      return;
    }
    case 'set':
      out.members.add(path);
      for (const item of v as unknown[]) {
        const p = join(path, `v:${JSON.stringify(item)}`);
        out.members.add(p);
        out.leaves.add(p);
      }
      return;
    default:
      out.members.add(path);
      out.leaves.add(path);
  }
}

function ownedView(obj: KubeObject, subresource?: string): Obj {
  const o: Obj = { ...obj };
  for (const f of UNOWNED_ROOT) delete o[f];
  if (subresource === 'status') return { status: o.status };
  delete o.status;
  if (isObj(o.metadata)) {
    const m = { ...o.metadata };
    for (const f of UNOWNED_METADATA) delete m[f];
    o.metadata = m;
    if (Object.keys(m).length === 0) delete o.metadata;
  }
  return o;
}

function fieldSetOf(obj: KubeObject, info: ResourceInfo, subresource?: string): FieldSet {
  const out = emptySet();
  collect(ownedView(obj, subresource), schemaByName(typeNameFor(info.group, info.version, info.kind)), '', out);
  out.members.delete('');
  return out;
}

/** The FieldsV1 trie of a set of paths ('.' marks a member that also has members inside). */
export function toFieldsV1(members: Iterable<string>): Obj {
  const root: Obj = {};
  const self: Obj[] = [];
  for (const m of members) {
    if (m === '') continue;
    let node = root;
    for (const el of m.split(SEP)) {
      let next = node[el] as Obj | undefined;
      if (next === undefined) { next = {}; node[el] = next; }
      node = next;
    }
    self.push(node);
  }
  for (const n of self) if (Object.keys(n).length > 0 && !('.' in n)) n['.'] = {};
  return sortTrie(root);
}

/** Keys in a stable order ('.' first, then sorted) so equal sets serialise equally. */
function sortTrie(n: Obj): Obj {
  const out: Obj = {};
  for (const k of Object.keys(n).sort()) out[k] = sortTrie(n[k] as Obj);
  return out;
}

/** Paths of a FieldsV1 trie. */
export function fromFieldsV1(f: unknown, prefix: string[] = [], out: Set<string> = new Set()): Set<string> {
  if (!isObj(f)) return out;
  for (const [k, v] of Object.entries(f)) {
    if (k === '.') { out.add(prefix.join(SEP)); continue; }
    const p = [...prefix, k];
    if (!isObj(v) || Object.keys(v).length === 0) out.add(p.join(SEP));
    else fromFieldsV1(v, p, out);
  }
  return out;
}

/** '.spec.ports[port=80,protocol="TCP"].targetPort' as structured-merge-diff prints paths. */
export function pathString(key: string): string {
  return key.split(SEP).map((el) => {
    const body = el.slice(2);
    if (el.startsWith('f:')) return `.${body}`;
    if (el.startsWith('k:')) {
      const o = JSON.parse(body) as Obj;
      return `[${Object.entries(o).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join(',')}]`;
    }
    if (el.startsWith('v:')) return `[=${body}]`;
    return `[${body}]`;
  }).join('');
}

function valueAt(obj: unknown, key: string, info: ResourceInfo): unknown {
  let cur: unknown = obj;
  let s: Schema | undefined = schemaByName(typeNameFor(info.group, info.version, info.kind));
  for (const el of key.split(SEP)) {
    const r = resolve(s);
    if (el.startsWith('f:')) {
      if (!isObj(cur)) return undefined;
      const f = el.slice(2);
      cur = cur[f];
      s = (r?.properties as Record<string, Schema> | undefined)?.[f] ?? (isObj(r?.additionalProperties) ? r!.additionalProperties as Schema : undefined);
    } else if (el.startsWith('k:')) {
      if (!Array.isArray(cur)) return undefined;
      const keys = Object.keys(JSON.parse(el.slice(2)) as Obj);
      cur = cur.find((it) => itemKey(it, keys) === el);
      s = r?.items as Schema | undefined;
    } else if (el.startsWith('v:')) {
      if (!Array.isArray(cur)) return undefined;
      const want = JSON.parse(el.slice(2));
      cur = cur.find((it) => jsonEqual(it, want));
    } else {
      return undefined;
    }
  }
  return cur;
}

// ---------------------------------------------------------------- merge / prune

function mergeApplied(live: unknown, applied: unknown, s: Schema | undefined): unknown {
  if (live === undefined) return clone(applied);
  const k = kindOf(s, applied);
  if ((k.t === 'struct' || k.t === 'map') && isObj(live)) {
    const out: Obj = { ...live };
    for (const [f, v] of Object.entries(applied as Obj)) {
      if (v === null) { delete out[f]; continue; }
      out[f] = mergeApplied(live[f], v, k.t === 'struct' ? k.props[f] : k.elem);
    }
    return out;
  }
  if (k.t === 'assoc' && Array.isArray(live)) {
    const out: unknown[] = [];
    const liveByKey = new Map(live.map((it) => [itemKey(it, k.keys), it]));
    const appliedKeys = new Set<string>();
    for (const it of applied as unknown[]) {
      const key = itemKey(it, k.keys);
      appliedKeys.add(key);
      out.push(mergeApplied(liveByKey.get(key), it, k.elem));
    }
    for (const it of live) if (!appliedKeys.has(itemKey(it, k.keys))) out.push(it);
    return out;
  }
  if (k.t === 'set' && Array.isArray(live)) {
    const out = [...(applied as unknown[])];
    for (const it of live) if (!out.some((x) => jsonEqual(x, it))) out.push(it);
    return out;
  }
  return clone(applied);
}

/** Remove one owned path from obj (in place). */
function removePath(obj: unknown, key: string): void {
  const els = key.split(SEP);
  let cur: unknown = obj;
  for (let i = 0; i < els.length; i++) {
    const el = els[i];
    const last = i === els.length - 1;
    if (el.startsWith('f:') && isObj(cur)) {
      if (last) { delete cur[el.slice(2)]; return; }
      cur = cur[el.slice(2)];
    } else if ((el.startsWith('k:') || el.startsWith('v:')) && Array.isArray(cur)) {
      const idx = el.startsWith('k:')
        ? cur.findIndex((it) => itemKey(it, Object.keys(JSON.parse(el.slice(2)) as Obj)) === el)
        : cur.findIndex((it) => jsonEqual(it, JSON.parse(el.slice(2))));
      if (idx < 0) return;
      if (last) { cur.splice(idx, 1); return; }
      cur = cur[idx];
    } else {
      return;
    }
  }
}

/** Leaves of last-applied-configuration whose live value still matches it. */
function allowedFromLastApplied(live: KubeObject, info: ResourceInfo): Set<string> {
  const raw = (live.metadata?.annotations as Record<string, string> | undefined)?.[LAST_APPLIED];
  if (!raw) return new Set();
  let last: KubeObject;
  try {
    last = JSON.parse(raw) as KubeObject;
  } catch {
    return new Set();
  }
  const set = fieldSetOf(last, info);
  return new Set([...set.leaves].filter((p) => jsonEqual(valueAt(live, p, info), valueAt(last, p, info))));
}

// ---------------------------------------------------------------- managedFields bookkeeping

function entriesOf(obj: KubeObject | undefined): ManagedFieldsEntry[] {
  return ((obj?.metadata?.managedFields ?? []) as ManagedFieldsEntry[]).map((e) => ({ ...e }));
}

function withEntries(obj: KubeObject, entries: ManagedFieldsEntry[]): KubeObject {
  const kept = entries.filter((e) => Object.keys(e.fieldsV1).length > 0);
  const metadata = { ...(obj.metadata ?? {}) } as Obj;
  if (kept.length > 0) metadata.managedFields = kept;
  else delete metadata.managedFields;
  return { ...obj, metadata } as KubeObject;
}

let lastIsoIn: string | undefined;
let lastIsoOut = '';

function isoSeconds(d: string | Date): string {
  // The API server passes the same second's text for every write in that second.
  if (typeof d === 'string' && d === lastIsoIn) return lastIsoOut;
  const out = new Date(d).toISOString().replace(/\.\d{3}Z$/, 'Z');
  if (typeof d === 'string') { lastIsoIn = d; lastIsoOut = out; }
  return out;
}

/** kube-apiserver's printManager: `"kubectl-client-side-apply" using apps/v1 at 2024-01-01T00:00:00Z`. */
function printManager(e: ManagedFieldsEntry): string {
  let s = JSON.stringify(e.manager);
  if (e.subresource) s += ` with subresource ${JSON.stringify(e.subresource)}`;
  if (e.operation === 'Update') s += e.time ? ` using ${e.apiVersion} at ${isoSeconds(e.time)}` : ` using ${e.apiVersion}`;
  return s;
}

/** The Status message kube-apiserver sends with a 409 for apply conflicts. */
export function conflictMessage(conflicts: ApplyConflict[]): string {
  if (conflicts.length === 1) return `Apply failed with 1 conflict: conflict with ${conflicts[0].manager}: ${conflicts[0].field}`;
  const by = new Map<string, string[]>();
  for (const c of conflicts) by.set(c.manager, [...(by.get(c.manager) ?? []), c.field]);
  const lines: string[] = [];
  for (const m of [...by.keys()].sort()) {
    lines.push(`conflicts with ${m}:`);
    for (const f of by.get(m)!) lines.push(`- ${f}`);
  }
  return `Apply failed with ${conflicts.length} conflicts: ${lines.join('\n')}`;
}

/**
 * Server-side apply of `applied` (the request body, already parsed from YAML) as `manager`.
 * Returns the merged object with managedFields updated, or the conflicts (409 Conflict,
 * message from conflictMessage()).
 */
export function serverSideApply(live: KubeObject | undefined, applied: KubeObject, manager: string,
  opts: { force: boolean; info: ResourceInfo; now: string; subresource?: string }): { object: KubeObject } | { conflicts: ApplyConflict[]; message: string } {
  const { info, subresource } = opts;
  const apiVersion = groupVersion(info);
  const appliedClean = clone(applied);
  if (isObj(appliedClean.metadata)) delete (appliedClean.metadata as Obj).managedFields;
  const newSet = fieldSetOf(appliedClean, info, subresource);
  const entries = entriesOf(live);
  const mine = entries.find((e) => e.manager === manager && e.operation === 'Apply' && (e.subresource ?? '') === (subresource ?? ''));
  const others = entries.filter((e) => e !== mine);

  // Conflicts: a leaf the applier sets to a value other than the live one, owned by someone else.
  const conflicts: ApplyConflict[] = [];
  const conflictLeaves: string[] = [];
  const taken = new Set<string>();
  if (live) {
    for (const e of others) {
      const owned = fromFieldsV1(e.fieldsV1);
      for (const leaf of newSet.leaves) {
        if (!owned.has(leaf)) continue;
        if (jsonEqual(valueAt(live, leaf, info), valueAt(appliedClean, leaf, info))) continue;
        conflicts.push({ field: pathString(leaf), manager: printManager(e) });
        conflictLeaves.push(leaf);
        taken.add(leaf);
      }
    }
  }
  if (conflicts.length > 0 && !opts.force) {
    // kube-apiserver's lastAppliedManager: the "kubectl" manager upgrading from client-side apply
    // may take over fields whose live value is still what last-applied-configuration says.
    const allowed = manager === KUBECTL_MANAGER && live ? allowedFromLastApplied(live, info) : new Set<string>();
    const remaining = conflicts.filter((_, i) => !allowed.has(conflictLeaves[i]));
    if (remaining.length > 0) return { conflicts: remaining, message: conflictMessage(remaining) };
  }

  // Fields the applier stops applying and nobody else owns are removed.
  let base: KubeObject = live ? clone(live) : ({} as KubeObject);
  if (live && mine) {
    const othersOwned = new Set<string>();
    for (const e of others) for (const p of fromFieldsV1(e.fieldsV1)) if (!taken.has(p)) othersOwned.add(p);
    const othersList = [...othersOwned];
    const under = (p: string, q: string): boolean => q.startsWith(p + SEP);
    // Remove a dropped node as a whole only when nobody else owns something inside it, and
    // only the outermost such node (its key must still match when it is removed).
    const removable = [...fromFieldsV1(mine.fieldsV1)]
      .filter((p) => p !== '' && !newSet.members.has(p) && !othersOwned.has(p) && !othersList.some((q) => under(p, q)));
    const outermost = removable.filter((p) => !removable.some((q) => under(q, p)));
    for (const p of outermost) removePath(base, p);
  }
  const schema = schemaByName(typeNameFor(info.group, info.version, info.kind));
  const toMerge = clone(appliedClean) as Obj;
  if (!live) base = {} as KubeObject;
  else {
    // Identity and system metadata always come from the live object.
    const m = isObj(toMerge.metadata) ? { ...toMerge.metadata } : {};
    for (const f of UNOWNED_METADATA) delete m[f];
    toMerge.metadata = m;
  }
  let merged = mergeApplied(base, toMerge, schema) as KubeObject;
  if (live) merged = { ...merged, apiVersion: live.apiVersion ?? merged.apiVersion, kind: live.kind ?? merged.kind };

  const next: ManagedFieldsEntry[] = [];
  for (const e of others) {
    if (taken.size === 0) { next.push(e); continue; }
    const owned = [...fromFieldsV1(e.fieldsV1)].filter((p) => !taken.has(p));
    next.push({ ...e, fieldsV1: toFieldsV1(owned) });
  }
  const entry: ManagedFieldsEntry = { manager, operation: 'Apply', apiVersion, time: isoSeconds(opts.now), fieldsType: FIELDS_TYPE, fieldsV1: toFieldsV1(newSet.members) };
  if (subresource) entry.subresource = subresource;
  const at = mine ? entries.indexOf(mine) : -1;
  if (at >= 0) next.splice(Math.min(at, next.length), 0, entry); else next.push(entry);
  return { object: withEntries(merged, next) };
}

/**
 * Ownership for a non-apply write (create, update, patch): `manager` takes the fields whose
 * value it set or changed; fields that disappeared are dropped from every manager.
 */
export function updateManagedFields(old: KubeObject | undefined, obj: KubeObject, manager: string,
  operation: 'Update' | 'Apply' = 'Update', opts: { info?: ResourceInfo; now?: string; subresource?: string } = {}): KubeObject {
  const info = opts.info ?? infoFromObject(obj);
  if (!info) return obj;
  const subresource = opts.subresource;
  const newSet = fieldSetOf(obj, info, subresource);
  if (!old) {
    // A new object (the create path): every field is the manager's; no other entries to trim.
    if (newSet.members.size === 0) return withEntries(obj, []);
    const e: ManagedFieldsEntry = { manager, operation, apiVersion: groupVersion(info), time: isoSeconds(opts.now ?? new Date()), fieldsType: FIELDS_TYPE, fieldsV1: toFieldsV1(newSet.members) };
    if (subresource) e.subresource = subresource;
    return withEntries(obj, [e]);
  }
  const oldSet = fieldSetOf(old, info, subresource);
  const changed = new Set<string>();
  for (const p of newSet.members) {
    if (!oldSet.members.has(p)) changed.add(p);
    else if (newSet.leaves.has(p) && !jsonEqual(valueAt(old, p, info), valueAt(obj, p, info))) changed.add(p);
  }
  // Managers listed on the incoming object are ignored: kube-apiserver keeps its own record.
  const entries = entriesOf(old);
  const next: ManagedFieldsEntry[] = [];
  let mine: ManagedFieldsEntry | undefined;
  const apiVersion = groupVersion(info);
  for (const e of entries) {
    const owned = [...fromFieldsV1(e.fieldsV1)].filter((p) => newSet.members.has(p) && !(changed.has(p) && e.manager !== manager));
    const ne = { ...e, fieldsV1: toFieldsV1(owned) };
    if (e.manager === manager && e.operation === operation && (e.subresource ?? '') === (subresource ?? '')) mine = ne;
    next.push(ne);
  }
  if (changed.size === 0 && !mine) return withEntries(obj, next);
  const ownedBefore = mine ? fromFieldsV1(mine.fieldsV1) : new Set<string>();
  const fields = toFieldsV1(new Set([...ownedBefore, ...changed]));
  const time = isoSeconds(opts.now ?? new Date());
  if (mine) {
    Object.assign(mine, { fieldsV1: fields, apiVersion, ...(changed.size > 0 ? { time } : {}) });
  } else {
    const e: ManagedFieldsEntry = { manager, operation, apiVersion, time, fieldsType: FIELDS_TYPE, fieldsV1: fields };
    if (subresource) e.subresource = subresource;
    next.push(e);
  }
  return withEntries(obj, next);
}

function infoFromObject(obj: KubeObject): ResourceInfo | undefined {
  if (!obj.apiVersion || !obj.kind) return undefined;
  const [group, version] = obj.apiVersion.includes('/') ? obj.apiVersion.split('/') : ['', obj.apiVersion];
  return { group, version, kind: obj.kind } as ResourceInfo;
}
