/**
 * @module controllers/testing/fakeapi
 * A small in-memory Kubernetes API over HTTP on loopback, for the controllers' wiring tests
 * while the real API server is not available to them: list/watch with resourceVersions and
 * replay, get/create (generateName, uid, generation)/update (CAS → 409)/merge patch, the
 * status, binding and finalize subresources, and deletion with finalizers and the
 * Foreground/Orphan propagation finalizers. It does no validation and no defaulting beyond that.
 */
import http from 'node:http';
import { randomBytes, randomUUID } from 'node:crypto';
import { findResource, type ResourceInfo } from '../../api/registry.js';
import { randomSuffix } from '../shared/hash.js';

type Obj = { apiVersion?: string; kind?: string; metadata: any; spec?: any; status?: any; [k: string]: any };
interface Ev { rv: number; type: 'ADDED' | 'MODIFIED' | 'DELETED'; res: string; ns?: string; obj: Obj }
interface Watcher { res: string; ns?: string; sel?: (o: Obj) => boolean; send: (e: Ev) => void }

const now = () => new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');

export function mergePatch(target: any, patch: any): any {
  if (patch === null || typeof patch !== 'object' || Array.isArray(patch)) return patch;
  const out = target && typeof target === 'object' && !Array.isArray(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
}

function labelSelector(s: string | null): ((o: Obj) => boolean) | undefined {
  if (!s) return undefined;
  const reqs = s.split(',').map((x) => x.trim()).filter(Boolean).map((r) => {
    let m: RegExpMatchArray | null;
    if ((m = r.match(/^([^!=]+)!=(.*)$/))) return (l: any) => l[m![1]!] !== m![2];
    if ((m = r.match(/^([^=]+)==?(.*)$/))) return (l: any) => l[m![1]!] === m![2];
    if (r.startsWith('!')) return (l: any) => !(r.slice(1) in l);
    return (l: any) => r in l;
  });
  return (o) => reqs.every((f) => f(o.metadata?.labels ?? {}));
}

export class FakeApi {
  private rv = 0;
  private readonly objs = new Map<string, Obj>();
  private readonly history: Ev[] = [];
  private readonly watchers = new Set<Watcher>();
  private server?: http.Server;
  /** Count of writes by "VERB resource" (for tests that count slice writes). */
  readonly writes = new Map<string, number>();
  url = '';

  async start(): Promise<string> {
    this.server = http.createServer((req, res) => { void this.handle(req, res); });
    await new Promise<void>((r) => this.server!.listen(0, '127.0.0.1', r));
    this.url = `http://127.0.0.1:${(this.server.address() as { port: number }).port}`;
    return this.url;
  }

  async stop(): Promise<void> {
    for (const w of this.watchers) w.send = () => {};
    this.server?.closeAllConnections();
    await new Promise<void>((r) => this.server?.close(() => r()) ?? r());
  }

  private key(r: ResourceInfo, ns: string | undefined, name: string) { return `${r.resource}/${r.namespaced ? ns : ''}/${name}`; }

  /** Insert an object directly (bench seeding, no HTTP, no watch history). */
  seed(resource: string, o: Obj): Obj {
    const r = findResource(resource === 'endpointslices' ? 'discovery.k8s.io' : ['deployments', 'replicasets', 'statefulsets', 'controllerrevisions'].includes(resource) ? 'apps' : resource === 'leases' ? 'coordination.k8s.io' : '', resource)!;
    o.metadata.uid ??= randomUUID();
    o.metadata.creationTimestamp ??= now();
    o.metadata.resourceVersion = String(++this.rv);
    this.objs.set(this.key(r, o.metadata.namespace, o.metadata.name), o);
    return o;
  }

  /** Direct access for tests (no HTTP). */
  get(resource: string, ns: string | undefined, name: string): Obj | undefined {
    const o = this.objs.get(`${resource}/${ns ?? ''}/${name}`);
    return o && structuredClone(o);
  }

  list(resource: string, ns?: string): Obj[] {
    return [...this.objs.entries()].filter(([k]) => k.startsWith(`${resource}/${ns ?? ''}${ns ? '/' : ''}`)).map(([, o]) => structuredClone(o));
  }

  private emit(type: Ev['type'], r: ResourceInfo, obj: Obj): void {
    const ev: Ev = { rv: Number(obj.metadata.resourceVersion), type, res: r.resource, ns: obj.metadata.namespace, obj: structuredClone(obj) };
    this.history.push(ev);
    if (this.history.length > 200_000) this.history.splice(0, 100_000);
    for (const w of this.watchers) if (w.res === ev.res && (!w.ns || w.ns === ev.ns)) w.send(ev);
  }

  private store(r: ResourceInfo, o: Obj, type: 'ADDED' | 'MODIFIED'): Obj {
    o.metadata.resourceVersion = String(++this.rv);
    this.objs.set(this.key(r, o.metadata.namespace, o.metadata.name), o);
    this.emit(type, r, o);
    return o;
  }

  private remove(r: ResourceInfo, o: Obj): void {
    this.objs.delete(this.key(r, o.metadata.namespace, o.metadata.name));
    o.metadata.resourceVersion = String(++this.rv);
    this.emit('DELETED', r, o);
  }

  private count(verb: string, r: ResourceInfo) { const k = `${verb} ${r.resource}`; this.writes.set(k, (this.writes.get(k) ?? 0) + 1); }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const u = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: unknown) => { res.writeHead(code, { 'Content-Type': 'application/json' }).end(JSON.stringify(body)); };
    const status = (code: number, reason: string, message: string) => send(code, { kind: 'Status', apiVersion: 'v1', status: 'Failure', code, reason, message });
    const parts = u.pathname.split('/').filter(Boolean);
    let group = '', i = 0;
    if (parts[0] === 'api') i = 2; else if (parts[0] === 'apis') { group = parts[1]!; i = 3; } else return status(404, 'NotFound', 'not found');
    let ns: string | undefined;
    const nsSub = parts[i] === 'namespaces' && parts.length === i + 3 && ['finalize', 'status'].includes(parts[i + 2]!);
    if (parts[i] === 'namespaces' && parts.length > i + 2 && !nsSub) { ns = parts[i + 1]; i += 2; }
    const r = findResource(group, parts[i]!);
    if (!r) return status(404, 'NotFound', `resource ${parts[i]} not found`);
    const name = parts[i + 1] ? decodeURIComponent(parts[i + 1]!) : undefined;
    const sub = parts[i + 2];
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    const body = chunks.length ? JSON.parse(Buffer.concat(chunks).toString()) : undefined;
    const method = req.method!;
    const existing = name ? this.objs.get(this.key(r, ns, name)) : undefined;
    const nf = () => status(404, 'NotFound', `${r.resource} "${name}" not found`);

    if (method === 'GET' && !name) {
      const sel = labelSelector(u.searchParams.get('labelSelector'));
      if (u.searchParams.get('watch')) return this.watch(r, ns, sel, Number(u.searchParams.get('resourceVersion') || 0), res);
      const items = [...this.objs.entries()].filter(([k, o]) => k.startsWith(`${r.resource}/`) && (!ns || o.metadata.namespace === ns) && (!sel || sel(o))).map(([, o]) => o);
      return send(200, { kind: r.listKind, apiVersion: r.group ? `${r.group}/${r.version}` : r.version, metadata: { resourceVersion: String(this.rv) }, items });
    }
    if (method === 'GET') return existing ? send(200, existing) : nf();

    if (method === 'POST' && sub === 'binding') {
      const pod = this.objs.get(this.key(r, ns, name!));
      if (!pod) return nf();
      if (pod.spec.nodeName) return status(409, 'Conflict', `pod ${name} is already assigned to node "${pod.spec.nodeName}"`);
      const p = structuredClone(pod);
      p.spec.nodeName = body.target.name;
      p.status = { ...(p.status ?? {}), conditions: [...(p.status?.conditions ?? []).filter((c: any) => c.type !== 'PodScheduled'), { type: 'PodScheduled', status: 'True', lastTransitionTime: now() }] };
      this.count('bind', r);
      this.store(r, p, 'MODIFIED');
      return send(201, { kind: 'Status', status: 'Success', code: 201 });
    }
    if (method === 'POST') {
      const o: Obj = structuredClone(body);
      o.metadata ??= {};
      if (!o.metadata.name && o.metadata.generateName) {
        do o.metadata.name = o.metadata.generateName + randomSuffix(5); while (this.objs.has(this.key(r, ns, o.metadata.name)));
      }
      if (r.namespaced) o.metadata.namespace = ns ?? 'default';
      if (this.objs.has(this.key(r, o.metadata.namespace, o.metadata.name))) return status(409, 'AlreadyExists', `${r.resource} "${o.metadata.name}" already exists`);
      o.metadata.uid = randomUUID();
      o.metadata.creationTimestamp = now();
      o.metadata.generation = 1;
      o.kind ??= r.kind; o.apiVersion ??= r.group ? `${r.group}/${r.version}` : r.version;
      if (r.resource === 'namespaces') { o.spec = { finalizers: ['kubernetes'] }; o.status = { phase: 'Active' }; }
      if (r.subresources.includes('status') && r.resource !== 'namespaces' && r.resource !== 'nodes') delete o.status;
      this.count('create', r);
      return send(201, this.store(r, o, 'ADDED'));
    }
    if (!existing) return nf();
    if (method === 'PUT' || method === 'PATCH') {
      let next: Obj = method === 'PUT' ? structuredClone(body) : mergePatch(structuredClone(existing), body);
      if (method === 'PUT' && next.metadata?.resourceVersion && next.metadata.resourceVersion !== existing.metadata.resourceVersion) {
        return status(409, 'Conflict', `Operation cannot be fulfilled on ${r.resource} "${name}": the object has been modified; please apply your changes to the latest version and try again`);
      }
      if (sub === 'status') next = { ...structuredClone(existing), status: next.status };
      else if (sub === 'finalize') next = { ...structuredClone(existing), spec: { ...existing.spec, finalizers: next.spec?.finalizers ?? [] } };
      else if (r.subresources.includes('status') && method === 'PUT' && r.resource !== 'namespaces') next.status = existing.status;
      for (const k of ['uid', 'creationTimestamp', 'namespace', 'name', 'deletionTimestamp']) next.metadata[k] = existing.metadata[k];
      next.metadata.generation = existing.metadata.generation;
      if (!sub && JSON.stringify(next.spec ?? next.data ?? null) !== JSON.stringify(existing.spec ?? existing.data ?? null)) next.metadata.generation++;
      this.count(`${method === 'PUT' ? 'update' : 'patch'}${sub ? `/${sub}` : ''}`, r);
      if (next.metadata.deletionTimestamp && !(next.metadata.finalizers?.length) && !(r.resource === 'namespaces' && next.spec?.finalizers?.length)) {
        this.remove(r, next);
        return send(200, next);
      }
      return send(200, this.store(r, next, 'MODIFIED'));
    }
    if (method === 'DELETE') {
      const pre = body?.preconditions;
      if (pre?.uid && pre.uid !== existing.metadata.uid) return status(409, 'Conflict', `Precondition failed: UID in precondition: ${pre.uid}, UID in object meta: ${existing.metadata.uid}`);
      const o = structuredClone(existing);
      const policy = body?.propagationPolicy;
      const fins: string[] = [...(o.metadata.finalizers ?? [])];
      if (policy === 'Foreground' && !fins.includes('foregroundDeletion')) fins.push('foregroundDeletion');
      if (policy === 'Orphan' && !fins.includes('orphan')) fins.push('orphan');
      this.count('delete', r);
      const nsFinalizers = r.resource === 'namespaces' && o.spec?.finalizers?.length;
      if (fins.length || nsFinalizers) {
        if (!o.metadata.deletionTimestamp) {
          o.metadata.deletionTimestamp = now();
          o.metadata.finalizers = fins;
          if (r.resource === 'namespaces') o.status = { phase: 'Terminating' };
          this.store(r, o, 'MODIFIED');
        }
        return send(200, o);
      }
      this.remove(r, o);
      return send(200, o);
    }
    return status(405, 'MethodNotAllowed', method);
  }

  private watch(r: ResourceInfo, ns: string | undefined, sel: ((o: Obj) => boolean) | undefined, from: number, res: http.ServerResponse): void {
    res.writeHead(200, { 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' });
    const w: Watcher = {
      res: r.resource, ns, sel,
      send: (e) => { if (!sel || sel(e.obj)) res.write(`${JSON.stringify({ type: e.type, object: e.obj })}\n`); },
    };
    for (const e of this.history) if (e.rv > from && e.res === r.resource && (!ns || e.ns === ns)) w.send(e);
    this.watchers.add(w);
    res.on('close', () => this.watchers.delete(w));
    void randomBytes;
  }
}
