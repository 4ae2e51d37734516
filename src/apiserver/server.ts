/**
 * @module apiserver/server
 * svcplane's Kubernetes API server: HTTPS on 127.0.0.1:6443 (bearer token) and plain HTTP on a
 * unix socket for components inside the cluster's namespaces (trusted: the socket's file
 * permissions are the access control). Serves version/health/metrics, discovery and OpenAPI,
 * and hands resource requests to handlers.ts; errors are metav1.Status objects.
 */
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { chmodSync, existsSync, mkdirSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { KUBE_VERSION, RESOURCES } from '../api/registry.js';
import { openapiV2, openapiV3Document, openapiV3Index } from '../api/openapi.js';
import { OPENAPI_V2_PROTOBUF, OPENAPI_V2_PROTOBUF_ACCEPT, openapiV2Protobuf } from './openapi-v2.js';
import { StoreError, type Store } from '../store/types.js';
import { HttpError, badRequest } from './errors.js';
import { Storage, matches } from './storage.js';
import { aggregated, apiGroup, apiGroupList, apiVersions, resourceList } from './discovery.js';
import { ensurePki, writeKubeconfigs } from './pki.js';
import { bootstrap } from './bootstrap.js';
import { ApiMetrics } from './metrics.js';
import { sendBody } from './content.js';
import { checkDotSegments, handleResource, handleUpgrade, route, verbOf } from './handlers.js';
import { serveFastGet } from './fast-path.js';
import { authenticateServiceAccountToken, bearerMatches, bearerToken, clientCertVerified, type UserInfo } from './authn.js';
import { TokenSigner, looksLikeJWT } from './sa-token.js';
import { res } from '../api/registry.js';

const DEFAULT_ADVERTISE = '172.18.0.2';
const DEFAULT_PORT = 6443;
/** Paths anyone may read without a token (as kube-apiserver's system:public-info-viewer). */
const PUBLIC_PATHS = new Set(['/healthz', '/livez', '/readyz', '/version']);
const VERSION_INFO = {
  ...KUBE_VERSION, gitCommit: '0000000000000000000000000000000000000000', gitTreeState: 'clean',
  buildDate: '2026-01-01T00:00:00Z', goVersion: 'go1.23.8', compiler: 'gc', platform: 'linux/amd64',
};

export interface ApiServerOptions {
  dataDir: string;
  store: Store;
  /** HTTPS bind address (default 127.0.0.1). */
  host?: string;
  /** HTTPS port (default 6443; 0 = any free port). */
  port?: number;
  /** Unix socket (default <dataDir>/apiserver.sock). */
  socketPath?: string;
  /**
   * Unix socket serving HTTPS exactly as the port does, authentication included (default
   * <dataDir>/apiserver-secure.sock when the socket is the default one; none otherwise). The
   * relay that makes the API reachable inside the cluster passes bytes to it.
   */
  secureSocketPath?: string;
  serviceCIDR?: string;
  nodePortRange?: string;
  /** Endpoint of Service `kubernetes` (default 172.18.0.2). */
  advertiseAddress?: string;
  /** Bearer token (default: generated once into <dataDir>/pki/token). */
  token?: string;
  /** Write the kubeconfigs naming this URL and socket (a load balancer in front of several API servers). */
  kubeconfigServer?: string;
  kubeconfigSocket?: string;
}

export interface ApiServer {
  port: number;
  url: string;
  socketPath: string;
  storage: Storage;
  close(): Promise<void>;
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), component: 'apiserver', msg, ...extra }));
}

/** Is something accepting connections on this unix socket? */
function socketAnswers(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const c = net.connect(path);
    const done = (v: boolean) => { c.destroy(); resolve(v); };
    c.once('connect', () => done(true));
    c.once('error', () => done(false));
    c.setTimeout(500, () => done(false));
  });
}

/** Path segments, percent-decoded only when they need it. */
function splitPath(path: string): string[] {
  const parts = path.split('/').filter(Boolean);
  if (!path.includes('%')) return parts;
  try { return parts.map(decodeURIComponent); } catch { throw badRequest(`invalid URL path escape in ${JSON.stringify(path)}`); }
}

const NOT_FOUND = () => new HttpError(404, 'NotFound', 'the server could not find the requested resource');

function toHttpError(e: unknown): HttpError {
  if (e instanceof HttpError) return e;
  // Store failures not mapped where they happened: unavailable is a 503 the client retries.
  if (e instanceof StoreError && e.code === 'Unavailable') return new HttpError(503, 'ServiceUnavailable', `storage unavailable: ${e.message}`, { retryAfterSeconds: 1 });
  if (e instanceof StoreError && e.code === 'Gone') return new HttpError(410, 'Expired', e.message);
  return new HttpError(500, 'InternalError', `Internal error occurred: ${(e as Error)?.message ?? String(e)}`);
}

function sendError(resp: http.ServerResponse, e: unknown): void {
  const err = toHttpError(e);
  if (err.code === 500) log('internal error', { error: String((e as Error)?.stack ?? e) });
  if (resp.headersSent) { resp.end(); return; }
  const close = (err as HttpError & { closeConnection?: boolean }).closeConnection;
  sendBody(resp, err.code, err.status(), undefined, close ? { Connection: 'close' } : {});
}

/**
 * Request line plus headers a server reads: Go's http.DefaultMaxHeaderBytes, kube-apiserver's
 * limit (Node's default of 16 KiB would cut long URLs off before they could get their 414).
 */
const MAX_HEADER_BYTES = 1 << 20;
/** Longest request URI served; longer ones are 414 (the limit kubectl's longest selectors stay far under). */
const MAX_URI_BYTES = 16 * 1024;

/** A Status written on a raw socket, where there is no ServerResponse (CONNECT, unparsable requests). */
function rawStatus(socket: net.Socket, code: number, text: string, message: string, reason?: string): void {
  const body = JSON.stringify({ kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message, ...(reason ? { reason } : {}), code });
  // Keep reading (and dropping) what the client still sends until it closes, so the reply is not
  // lost to a reset when the client is still writing an oversized request.
  // Node's HTTP parser would go on reading (and failing on) the rest: the socket is ours now.
  socket.removeAllListeners('data');
  socket.on('data', () => {});
  socket.resume();
  socket.setTimeout(10_000, () => socket.destroy());
  if (socket.writable) socket.end(`HTTP/1.1 ${code} ${text}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\nConnection: close\r\n\r\n${body}`);
  else socket.destroy();
}

/** CONNECT is no verb of the API: 405 as kube-apiserver answers methods a resource does not take. */
function refuseConnect(_req: http.IncomingMessage, socket: net.Socket): void {
  socket.on('error', () => socket.destroy());
  rawStatus(socket, 405, 'Method Not Allowed', 'the server does not allow this method on the requested resource', 'MethodNotAllowed');
}

/** Requests Node's parser refuses: a Status with a 4xx code instead of a reset connection. */
const answered = new WeakSet<net.Socket>();

function answerClientError(err: Error & { code?: string }, socket: net.Socket): void {
  if (answered.has(socket)) return;
  answered.add(socket);
  socket.on('error', () => socket.destroy());
  if (err.code === 'ECONNRESET' || !socket.writable) { socket.destroy(); return; }
  if (err.code === 'HPE_HEADER_OVERFLOW') return rawStatus(socket, 431, 'Request Header Fields Too Large', `the request line and headers are too large: over ${MAX_HEADER_BYTES} bytes`);
  if (err.code === 'HPE_HEADER_TIMEOUT' || err.code === 'ERR_HTTP_REQUEST_TIMEOUT') return rawStatus(socket, 408, 'Request Timeout', 'the request headers did not arrive in time', 'Timeout');
  rawStatus(socket, 400, 'Bad Request', `malformed HTTP request: ${err.code ?? err.message}`, 'BadRequest');
}

/** Listen on a unix socket only root may connect to (connecting needs write permission on it). */
async function listenOn(server: net.Server, path: string): Promise<void> {
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(path, () => { server.off('error', reject); resolve(); }); });
  chmodSync(path, 0o600);
}

export async function startApiServer(opts: ApiServerOptions): Promise<ApiServer> {
  const dataDir = opts.dataDir;
  mkdirSync(dataDir, { recursive: true });
  const advertise = opts.advertiseAddress ?? DEFAULT_ADVERTISE;
  const storage = new Storage(opts.store, { serviceCIDR: opts.serviceCIDR, nodePortRange: opts.nodePortRange });
  // Listen first (so a second server on a taken port fails before touching the store), then
  // repair and bootstrap; requests that arrive meanwhile wait for `ready`.
  let markReady!: () => void;
  let failReady!: (e: unknown) => void;
  const ready = new Promise<void>((resolve, reject) => { markReady = resolve; failReady = reject; });
  ready.catch(() => {});
  let isReady = false;
  const pki = ensurePki(join(dataDir, 'pki'), [advertise], opts.token);
  const tokenBuf = Buffer.from(pki.token);
  const metrics = new ApiMetrics(opts.store);

  const authorized = (req: http.IncomingMessage): boolean => bearerMatches(req.headers.authorization, tokenBuf) || clientCertVerified(req.socket);
  const signer = new TokenSigner(pki.saKey);
  /** Who each request authenticated by a service account token is (for the authorizer to come). */
  const users = new WeakMap<http.IncomingMessage, UserInfo>();
  const lookup = async (resource: 'serviceaccounts' | 'pods' | 'secrets', ns: string, name: string) => {
    try { return await storage.get(res(resource), ns, name); } catch (e) { if (e instanceof HttpError && e.code === 404) return undefined; throw e; }
  };
  /** The slower way in, taken only when the token and certificate checks failed: a service account JWT. */
  const serviceAccount = async (req: http.IncomingMessage): Promise<boolean> => {
    const token = bearerToken(req.headers.authorization);
    if (!token || !looksLikeJWT(token)) return false;
    const user = await authenticateServiceAccountToken(token, signer.publicKey, lookup);
    if (user) users.set(req, user);
    return !!user;
  };

  const onWatchStart = () => { metrics.watchers++; };
  const onWatchEnd = () => { metrics.watchers--; };

  const handle = async (req: http.IncomingMessage, resp: http.ServerResponse, authed: boolean): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://apiserver');
    const path = url.pathname;
    if (!isReady) {
      if (path === '/readyz') { resp.writeHead(503, { 'Content-Type': 'text/plain' }); resp.end('bootstrapping'); return; }
      await ready;
    }
    if (!authed && !PUBLIC_PATHS.has(path)) {
      return sendBody(resp, 401, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'Unauthorized', reason: 'Unauthorized', code: 401 });
    }
    checkDotSegments(req.url);
    const parts = splitPath(path);
    if (parts[0] === 'api' || parts[0] === 'apis') {
      const accept = req.headers.accept ?? '';
      // Discovery documents.
      if (parts.length === 1) {
        const core = parts[0] === 'api';
        const v2 = /as=APIGroupDiscoveryList/.test(accept) && /v=v2(?!beta)/.test(accept);
        const v2beta1 = /as=APIGroupDiscoveryList/.test(accept) && /v=v2beta1/.test(accept);
        if (v2 || v2beta1) {
          const v = v2 ? 'v2' : 'v2beta1';
          const body = JSON.stringify(aggregated(core, `apidiscovery.k8s.io/${v}`));
          resp.writeHead(200, { 'Content-Type': `application/json;g=apidiscovery.k8s.io;v=${v};as=APIGroupDiscoveryList`, 'Content-Length': Buffer.byteLength(body), Vary: 'Accept' });
          resp.end(body);
          return;
        }
        return sendBody(resp, 200, core ? apiVersions(`${advertise}:${DEFAULT_PORT}`) : apiGroupList(), undefined, { Vary: 'Accept' });
      }
      if (parts[0] === 'apis' && parts.length === 2) {
        const g = apiGroup(parts[1]!);
        if (!g) throw NOT_FOUND();
        return sendBody(resp, 200, g);
      }
      if ((parts[0] === 'api' && parts.length === 2) || (parts[0] === 'apis' && parts.length === 3)) {
        const list = parts[0] === 'api' ? resourceList('', parts[1]!) : resourceList(parts[1]!, parts[2]!);
        if (!list) throw NOT_FOUND();
        return sendBody(resp, 200, list);
      }
      const r = route(parts, RESOURCES);
      if (!r) throw NOT_FOUND();
      const verb = verbOf(req.method ?? 'GET', r, url.searchParams);
      const t0 = process.hrtime.bigint();
      try {
        await handleResource({ ...r, req, resp, url, storage, verb, onWatchStart, onWatchEnd, tokens: signer });
      } catch (e) {
        sendError(resp, e);
      }
      // Watches count when their stream is set up; their duration is not a request latency.
      metrics.observe(verb, r.info.resource, resp.statusCode, t0);
      return;
    }
    switch (path) {
      case '/version': return sendBody(resp, 200, VERSION_INFO);
      case '/healthz': case '/livez': case '/readyz': {
        resp.writeHead(200, { 'Content-Type': 'text/plain; charset=utf-8', 'X-Content-Type-Options': 'nosniff' });
        resp.end('ok');
        return;
      }
      case '/metrics': {
        const text = await metrics.registry.metrics();
        resp.writeHead(200, { 'Content-Type': metrics.registry.contentType });
        resp.end(text);
        return;
      }
      case '/openapi/v3': return sendBody(resp, 200, openapiV3Index());
      case '/openapi/v2': {
        // client-go asks for gnostic's protobuf form; JSON for anyone else.
        const pb = OPENAPI_V2_PROTOBUF_ACCEPT.some((t) => (req.headers.accept ?? '').includes(t));
        const body = pb ? openapiV2Protobuf() : Buffer.from(JSON.stringify(openapiV2()));
        resp.writeHead(200, { 'Content-Type': pb ? OPENAPI_V2_PROTOBUF : 'application/json', 'Content-Length': body.length, Vary: 'Accept' });
        resp.end(body);
        return;
      }
      default: break;
    }
    if (parts[0] === 'openapi' && parts[1] === 'v3') {
      const doc = openapiV3Document(parts.slice(2).join('/'));
      if (!doc) throw NOT_FOUND();
      // Addressed by hash: immutable, as kube-apiserver marks them.
      return sendBody(resp, 200, doc, undefined, { 'Cache-Control': 'public, immutable' });
    }
    throw NOT_FOUND();
  };

  const listener = (trusted: boolean) => (req: http.IncomingMessage, resp: http.ServerResponse) => {
    if ((req.url?.length ?? 0) > MAX_URI_BYTES) {
      return sendBody(resp, 414, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: `the request URI is too long: ${req.url!.length} bytes, at most ${MAX_URI_BYTES}`, code: 414 }, undefined, { Connection: 'close' });
    }
    const serve = (authed: boolean) => {
      // GET of one object as JSON: straight from the watch cache when it holds the object.
      if (authed && isReady && req.method === 'GET' && serveFastGet(req, resp, storage, metrics)) return;
      handle(req, resp, authed).catch((e) => sendError(resp, e));
    };
    if (trusted || authorized(req)) return serve(true);
    serviceAccount(req).then(serve).catch((e) => sendError(resp, e));
  };
  const onUpgrade = (trusted: boolean) => (req: http.IncomingMessage, socket: net.Socket, head: Buffer) => {
    socket.on('error', () => socket.destroy());
    const serve = (authed: boolean) => {
      if (!authed) { socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'); return; }
      const url = new URL(req.url ?? '/', 'http://apiserver');
      const parts = splitPath(url.pathname);
      handleUpgrade(req, socket, head, parts[0] === 'api' ? route(parts, RESOURCES) : undefined, storage, url);
    };
    if (trusted || authorized(req)) return serve(true);
    serviceAccount(req).then(serve).catch(() => socket.destroy());
  };

  // Client certificates signed by the cluster CA authenticate as well as the token (asked for,
  // not required, as kube-apiserver's --client-ca-file).
  const tlsOptions: https.ServerOptions = { cert: pki.cert, key: pki.key, ca: pki.caCert, requestCert: true, rejectUnauthorized: false, maxHeaderSize: MAX_HEADER_BYTES };
  const tlsServer = https.createServer(tlsOptions, listener(false));
  const host = opts.host ?? '127.0.0.1';
  const socketPath = opts.socketPath ?? join(dataDir, 'apiserver.sock');
  const secureSocketPath = opts.secureSocketPath ?? (socketPath === join(dataDir, 'apiserver.sock') ? join(dataDir, 'apiserver-secure.sock') : undefined);
  const secureSockServer = secureSocketPath ? https.createServer(tlsOptions, listener(false)) : undefined;
  const sockServer = http.createServer({ maxHeaderSize: MAX_HEADER_BYTES }, listener(true));
  const servers = [tlsServer, sockServer, ...(secureSockServer ? [secureSockServer] : [])];
  for (const s of servers) {
    s.on('upgrade', onUpgrade(s === sockServer));
    s.on('connect', refuseConnect);
    s.on('clientError', answerClientError);
    s.keepAliveTimeout = 90_000;
    // Watches are long requests: no server-side request timeout (each watch ends itself).
    s.requestTimeout = 0;
    s.headersTimeout = 60_000;
  }
  await new Promise<void>((resolve, reject) => { tlsServer.once('error', reject); tlsServer.listen(opts.port ?? DEFAULT_PORT, host, () => { tlsServer.off('error', reject); resolve(); }); });
  const port = (tlsServer.address() as net.AddressInfo).port;
  if (existsSync(socketPath)) {
    if (await socketAnswers(socketPath)) {
      tlsServer.close();
      throw new Error(`another API server is serving ${socketPath}; stop it or use another --data-dir`);
    }
    unlinkSync(socketPath);
  }
  await listenOn(sockServer, socketPath);
  if (secureSockServer && secureSocketPath) {
    if (existsSync(secureSocketPath)) unlinkSync(secureSocketPath);
    await listenOn(secureSockServer, secureSocketPath);
  }
  try {
    await storage.repair();
    await bootstrap(storage, advertise);
  } catch (e) {
    failReady(e);
    for (const srv of servers) srv.close();
    throw e;
  }
  isReady = true;
  markReady();
  const url = `https://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}`;
  // A second API server on the same data dir (own socket) leaves the kubeconfigs to the first.
  if (opts.kubeconfigServer) writeKubeconfigs(dataDir, pki, opts.kubeconfigServer, opts.kubeconfigSocket ?? join(dataDir, 'apiserver.sock'));
  else if (!opts.socketPath || opts.socketPath === join(dataDir, 'apiserver.sock')) writeKubeconfigs(dataDir, pki, url, socketPath);
  log('serving', { url, socket: socketPath, store: opts.store.name });
  return {
    port, url, socketPath, storage,
    async close() {
      storage.caches.stop();
      storage.stopFollowing();
      for (const srv of servers) srv.closeAllConnections();
      await Promise.all(servers.map((srv) => new Promise((r) => srv.close(r))));
      for (const path of [socketPath, secureSocketPath]) {
        if (path && existsSync(path)) { try { unlinkSync(path); } catch { /* already gone */ } }
      }
    },
  };
}

export { matches };
