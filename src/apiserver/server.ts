/**
 * @module apiserver/server
 * svcplane's Kubernetes API server: HTTPS on 127.0.0.1:6443 (bearer token) and plain HTTP on a
 * unix socket for components inside the cluster's namespaces. Routes discovery, OpenAPI,
 * version/health/metrics and the REST verbs of every resource in src/api/registry.ts to the
 * generic storage (storage.ts), with Kubernetes content negotiation (JSON, YAML, Table) and
 * watch streams; pods' log/exec/attach/portforward are proxied to the node agent's socket.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { timingSafeEqual } from 'node:crypto';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import client from 'prom-client';
import { KUBE_VERSION, RESOURCES, findResource, groupVersion, res, type ResourceInfo } from '../api/registry.js';
import type { KubeObject } from '../api/types.js';
import { printTable } from '../api/printers.js';
import { openapiV3Document, openapiV3Index } from '../api/openapi.js';
import { mergePatch } from '../api/patch.js';
import type { Store } from '../store/types.js';
import { HttpError, badRequest, methodNotAllowed, notFound } from './errors.js';
import { Storage, matches, parseSelector, type FieldValidation, type PatchKind, type WriteOpts } from './storage.js';
import { aggregated, apiGroup, apiGroupList, apiVersions, resourceList } from './discovery.js';
import { ensurePki, writeKubeconfigs } from './pki.js';
import { bootstrap } from './bootstrap.js';
import { decodeProtobufObject } from './protobuf.js';

const MAX_BODY = 3 * 1024 * 1024;
const BOOKMARK_EVERY_MS = 10_000;
const KUBELET_SOCKET_ANNOTATION = 'svcplane.io/kubelet-socket';

export interface ApiServerOptions {
  dataDir: string;
  store: Store;
  host?: string;
  port?: number;
  socketPath?: string;
  serviceCIDR?: string;
  nodePortRange?: string;
  advertiseAddress?: string;
}

export interface ApiServer {
  port: number;
  url: string;
  storage: Storage;
  close(): Promise<void>;
}

interface Route {
  info: ResourceInfo;
  namespace?: string;
  name?: string;
  subresource?: string;
  watchPath: boolean;
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'apiserver', msg, ...extra }));
}

/** Map a URL path under /api or /apis to a resource route. */
export function route(parts: string[]): Route | undefined {
  let group = '';
  let version: string;
  let rest: string[];
  if (parts[0] === 'api') { version = parts[1]!; rest = parts.slice(2); } else { group = parts[1]!; version = parts[2]!; rest = parts.slice(3); }
  let watchPath = false;
  if (rest[0] === 'watch') { watchPath = true; rest = rest.slice(1); }
  let namespace: string | undefined;
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    const inner = RESOURCES.find((r) => r.group === group && r.version === version && r.resource === rest[2] && r.namespaced);
    if (inner) { namespace = rest[1]; rest = rest.slice(2); }
  }
  const info = RESOURCES.find((r) => r.group === group && r.version === version && r.resource === rest[0]);
  if (!info) return undefined;
  return { info, namespace, name: rest[1], subresource: rest.slice(2).join('/') || undefined, watchPath };
}

function wantsTable(accept: string): boolean {
  return /as=Table/.test(accept) && /g=meta\.k8s\.io/.test(accept);
}

function tableVersion(accept: string): string {
  return /as=Table;v=v1beta1/.test(accept) && !/as=Table;v=v1;/.test(accept) ? 'meta.k8s.io/v1beta1' : 'meta.k8s.io/v1';
}

function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    req.on('data', (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY) { reject(new HttpError(413, 'RequestEntityTooLarge', `Request entity too large: limit is ${MAX_BODY}`)); req.destroy(); return; }
      chunks.push(c);
    });
    req.on('end', () => resolve(Buffer.concat(chunks)));
    req.on('error', reject);
  });
}

function decodeBody(buf: Buffer, contentType: string): unknown {
  const ct = contentType.split(';')[0]!.trim();
  if (!buf.length) throw badRequest('the request body is empty');
  if (ct === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(buf);
  const text = buf.toString('utf8');
  try {
    if (ct.includes('yaml')) return parseYaml(text);
    return JSON.parse(text);
  } catch (e) {
    throw badRequest(`the object provided is unrecognized (${ct.includes('yaml') ? 'yaml' : 'json'}): ${(e as Error).message.split('\n')[0]}`);
  }
}

function patchKind(contentType: string): PatchKind {
  const ct = contentType.split(';')[0]!.trim();
  switch (ct) {
    case 'application/strategic-merge-patch+json': return 'strategic';
    case 'application/merge-patch+json': return 'merge';
    case 'application/json-patch+json': return 'json';
    case 'application/apply-patch+yaml': case 'application/apply-patch+cbor': return 'apply';
    default: throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json`);
  }
}

function scaleOf(obj: KubeObject): KubeObject {
  const o = obj as any;
  const sel = o.spec?.selector;
  const selector = sel?.matchLabels ? Object.entries(sel.matchLabels).map(([k, v]) => `${k}=${v}`).join(',') : '';
  return {
    kind: 'Scale', apiVersion: 'autoscaling/v1',
    metadata: { name: o.metadata.name, namespace: o.metadata.namespace, uid: o.metadata.uid, resourceVersion: o.metadata.resourceVersion, creationTimestamp: o.metadata.creationTimestamp },
    spec: { replicas: o.spec?.replicas ?? 0 },
    status: { replicas: o.status?.replicas ?? 0, selector },
  };
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const dataDir = opts.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const storage = new Storage(opts.store, { serviceCIDR: opts.serviceCIDR, nodePortRange: opts.nodePortRange });
  await storage.repair();
  await bootstrap(storage, opts.advertiseAddress ?? '172.18.0.2');
  const pki = ensurePki(join(dataDir, 'pki'), [opts.advertiseAddress ?? '172.18.0.2']);
  const tokenBuf = Buffer.from(pki.token);

  const registry = new client.Registry();
  const requests = new client.Counter({ name: 'apiserver_request_total', help: 'Requests by verb, resource and HTTP code.', labelNames: ['verb', 'resource', 'code'], registers: [registry] });
  const latency = new client.Histogram({ name: 'apiserver_request_duration_seconds', help: 'Request latency by verb and resource.', labelNames: ['verb', 'resource'], buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1], registers: [registry] });
  let watchers = 0;
  new client.Gauge({ name: 'apiserver_registered_watchers', help: 'Open watch streams.', registers: [registry], collect() { this.set(watchers); } });
  new client.Gauge({
    name: 'apiserver_storage_objects', help: 'Stored objects by resource.', labelNames: ['resource'], registers: [registry],
    async collect() { for (const r of RESOURCES) this.set({ resource: r.resource }, await opts.store.count(r.group && r.group !== 'apps' ? `/registry/${r.group}/${r.resource}/` : `/registry/${r.resource}/`)); },
  });

  const send = (resp: http.ServerResponse, code: number, body: unknown, accept = 'application/json', extraHeaders: Record<string, string> = {}) => {
    const yaml = /application\/yaml/.test(accept) && !/application\/json/.test(accept.split(',')[0] ?? '');
    const text = yaml ? stringifyYaml(body) : JSON.stringify(body);
    resp.writeHead(code, { 'Content-Type': yaml ? 'application/yaml' : 'application/json', 'Cache-Control': 'no-cache, private', ...extraHeaders });
    resp.end(text);
  };
  const sendError = (resp: http.ServerResponse, e: unknown) => {
    const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', `Internal error occurred: ${(e as Error)?.message ?? String(e)}`);
    if (err.code === 500) log('internal error', { error: String((e as Error)?.stack ?? e) });
    if (!resp.headersSent) send(resp, err.code, err.status());
    else resp.end();
  };

  const handle = async (req: http.IncomingMessage, resp: http.ServerResponse, trusted: boolean): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://x');
    const q = u.searchParams;
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const accept = String(req.headers.accept ?? 'application/json');
    const method = req.method ?? 'GET';
    if (!trusted && !['/healthz', '/livez', '/readyz', '/version'].includes(u.pathname)) {
      const auth = String(req.headers.authorization ?? '');
      const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7).trim() : '');
      if (given.length !== tokenBuf.length || !timingSafeEqual(given, tokenBuf)) {
        send(resp, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
        return;
      }
    }
    // Non-resource endpoints.
    if (u.pathname === '/version') return send(resp, 200, { ...KUBE_VERSION, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean', buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23', compiler: 'gc', platform: 'linux/amd64' });
    if (['/healthz', '/livez', '/readyz'].includes(u.pathname)) { resp.writeHead(200, { 'Content-Type': 'text/plain' }); resp.end('ok'); return; }
    if (u.pathname === '/metrics') { resp.writeHead(200, { 'Content-Type': registry.contentType }); resp.end(await registry.metrics()); return; }
    if (u.pathname === '/openapi/v3') return send(resp, 200, openapiV3Index());
    if (parts[0] === 'openapi' && parts[1] === 'v3') {
      const doc = openapiV3Document(parts.slice(2).join('/'));
      return doc ? send(resp, 200, doc, 'application/json', { 'Cache-Control': 'public, immutable' }) : sendError(resp, new HttpError(404, 'NotFound', `the server could not find the requested resource`));
    }
    if (u.pathname === '/openapi/v2') return sendError(resp, new HttpError(404, 'NotFound', 'the server could not find the requested resource'));
    const v2 = /as=APIGroupDiscoveryList/.test(accept) && /v=v2(?!beta)/.test(accept);
    const v2beta1 = /as=APIGroupDiscoveryList/.test(accept) && /v=v2beta1/.test(accept);
    if (u.pathname === '/api' || u.pathname === '/apis') {
      const core = u.pathname === '/api';
      if (v2 || v2beta1) {
        const apiVersion = v2 ? 'apidiscovery.k8s.io/v2' : 'apidiscovery.k8s.io/v2beta1';
        resp.writeHead(200, { 'Content-Type': `application/json;g=apidiscovery.k8s.io;v=${v2 ? 'v2' : 'v2beta1'};as=APIGroupDiscoveryList` });
        resp.end(JSON.stringify(aggregated(core, apiVersion)));
        return;
      }
      return send(resp, 200, core ? apiVersions(`${opts.advertiseAddress ?? '172.18.0.2'}:6443`) : apiGroupList());
    }
    if (parts[0] === 'apis' && parts.length === 2) {
      const g = apiGroup(parts[1]!);
      return g ? send(resp, 200, g) : sendError(resp, new HttpError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
      const list = parts[0] === 'api' ? resourceList('', parts[1]!) : resourceList(parts[1]!, parts[2]!);
      return list ? send(resp, 200, list) : sendError(resp, new HttpError(404, 'NotFound', 'the server could not find the requested resource'));
    }
    if (parts[0] !== 'api' && parts[0] !== 'apis') return sendError(resp, new HttpError(404, 'NotFound', 'the server could not find the requested resource'));
    const r = route(parts);
    if (!r) return sendError(resp, new HttpError(404, 'NotFound', 'the server could not find the requested resource'));
    const { info, namespace, name, subresource } = r;
    const isWatch = r.watchPath || q.get('watch') === 'true' || q.get('watch') === '1';
    const verb = isWatch ? 'watch' : method === 'GET' ? (name ? 'get' : 'list') : method === 'POST' ? 'create' : method === 'PUT' ? 'update' : method === 'PATCH' ? 'patch' : method === 'DELETE' ? (name ? 'delete' : 'deletecollection') : method.toLowerCase();
    const t0 = process.hrtime.bigint();
    const done = (code: number) => {
      requests.inc({ verb, resource: info.resource, code: String(code) });
      latency.observe({ verb, resource: info.resource }, Number(process.hrtime.bigint() - t0) / 1e9);
    };
    resp.on('finish', () => done(resp.statusCode));
    const warnings: string[] = [];
    const wopts = (): WriteOpts => ({
      dryRun: q.getAll('dryRun').includes('All'), fieldManager: q.get('fieldManager') ?? undefined,
      fieldValidation: (q.get('fieldValidation') as FieldValidation | null) ?? 'Warn', force: q.get('force') === 'true', subresource, warnings,
    });
    const out = (code: number, obj: KubeObject) => {
      const headers: Record<string, string> = {};
      if (warnings.length) headers.Warning = warnings.map((w) => `299 - ${JSON.stringify(w)}`).join(', ');
      if (wantsTable(accept) && !subresource) {
        const t = printTable(info, [obj], { includeObject: (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata' }) as any;
        t.apiVersion = tableVersion(accept);
        resp.writeHead(code, { 'Content-Type': `application/json;as=Table;v=${t.apiVersion.split('/')[1]};g=meta.k8s.io`, ...headers });
        resp.end(JSON.stringify(t));
        return;
      }
      send(resp, code, obj, accept, headers);
    };

    // Subresources handled specially.
    if (subresource && info.kind === 'Pod' && ['log', 'exec', 'attach', 'portforward'].includes(subresource)) {
      return proxyToKubelet(req, resp, undefined, undefined, storage, namespace!, name!, subresource, u);
    }
    if (subresource === 'scale') {
      const obj = await storage.get(info, namespace, name!);
      if (method === 'GET') return send(resp, 200, scaleOf(obj), accept);
      const body = decodeBody(await readBody(req), String(req.headers['content-type'] ?? 'application/json')) as any;
      let scale: any = scaleOf(obj);
      if (method === 'PUT') scale = body;
      else if (method === 'PATCH') {
        const k = patchKind(String(req.headers['content-type'] ?? ''));
        scale = k === 'json' ? (await import('../api/patch.js')).jsonPatch(scale, body) : mergePatch(scale, body);
      } else throw methodNotAllowed();
      const replicas = Number(scale?.spec?.replicas);
      const updated = await storage.patch(info, namespace, name!, 'merge', { spec: { replicas } }, { fieldManager: q.get('fieldManager') ?? 'kubectl' });
      return send(resp, 200, scaleOf(updated), accept);
    }
    if ((subresource === 'binding' && info.kind === 'Pod') || (info.kind === 'Binding')) {
      const body = decodeBody(await readBody(req), String(req.headers['content-type'] ?? 'application/json')) as any;
      const podName = info.kind === 'Binding' ? body?.metadata?.name : name;
      const target = body?.target?.name;
      if (!target) throw badRequest('Binding.target.name is required');
      const pods = res('pods');
      const pod = await storage.get(pods, namespace, podName);
      if ((pod as any).spec?.nodeName) throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on pods/binding "${podName}": pod ${podName} is already assigned to node "${(pod as any).spec.nodeName}"`);
      await storage.patch(pods, namespace, podName, 'merge', { spec: { nodeName: target } }, { fieldManager: 'kube-scheduler' });
      await storage.patch(pods, namespace, podName, 'merge', { status: { conditions: [{ type: 'PodScheduled', status: 'True', lastProbeTime: null, lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') }] } }, { fieldManager: 'kube-scheduler', subresource: 'status' });
      return send(resp, 201, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Success', code: 201 });
    }
    if (subresource && !['status', 'finalize'].includes(subresource)) throw new HttpError(404, 'NotFound', 'the server could not find the requested resource');

    if (isWatch) return watch(req, resp, info, namespace, name, q, accept);
    switch (method) {
      case 'GET': {
        if (name) return out(200, await storage.get(info, namespace, name));
        const list = await storage.list(info, namespace, { labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined, limit: Number(q.get('limit') ?? 0) || undefined, continue: q.get('continue') ?? undefined });
        if (wantsTable(accept)) {
          const t = printTable(info, list.items, { includeObject: (q.get('includeObject') as 'None' | 'Metadata' | 'Object' | null) ?? 'Metadata', resourceVersion: list.resourceVersion, continue: list.continue }) as any;
          t.apiVersion = tableVersion(accept);
          resp.writeHead(200, { 'Content-Type': `application/json;as=Table;v=${t.apiVersion.split('/')[1]};g=meta.k8s.io` });
          resp.end(JSON.stringify(t));
          return;
        }
        return send(resp, 200, {
          kind: info.listKind, apiVersion: groupVersion(info),
          metadata: { resourceVersion: list.resourceVersion, ...(list.continue ? { continue: list.continue } : {}), ...(list.remainingItemCount !== undefined ? { remainingItemCount: list.remainingItemCount } : {}) },
          items: list.items.map((o) => { const { apiVersion: _a, kind: _k, ...rest } = o; return rest; }),
        }, accept);
      }
      case 'POST': {
        if (name) throw methodNotAllowed();
        const body = decodeBody(await readBody(req), String(req.headers['content-type'] ?? 'application/json')) as KubeObject;
        if (!body || typeof body !== 'object' || Array.isArray(body)) throw badRequest('the request body must be an object');
        const created = await storage.create(info, namespace, body, wopts());
        return out(201, created);
      }
      case 'PUT': {
        if (!name) throw methodNotAllowed();
        const body = decodeBody(await readBody(req), String(req.headers['content-type'] ?? 'application/json')) as KubeObject;
        return out(200, await storage.update(info, namespace, name, body, wopts()));
      }
      case 'PATCH': {
        if (!name) throw methodNotAllowed();
        const kind = patchKind(String(req.headers['content-type'] ?? ''));
        const raw = await readBody(req);
        const body = kind === 'apply' ? (() => { try { return parseYaml(raw.toString('utf8')); } catch (e) { throw badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`); } })() : decodeBody(raw, 'application/json');
        return out(200, await storage.patch(info, namespace, name, kind, body, wopts()));
      }
      case 'DELETE': {
        let dopts: any = {};
        const raw = await readBody(req);
        if (raw.length) { try { dopts = JSON.parse(raw.toString()); } catch { throw badRequest('invalid DeleteOptions'); } }
        const propagationPolicy = q.get('propagationPolicy') ?? dopts.propagationPolicy ?? (dopts.orphanDependents === true ? 'Orphan' : undefined);
        const gp = q.get('gracePeriodSeconds') ?? dopts.gracePeriodSeconds;
        const d = { propagationPolicy, gracePeriodSeconds: gp !== undefined && gp !== null ? Number(gp) : undefined, preconditions: dopts.preconditions, dryRun: q.getAll('dryRun').includes('All') || (dopts.dryRun ?? []).includes('All') };
        if (!name) {
          const list = await storage.list(info, namespace, { labelSelector: q.get('labelSelector') ?? undefined, fieldSelector: q.get('fieldSelector') ?? undefined });
          for (const o of list.items) { try { await storage.delete(info, o.metadata?.namespace, o.metadata!.name!, d); } catch (e) { if (!(e instanceof HttpError && e.code === 404)) throw e; } }
          return send(resp, 200, { kind: info.listKind, apiVersion: groupVersion(info), metadata: {}, items: list.items }, accept);
        }
        const r2 = await storage.delete(info, namespace, name, d);
        return out(200, r2.obj);
      }
      default:
        throw methodNotAllowed();
    }
  };

  const watch = async (req: http.IncomingMessage, resp: http.ServerResponse, info: ResourceInfo, namespace: string | undefined, name: string | undefined, q: URLSearchParams, accept: string) => {
    const sel = parseSelector(info, q.get('labelSelector') ?? undefined, name ? `metadata.name=${name}${q.get('fieldSelector') ? ',' + q.get('fieldSelector') : ''}` : q.get('fieldSelector') ?? undefined);
    const table = wantsTable(accept);
    resp.writeHead(200, { 'Content-Type': table ? 'application/json;as=Table;v=v1;g=meta.k8s.io' : 'application/json', 'Transfer-Encoding': 'chunked', 'Cache-Control': 'no-cache, private' });
    resp.flushHeaders();
    let first = true;
    let lastRV = q.get('resourceVersion') ?? '';
    const write = (type: string, obj: KubeObject) => {
      if (obj.metadata?.resourceVersion) lastRV = obj.metadata.resourceVersion;
      let payload: unknown = obj;
      if (table && type !== 'ERROR' && type !== 'BOOKMARK') {
        const t = printTable(info, [obj], { includeObject: (q.get('includeObject') as any) ?? 'Metadata', noHeaders: !first } as any) as any;
        t.apiVersion = tableVersion(accept);
        if (!first) t.columnDefinitions = [];
        first = false;
        payload = t;
      }
      resp.write(JSON.stringify({ type, object: payload }) + '\n');
    };
    let w: { stop(): void } | undefined;
    const timers: NodeJS.Timeout[] = [];
    const cleanup = () => { w?.stop(); for (const t of timers) clearTimeout(t); watchers--; };
    watchers++;
    // The response's close (not the request's, which fires once its body is read) means the client went away.
    resp.on('close', cleanup);
    try {
      w = await storage.watch(info, namespace, q.get('resourceVersion') ?? undefined, sel, (type, obj) => write(type, obj));
    } catch (e) {
      const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', String((e as Error).message));
      resp.write(JSON.stringify({ type: 'ERROR', object: err.status() }) + '\n');
      resp.end();
      return;
    }
    if (q.get('allowWatchBookmarks') === 'true') {
      const tick = () => {
        if (lastRV) resp.write(JSON.stringify({ type: 'BOOKMARK', object: { kind: info.kind, apiVersion: groupVersion(info), metadata: { resourceVersion: lastRV } } }) + '\n');
        timers.push(setTimeout(tick, BOOKMARK_EVERY_MS));
      };
      timers.push(setTimeout(tick, BOOKMARK_EVERY_MS));
    }
    const timeout = Number(q.get('timeoutSeconds') ?? 0);
    // Like kube-apiserver, end watches after a while (randomised) so clients re-establish them.
    const limit = (timeout > 0 ? timeout : 1800 + Math.random() * 1800) * 1000;
    timers.push(setTimeout(() => resp.end(), limit));
  };

  const listener = (trusted: boolean) => (req: http.IncomingMessage, resp: http.ServerResponse) => {
    handle(req, resp, trusted).catch((e) => sendError(resp, e));
  };
  const onUpgrade = (trusted: boolean) => (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    const u = new URL(req.url ?? '/', 'http://x');
    const parts = u.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    const r = parts[0] === 'api' ? route(parts) : undefined;
    const auth = String(req.headers.authorization ?? '');
    const given = Buffer.from(auth.startsWith('Bearer ') ? auth.slice(7).trim() : '');
    if (!trusted && (given.length !== tokenBuf.length || !timingSafeEqual(given, tokenBuf))) { socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\n\r\n'); return; }
    if (!r || r.info.kind !== 'Pod' || !r.name || !['exec', 'attach', 'portforward'].includes(r.subresource ?? '')) { socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n'); return; }
    proxyToKubelet(req, undefined, socket, head, storage, r.namespace!, r.name, r.subresource!, u).catch((e) => {
      const err = e instanceof HttpError ? e : new HttpError(500, 'InternalError', String((e as Error).message));
      const body = JSON.stringify(err.status());
      socket.end(`HTTP/1.1 ${err.code} ${http.STATUS_CODES[err.code]}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`);
    });
  };

  const tlsServer = https.createServer({ cert: pki.cert, key: pki.key }, listener(false));
  tlsServer.on('upgrade', onUpgrade(false));
  tlsServer.keepAliveTimeout = 60_000;
  const host = opts.host ?? '127.0.0.1';
  await new Promise<void>((resolve, reject) => { tlsServer.once('error', reject); tlsServer.listen(opts.port ?? 6443, host, resolve); });
  const port = (tlsServer.address() as net.AddressInfo).port;
  const socketPath = opts.socketPath ?? join(dataDir, 'apiserver.sock');
  if (existsSync(socketPath)) unlinkSync(socketPath);
  const sockServer = http.createServer(listener(true));
  sockServer.on('upgrade', onUpgrade(true));
  sockServer.keepAliveTimeout = 60_000;
  await new Promise<void>((resolve, reject) => { sockServer.once('error', reject); sockServer.listen(socketPath, resolve); });
  const url = `https://${host}:${port}`;
  if (!opts.socketPath || opts.socketPath === join(dataDir, 'apiserver.sock')) writeKubeconfigs(dataDir, pki, url, socketPath);
  log('serving', { url, socket: socketPath, store: opts.store.name });
  return {
    port, url, storage,
    async close() {
      tlsServer.closeAllConnections(); sockServer.closeAllConnections();
      await Promise.all([new Promise((r) => tlsServer.close(r)), new Promise((r) => sockServer.close(r))]);
    },
  };
}

/**
 * Pass pods/<p>/log|exec|attach|portforward to the node agent that runs the pod, over its unix
 * socket, using the kubelet's own paths. WebSocket upgrades are passed through byte for byte.
 */
async function proxyToKubelet(req: http.IncomingMessage, resp: http.ServerResponse | undefined, socket: net.Socket | undefined, head: Buffer | undefined,
  storage: Storage, ns: string, podName: string, sub: string, u: URL): Promise<void> {
  const pod = await storage.get(res('pods'), ns, podName) as any;
  const nodeName: string | undefined = pod.spec?.nodeName;
  if (!nodeName) throw badRequest(`pod ${podName} does not have a host assigned`);
  let node: any;
  try { node = await storage.get(res('nodes'), undefined, nodeName); } catch { throw notFound(res('nodes'), nodeName); }
  const sock: string | undefined = node.metadata?.annotations?.[KUBELET_SOCKET_ANNOTATION];
  if (!sock) throw new HttpError(503, 'ServiceUnavailable', `node "${nodeName}" has no node agent endpoint`);
  const q = new URLSearchParams(u.searchParams);
  const containers: string[] = (pod.spec?.containers ?? []).map((c: any) => c.name);
  const container = q.get('container') || containers[0] || '';
  if (sub !== 'portforward' && q.get('container') && !containers.includes(container)) throw badRequest(`container ${container} is not valid for pod ${podName}`);
  q.delete('container');
  let path: string;
  if (sub === 'log') {
    const st = (pod.status?.containerStatuses ?? []).find((c: any) => c.name === container);
    if (!st || (st.state?.waiting && !st.lastState?.terminated && !(q.get('previous') === 'true'))) {
      const reason = st?.state?.waiting?.reason ?? 'ContainerCreating';
      throw badRequest(`container "${container}" in pod "${podName}" is waiting to start: ${reason}`);
    }
    path = `/containerLogs/${ns}/${podName}/${container}?${q}`;
  } else if (sub === 'portforward') path = `/portForward/${ns}/${podName}?${q}`;
  else path = `/${sub}/${ns}/${podName}/${container}?${q}`;
  if (socket) {
    const up = net.connect(sock);
    up.on('error', () => socket.destroy());
    socket.on('error', () => up.destroy());
    up.on('connect', () => {
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) {
        const k = req.rawHeaders[i]!;
        if (/^(authorization|host)$/i.test(k)) continue;
        lines.push(`${k}: ${req.rawHeaders[i + 1]}`);
      }
      lines.push('Host: localhost');
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head?.length) up.write(head);
      up.pipe(socket);
      socket.pipe(up);
    });
    return;
  }
  await new Promise<void>((resolve) => {
    const preq = http.request({ socketPath: sock, path, method: req.method, headers: { ...req.headers, host: 'localhost', authorization: '' } }, (pres) => {
      resp!.writeHead(pres.statusCode ?? 502, pres.headers);
      pres.pipe(resp!);
      pres.on('end', resolve);
      pres.on('error', () => resolve());
    });
    preq.on('error', (e) => {
      if (!resp!.headersSent) { resp!.writeHead(503, { 'Content-Type': 'application/json' }); resp!.end(JSON.stringify(new HttpError(503, 'ServiceUnavailable', `error dialing node agent of ${nodeName}: ${e.message}`).status())); }
      resolve();
    });
    resp!.on('close', () => preq.destroy());
    req.pipe(preq);
  });
}

export { matches };
