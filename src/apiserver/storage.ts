/**
 * @module apiserver/storage
 * The generic REST storage behind every resource: the semantics kube-apiserver's registry
 * gives objects — names, uids, resourceVersions, generations, defaulting, validation,
 * status/spec separation, graceful deletion with finalizers and propagation policies, and the
 * Service allocators — on top of a revisioned Store. No HTTP here (see server.ts).
 */
import { randomUUID } from 'node:crypto';
import type { KubeObject } from '../api/types.js';
import { groupVersion, res, storageKey, type ResourceInfo, RESOURCES } from '../api/registry.js';
import { applyDefaults } from '../api/defaults.js';
import { validateObject, validateUpdate, invalidMessage, statusCauses } from '../api/validation.js';
import type { FieldError } from '../api/validation-field.js';
import { generateName } from '../api/names.js';
import { strategicMergePatch, mergePatch, jsonPatch, PatchError, jsonEqual, clone } from '../api/patch.js';
import { serverSideApply, updateManagedFields } from '../api/apply.js';
import { unknownFieldMessage } from '../api/schema.js';
import { decodeTyped } from '../api/decode.js';
import { typeNameFor } from '../api/patch-meta.js';
import { goQuote } from '../api/validation-field.js';
import { labelSelectorFromObject, matchFields, matchLabels, parseFieldSelector, parseLabelSelector, fieldSelectorSupported, type Requirement, type FieldRequirement } from '../api/selectors.js';
import { StoreError, type Store, type StoreEntry } from '../store/types.js';
import { AllocationError, IPAllocator, PortAllocator } from './allocators.js';
import { decodeObject, encodeObject, listItemJSON, objectJSON } from './codec.js';
import { CachedEvent as CachedEventImpl, WatchCaches, type WatchCache, selectorFilter, type CachedEvent, type Subscription, type WatchEventType } from './watch-cache.js';
import { HttpError, alreadyExists, badRequest, conflict, forbidden, forbiddenTerminating, gone, invalid, namespaceNotFound, notFound, unavailable } from './errors.js';

type Obj = Record<string, any>;

export type PatchKind = 'strategic' | 'merge' | 'json' | 'apply';
export type FieldValidation = 'Strict' | 'Warn' | 'Ignore';

export interface WriteOpts {
  dryRun?: boolean;
  fieldManager?: string;
  fieldValidation?: FieldValidation;
  subresource?: string;
  force?: boolean;
  /** The body was decoded for this request alone: no defensive copy needed. */
  bodyOwned?: boolean;
  /** Internal: the object already carries its managedFields (server-side apply create). */
  managedFieldsKept?: boolean;
  /** Filled with warnings for the Warning header. */
  warnings?: string[];
}

export interface DeleteOpts {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
  dryRun?: boolean;
}

export interface ListOpts {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  /** "" or undefined: latest; "0": any; N: at least N (or exactly N with resourceVersionMatch=Exact). */
  resourceVersion?: string;
  resourceVersionMatch?: string;
}

export interface ListResult<T> {
  items: T[];
  resourceVersion: string;
  continue?: string;
  remainingItemCount?: number;
}

/** How long a list waits for a resourceVersion newer than the store's before 504 (as upstream). */
const WAIT_FOR_RV_MS = 3000;

export interface Selector { labels: Requirement[] | null; fields: FieldRequirement[] }

const NAMESPACES = res('namespaces');
/** Namespaces that may not be deleted (kube-apiserver's NamespaceLifecycle admission). */
const IMMORTAL_NAMESPACES = new Set(['default', 'kube-system', 'kube-public']);
const KINDS_WITH_STATUS = new Set(RESOURCES.filter((r) => r.subresources.includes('status')).map((r) => r.kind));
const MAX_CAS_RETRIES = 8;

let nowSecond = 0;
let nowText = '';
/** RFC 3339 time to the second (as metav1.Time), computed once per second on the hot path. */
export function now(): string {
  const ms = Date.now();
  const sec = Math.floor(ms / 1000);
  if (sec !== nowSecond) { nowSecond = sec; nowText = new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z'); }
  return nowText;
}

/** Tries of a create whose name is generated (apiserver registry store.go). */
const MAX_NAME_GENERATION_ATTEMPTS = 8;

function storeError(e: unknown, info: ResourceInfo, name: string): never {
  if (e instanceof StoreError) {
    if (e.code === 'NotFound') throw notFound(info, name);
    if (e.code === 'AlreadyExists') throw alreadyExists(info, name);
    if (e.code === 'Conflict') throw conflict(info, name);
    if (e.code === 'Gone') throw gone(e.message);
    if (e.code === 'Unavailable') throw unavailable(`storage unavailable: ${e.message}`);
  }
  throw e;
}

/** Parse a label/field selector pair, with upstream's 400s. */
export function parseSelector(info: ResourceInfo, labelSelector?: string, fieldSelector?: string): Selector {
  let labels: Requirement[] | null = [];
  let fields: FieldRequirement[] = [];
  try {
    if (labelSelector) labels = parseLabelSelector(labelSelector);
  } catch (e) {
    throw badRequest(`unable to parse requirement: ${(e as Error).message}`);
  }
  if (fieldSelector) {
    try { fields = parseFieldSelector(fieldSelector); } catch (e) { throw badRequest((e as Error).message); }
    for (const f of fields) if (!fieldSelectorSupported(info, f.field)) throw badRequest(`field label not supported: ${f.field}`);
  }
  return { labels, fields };
}

export function matches(sel: Selector, obj: KubeObject): boolean {
  return matchLabels(sel.labels, obj.metadata?.labels as Record<string, string> | undefined) && matchFields(sel.fields, obj);
}

function encodeContinue(key: string, rev: number): string {
  return Buffer.from(JSON.stringify({ v: 'meta.k8s.io/v1', rv: rev, start: key })).toString('base64url');
}

/**
 * A continue token whose revision was compacted: 410 Expired with upstream's words and, as
 * upstream, a fresh token (revision -1: the rest of the list at the latest revision).
 */
function expiredContinue(key: string): HttpError {
  return new HttpError(410, 'Expired', 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.',
    undefined, { continue: encodeContinue(key, -1) });
}

function decodeContinue(tok: string): { key: string; rev: number } {
  try {
    const o = JSON.parse(Buffer.from(tok, 'base64url').toString());
    if (typeof o.start !== 'string') throw new Error('bad');
    return { key: o.start, rev: Number(o.rv) };
  } catch {
    throw badRequest('continue key is not valid: invalid continue token');
  }
}

// ---- decoding as kube-apiserver's Go decoder (types, int32/int64 bounds: src/api/decode.ts) ----

/** Group/version/kinds kube-apiserver's scheme knows, for `no kind "X" is registered for version "g/v"`. */
const REGISTERED = new Set<string>();
for (const r of RESOURCES) {
  REGISTERED.add(`${r.group}/${r.version}/${r.kind}`);
  REGISTERED.add(`${r.group}/${r.version}/${r.listKind}`);
  for (const k of ['DeleteOptions', 'ListOptions', 'GetOptions', 'CreateOptions', 'UpdateOptions', 'PatchOptions', 'WatchEvent']) REGISTERED.add(`${r.group}/${r.version}/${k}`);
}
for (const k of ['Status', 'List', 'Binding', 'Scale']) REGISTERED.add(`${k === 'Scale' ? 'autoscaling' : ''}/v1/${k}`);
REGISTERED.add('policy/v1/Eviction');

function jsonKind(v: unknown): string {
  return v === null ? 'null' : typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'bool' : Array.isArray(v) ? 'array' : 'object';
}

function isPlainObject(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** upstream's summarizeData(body, 30) for the "unrecognized" error (bodies are JSON objects here). */
function summary(obj: unknown): string {
  const t = JSON.stringify(obj) ?? '';
  return t.length > 30 ? `${t.slice(0, 30)} ...` : t;
}

/** kube-apiserver's transformDecodeError with the body's kind and version. */
function cannotHandle(kind: string, version: string, target: string, err: string): HttpError {
  return badRequest(`${kind} in version ${JSON.stringify(version)} cannot be handled as a ${target}: ${err}`);
}

/**
 * The group/version/kind of a create/update body (defaults from the URL, as gvkWithDefaults) with
 * the decoder's refusals: apiVersion/kind not strings, a malformed apiVersion, a kind the scheme
 * does not have for that version (a Service sent as apps/v1).
 */
export interface GVK { group: string; version: string; kind: string }

export function bodyGVK(info: GVK, obj: Obj): GVK {
  const typeName = info.kind;
  for (const f of ['apiVersion', 'kind']) {
    const v = obj[f];
    if (v !== undefined && v !== null && typeof v !== 'string') {
      throw badRequest(`the object provided is unrecognized (must be of type ${typeName}): couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonKind(v)} into Go struct field .${f} of type string (${summary(obj)})`);
    }
  }
  const av = (obj.apiVersion as string | undefined) ?? '';
  const parts = av.split('/');
  if (parts.length > 2) throw badRequest(`the object provided is unrecognized (must be of type ${typeName}): unexpected GroupVersion string: ${av} (${summary(obj)})`);
  let [group, version] = av === '' ? ['', ''] : parts.length === 2 ? [parts[0]!, parts[1]!] : ['', parts[0]!];
  const kind = (obj.kind as string | undefined) || typeName;
  if (!version && !group) { group = info.group; version = info.version; } else if (!version && group === info.group) version = info.version;
  if (!REGISTERED.has(`${group}/${version}/${kind}`)) {
    throw cannotHandle(kind, version, typeName, `no kind ${JSON.stringify(kind)} is registered for version ${JSON.stringify(group ? `${group}/${version}` : version)} in scheme "pkg/api/legacyscheme/scheme.go:30"`);
  }
  return { group, version, kind };
}

/**
 * Decode a create/update body meant as `info` (defaults for its apiVersion and kind) as the Go decoder
 * would: 400 `Kind in version "v1" cannot be handled as a Kind: json: cannot unmarshal …`.
 * Returns the unknown fields when the body is of that kind (other kinds are refused later).
 */
export function decodeBody(info: GVK, obj: Obj): string[] {
  const gvk = bodyGVK(info, obj);
  if (gvk.kind !== info.kind || gvk.group !== info.group) return [];
  const { error, unknown } = decodeTyped(obj, typeNameFor(gvk.group, gvk.version, info.kind));
  if (error) throw cannotHandle(gvk.kind, gvk.version, info.kind, error);
  return unknown;
}

/** A patched object that does not decode: 422 as upstream's patcher words it. */
export function patchInvalid(patched: unknown, err: string): HttpError {
  const shown = goQuote(JSON.stringify(patched) ?? 'null');
  return new HttpError(422, 'Invalid', ` "" is invalid: patch: Invalid value: ${shown}: ${err}`,
    { causes: [{ reason: 'FieldValueInvalid', message: `Invalid value: ${shown}: ${err}`, field: 'patch' }] });
}

/** Decode the result of a patch as the patcher does (the object it must be, of the resource's type). */
export function decodePatched(patched: unknown, typeName: string): string[] {
  if (!isPlainObject(patched)) {
    throw patchInvalid(patched, `couldn't get version/kind; json parse error: json: cannot unmarshal ${jsonKind(patched)} into Go value of type struct { APIVersion string "json:\\"apiVersion,omitempty\\""; Kind string "json:\\"kind,omitempty\\"" }`);
  }
  const { error, unknown } = decodeTyped(patched, typeName);
  if (error) throw patchInvalid(patched, error);
  return unknown;
}

/**
 * A patch body of the wrong shape, refused as upstream's decoders refuse it (a JSON merge patch
 * that is not an object is `Invalid JSON Patch`; `null` strategic and JSON patches change nothing).
 */
export function checkPatchBody(kind: PatchKind, body: unknown): unknown {
  switch (kind) {
    case 'merge':
      if (!isPlainObject(body)) throw badRequest('Invalid JSON Patch');
      return body;
    case 'strategic':
      if (body === null) return {};
      if (!isPlainObject(body)) throw badRequest(`json: cannot unmarshal ${jsonKind(body)} into Go value of type map[string]interface {}`);
      return body;
    case 'json':
      if (body === null) return [];
      if (!Array.isArray(body)) throw badRequest(`json: cannot unmarshal ${jsonKind(body)} into Go value of type jsonpatch.Patch`);
      return body;
    case 'apply':
      if (body === null) throw badRequest("Object 'Kind' is missing in 'null'");
      if (!isPlainObject(body)) throw badRequest(`error decoding YAML: error unmarshaling JSON: while decoding JSON: json: cannot unmarshal ${jsonKind(body)} into Go value of type map[string]interface {}`);
      return body;
  }
}

export interface StorageOptions {
  serviceCIDR?: string;
  nodePortRange?: string;
}

/**
 * As upstream's dropTypeDependentFields: when a Service changes type, fields that only the old
 * type allowed are cleared if the client left them as they were (node ports, traffic policy,
 * health check port, LB-only settings), so `kubectl patch … type: ClusterIP` just works.
 */
function dropTypeDependentFields(next: Obj, cur: Obj): void {
  const ns = next.spec ?? {};
  const os = cur.spec ?? {};
  if (!ns.type || ns.type === os.type) return;
  const nodePortTypes = ['NodePort', 'LoadBalancer'];
  if (!nodePortTypes.includes(ns.type)) {
    for (const p of ns.ports ?? []) if (p.nodePort && (os.ports ?? []).some((q: Obj) => q.nodePort === p.nodePort)) delete p.nodePort;
    if (ns.externalTrafficPolicy === os.externalTrafficPolicy) delete ns.externalTrafficPolicy;
  }
  if (ns.type !== 'LoadBalancer') {
    if (ns.allocateLoadBalancerNodePorts === os.allocateLoadBalancerNodePorts) delete ns.allocateLoadBalancerNodePorts;
    if (ns.healthCheckNodePort === os.healthCheckNodePort) delete ns.healthCheckNodePort;
    if (ns.loadBalancerClass === os.loadBalancerClass) delete ns.loadBalancerClass;
  }
  if (ns.type === 'ExternalName') {
    if (ns.clusterIP === os.clusterIP) delete ns.clusterIP;
    if (JSON.stringify(ns.clusterIPs) === JSON.stringify(os.clusterIPs)) delete ns.clusterIPs;
    delete ns.ipFamilies; delete ns.ipFamilyPolicy;
    if (ns.internalTrafficPolicy === os.internalTrafficPolicy) delete ns.internalTrafficPolicy;
  }
}

/** The cluster IPs a stored Service holds. */
function serviceIPs(s: Obj): string[] {
  const spec = s.spec ?? {};
  return ((spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])) as string[]).filter((ip) => ip && ip !== 'None');
}

/** The node ports (and health check node port) a stored Service holds. */
function serviceNodePorts(s: Obj): number[] {
  const out: number[] = (s.spec?.ports ?? []).map((p: Obj) => p.nodePort).filter(Boolean);
  if (s.spec?.healthCheckNodePort) out.push(s.spec.healthCheckNodePort);
  return out;
}

export class Storage {
  readonly clusterIPs: IPAllocator;
  readonly nodePorts: PortAllocator;
  readonly caches: WatchCaches;
  private readonly json = new WeakMap<object, string>();
  private readonly namespaceState = new Map<string, { rev: number; terminating: boolean }>();

  constructor(readonly store: Store, opts: StorageOptions = {}) {
    this.clusterIPs = new IPAllocator(opts.serviceCIDR ?? '10.96.0.0/12');
    this.nodePorts = PortAllocator.parse(opts.nodePortRange ?? '30000-32767');
    this.caches = new WatchCaches(store);
  }

  private decode(info: ResourceInfo, value: string, rev: number): KubeObject {
    return decodeObject(info, value, rev);
  }

  /** Encode for the store, remembering the JSON that answers the request (no second stringify). */
  private encode(info: ResourceInfo, obj: KubeObject): string {
    return encodeObject(info, obj);
  }

  private remember(info: ResourceInfo, obj: KubeObject, value: string, rev: number): KubeObject {
    (obj.metadata as Obj).resourceVersion = String(rev);
    this.json.set(obj, objectJSON(info, value, rev));
    return obj;
  }

  /** The JSON of an object this storage just wrote or read, when it has it. */
  jsonOf(obj: KubeObject): string | undefined {
    return this.json.get(obj);
  }

  /** Rebuild allocator state from stored Services (repair on start). */
  async repair(): Promise<void> {
    const svc = res('services');
    const { entries, revision } = await this.store.list(storageKey(svc, undefined));
    for (const e of entries) {
      const s = JSON.parse(e.value) as Obj;
      for (const ip of serviceIPs(s)) if (this.clusterIPs.contains(ip) && !this.clusterIPs.has(ip)) this.clusterIPs.allocate(ip);
      for (const p of serviceNodePorts(s)) if (!this.nodePorts.has(p)) this.nodePorts.allocate(p);
    }
    // A store shared with other API servers (etcd): their Service writes change what is free here.
    if (this.store.name === 'etcd') this.followServices(storageKey(svc, undefined), revision);
  }

  /** Revisions of this server's own Service writes (their allocations are already accounted). */
  private readonly ownServiceRevs = new Set<number>();
  private serviceEventsAt = 0;
  private serviceWatch?: { stop(): void };

  private ownServiceWrite(rev: number): void {
    if (this.serviceWatch && rev > this.serviceEventsAt) this.ownServiceRevs.add(rev);
  }

  private followServices(prefix: string, from: number): void {
    const retry = (): unknown => this.stopped || setTimeout(() => { void this.rebuildAllocations(prefix).then((r) => start(r), () => retry()); }, 1000);
    const start = (rev: number) => {
      void this.store.watch(prefix, rev, (ev) => {
        this.serviceEventsAt = ev.revision;
        if (this.ownServiceRevs.delete(ev.revision)) return;
        const before = ev.prevValue ? JSON.parse(ev.prevValue) as Obj : undefined;
        const after = ev.type === 'put' ? JSON.parse(ev.value) as Obj : undefined;
        const ipsAfter = new Set(after ? serviceIPs(after) : []);
        const portsAfter = new Set(after ? serviceNodePorts(after) : []);
        if (before) {
          for (const ip of serviceIPs(before)) if (!ipsAfter.has(ip)) this.clusterIPs.release(ip);
          for (const p of serviceNodePorts(before)) if (!portsAfter.has(p)) this.nodePorts.release(p);
        }
        for (const ip of ipsAfter) if (this.clusterIPs.contains(ip) && !this.clusterIPs.has(ip)) this.clusterIPs.allocate(ip);
        for (const p of portsAfter) if (p >= this.nodePorts.min && p <= this.nodePorts.max && !this.nodePorts.has(p)) this.nodePorts.allocate(p);
      }, () => retry()) // compacted past us, or the store went away: rebuild from a fresh list once it answers
        .then((w) => { if (this.stopped) w.stop(); else this.serviceWatch = w; }, () => retry());
    };
    this.serviceWatch = { stop: () => { /* replaced once the watch is established */ } };
    start(from);
  }

  private async rebuildAllocations(prefix: string): Promise<number> {
    const { entries, revision } = await this.store.list(prefix);
    const ips = new Set<string>(); const ports = new Set<number>();
    for (const e of entries) {
      const s = JSON.parse(e.value) as Obj;
      for (const ip of serviceIPs(s)) ips.add(ip);
      for (const p of serviceNodePorts(s)) ports.add(p);
    }
    this.clusterIPs.resetTo([...ips].filter((ip) => this.clusterIPs.contains(ip)));
    this.nodePorts.resetTo([...ports].filter((p) => p >= this.nodePorts.min && p <= this.nodePorts.max));
    this.serviceEventsAt = revision;
    return revision;
  }

  private stopped = false;

  stopFollowing(): void {
    this.stopped = true;
    this.serviceWatch?.stop();
  }

  async getEntry(info: ResourceInfo, ns: string | undefined, name: string) {
    let e;
    try { e = await this.store.get(storageKey(info, ns, name)); } catch (err) { storeError(err, info, name); }
    if (!e) throw notFound(info, name);
    return { obj: this.decode(info, e.value, e.modRevision), rev: e.modRevision };
  }

  async get(info: ResourceInfo, ns: string | undefined, name: string): Promise<KubeObject> {
    return (await this.getEntry(info, ns, name)).obj;
  }

  /** The object's JSON from the watch cache's copy, when it holds one (the fast path of GET). */
  cachedJSON(info: ResourceInfo, ns: string | undefined, name: string): Buffer | undefined {
    return this.caches.peek(info)?.objectJSON(storageKey(info, ns, name));
  }

  /** The object's JSON: the watch cache's copy, or straight from the stored text (the hot path of GET). */
  async getJSON(info: ResourceInfo, ns: string | undefined, name: string): Promise<string | Buffer> {
    const key = storageKey(info, ns, name);
    const cache = this.caches.get(info);
    const hit = cache.objectJSON(key);
    if (hit) return hit;
    // The first GET of a resource starts its cache; reads go to the store until it is live.
    if (!cache.holdsObjects) cache.startObjects();
    const seen = cache.lastRev;
    let e;
    try { e = await this.store.get(key); } catch (err) { storeError(err, info, name); }
    if (!e) throw notFound(info, name);
    cache.offerObject(key, e.value, e.modRevision, seen);
    return objectJSON(info, e.value, e.modRevision);
  }

  /** List as objects (for selectors' callers, tables, deletecollection). */
  async list(info: ResourceInfo, ns: string | undefined, o: ListOpts = {}): Promise<ListResult<KubeObject>> {
    return this.listWith(info, ns, o, (e, obj) => obj ?? this.decode(info, e.value, e.modRevision));
  }

  /** List as item JSON texts; objects are parsed only when a selector needs them. */
  async listJSON(info: ResourceInfo, ns: string | undefined, o: ListOpts = {}): Promise<ListResult<string>> {
    return this.listWith(info, ns, o, (e) => listItemJSON(info, e.value, e.modRevision));
  }

  private async listWith<T>(info: ResourceInfo, ns: string | undefined, o: ListOpts,
    out: (e: StoreEntry, obj: KubeObject | undefined) => T): Promise<ListResult<T>> {
    const sel = parseSelector(info, o.labelSelector, o.fieldSelector);
    const filtering = !!(sel.labels === null || sel.labels.length || sel.fields.length);
    const prefix = storageKey(info, info.namespaced ? ns : undefined);
    let startAfter: string | undefined;
    // Continued pages and exact reads are read at one revision (consistent paging).
    let atRev: number | undefined;
    let continuing = false;
    if (o.continue) {
      const c = decodeContinue(o.continue);
      startAfter = c.key;
      continuing = true;
      // A token's revision is where the first page was read; -1 (after a 410) means the latest.
      if (c.rev > 0) atRev = c.rev;
    } else {
      atRev = await this.checkListRV(o);
    }
    const items: T[] = [];
    const limit = o.limit && o.limit > 0 ? o.limit : 0;
    let rev = 0;
    // Selectors filter after reading; keep reading pages until the limit is filled.
    for (;;) {
      let page;
      try {
        // Pages of at most 10,000 (any int64 limit is valid; the store binds a page size).
        page = await this.store.list(prefix, { limit: limit ? Math.min(Math.max(limit, 100), 10_000) : 0, startAfter, revision: atRev });
      } catch (e) {
        if (e instanceof StoreError && e.code === 'Gone') {
          if (continuing) throw expiredContinue(startAfter ?? '');
          throw gone(`too old resource version: ${atRev} (${await this.store.compactedRevision()})`);
        }
        storeError(e, info, '');
      }
      rev = page.revision;
      atRev = rev;
      for (let i = 0; i < page.entries.length; i++) {
        const e = page.entries[i]!;
        startAfter = e.key;
        if (filtering) {
          const obj = this.decode(info, e.value, e.modRevision);
          if (!matches(sel, obj)) continue;
          items.push(out(e, obj));
        } else {
          items.push(out(e, undefined));
        }
        if (limit && items.length === limit) {
          const more = page.more || i < page.entries.length - 1;
          if (!more) break;
          return { items, resourceVersion: String(rev), continue: encodeContinue(e.key, rev), ...(filtering ? {} : { remainingItemCount: (page.remaining ?? 0) + page.entries.length - i - 1 }) };
        }
      }
      if (!page.more || !limit || items.length === limit) break;
    }
    return { items, resourceVersion: String(rev) };
  }

  /** resourceVersion / resourceVersionMatch of a list, as kube-apiserver checks them. */
  private async checkListRV(o: ListOpts): Promise<number | undefined> {
    const rv = o.resourceVersion;
    const match = o.resourceVersionMatch;
    if (match && match !== 'Exact' && match !== 'NotOlderThan') throw badRequest(`resourceVersionMatch: Unsupported value: "${match}": supported values: "Exact", "NotOlderThan", ""`);
    if (match && !rv) throw badRequest('resourceVersionMatch is forbidden unless resourceVersion is provided');
    if (!rv || rv === '0') {
      if (match === 'Exact') throw badRequest('resourceVersionMatch "exact" is forbidden for resourceVersion "0"');
      return undefined;
    }
    const want = Number(rv);
    if (!Number.isInteger(want) || want < 0) throw badRequest(`invalid resource version "${rv}"`);
    let cur = await this.store.currentRevision();
    if (match === 'Exact' && want <= cur) return want;
    const deadline = Date.now() + WAIT_FOR_RV_MS;
    while (want > cur) {
      if (Date.now() > deadline) throw new HttpError(504, 'Timeout', `Too large resource version: ${want}, current: ${cur}`, { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }], retryAfterSeconds: 1 });
      await new Promise((r) => setTimeout(r, 50));
      cur = await this.store.currentRevision();
    }
    return match === 'Exact' ? want : undefined;
  }

  private async namespaceGuard(info: ResourceInfo, ns: string | undefined, name: string): Promise<void> {
    if (!info.namespaced) return;
    if (!ns) throw badRequest('the namespace of the object must be set');
    const e = await this.store.get(storageKey(NAMESPACES, undefined, ns));
    if (!e) throw namespaceNotFound(ns);
    // The namespace is parsed again only when it changed (a create reads it every time).
    let known = this.namespaceState.get(ns);
    if (!known || known.rev !== e.modRevision) {
      const nsObj = JSON.parse(e.value) as Obj;
      known = { rev: e.modRevision, terminating: !!nsObj.metadata?.deletionTimestamp || nsObj.status?.phase === 'Terminating' };
      this.namespaceState.set(ns, known);
    }
    if (known.terminating) throw forbiddenTerminating(info, name, ns);
  }

  /** fieldValidation of the unknown fields the decode found: Strict refuses, Warn warns, Ignore ignores. */
  private reportUnknown(unknown: string[], o: WriteOpts): void {
    const mode = o.fieldValidation ?? 'Warn';
    if (mode === 'Ignore' || !unknown.length) return;
    const msgs = unknown.map(unknownFieldMessage);
    if (mode === 'Strict') throw badRequest(`strict decoding error: ${msgs.join(', ')}`);
    o.warnings?.push(...msgs);
  }

  private throwInvalid(info: ResourceInfo, name: string, errs: FieldError[]): never {
    throw invalid(info, name, invalidMessage(info.kind, name, errs, info.group), statusCauses(errs));
  }

  // ---- Services: allocation of cluster IPs and node ports ----

  /** Allocate what a Service needs (create, or update from `old`); returns a release function. */
  private allocateService(svc: Obj, old: Obj | undefined): { rollback: () => void; commit: () => void } {
    const spec = (svc.spec ??= {});
    const taken: (() => void)[] = [];
    const toRelease: (() => void)[] = [];
    const errs: FieldError[] = [];
    const fail = (field: string, value: unknown, detail: string) => errs.push({ type: 'FieldValueInvalid', field, detail, badValue: value, message: `Invalid value: ${typeof value === 'string' ? JSON.stringify(value) : Array.isArray(value) ? `[]string{${value.map((v) => JSON.stringify(v)).join(', ')}}` : String(value)}: ${detail}` });
    const type = spec.type ?? 'ClusterIP';
    const oldSpec = old?.spec ?? {};
    // Cluster IP
    if (type === 'ExternalName') {
      if (oldSpec.clusterIP && oldSpec.clusterIP !== 'None') toRelease.push(() => this.clusterIPs.release(oldSpec.clusterIP));
      delete spec.clusterIP; delete spec.clusterIPs; delete spec.ipFamilies; delete spec.ipFamilyPolicy;
    } else {
      if (old && !spec.clusterIP && oldSpec.clusterIP) { spec.clusterIP = oldSpec.clusterIP; spec.clusterIPs = oldSpec.clusterIPs ?? [oldSpec.clusterIP]; }
      const want: string | undefined = spec.clusterIP ?? spec.clusterIPs?.[0];
      if (want === 'None') {
        spec.clusterIP = 'None'; spec.clusterIPs = ['None'];
      } else if (old && oldSpec.clusterIP && oldSpec.clusterIP !== 'None' && want === oldSpec.clusterIP) {
        // unchanged
      } else if (want && want !== '') {
        if (!/^\d+\.\d+\.\d+\.\d+$/.test(want)) {
          // validation reports malformed IPs
        } else {
          try { this.clusterIPs.allocate(want); taken.push(() => this.clusterIPs.release(want)); } catch (e) {
            if (e instanceof AllocationError) fail('spec.clusterIPs', [want], e.message); else throw e;
          }
        }
        spec.clusterIP = want; spec.clusterIPs = [want];
      } else {
        try { const ip = this.clusterIPs.allocateNext(); taken.push(() => this.clusterIPs.release(ip)); spec.clusterIP = ip; spec.clusterIPs = [ip]; } catch (e) {
          if (e instanceof AllocationError) fail('spec.clusterIPs', [], e.message); else throw e;
        }
      }
      if (spec.clusterIP) { spec.ipFamilies ??= ['IPv4']; spec.ipFamilyPolicy ??= 'SingleStack'; }
    }
    // Node ports
    const needsNodePorts = type === 'NodePort' || (type === 'LoadBalancer' && spec.allocateLoadBalancerNodePorts !== false);
    const oldPorts = new Set<number>((oldSpec.ports ?? []).map((p: Obj) => p.nodePort).filter(Boolean));
    const keep = new Set<number>();
    (spec.ports ?? []).forEach((p: Obj, i: number) => {
      if (!needsNodePorts) {
        if (type === 'ClusterIP' && old && p.nodePort && oldPorts.has(p.nodePort) && oldSpec.type !== 'ClusterIP') delete p.nodePort;
        if (!p.nodePort) return;
        if (type === 'ClusterIP' || type === 'ExternalName') return; // validation reports it
      }
      if (p.nodePort) {
        if (oldPorts.has(p.nodePort)) { keep.add(p.nodePort); return; }
        try { this.nodePorts.allocate(p.nodePort); const np = p.nodePort; taken.push(() => this.nodePorts.release(np)); keep.add(np); } catch (e) {
          if (e instanceof AllocationError) fail(`spec.ports[${i}].nodePort`, p.nodePort, e.message); else throw e;
        }
      } else if (needsNodePorts) {
        // Same port number for TCP and UDP of one service port, as upstream does.
        const twin = (spec.ports as Obj[]).slice(0, i).find((q) => q.port === p.port && q.nodePort);
        if (twin) { p.nodePort = twin.nodePort; return; }
        try { const np = this.nodePorts.allocateNext(); taken.push(() => this.nodePorts.release(np)); p.nodePort = np; keep.add(np); } catch (e) {
          if (e instanceof AllocationError) fail(`spec.ports[${i}].nodePort`, 0, `failed to allocate a nodePort: ${e.message}`); else throw e;
        }
      }
    });
    for (const p of oldPorts) if (!keep.has(p)) toRelease.push(() => this.nodePorts.release(p));
    // Health check node port for externalTrafficPolicy Local on LoadBalancer services.
    const wantsHC = type === 'LoadBalancer' && spec.externalTrafficPolicy === 'Local';
    if (wantsHC) {
      if (!spec.healthCheckNodePort && oldSpec.healthCheckNodePort) spec.healthCheckNodePort = oldSpec.healthCheckNodePort;
      else if (spec.healthCheckNodePort && spec.healthCheckNodePort !== oldSpec.healthCheckNodePort) {
        try { this.nodePorts.allocate(spec.healthCheckNodePort); const hc = spec.healthCheckNodePort; taken.push(() => this.nodePorts.release(hc)); } catch (e) {
          if (e instanceof AllocationError) fail('spec.healthCheckNodePort', spec.healthCheckNodePort, e.message); else throw e;
        }
      } else if (!spec.healthCheckNodePort) {
        try { const hc = this.nodePorts.allocateNext(); taken.push(() => this.nodePorts.release(hc)); spec.healthCheckNodePort = hc; } catch { /* validation will not complain; leave unset */ }
      }
    } else {
      if (oldSpec.healthCheckNodePort) toRelease.push(() => this.nodePorts.release(oldSpec.healthCheckNodePort));
      delete spec.healthCheckNodePort;
    }
    const rollback = () => { for (const f of taken) f(); };
    if (errs.length) { rollback(); this.throwInvalid(res('services'), svc.metadata?.name ?? '', errs); }
    return { rollback, commit: () => { for (const f of toRelease) f(); } };
  }

  private releaseService(svc: Obj): void {
    const spec = svc.spec ?? {};
    for (const ip of spec.clusterIPs ?? (spec.clusterIP ? [spec.clusterIP] : [])) if (ip && ip !== 'None') this.clusterIPs.release(ip);
    for (const p of spec.ports ?? []) if (p.nodePort) this.nodePorts.release(p.nodePort);
    if (spec.healthCheckNodePort) this.nodePorts.release(spec.healthCheckNodePort);
  }

  // ---- create ----

  async create(info: ResourceInfo, ns: string | undefined, body: KubeObject, o: WriteOpts = {}): Promise<KubeObject> {
    // A body decoded for this request is ours to change; anything else is copied first.
    const obj = (o.bodyOwned ? body : clone(body)) as Obj;
    if (!isPlainObject(obj)) throw badRequest("couldn't get version/kind; json parse error: the body is not a JSON object");
    const unknown = decodeBody(info, obj);
    if (obj.kind && obj.kind !== info.kind) throw badRequest(`the API version in the data (${obj.apiVersion}) does not match the expected API version (${groupVersion(info)}) or kind ${obj.kind} is not ${info.kind}`);
    obj.apiVersion = groupVersion(info);
    obj.kind = info.kind;
    const md = (obj.metadata ??= {});
    if (info.namespaced) {
      if (md.namespace && ns && md.namespace !== ns) throw badRequest('the namespace of the provided object does not match the namespace sent on the request');
      md.namespace = ns ?? md.namespace;
    } else {
      delete md.namespace;
    }
    const generated = !md.name && !!md.generateName;
    if (generated) md.name = generateName(md.generateName);
    let name: string = md.name ?? '';
    if (!name) this.throwInvalid(info, '', [{ type: 'FieldValueRequired', field: 'metadata.name', detail: 'name or generateName is required', message: 'Required value: name or generateName is required' }]);
    await this.namespaceGuard(info, md.namespace, name);
    md.uid = randomUUID();
    md.creationTimestamp = now();
    delete md.deletionTimestamp; delete md.deletionGracePeriodSeconds; delete md.resourceVersion;
    if ('spec' in obj || ['Deployment', 'ReplicaSet', 'StatefulSet', 'Pod', 'Service'].includes(info.kind)) md.generation = 1;
    if (KINDS_WITH_STATUS.has(info.kind) && info.kind !== 'Namespace' && info.kind !== 'Node') delete obj.status;
    this.reportUnknown(unknown, o);
    applyDefaults(obj, info);
    let alloc: { rollback: () => void; commit: () => void } | undefined;
    // An existing Service is AlreadyExists before anything is allocated for the new one (other
    // kinds learn it from the store's create, saving a read on the hot path).
    if (info.kind === 'Service') {
      if (await this.store.get(storageKey(info, md.namespace, name))) throw alreadyExists(info, name);
      alloc = this.allocateService(obj, undefined);
    }
    const errs = validateObject(obj, info, { nodePortRange: [this.nodePorts.min, this.nodePorts.max], serviceCIDR: this.clusterIPs.cidr });
    if (errs.length) { alloc?.rollback(); this.throwInvalid(info, name, errs); }
    // Server-side apply of a new object brings its own managedFields (operation Apply).
    const withFields = o.managedFieldsKept ? obj : updateManagedFields(undefined, obj, o.fieldManager ?? 'unknown', 'Update', { info, now: now() }) as Obj;
    if (o.dryRun) { alloc?.rollback(); return { ...withFields, metadata: { ...withFields.metadata } }; }
    let rev: number;
    let value = this.encode(info, withFields);
    for (let attempt = 1; ; attempt++) {
      try {
        rev = await this.store.create(storageKey(info, md.namespace, name), value);
        if (alloc) this.ownServiceWrite(rev);
        break;
      } catch (e) {
        // A generated name that is taken is generated again, up to upstream's 8 attempts in all
        // (maxNameGenerationCreateAttempts: a million names per prefix stay collision-free).
        if (generated && attempt < MAX_NAME_GENERATION_ATTEMPTS && e instanceof StoreError && e.code === 'AlreadyExists') {
          name = generateName(md.generateName!);
          md.name = name;
          withFields.metadata = { ...withFields.metadata, name };
          value = this.encode(info, withFields);
          continue;
        }
        alloc?.rollback();
        storeError(e, info, name);
      }
    }
    return this.remember(info, withFields, value, rev);
  }

  /**
   * ServiceAccount "default" of a namespace. The serviceaccount controller gives every namespace
   * its own; the API server makes those of the system namespaces at bootstrap, so that an API
   * server without a controller manager (as tests start one) can still issue their tokens.
   */
  async ensureDefaultServiceAccount(ns: string): Promise<void> {
    try {
      await this.create(res('serviceaccounts'), ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name: 'default' } }, { fieldManager: 'kube-controller-manager' });
    } catch (e) {
      if (!(e instanceof HttpError && e.code === 409)) throw e;
    }
  }

  // ---- update ----

  /**
   * Replace an object (PUT) or one of its subresources. `mutate` variants (patch) go through
   * updateWith() so they can retry on conflicts.
   */
  async update(info: ResourceInfo, ns: string | undefined, name: string, body: KubeObject, o: WriteOpts = {}): Promise<KubeObject> {
    if (!isPlainObject(body)) throw badRequest("couldn't get version/kind; json parse error: the body is not a JSON object");
    this.reportUnknown(decodeBody(info, body as Obj), o);
    const rvWanted = body.metadata?.resourceVersion;
    return this.updateWith(info, ns, name, o, (cur) => {
      if (rvWanted && rvWanted !== cur.metadata?.resourceVersion) throw conflict(info, name);
      if (body.metadata?.name && body.metadata.name !== name) throw badRequest(`the name of the object (${body.metadata.name}) does not match the name on the URL (${name})`);
      return clone(body);
    }, !rvWanted);
  }

  async patch(info: ResourceInfo, ns: string | undefined, name: string, kind: PatchKind, patchBody: unknown, o: WriteOpts = {}): Promise<KubeObject> {
    patchBody = checkPatchBody(kind, patchBody);
    const typeName = typeNameFor(info.group, info.version, info.kind);
    // Unknown fields of the last attempt (a retried compare-and-swap patches again): warned once.
    let unknown: string[] = [];
    const apply = (cur: KubeObject): KubeObject => {
      try {
        if (kind === 'merge') return mergePatch(cur, patchBody) as KubeObject;
        if (kind === 'json') return jsonPatch(cur, patchBody) as KubeObject;
        if (kind === 'strategic') return strategicMergePatch(cur, patchBody, info);
        const r = serverSideApply(cur, patchBody as KubeObject, o.fieldManager ?? '', { force: !!o.force, info, now: now(), subresource: o.subresource });
        if ('conflicts' in r) throw new HttpError(409, 'Conflict', r.message, { name, ...(info.group ? { group: info.group } : {}), kind: info.resource, causes: r.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager.startsWith('"') ? c.manager : JSON.stringify(c.manager)}`, field: c.field })) });
        return r.object;
      } catch (e) {
        if (e instanceof PatchError) throw new HttpError(e.code, e.reason, e.message);
        throw e;
      }
    };
    if (kind === 'apply') {
      if (!o.fieldManager) throw badRequest('PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
      const existing = await this.store.get(storageKey(info, ns, name));
      if (!existing) {
        const r = serverSideApply(undefined, patchBody as KubeObject, o.fieldManager, { force: !!o.force, info, now: now() });
        if ('conflicts' in r) throw new HttpError(409, 'Conflict', r.message);
        const obj = r.object as Obj;
        obj.metadata = { ...obj.metadata, name };
        return this.create(info, ns, obj, { ...o, managedFieldsKept: true });
      }
    }
    const out = await this.updateWith(info, ns, name, o, (cur) => {
      const next = apply(clone(cur));
      // The patched object decodes into the type before anything else (upstream's patcher).
      unknown = decodePatched(next, typeName);
      if ((o.fieldValidation ?? 'Warn') === 'Strict') this.reportUnknown(unknown, o);
      // A patch may not rename or move the object.
      if (next.metadata?.name && next.metadata.name !== name) throw badRequest(`the name of the object (${next.metadata.name}) does not match the name on the URL (${name})`);
      return next;
    }, true, kind === 'apply');
    if ((o.fieldValidation ?? 'Warn') === 'Warn') this.reportUnknown(unknown, o);
    return out;
  }

  /** Read-modify-write with compare-and-swap, retrying on conflicts when `retry`. */
  private async updateWith(info: ResourceInfo, ns: string | undefined, name: string, o: WriteOpts, mutate: (cur: KubeObject) => KubeObject, retry: boolean, managedByApply = false): Promise<KubeObject> {
    for (let attempt = 0; ; attempt++) {
      const { obj: cur, rev } = await this.getEntry(info, ns, name);
      const next = mutate(clone(cur)) as Obj;
      const out = this.prepareUpdate(info, cur as Obj, next, o, managedByApply);
      if (out === cur) return cur; // no-op
      let alloc: { rollback: () => void; commit: () => void } | undefined;
      if (info.kind === 'Service' && o.subresource !== 'status') alloc = this.allocateService(out, cur as Obj);
      const errs = o.subresource === 'status' || o.subresource === 'binding' ? [] : validateUpdate(out, cur, info, { nodePortRange: [this.nodePorts.min, this.nodePorts.max], serviceCIDR: this.clusterIPs.cidr });
      if (errs.length) { alloc?.rollback(); this.throwInvalid(info, name, errs); }
      if (o.dryRun) { alloc?.rollback(); return out; }
      // Objects being deleted go away once their last finalizer is removed.
      const finalizersLeft = (out.metadata?.finalizers?.length ?? 0) > 0 || (info.kind === 'Namespace' && (out.spec?.finalizers?.length ?? 0) > 0);
      if (out.metadata?.deletionTimestamp && !finalizersLeft && !(info.kind === 'Pod' && out.spec?.nodeName && (out.metadata?.deletionGracePeriodSeconds ?? 0) > 0)) {
        try {
          const r = await this.store.delete(storageKey(info, ns, name), rev);
          alloc?.rollback();
          if (info.kind === 'Service') { this.ownServiceWrite(r.revision); this.releaseService(cur as Obj); }
          out.metadata.resourceVersion = String(r.revision);
          return out;
        } catch (e) {
          alloc?.rollback();
          if (retry && e instanceof StoreError && e.code === 'Conflict' && attempt < MAX_CAS_RETRIES) continue;
          storeError(e, info, name);
        }
      }
      try {
        const value = this.encode(info, out);
        const nrev = await this.store.update(storageKey(info, ns, name), value, rev);
        if (alloc) this.ownServiceWrite(nrev);
        alloc?.commit();
        return this.remember(info, out as KubeObject, value, nrev);
      } catch (e) {
        alloc?.rollback();
        if (retry && e instanceof StoreError && e.code === 'Conflict' && attempt < MAX_CAS_RETRIES) continue;
        storeError(e, info, name);
      }
    }
  }

  /** Apply kube-apiserver's update rules; returns `cur` itself when nothing changed. */
  private prepareUpdate(info: ResourceInfo, cur: Obj, next: Obj, o: WriteOpts, managedByApply: boolean): Obj {
    next.apiVersion = groupVersion(info);
    next.kind = info.kind;
    const md = (next.metadata ??= {});
    const cmd = cur.metadata;
    // System-owned metadata cannot be changed by clients.
    md.name = cmd.name; md.uid = cmd.uid; md.creationTimestamp = cmd.creationTimestamp;
    if (info.namespaced) md.namespace = cmd.namespace;
    md.deletionTimestamp = cmd.deletionTimestamp; md.deletionGracePeriodSeconds = cmd.deletionGracePeriodSeconds;
    if (md.deletionTimestamp === undefined) delete md.deletionTimestamp;
    if (md.deletionGracePeriodSeconds === undefined) delete md.deletionGracePeriodSeconds;
    md.generation = cmd.generation;
    if (md.generation === undefined) delete md.generation;
    delete md.resourceVersion;
    const sub = o.subresource;
    if (sub === 'status') {
      // Only status (and, as upstream allows, nothing else) changes through /status.
      const status = next.status;
      next = { ...clone(cur), status };
      next.metadata = { ...next.metadata };
      delete next.metadata.resourceVersion;
    } else if (sub === 'binding') {
      // Binding sets spec.nodeName and the PodScheduled condition in one write (see bind()).
      next.metadata = { ...next.metadata };
    } else if (sub === 'finalize' && info.kind === 'Namespace') {
      next = { ...clone(cur), spec: { ...cur.spec, finalizers: next.spec?.finalizers ?? [] } };
      delete next.metadata.resourceVersion;
    } else {
      if (KINDS_WITH_STATUS.has(info.kind) && info.kind !== 'Node') next.status = clone(cur.status);
      if (info.kind === 'Namespace') next.spec = clone(cur.spec);
      if (info.kind === 'Service') dropTypeDependentFields(next, cur);
      applyDefaults(next, info);
      if (!jsonEqual(next.spec, cur.spec) && cmd.generation !== undefined) next.metadata.generation = (cmd.generation ?? 0) + 1;
    }
    // A bound pod stays on its node (only pods/binding assigns one).
    if (info.kind === 'Pod' && !sub && cur.spec?.nodeName && next.spec) next.spec.nodeName = cur.spec.nodeName;
    const manager = o.fieldManager ?? 'unknown';
    const withFields = managedByApply ? next : updateManagedFields(cur as KubeObject, next as KubeObject, manager, 'Update', { info, now: now(), subresource: sub === 'status' ? 'status' : undefined }) as Obj;
    const a = { ...withFields, metadata: { ...withFields.metadata, managedFields: undefined } };
    const b = { ...cur, metadata: { ...cur.metadata, managedFields: undefined, resourceVersion: undefined } };
    if (jsonEqual(JSON.parse(JSON.stringify(a)), JSON.parse(JSON.stringify(b)))) return cur;
    return withFields;
  }

  /**
   * pods/binding: assign a pod to a node, as the scheduler does — spec.nodeName and the
   * PodScheduled condition in one write; a pod already assigned is a Conflict.
   */
  async bind(ns: string | undefined, podName: string, node: string, annotations: Record<string, string> | undefined, dryRun = false): Promise<KubeObject> {
    const pods = res('pods');
    return this.updateWith(pods, ns, podName, { subresource: 'binding', fieldManager: 'kube-scheduler', dryRun }, (cur) => {
      const pod = cur as Obj;
      if (pod.metadata?.deletionTimestamp) throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${podName}": pod ${podName} is being deleted, cannot be assigned to a host`, { name: podName, kind: 'pods/binding' });
      if (pod.spec?.nodeName) throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${podName}": pod ${podName} is already assigned to node "${pod.spec.nodeName}"`, { name: podName, kind: 'pods/binding' });
      pod.spec = { ...pod.spec, nodeName: node };
      if (annotations) pod.metadata.annotations = { ...pod.metadata.annotations, ...annotations };
      const conds: Obj[] = (pod.status?.conditions ?? []).filter((c: Obj) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: now() });
      pod.status = { ...pod.status, conditions: conds };
      return pod as KubeObject;
    }, true);
  }

  // ---- delete ----

  async delete(info: ResourceInfo, ns: string | undefined, name: string, o: DeleteOpts = {}): Promise<{ obj: KubeObject; gone: boolean }> {
    // As the NamespaceLifecycle admission plugin: `kubectl delete ns --all` leaves these standing.
    if (info.kind === 'Namespace' && IMMORTAL_NAMESPACES.has(name)) {
      await this.getEntry(info, ns, name);
      throw forbidden(info, name, 'this namespace may not be deleted');
    }
    for (let attempt = 0; ; attempt++) {
      const { obj, rev } = await this.getEntry(info, ns, name);
      const md = obj.metadata as Obj;
      if (o.preconditions?.uid && o.preconditions.uid !== md.uid) {
        throw new HttpError(409, 'Conflict', `Precondition failed: UID in precondition: ${o.preconditions.uid}, UID in object meta: ${md.uid}`, { name, kind: info.resource });
      }
      if (o.preconditions?.resourceVersion && o.preconditions.resourceVersion !== md.resourceVersion) {
        throw new HttpError(409, 'Conflict', `Precondition failed: ResourceVersion in precondition: ${o.preconditions.resourceVersion}, ResourceVersion in object meta: ${md.resourceVersion}`, { name, kind: info.resource });
      }
      const next = clone(obj) as Obj;
      let keep = false;
      const finalizers: string[] = [...(next.metadata.finalizers ?? [])];
      if (info.kind === 'Namespace') {
        keep = true;
        if (next.status?.phase === 'Terminating' && !(next.spec?.finalizers?.length) && !finalizers.length) keep = false;
        next.status = { ...next.status, phase: 'Terminating' };
      }
      if (info.kind === 'Pod') {
        const grace = o.gracePeriodSeconds ?? next.spec?.terminationGracePeriodSeconds ?? 30;
        const scheduled = !!next.spec?.nodeName;
        const finished = next.status?.phase === 'Succeeded' || next.status?.phase === 'Failed';
        if (scheduled && grace > 0 && !finished) {
          const cur = next.metadata.deletionGracePeriodSeconds;
          if (cur === undefined || grace < cur) {
            next.metadata.deletionGracePeriodSeconds = grace;
            next.metadata.deletionTimestamp = new Date(Date.now() + grace * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
          }
          keep = true;
        } else {
          next.metadata.deletionGracePeriodSeconds = 0;
        }
      }
      const policy = o.propagationPolicy;
      if (policy === 'Foreground' && !finalizers.includes('foregroundDeletion')) { finalizers.push('foregroundDeletion'); }
      if (policy === 'Orphan' && !finalizers.includes('orphan')) { finalizers.push('orphan'); }
      if (finalizers.length) keep = true;
      if (keep) {
        next.metadata.finalizers = finalizers.length ? finalizers : undefined;
        if (!next.metadata.finalizers) delete next.metadata.finalizers;
        next.metadata.deletionTimestamp ??= now();
        if (info.kind !== 'Pod') next.metadata.deletionGracePeriodSeconds ??= 0;
        if (jsonEqual(next, obj)) return { obj, gone: false };
        if (o.dryRun) return { obj: next, gone: false };
        delete next.metadata.resourceVersion;
        try {
          const nrev = await this.store.update(storageKey(info, ns, name), this.encode(info, next), rev);
          next.metadata.resourceVersion = String(nrev);
          return { obj: next, gone: false };
        } catch (e) {
          if (e instanceof StoreError && e.code === 'Conflict' && attempt < MAX_CAS_RETRIES) continue;
          storeError(e, info, name);
        }
      }
      if (o.dryRun) return { obj, gone: true };
      try {
        const r = await this.store.delete(storageKey(info, ns, name), rev);
        if (info.kind === 'Service') { this.ownServiceWrite(r.revision); this.releaseService(obj as Obj); }
        (obj.metadata as Obj).resourceVersion = String(r.revision);
        return { obj, gone: true };
      } catch (e) {
        if (e instanceof StoreError && e.code === 'Conflict' && attempt < MAX_CAS_RETRIES) continue;
        storeError(e, info, name);
      }
    }
  }

  // ---- watch ----

  /**
   * Watch a resource (optionally one namespace) from a resourceVersion. Without one (or "0"),
   * the current objects come first as ADDED events, as kube-apiserver sends them. Recent
   * resourceVersions are served from the resource's watch cache (one store watch shared by all
   * watchers); older ones from the store's history, or 410 Gone once compacted.
   * `onInitialDone` runs after the synthetic ADDED events (for the initial-events-end bookmark).
   */
  async watch(info: ResourceInfo, ns: string | undefined, fromRV: string | undefined, sel: Selector,
    deliver: (type: WatchEventType, ev: CachedEvent, which: 'cur' | 'prev') => void,
    onClose: (reason: string) => void, onInitialDone?: (rev: number) => void): Promise<Subscription & { cache?: WatchCache }> {
    const filtering = sel.labels === null || sel.labels.length > 0 || sel.fields.length > 0;
    const filter = selectorFilter(filtering ? (o) => matches(sel, o) : undefined);
    const cache = this.caches.get(info);
    try { await cache.start(); } catch (e) { storeError(e, info, ''); }
    let after: number;
    if (!fromRV || fromRV === '0') {
      const list = await this.listWith(info, ns, {}, (e) => e);
      after = Number(list.resourceVersion);
      const allPrefix = storageKey(info, undefined);
      for (const e of list.items) {
        const ev = new CachedEventImpl(info, allPrefix, { type: 'put', key: e.key, value: e.value, revision: e.modRevision, created: true });
        if (!filtering || matches(sel, ev.obj('cur'))) deliver('ADDED', ev, 'cur');
      }
      onInitialDone?.(after);
    } else {
      after = Number(fromRV);
      if (!Number.isInteger(after) || after < 0) throw badRequest(`invalid resource version "${fromRV}"`);
    }
    if (cache.covers(after)) return { ...cache.subscribe(info.namespaced ? ns : undefined, filter, after, deliver, onClose), cache };
    // Older than the cache's window: replay from the store's history.
    const prefix = storageKey(info, info.namespaced ? ns : undefined);
    try {
      const w = await this.store.watch(prefix, after, (raw) => {
        const ev = new CachedEventImpl(info, storageKey(info, undefined), raw);
        const d = filter(ev);
        if (d) deliver(d.type, ev, d.which);
      }, (err) => onClose(err.message));
      return { stop: () => w.stop() };
    } catch (e) {
      if (e instanceof StoreError && e.code === 'Gone') throw gone(`too old resource version: ${after} (${await this.store.compactedRevision()})`);
      storeError(e, info, '');
    }
  }
}

export { labelSelectorFromObject };
