/**
 * @module apiserver/handlers
 * The REST verbs of one resource request (after routing and auth): get, list, watch, create,
 * update, patch, delete, deletecollection, and the subresources status, scale, binding,
 * eviction, finalize, serviceaccounts/token (token-request.ts) and the pod streams proxied to the
 * node agent. Answers in the negotiated
 * format; plain JSON goes out from the stored text without a parse where possible.
 */
import http from 'node:http';
import type net from 'node:net';
import { groupVersion, res, type ResourceInfo } from '../api/registry.js';
import type { KubeObject } from '../api/types.js';
import { printTable, formatLabelSelector } from '../api/printers.js';
import { jsonPatch, mergePatch } from '../api/patch.js';
import { HttpError, badRequest, invalid, methodNotAllowed, notFound } from './errors.js';
import { negotiate, partialObjectMetadata, sendBody, type Format } from './content.js';
import { decodeObjectBody, decodePatchBody, patchKind, readBody } from './request.js';
import { serveWatch } from './watch-stream.js';
import { proxyToKubelet } from './kubelet-proxy.js';
import { checkPatchBody, decodeBody, patchInvalid, type DeleteOpts, type FieldValidation, type Storage, type WriteOpts } from './storage.js';
import { decodeTyped, parseJSON } from '../api/decode.js';
import { tokenRequest } from './token-request.js';
import type { TokenSigner } from './sa-token.js';

type Obj = Record<string, any>;

/** Resources whose DELETE answers with the object (ReturnDeletedObject upstream); others with a Status. */
const RETURNS_DELETED_OBJECT = new Set(['pods', 'services', 'serviceaccounts', 'namespaces']);
const POD_STREAMS = new Set(['log', 'exec', 'attach', 'portforward']);
const FIELD_VALIDATION = new Set(['Strict', 'Warn', 'Ignore']);

export interface Route {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
  watchPath: boolean;
}

export interface ResourceRequest extends Route {
  req: http.IncomingMessage;
  resp: http.ServerResponse;
  url: URL;
  storage: Storage;
  /** The verb for metrics, set by route. */
  verb: string;
  onWatchStart?: () => void;
  onWatchEnd?: () => void;
  /** Signs service account tokens (serviceaccounts/token). */
  tokens?: TokenSigner;
}

const routeTables = new WeakMap<readonly ResourceInfo[], Map<string, ResourceInfo>>();

function lookup(resources: readonly ResourceInfo[], group: string, version: string, resource: string): ResourceInfo | undefined {
  let t = routeTables.get(resources);
  if (!t) {
    t = new Map(resources.map((r) => [`${r.group}/${r.version}/${r.resource}`, r]));
    routeTables.set(resources, t);
  }
  return t.get(`${group}/${version}/${resource}`);
}

/** Map a URL path under /api or /apis to a resource route, or undefined for 404. */
export function route(parts: string[], resources: readonly ResourceInfo[]): Route | undefined {
  let group = '';
  let version: string | undefined;
  let i: number;
  if (parts[0] === 'api') { version = parts[1]; i = 2; } else { group = parts[1] ?? ''; version = parts[2]; i = 3; }
  if (!version) return undefined;
  let watchPath = false;
  if (parts[i] === 'watch') { watchPath = true; i++; }
  let namespace: string | undefined;
  if (parts[i] === 'namespaces' && parts.length - i >= 3) {
    const inner = lookup(resources, group, version, parts[i + 2]!);
    if (inner?.namespaced) { namespace = parts[i + 1]; i += 2; }
  }
  const info = lookup(resources, group, version, parts[i] ?? '');
  if (!info) return undefined;
  const subresource = parts.length > i + 2 ? parts.slice(i + 2).join('/') : undefined;
  if (subresource && !info.subresources.includes(parts[i + 2]!)) return undefined;
  return { info, namespace, name: parts[i + 1], subresource, watchPath };
}

export function verbOf(method: string, r: Route, q: URLSearchParams): string {
  if (r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1') return 'watch';
  switch (method) {
    case 'GET': case 'HEAD': return r.name ? 'get' : 'list';
    case 'POST': return 'create';
    case 'PUT': return 'update';
    case 'PATCH': return 'patch';
    case 'DELETE': return r.name ? 'delete' : 'deletecollection';
    default: return method.toLowerCase();
  }
}

function writeOpts(q: URLSearchParams, subresource: string | undefined, warnings: string[]): WriteOpts {
  const dry = q.getAll('dryRun');
  for (const d of dry) if (d !== 'All') throw badRequest(`dryRun: Unsupported value: "${d}": supported values: "All"`);
  const fv = q.get('fieldValidation') ?? 'Warn';
  if (!FIELD_VALIDATION.has(fv)) throw badRequest(`fieldValidation: Unsupported value: "${fv}": supported values: "Ignore", "Strict", "Warn"`);
  return {
    dryRun: dry.includes('All'), fieldManager: q.get('fieldManager') ?? undefined,
    fieldValidation: fv as FieldValidation, force: q.get('force') === 'true', subresource, warnings,
  };
}

/**
 * One Warning header value as kube-apiserver writes it (`299 - "text"`, only `"` and `\` escaped),
 * sent as its UTF-8 bytes: Node refuses header strings with characters past Latin-1 or line
 * breaks, and a header that throws after the write would answer 500 for a stored object.
 */
export function warningHeaderValue(warnings: string[]): string {
  const quoted = warnings.map((w) => `299 - "${w.replace(/["\\]/g, (c) => `\\${c}`)}"`).join(', ');
  return Buffer.from(quoted.replace(/[\x00-\x08\x0a-\x1f\x7f]/g, ' '), 'utf8').toString('latin1');
}

function warningHeaders(warnings: string[]): Record<string, string> {
  return warnings.length ? { Warning: warningHeaderValue(warnings) } : {};
}

/** An int64 query parameter as upstream's url.Values conversion reads it (strconv.ParseInt). */
export function int64Param(q: URLSearchParams, name: string): number | undefined {
  const v = q.get(name);
  if (v === null) return undefined;
  if (!/^[+-]?\d+$/.test(v)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: invalid syntax`);
  const n = BigInt(v);
  if (n > 2n ** 63n - 1n || n < -(2n ** 63n)) throw badRequest(`strconv.ParseInt: parsing ${JSON.stringify(v)}: value out of range`);
  return Number(n);
}

/** Answer with one object in the negotiated format (JSON from the text the storage kept). */
function sendObject(r: ResourceRequest, code: number, obj: KubeObject, format: Format, headers: Record<string, string> = {}): void {
  const q = r.url.searchParams;
  if (format.kind === 'table') {
    const t = printTable(r.info, [obj], { includeObject: (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata' }) as unknown as Obj;
    t.apiVersion = `meta.k8s.io/${format.version}`;
    return sendBody(r.resp, code, t, format, headers);
  }
  if (format.kind === 'partial') return sendBody(r.resp, code, partialObjectMetadata(obj, format.version), format, headers);
  sendBody(r.resp, code, r.storage.jsonOf(obj) ?? obj, format, headers);
}

/**
 * The answer to a write that is stored: rendering it in the negotiated format must not turn an
 * acknowledged write into an error, so a failure to render falls back to the stored JSON.
 */
function sendWritten(r: ResourceRequest, code: number, obj: KubeObject, format: Format, headers: Record<string, string>): void {
  try { sendObject(r, code, obj, format, headers); } catch {
    if (!r.resp.headersSent) sendBody(r.resp, code, r.storage.jsonOf(obj) ?? JSON.stringify(obj));
  }
}

function deleteOptions(q: URLSearchParams, body: Buffer): DeleteOpts {
  let d: Obj = {};
  if (body.length) {
    try { d = parseJSON(body.toString('utf8')) as Obj; } catch (e) { throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message.split('\n')[0]}`); }
    if (!d || typeof d !== 'object' || Array.isArray(d)) d = {};
    // Upstream answers a DeleteOptions that does not decode with the decoder's error.
    const { error } = decodeTyped(d, 'io.k8s.apimachinery.pkg.apis.meta.v1.DeleteOptions');
    if (error) throw badRequest(error);
  }
  const policy = q.get('propagationPolicy') ?? d.propagationPolicy ?? (d.orphanDependents === true || q.get('orphanDependents') === 'true' ? 'Orphan' : undefined);
  if (policy !== undefined && !['Orphan', 'Background', 'Foreground'].includes(policy)) {
    throw new HttpError(422, 'Invalid', `DeleteOptions.meta.k8s.io "" is invalid: propagationPolicy: Unsupported value: "${policy}": supported values: "Foreground", "Background", "Orphan", "nil"`);
  }
  const gp = int64Param(q, 'gracePeriodSeconds') ?? d.gracePeriodSeconds;
  const dry = [...q.getAll('dryRun'), ...(Array.isArray(d.dryRun) ? d.dryRun : [])];
  return {
    propagationPolicy: policy, gracePeriodSeconds: gp !== undefined && gp !== null ? Number(gp) : undefined,
    preconditions: d.preconditions, dryRun: dry.includes('All'),
  };
}

function listOpts(q: URLSearchParams) {
  const limit = int64Param(q, 'limit') ?? 0;
  return {
    labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined,
    limit: Number.isFinite(limit) && limit > 0 ? limit : undefined, continue: q.get('continue') ?? undefined,
    resourceVersion: q.get('resourceVersion') ?? undefined, resourceVersionMatch: q.get('resourceVersionMatch') ?? undefined,
  };
}

/** apimachinery's IsValidPathSegmentName: why a name cannot be a path segment, or undefined. */
function pathSegmentProblem(name: string): string | undefined {
  if (name === '.' || name === '..') return `may not be '${name}'`;
  for (const c of ['/', '%']) if (name.includes(c)) return `may not contain '${c}'`;
  return undefined;
}

/**
 * A request path with `.` or `..` segments (raw or percent-encoded): WHATWG URL parsing would
 * resolve them and address another resource (`…/services/%2e%2e` is the namespace), so they are
 * refused first, with the registry's words for a name that cannot be a key segment.
 */
export function checkDotSegments(rawUrl: string | undefined): void {
  const path = (rawUrl ?? '/').split('?')[0]!;
  if (!/(^|\/)(\.|%2e){1,2}(\/|$)/i.test(path)) return;
  for (const seg of path.split('/')) {
    let d = seg;
    try { d = decodeURIComponent(seg); } catch { /* refused later as a bad escape */ }
    if (d === '.' || d === '..') throw badRequest(`Name parameter invalid: ${JSON.stringify(d)}: may not be '${d}'`);
  }
}

/** Handle a plain HTTP request for a resource. */
export async function handleResource(r: ResourceRequest): Promise<void> {
  const { req, resp, info, namespace, name, subresource, storage } = r;
  const q = r.url.searchParams;
  const method = req.method ?? 'GET';
  const format = negotiate(req.headers.accept);
  if (info.namespaced && namespace === undefined && name !== undefined) throw notFound(info, name);
  // As the registry's key functions: a name that is no single path segment names nothing.
  const nameProblem = name === undefined ? undefined : pathSegmentProblem(name);
  if (nameProblem) throw badRequest(`Name parameter invalid: ${JSON.stringify(name)}: ${nameProblem}`);

  if (subresource && info.kind === 'Pod' && POD_STREAMS.has(subresource)) {
    return proxyToKubelet(req, resp, undefined, undefined, storage, namespace!, name!, subresource, r.url);
  }
  if (subresource === 'scale') return scale(r, format);
  if (subresource === 'binding' || info.kind === 'Binding') return binding(r);
  if (subresource === 'eviction') return eviction(r);
  if (subresource === 'token' && info.kind === 'ServiceAccount' && r.tokens) return tokenRequest(r, r.tokens);
  if (subresource && subresource !== 'status' && subresource !== 'finalize') throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
  if (subresource === 'finalize' && method !== 'PUT') throw methodNotAllowed();

  if (r.verb === 'watch') {
    if (method !== 'GET') throw methodNotAllowed();
    r.onWatchStart?.();
    return serveWatch({ storage, resp, info, namespace, name, q, format, onEnd: r.onWatchEnd });
  }
  const warnings: string[] = [];
  switch (method) {
    case 'GET': case 'HEAD': {
      if (name) {
        if (format.kind === 'json') return sendBody(resp, 200, await storage.getJSON(info, namespace, name));
        return sendObject(r, 200, await storage.get(info, namespace, name), format);
      }
      return list(r, format);
    }
    case 'POST': {
      if (name) throw methodNotAllowed();
      if (!info.verbs.includes('create')) throw methodNotAllowed();
      const body = decodeObjectBody(await readBody(req), req.headers['content-type']) as KubeObject;
      const created = await storage.create(info, namespace, body, { ...writeOpts(q, undefined, warnings), bodyOwned: true });
      return sendWritten(r, 201, created, format, warningHeaders(warnings));
    }
    case 'PUT': {
      if (!name) throw methodNotAllowed();
      const body = decodeObjectBody(await readBody(req), req.headers['content-type']) as KubeObject;
      const updated = await storage.update(info, namespace, name, body, writeOpts(q, subresource, warnings));
      return sendWritten(r, 200, updated, format, warningHeaders(warnings));
    }
    case 'PATCH': {
      if (!name) throw methodNotAllowed();
      const kind = patchKind(req.headers['content-type']);
      const body = decodePatchBody(await readBody(req), kind);
      const patched = await storage.patch(info, namespace, name, kind, body, writeOpts(q, subresource, warnings));
      return sendWritten(r, 200, patched, format, warningHeaders(warnings));
    }
    case 'DELETE': {
      const d = deleteOptions(q, await readBody(req));
      if (!name) {
        if (!info.verbs.includes('deletecollection')) throw methodNotAllowed();
        const { items } = await storage.list(info, namespace, listOpts(q));
        const out: KubeObject[] = [];
        for (const o of items) {
          try { out.push((await storage.delete(info, o.metadata?.namespace, o.metadata!.name!, d)).obj); } catch (e) { if (!(e instanceof HttpError && e.code === 404)) throw e; }
        }
        return sendBody(resp, 200, { kind: info.listKind, apiVersion: groupVersion(info), metadata: {}, items: out.map(stripTypeMeta) }, format);
      }
      const { obj, gone } = await storage.delete(info, namespace, name, d);
      if (!gone || RETURNS_DELETED_OBJECT.has(info.resource)) return sendObject(r, 200, obj, format);
      return sendBody(resp, 200, {
        kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success',
        details: { name, ...(info.group ? { group: info.group } : {}), kind: info.resource, uid: obj.metadata?.uid },
      }, format);
    }
    default:
      throw methodNotAllowed();
  }
}

function stripTypeMeta(o: KubeObject): Obj {
  const { apiVersion: _a, kind: _k, ...rest } = o as Obj;
  return rest;
}

async function list(r: ResourceRequest, format: Format): Promise<void> {
  const { info, namespace, storage, resp } = r;
  const q = r.url.searchParams;
  const lo = listOpts(q);
  const meta = (l: { resourceVersion: string; continue?: string; remainingItemCount?: number }) => ({
    resourceVersion: l.resourceVersion, ...(l.continue ? { continue: l.continue } : {}),
    ...(l.remainingItemCount !== undefined ? { remainingItemCount: l.remainingItemCount } : {}),
  });
  if (format.kind === 'json') {
    // Built from the stored texts: no parse or stringify of the items.
    const l = await storage.listJSON(info, namespace, lo);
    const head = JSON.stringify({ kind: info.listKind, apiVersion: groupVersion(info), metadata: meta(l) });
    return sendBody(resp, 200, `${head.slice(0, -1)},"items":[${l.items.join(',')}]}`);
  }
  const l = await storage.list(info, namespace, lo);
  if (format.kind === 'table') {
    const t = printTable(info, l.items, { includeObject: (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata', resourceVersion: l.resourceVersion, continue: l.continue }) as unknown as Obj;
    t.apiVersion = `meta.k8s.io/${format.version}`;
    return sendBody(resp, 200, t, format);
  }
  if (format.kind === 'partial') {
    return sendBody(resp, 200, { kind: 'PartialObjectMetadataList', apiVersion: `meta.k8s.io/${format.version}`, metadata: meta(l), items: l.items.map((o) => ({ metadata: o.metadata })) }, format);
  }
  sendBody(resp, 200, { kind: info.listKind, apiVersion: groupVersion(info), metadata: meta(l), items: l.items.map(stripTypeMeta) }, format);
}

// ---- subresources ----

function scaleOf(obj: KubeObject): Obj {
  const o = obj as Obj;
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector: o.spec?.selector ? formatLabelSelector(o.spec.selector) : '' },
  };
}

async function scale(r: ResourceRequest, format: Format): Promise<void> {
  const { req, info, namespace, name, storage } = r;
  const method = req.method ?? 'GET';
  if (!name) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');
  const obj = await storage.get(info, namespace, name);
  if (method === 'GET') return sendBody(r.resp, 200, scaleOf(obj), format);
  let want: Obj;
  if (method === 'PUT') {
    want = decodeObjectBody(await readBody(req), req.headers['content-type']);
    decodeBody({ group: 'autoscaling', version: 'v1', kind: 'Scale' }, want);
  } else if (method === 'PATCH') {
    const kind = patchKind(req.headers['content-type']);
    const body = checkPatchBody(kind, decodePatchBody(await readBody(req), kind));
    try {
      want = kind === 'json' ? jsonPatch(scaleOf(obj), body) as Obj : mergePatch(scaleOf(obj), body) as Obj;
    } catch (e) { throw badRequest((e as Error).message); }
    // The patched Scale decodes into autoscaling/v1 Scale (int32 replicas) before anything is stored.
    if (!want || typeof want !== 'object' || Array.isArray(want)) throw patchInvalid(want, 'the patched object is not a JSON object');
    const { error } = decodeTyped(want, 'io.k8s.api.autoscaling.v1.Scale');
    if (error) throw patchInvalid(want, error);
  } else throw methodNotAllowed();
  const rv = want?.metadata?.resourceVersion;
  if (method === 'PUT' && rv && rv !== obj.metadata?.resourceVersion) {
    throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${info.resource}.${info.group || 'core'} "${name}": the object has been modified; please apply your changes to the latest version and try again`, { name, group: info.group, kind: info.resource });
  }
  const replicas = want?.spec?.replicas;
  if (typeof replicas !== 'number' || !Number.isInteger(replicas) || replicas < 0) {
    const shown = typeof replicas === 'number' ? String(replicas) : JSON.stringify(replicas ?? null);
    throw invalid({ ...info, kind: 'Scale', group: 'autoscaling' }, name, `Scale.autoscaling "${name}" is invalid: spec.replicas: Invalid value: ${shown}: must be greater than or equal to 0`,
      [{ reason: 'FieldValueInvalid', message: `Invalid value: ${shown}: must be greater than or equal to 0`, field: 'spec.replicas' }]);
  }
  const q = r.url.searchParams;
  const updated = await storage.patch(info, namespace, name, 'merge', { spec: { replicas } }, { fieldManager: q.get('fieldManager') ?? 'kubectl', dryRun: q.getAll('dryRun').includes('All') });
  sendBody(r.resp, 200, scaleOf(updated), format);
}

async function binding(r: ResourceRequest): Promise<void> {
  const { req, info, namespace, storage } = r;
  if (req.method !== 'POST') throw methodNotAllowed();
  const body = decodeObjectBody(await readBody(req), req.headers['content-type']) as Obj;
  decodeBody({ group: '', version: 'v1', kind: 'Binding' }, body);
  const podName: string = info.kind === 'Binding' ? body?.metadata?.name : r.name;
  const target: string | undefined = body?.target?.name;
  if (!podName) throw badRequest('Binding.metadata.name is required');
  if (!target) throw new HttpError(422, 'Invalid', `Binding "${podName}" is invalid: target.name: Required value`);
  await storage.bind(namespace, podName, target, body?.metadata?.annotations, r.url.searchParams.getAll('dryRun').includes('All'));
  sendBody(r.resp, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}

async function eviction(r: ResourceRequest): Promise<void> {
  const { req, namespace, name, storage } = r;
  if (req.method !== 'POST' || !name) throw methodNotAllowed();
  const body = decodeObjectBody(await readBody(req), req.headers['content-type']) as Obj;
  decodeBody({ group: 'policy', version: 'v1', kind: 'Eviction' }, body);
  const d = body?.deleteOptions ?? {};
  // No PodDisruptionBudgets are served, so every eviction is allowed: it is a delete.
  await storage.delete(res('pods'), namespace, name, {
    gracePeriodSeconds: d.gracePeriodSeconds ?? undefined, preconditions: d.preconditions, propagationPolicy: d.propagationPolicy,
    dryRun: Array.isArray(d.dryRun) && d.dryRun.includes('All'),
  });
  sendBody(r.resp, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
}

/** WebSocket/SPDY upgrades: only the pod streams (exec, attach, portforward) take them. */
export function handleUpgrade(req: http.IncomingMessage, socket: net.Socket, head: Buffer, r: Route | undefined, storage: Storage, url: URL): void {
  if (!r || r.info.kind !== 'Pod' || !r.name || !r.namespace || !['exec', 'attach', 'portforward'].includes(r.subresource ?? '')) {
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n');
    return;
  }
  proxyToKubelet(req, undefined, socket, head, storage, r.namespace, r.name, r.subresource!, url).catch((e) => {
    const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', String((e as Error).message));
    const body = JSON.stringify(err.status());
    socket.end(`HTTP/1.1 ${err.code} ${http.STATUS_CODES[err.code] ?? 'Error'}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  });
}
