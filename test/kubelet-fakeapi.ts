/**
 * A minimal in-memory Kubernetes API over a unix socket for the node agent's loop tests (until
 * svcplane's API server is available to tests): CRUD, merge patches, status subresources,
 * list/watch with spec.nodeName field selectors, graceful pod deletion.
 */
import http from 'node:http';
import net from 'node:net';
import { existsSync, unlinkSync } from 'node:fs';

type Obj = any;

function mergePatch(target: Obj, patch: Obj): Obj {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k]; else out[k] = mergePatch(out[k], v);
  }
  return out;
}

export interface FakeApi {
  socket: string;
  objects: Map<string, Obj>;
  put(resource: string, ns: string | undefined, obj: Obj): Obj;
  get(resource: string, ns: string | undefined, name: string): Obj | undefined;
  deletePod(ns: string, name: string, grace: number): void;
  close(): Promise<void>;
}

const DISCOVERY: Record<string, unknown> = {
  '/api': { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress: '127.0.0.1' }] },
  '/apis': { kind: 'APIGroupList', apiVersion: 'v1', groups: [] },
  '/api/v1': {
    kind: 'APIResourceList', groupVersion: 'v1', resources: [
      { name: 'pods', singularName: 'pod', namespaced: true, kind: 'Pod', verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'], shortNames: ['po'] },
      { name: 'pods/exec', singularName: '', namespaced: true, kind: 'PodExecOptions', verbs: ['create', 'get'] },
      { name: 'pods/log', singularName: '', namespaced: true, kind: 'Pod', verbs: ['get'] },
      { name: 'pods/portforward', singularName: '', namespaced: true, kind: 'PodPortForwardOptions', verbs: ['create', 'get'] },
    ],
  },
  '/version': { major: '1', minor: '32', gitVersion: 'v1.32.5', platform: 'linux/amd64' },
};

export async function startFakeApi(socket: string, opts: { kubeletSocket?: () => string | undefined; tcp?: boolean } = {}): Promise<FakeApi & { port?: number }> {
  const objects = new Map<string, Obj>();
  let rv = 1;
  const watchers = new Set<{ resource: string; ns?: string; node?: string; res: http.ServerResponse }>();
  const key = (r: string, ns: string | undefined, n: string) => `${r}/${ns ?? ''}/${n}`;
  // Every event is kept so a watch from an older resourceVersion replays what it missed.
  const log: { type: string; resource: string; obj: Obj }[] = [];
  const matches = (w: { resource: string; ns?: string; node?: string }, resource: string, obj: Obj) =>
    w.resource === resource && (!w.ns || obj.metadata.namespace === w.ns) && (!w.node || obj.spec?.nodeName === w.node);
  const notify = (type: string, resource: string, obj: Obj) => {
    const snap = JSON.parse(JSON.stringify(obj));
    log.push({ type, resource, obj: snap });
    for (const w of watchers) if (matches(w, resource, snap)) w.res.write(JSON.stringify({ type, object: snap }) + '\n');
  };
  const store = (resource: string, ns: string | undefined, obj: Obj, type: string) => {
    obj.metadata.resourceVersion = String(++rv);
    if (ns) obj.metadata.namespace = ns;
    objects.set(key(resource, ns, obj.metadata.name), obj);
    notify(type, resource, obj);
    return obj;
  };
  const api: FakeApi = {
    socket, objects,
    put(resource, ns, obj) {
      obj.metadata.uid ??= crypto.randomUUID();
      obj.metadata.creationTimestamp ??= new Date().toISOString();
      return store(resource, ns, obj, objects.has(key(resource, ns, obj.metadata.name)) ? 'MODIFIED' : 'ADDED');
    },
    get: (r, ns, n) => objects.get(key(r, ns, n)),
    deletePod(ns, name, grace) {
      const p = objects.get(key('pods', ns, name));
      if (!p) return;
      if (grace === 0) { objects.delete(key('pods', ns, name)); p.metadata.resourceVersion = String(++rv); notify('DELETED', 'pods', p); return; }
      p.metadata.deletionTimestamp = new Date().toISOString();
      p.metadata.deletionGracePeriodSeconds = grace;
      store('pods', ns, p, 'MODIFIED');
    },
    async close() {
      for (const w of watchers) w.res.end();
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    if (DISCOVERY[url.pathname]) { res.writeHead(200, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(DISCOVERY[url.pathname])); return; }
    const logs = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/log$/.exec(url.pathname);
    if (logs && opts.kubeletSocket?.()) {
      const q = new URLSearchParams(url.search);
      const container = q.get('container') ?? objects.get(`pods/${logs[1]}/${logs[2]}`)?.spec?.containers?.[0]?.name ?? '';
      q.delete('container');
      http.get({ socketPath: opts.kubeletSocket(), path: `/containerLogs/${logs[1]}/${logs[2]}/${container}?${q}` }, (kr) => { res.writeHead(kr.statusCode ?? 500, kr.headers); kr.pipe(res); });
      return;
    }
    const parts = url.pathname.split('/').filter(Boolean);
    // /api/v1/... or /apis/g/v/...
    const rest = parts[0] === 'api' ? parts.slice(2) : parts.slice(3);
    let ns: string | undefined;
    if (rest[0] === 'namespaces' && rest.length >= 3) { ns = rest[1]; rest.splice(0, 2); }
    const [resource, name, sub] = rest as [string, string | undefined, string | undefined];
    const send = (code: number, body: Obj) => { res.writeHead(code, { 'Content-Type': 'application/json' }); res.end(JSON.stringify(body)); };
    const notFound = () => send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: `${resource} "${name}" not found` });
    let body = '';
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      const input = body ? JSON.parse(body) : undefined;
      const node = /spec\.nodeName=([^,]+)/.exec(url.searchParams.get('fieldSelector') ?? '')?.[1];
      if (req.method === 'GET' && !name) {
        if (url.searchParams.get('watch')) {
          res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
          res.flushHeaders();
          const w = { resource, ns, node, res };
          const from = Number(url.searchParams.get('resourceVersion') ?? 0);
          for (const e of log) if (Number(e.obj.metadata.resourceVersion) > from && matches(w, e.resource, e.obj)) res.write(JSON.stringify({ type: e.type, object: e.obj }) + '\n');
          watchers.add(w);
          res.on('close', () => watchers.delete(w));
          return;
        }
        const items = [...objects.entries()].filter(([k]) => k.startsWith(`${resource}/`)).map(([, o]) => o)
          .filter((o) => (!ns || o.metadata.namespace === ns) && (!node || o.spec?.nodeName === node));
        return send(200, { kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: String(rv) }, items });
      }
      const k = key(resource, ns, name ?? input?.metadata?.name);
      const cur = objects.get(k);
      switch (req.method) {
        case 'GET': return cur ? send(200, cur) : notFound();
        case 'POST':
          if (objects.has(k) && resource !== 'events') return send(409, { kind: 'Status', reason: 'AlreadyExists', code: 409, message: 'exists' });
          return send(201, api.put(resource, ns, { ...input, metadata: { ...input.metadata, name: input.metadata.name ?? `${input.metadata.generateName ?? 'x'}${rv}` } }));
        case 'PUT':
          if (!cur) return notFound();
          return send(200, store(resource, ns, sub === 'status' ? { ...cur, status: input.status } : { ...input, metadata: { ...cur.metadata, ...input.metadata }, status: cur.status }, 'MODIFIED'));
        case 'PATCH': {
          if (!cur) return notFound();
          const patched = mergePatch(cur, input);
          if (sub === 'status') return send(200, store(resource, ns, { ...cur, status: patched.status }, 'MODIFIED'));
          return send(200, store(resource, ns, patched, 'MODIFIED'));
        }
        case 'DELETE': {
          if (!cur) return notFound();
          if (input?.preconditions?.uid && input.preconditions.uid !== cur.metadata.uid) return send(409, { kind: 'Status', reason: 'Conflict', code: 409, message: 'uid precondition' });
          if (resource === 'pods') api.deletePod(ns!, name!, input?.gracePeriodSeconds ?? 30);
          else { objects.delete(k); notify('DELETED', resource, cur); }
          return send(200, cur);
        }
      }
      send(405, {});
    });
  });
  // pods/<p>/exec|portforward: the WebSocket upgrade is passed straight through to the node agent.
  const upgrade = (req: http.IncomingMessage, sock: import('node:stream').Duplex, head: Buffer) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const m = /^\/api\/v1\/namespaces\/([^/]+)\/pods\/([^/]+)\/(exec|portforward)$/.exec(url.pathname);
    const ks = opts.kubeletSocket?.();
    if (!m || !ks) { sock.end('HTTP/1.1 404 Not Found\r\n\r\n'); return; }
    const q = new URLSearchParams(url.search);
    const container = q.get('container') ?? objects.get(`pods/${m[1]}/${m[2]}`)?.spec?.containers?.[0]?.name ?? '';
    q.delete('container');
    const path = m[3] === 'exec' ? `/exec/${m[1]}/${m[2]}/${container}?${q}` : `/portForward/${m[1]}/${m[2]}`;
    const up = net.connect(ks, () => {
      const lines = [`${req.method} ${path} HTTP/1.1`];
      for (let i = 0; i < req.rawHeaders.length; i += 2) lines.push(`${req.rawHeaders[i]}: ${req.rawHeaders[i + 1]}`);
      up.write(lines.join('\r\n') + '\r\n\r\n');
      if (head.length) up.write(head);
      up.pipe(sock); sock.pipe(up);
    });
    up.on('error', () => sock.destroy());
    sock.on('error', () => up.destroy());
  };
  server.on('upgrade', upgrade);
  if (existsSync(socket)) unlinkSync(socket);
  await new Promise<void>((r) => server.listen(socket, () => r()));
  let port: number | undefined;
  if (opts.tcp) {
    const tcp = http.createServer((req, res) => server.emit('request', req, res));
    tcp.on('upgrade', upgrade);
    await new Promise<void>((r) => tcp.listen(0, '127.0.0.1', () => r()));
    port = (tcp.address() as import('node:net').AddressInfo).port;
    const close = api.close;
    api.close = async () => { tcp.closeAllConnections(); await new Promise<void>((r) => tcp.close(() => r())); await close(); };
  }
  return { ...api, port, close: () => api.close() };
}
