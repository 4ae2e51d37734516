/**
 * The API server over HTTP on the memory store: auth, discovery, the verbs, content types and
 * errors, compared with what kube-apiserver answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { StoreError } from '../store/types.js';
import { res } from '../api/registry.js';
import { startApiServer, type ApiServer } from './server.js';
import { httpsConn, request, socketConn, type Conn } from './testing.js';

const CM = '/api/v1/namespaces/default/configmaps';

describe('API server (memory store)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-apiserver-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let c: Conn;
  before(async () => {
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    c = socketConn(dir);
  });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('HTTPS wants the bearer token, except for version and health', async () => {
    const anon = httpsConn(dir, srv.url, false);
    const r = await request(anon, 'GET', '/api/v1/namespaces');
    assert.equal(r.status, 401);
    assert.equal(r.json.reason, 'Unauthorized');
    assert.equal((await request(anon, 'GET', '/healthz')).text, 'ok');
    assert.equal((await request(anon, 'GET', '/version')).json.minor, '32');
    const ok = await request(httpsConn(dir, srv.url), 'GET', '/api/v1/namespaces');
    assert.equal(ok.status, 200);
    assert.deepEqual(ok.json.items.map((n: any) => n.metadata.name).sort(), ['default', 'kube-node-lease', 'kube-public', 'kube-system']);
  });

  it('bootstraps Service kubernetes at 10.96.0.1 with its endpoints', async () => {
    const svc = (await request(c, 'GET', '/api/v1/namespaces/default/services/kubernetes')).json;
    assert.equal(svc.spec.clusterIP, '10.96.0.1');
    const slice = (await request(c, 'GET', '/apis/discovery.k8s.io/v1/namespaces/default/endpointslices/kubernetes')).json;
    assert.deepEqual(slice.endpoints[0].addresses, ['172.18.0.2']);
    assert.equal(slice.ports[0].port, 6443);
  });

  it('discovery: aggregated only when asked, with its content type', async () => {
    const agg = await request(c, 'GET', '/apis', undefined, { Accept: 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList,application/json' });
    assert.equal(agg.headers['content-type'], 'application/json;g=apidiscovery.k8s.io;v=v2;as=APIGroupDiscoveryList');
    const apps = agg.json.items.find((g: any) => g.metadata.name === 'apps');
    const deploy = apps.versions[0].resources.find((r: any) => r.resource === 'deployments');
    assert.deepEqual(deploy.shortNames, ['deploy']);
    assert.deepEqual(deploy.categories, ['all']);
    assert.ok(deploy.subresources.some((s: any) => s.subresource === 'scale' && s.responseKind.kind === 'Scale'));
    const plain = await request(c, 'GET', '/apis');
    assert.equal(plain.json.kind, 'APIGroupList');
    const core = await request(c, 'GET', '/api/v1');
    assert.ok(core.json.resources.some((r: any) => r.name === 'services' && r.shortNames?.includes('svc')));
    assert.equal((await request(c, 'GET', '/apis/nope.example.com/v1')).status, 404);
  });

  it('create fills uid, creationTimestamp, resourceVersion, managedFields; get returns the same', async () => {
    const r = await request(c, 'POST', `${CM}?fieldManager=test`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'a', labels: { x: '1' } }, data: { k: 'v' } });
    assert.equal(r.status, 201);
    assert.match(r.json.metadata.uid, /^[0-9a-f-]{36}$/);
    assert.match(r.json.metadata.creationTimestamp, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(r.json.metadata.managedFields[0].manager, 'test');
    const g = await request(c, 'GET', `${CM}/a`);
    assert.deepEqual(g.json, r.json);
    const dup = await request(c, 'POST', CM, { metadata: { name: 'a' } });
    assert.equal(dup.status, 409);
    assert.equal(dup.json.reason, 'AlreadyExists');
    assert.equal(dup.json.message, 'configmaps "a" already exists');
    const gen = await request(c, 'POST', CM, { metadata: { generateName: 'gen-' } });
    assert.match(gen.json.metadata.name, /^gen-[a-z0-9]{5}$/);
  });

  it('errors are Status objects in Kubernetes\' words', async () => {
    const nf = await request(c, 'GET', `${CM}/nope`);
    assert.equal(nf.status, 404);
    assert.deepEqual(nf.json, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: 'configmaps "nope" not found', reason: 'NotFound', details: { name: 'nope', kind: 'configmaps' }, code: 404 });
    const d = await request(c, 'GET', '/apis/apps/v1/namespaces/default/deployments/nope');
    assert.equal(d.json.message, 'deployments.apps "nope" not found');
    const ns = await request(c, 'POST', '/api/v1/namespaces/ghost/configmaps', { metadata: { name: 'x' } });
    assert.equal(ns.status, 404);
    assert.equal(ns.json.message, 'namespaces "ghost" not found');
    const bad = await request(c, 'POST', CM, '{"metadata": ');
    assert.equal(bad.status, 400);
    assert.equal(bad.json.reason, 'BadRequest');
    const big = await request(c, 'POST', CM, { metadata: { name: 'big' }, data: { k: 'x'.repeat(3 * 1024 * 1024 + 10) } });
    assert.equal(big.status, 413);
    assert.equal((await request(c, 'GET', `${CM}/big`)).status, 404);
    const put = await request(c, 'PUT', CM, { metadata: { name: 'x' } });
    assert.equal(put.status, 405);
    assert.equal(put.json.reason, 'MethodNotAllowed');
    const inv = await request(c, 'POST', '/api/v1/namespaces/default/services', { metadata: { name: 'np' }, spec: { type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] } });
    assert.equal(inv.status, 422);
    assert.equal(inv.json.message, 'Service "np" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767');
    assert.deepEqual(inv.json.details.causes, [{ reason: 'FieldValueInvalid', message: 'Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767', field: 'spec.ports[0].nodePort' }]);
  });

  it('update: stale resourceVersion is a Conflict; no-op updates keep the resourceVersion', async () => {
    const cur = (await request(c, 'GET', `${CM}/a`)).json;
    const same = await request(c, 'PUT', `${CM}/a`, cur);
    assert.equal(same.json.metadata.resourceVersion, cur.metadata.resourceVersion);
    const next = await request(c, 'PUT', `${CM}/a`, { ...cur, data: { k: 'v2' } });
    assert.equal(next.status, 200);
    assert.notEqual(next.json.metadata.resourceVersion, cur.metadata.resourceVersion);
    const stale = await request(c, 'PUT', `${CM}/a`, { ...cur, data: { k: 'v3' } });
    assert.equal(stale.status, 409);
    assert.equal(stale.json.message, 'Operation cannot be fulfilled on configmaps "a": the object has been modified; please apply your changes to the latest version and try again');
    assert.equal((await request(c, 'GET', `${CM}/a`)).json.data.k, 'v2');
  });

  it('patch: strategic, merge, JSON patch and server-side apply', async () => {
    const h = (t: string) => ({ 'Content-Type': t });
    await request(c, 'PATCH', `${CM}/a`, { data: { s: '1' } }, h('application/strategic-merge-patch+json'));
    await request(c, 'PATCH', `${CM}/a`, { data: { m: '1' } }, h('application/merge-patch+json'));
    await request(c, 'PATCH', `${CM}/a`, [{ op: 'add', path: '/data/j', value: '1' }], h('application/json-patch+json'));
    const applied = await request(c, 'PATCH', `${CM}/applied?fieldManager=me`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: "1"\n', h('application/apply-patch+yaml'));
    assert.equal(applied.status, 200, applied.text);
    assert.equal(applied.json.metadata.managedFields[0].manager, 'me');
    assert.equal(applied.json.metadata.managedFields[0].operation, 'Apply');
    const conflict = await request(c, 'PATCH', `${CM}/applied?fieldManager=other`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: "2"\n', h('application/apply-patch+yaml'));
    assert.equal(conflict.status, 409);
    const forced = await request(c, 'PATCH', `${CM}/applied?fieldManager=other&force=true`, 'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: "2"\n', h('application/apply-patch+yaml'));
    assert.equal(forced.json.data.a, '2');
    const a = (await request(c, 'GET', `${CM}/a`)).json;
    assert.deepEqual(a.data, { k: 'v2', s: '1', m: '1', j: '1' });
    const badType = await request(c, 'PATCH', `${CM}/a`, {}, h('text/plain'));
    assert.equal(badType.status, 415);
  });

  it('field validation: Warn sends a Warning header, Strict rejects, nothing stored', async () => {
    const warn = await request(c, 'POST', CM, { metadata: { name: 'w' }, dataz: { a: 1 } });
    assert.equal(warn.status, 201);
    assert.equal(warn.headers.warning, '299 - "unknown field \\"dataz\\""');
    const strict = await request(c, 'POST', `${CM}?fieldValidation=Strict`, { metadata: { name: 's' }, dataz: { a: 1 } });
    assert.equal(strict.status, 400);
    assert.equal(strict.json.message, 'strict decoding error: unknown field "dataz"');
    assert.equal((await request(c, 'GET', `${CM}/s`)).status, 404);
  });

  it('dryRun=All validates and answers without storing', async () => {
    const r = await request(c, 'POST', `${CM}?dryRun=All`, { metadata: { name: 'dry' } });
    assert.equal(r.status, 201);
    assert.equal((await request(c, 'GET', `${CM}/dry`)).status, 404);
  });

  it('list: label and field selectors, limit/continue with remainingItemCount', async () => {
    for (let i = 0; i < 5; i++) await request(c, 'POST', '/api/v1/namespaces/kube-public/configmaps', { metadata: { name: `p${i}`, labels: { i: String(i % 2) } } });
    const base = '/api/v1/namespaces/kube-public/configmaps';
    const sel = await request(c, 'GET', `${base}?labelSelector=i%3D1`);
    assert.deepEqual(sel.json.items.map((o: any) => o.metadata.name), ['p1', 'p3']);
    assert.equal(sel.json.items[0].kind, undefined, 'list items carry no kind, as upstream');
    const byName = await request(c, 'GET', `${base}?fieldSelector=metadata.name%3Dp2`);
    assert.deepEqual(byName.json.items.map((o: any) => o.metadata.name), ['p2']);
    const badField = await request(c, 'GET', `${base}?fieldSelector=spec.foo%3Dx`);
    assert.equal(badField.status, 400);
    const p1 = await request(c, 'GET', `${base}?limit=2`);
    assert.equal(p1.json.items.length, 2);
    assert.equal(p1.json.metadata.remainingItemCount, 3);
    // A write between pages does not show: continued pages are read at the first page's revision.
    await request(c, 'POST', base, { metadata: { name: 'p9' } });
    const p2 = await request(c, 'GET', `${base}?limit=2&continue=${encodeURIComponent(p1.json.metadata.continue)}`);
    const p3 = await request(c, 'GET', `${base}?limit=2&continue=${encodeURIComponent(p2.json.metadata.continue)}`);
    assert.deepEqual([...p1.json.items, ...p2.json.items, ...p3.json.items].map((o: any) => o.metadata.name), ['p0', 'p1', 'p2', 'p3', 'p4']);
    assert.equal(p3.json.metadata.continue, undefined);
    assert.equal(p3.json.metadata.resourceVersion, p1.json.metadata.resourceVersion);
    const tooNew = await request(c, 'GET', `${base}?resourceVersion=99999999&resourceVersionMatch=NotOlderThan`);
    assert.equal(tooNew.status, 504);
  });

  it('a continue token whose revision was compacted: 410 Expired with a token for the rest', async () => {
    const base = '/api/v1/namespaces/kube-node-lease/configmaps';
    for (let i = 0; i < 5; i++) await request(c, 'POST', base, { metadata: { name: `e${i}` } });
    const p1 = await request(c, 'GET', `${base}?limit=2`);
    await request(c, 'POST', base, { metadata: { name: 'e9' } });
    await store.compact(await store.currentRevision());
    const old = await request(c, 'GET', `${base}?limit=2&continue=${encodeURIComponent(p1.json.metadata.continue)}`);
    assert.equal(old.status, 410);
    assert.equal(old.json.reason, 'Expired');
    assert.equal(old.json.message, 'The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.');
    // The fresh token goes on from the same key at the latest revision (e9 now shows).
    const rest = await request(c, 'GET', `${base}?limit=10&continue=${encodeURIComponent(old.json.metadata.continue)}`);
    assert.equal(rest.status, 200);
    assert.deepEqual(rest.json.items.map((o: any) => o.metadata.name), ['e2', 'e3', 'e4', 'e9']);
  });

  it('default, kube-system and kube-public may not be deleted (kubectl delete ns --all)', async () => {
    for (const ns of ['default', 'kube-system', 'kube-public']) {
      const r = await request(c, 'DELETE', `/api/v1/namespaces/${ns}`);
      assert.equal(r.status, 403);
      assert.equal(r.json.reason, 'Forbidden');
      assert.equal(r.json.message, `namespaces "${ns}" is forbidden: this namespace may not be deleted`);
    }
    assert.equal((await request(c, 'DELETE', '/api/v1/namespaces/no-such')).status, 404);
    // Namespaces have no deletecollection, as upstream: kubectl deletes them one by one.
    assert.equal((await request(c, 'DELETE', '/api/v1/namespaces')).status, 405);
    const dry = await request(c, 'DELETE', '/api/v1/namespaces/kube-node-lease?dryRun=All');
    assert.equal(dry.status, 200);
    assert.equal(dry.json.status.phase, 'Terminating');
  });

  it('GET from the watch cache answers the bytes the general path does, and follows every write', async () => {
    const path = `${CM}/cached`;
    await request(c, 'POST', CM, { metadata: { name: 'cached' }, data: { v: '1' } });
    const first = await request(c, 'GET', path); // a miss: the general path, which fills the cache
    const hit = await request(c, 'GET', path);
    assert.ok(srv.storage.cachedJSON(res('configmaps'), 'default', 'cached'), 'the cache holds the object');
    const general = await request(c, 'GET', `${path}?resourceVersion=`); // a query takes the general path
    assert.equal(hit.text, first.text);
    assert.equal(hit.text, general.text);
    assert.equal(hit.headers['content-type'], 'application/json');
    assert.equal(hit.headers['cache-control'], general.headers['cache-control']);
    const patched = await request(c, 'PATCH', path, { data: { v: '2' } }, { 'Content-Type': 'application/merge-patch+json' });
    const after = await request(c, 'GET', path);
    assert.equal(after.json.data.v, '2');
    assert.equal(after.json.metadata.resourceVersion, patched.json.metadata.resourceVersion);
    // Written to the store directly (not through the API): the cache still follows.
    const e = (await store.get('/registry/configmaps/default/cached'))!;
    await store.update(e.key, e.value.replace('"v":"2"', '"v":"3"'), e.modRevision);
    assert.equal((await request(c, 'GET', path)).json.data.v, '3');
    assert.equal((await request(c, 'GET', `//api/v1/namespaces/default/configmaps/cached`)).status, 404);
    await request(c, 'DELETE', path);
    const gone = await request(c, 'GET', path);
    assert.equal(gone.status, 404);
    assert.equal(gone.json.message, 'configmaps "cached" not found');
  });

  it('/openapi/v2: Swagger 2.0 without definitions, as JSON or the protobuf client-go asks for', async () => {
    const j = await request(c, 'GET', '/openapi/v2', undefined, { Accept: 'application/json' });
    assert.equal(j.status, 200);
    assert.equal(j.json.swagger, '2.0');
    assert.deepEqual(j.json.definitions, {});
    const pb = await request(c, 'GET', '/openapi/v2', undefined, { Accept: 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf, application/json' });
    assert.equal(pb.status, 200);
    // Go's mime parser rejects '@': kube-apiserver answers with the '.' spelling.
    assert.equal(pb.headers['content-type'], 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf');
    assert.ok(pb.text.startsWith('\n\u00032.0\u0012'), 'field 1 swagger "2.0", then field 2 info');
  });

  it('Table and PartialObjectMetadata when the Accept header asks', async () => {
    const t = await request(c, 'GET', '/api/v1/namespaces/default/services', undefined, { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' });
    assert.equal(t.headers['content-type'], 'application/json;as=Table;v=v1;g=meta.k8s.io');
    assert.deepEqual(t.json.columnDefinitions.map((d: any) => d.name), ['Name', 'Type', 'Cluster-IP', 'External-IP', 'Port(s)', 'Age', 'Selector']);
    assert.equal(t.json.rows[0].cells[2], '10.96.0.1');
    assert.equal(t.json.rows[0].object.kind, 'PartialObjectMetadata');
    const pm = await request(c, 'GET', CM, undefined, { Accept: 'application/json;as=PartialObjectMetadataList;v=v1;g=meta.k8s.io' });
    assert.equal(pm.json.kind, 'PartialObjectMetadataList');
    assert.ok(pm.json.items.every((i: any) => i.metadata && !i.data));
    const y = await request(c, 'GET', `${CM}/a`, undefined, { Accept: 'application/yaml' });
    assert.match(y.text, /^apiVersion: v1\nkind: ConfigMap\n/);
  });

  it('delete: Status for most kinds, the object for pods; graceful pods, finalizers, propagation', async () => {
    const del = await request(c, 'DELETE', `${CM}/w`);
    assert.equal(del.json.kind, 'Status');
    assert.equal(del.json.status, 'Success');
    assert.equal(del.json.details.name, 'w');
    await request(c, 'POST', CM, { metadata: { name: 'fin', finalizers: ['example.com/hold'] } });
    const held = await request(c, 'DELETE', `${CM}/fin`);
    assert.ok(held.json.metadata.deletionTimestamp);
    const still = (await request(c, 'GET', `${CM}/fin`)).json;
    await request(c, 'PUT', `${CM}/fin`, { ...still, metadata: { ...still.metadata, finalizers: [] } });
    assert.equal((await request(c, 'GET', `${CM}/fin`)).status, 404, 'removing the last finalizer deletes');
    const pods = '/api/v1/namespaces/default/pods';
    const pod = { metadata: { name: 'p' }, spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'nginx' }] } };
    await request(c, 'POST', pods, pod);
    const graceful = await request(c, 'DELETE', `${pods}/p`);
    assert.equal(graceful.json.kind, 'Pod');
    assert.equal(graceful.json.metadata.deletionGracePeriodSeconds, 30);
    const now = await request(c, 'DELETE', `${pods}/p?gracePeriodSeconds=0`);
    assert.equal(now.status, 200);
    assert.equal((await request(c, 'GET', `${pods}/p`)).status, 404);
    await request(c, 'POST', '/apis/apps/v1/namespaces/default/deployments', { metadata: { name: 'fg' }, spec: { selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } });
    const fg = await request(c, 'DELETE', '/apis/apps/v1/namespaces/default/deployments/fg', { propagationPolicy: 'Foreground' });
    assert.deepEqual(fg.json.metadata.finalizers, ['foregroundDeletion']);
  });

  it('scale subresource, binding, status only changes status', async () => {
    const base = '/apis/apps/v1/namespaces/default/deployments';
    await request(c, 'POST', base, { metadata: { name: 'web' }, spec: { replicas: 1, selector: { matchLabels: { a: 'w' } }, template: { metadata: { labels: { a: 'w' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } } } });
    const s = await request(c, 'PATCH', `${base}/web/scale`, { spec: { replicas: 3 } }, { 'Content-Type': 'application/merge-patch+json' });
    assert.deepEqual({ kind: s.json.kind, apiVersion: s.json.apiVersion, replicas: s.json.spec.replicas, selector: s.json.status.selector }, { kind: 'Scale', apiVersion: 'autoscaling/v1', replicas: 3, selector: 'a=w' });
    const neg = await request(c, 'PUT', `${base}/web/scale`, { kind: 'Scale', apiVersion: 'autoscaling/v1', metadata: { name: 'web' }, spec: { replicas: -1 } });
    assert.equal(neg.status, 422);
    const d = (await request(c, 'GET', `${base}/web`)).json;
    assert.equal(d.spec.replicas, 3);
    assert.equal(d.metadata.generation, 2);
    const st = await request(c, 'PUT', `${base}/web/status`, { ...d, spec: { ...d.spec, replicas: 7 }, status: { replicas: 3 } });
    assert.equal(st.json.status.replicas, 3);
    assert.equal(st.json.spec.replicas, 3, 'spec is ignored through /status');
    const pods = '/api/v1/namespaces/default/pods';
    await request(c, 'POST', pods, { metadata: { name: 'unbound' }, spec: { containers: [{ name: 'c', image: 'nginx' }] } });
    const b = await request(c, 'POST', `${pods}/unbound/binding`, { apiVersion: 'v1', kind: 'Binding', metadata: { name: 'unbound' }, target: { kind: 'Node', name: 'n1' } });
    assert.equal(b.status, 201);
    const bound = (await request(c, 'GET', `${pods}/unbound`)).json;
    assert.equal(bound.spec.nodeName, 'n1');
    assert.equal(bound.status.conditions.find((x: any) => x.type === 'PodScheduled').status, 'True');
    const again = await request(c, 'POST', `${pods}/unbound/binding`, { metadata: { name: 'unbound' }, target: { name: 'n2' } });
    assert.equal(again.status, 409);
    assert.match(again.json.message, /is already assigned to node "n1"/);
  });

  it('namespaces: deleting one makes it Terminating and refuses new content', async () => {
    await request(c, 'POST', '/api/v1/namespaces', { metadata: { name: 'gone' } });
    const d = await request(c, 'DELETE', '/api/v1/namespaces/gone');
    assert.equal(d.json.status.phase, 'Terminating');
    const r = await request(c, 'POST', '/api/v1/namespaces/gone/configmaps', { metadata: { name: 'x' } });
    assert.equal(r.status, 403);
    assert.equal(r.json.message, 'configmaps "x" is forbidden: unable to create new content in namespace gone because it is being terminated');
  });

  it('metrics count requests by verb, resource and code', async () => {
    const m = (await request(c, 'GET', '/metrics')).text;
    assert.match(m, /apiserver_request_total\{verb="get",resource="configmaps",code="404"\} \d+/);
    assert.match(m, /apiserver_storage_objects\{resource="namespaces"\} 5/);
  });
});

describe('generateName collisions', () => {
  /** A store where the first `taken` generated ConfigMap names are already in use. */
  class TakenNames extends MemoryStore {
    tried: string[] = [];
    constructor(public taken: number) { super(); }
    override async create(key: string, value: string): Promise<number> {
      if (key.startsWith('/registry/configmaps/default/gen-')) {
        this.tried.push(key);
        if (this.tried.length <= this.taken) throw new StoreError('AlreadyExists', `key exists: ${key}`, key);
      }
      return super.create(key, value);
    }
  }
  const dir = mkdtempSync(join(tmpdir(), 'svp-genname-'));
  const store = new TakenNames(3);
  let srv: ApiServer;
  let c: Conn;
  before(async () => {
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    c = socketConn(dir);
  });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('a generated name that is taken is generated again: the create succeeds', async () => {
    const r = await request(c, 'POST', CM, { metadata: { generateName: 'gen-' }, data: { k: 'v' } });
    assert.equal(r.status, 201, r.text);
    assert.equal(store.tried.length, 4);
    assert.equal(new Set(store.tried).size, 4, 'a new name each time');
    assert.equal(`/registry/configmaps/default/${r.json.metadata.name}`, store.tried[3]);
    assert.equal((await request(c, 'GET', `${CM}/${r.json.metadata.name}`)).json.data.k, 'v');
  });

  it('after 8 taken names in a row: 409 AlreadyExists for the last one', async () => {
    store.tried = [];
    store.taken = 100;
    const r = await request(c, 'POST', CM, { metadata: { generateName: 'gen-' } });
    assert.equal(r.status, 409);
    assert.equal(r.json.reason, 'AlreadyExists');
    assert.equal(store.tried.length, 8);
    assert.equal(r.json.message, `configmaps "${store.tried[7]!.split('/').at(-1)}" already exists`);
    // A name the client chose is never replaced.
    store.tried = [];
    const named = await request(c, 'POST', CM, { metadata: { name: 'gen-mine' } });
    assert.equal(named.status, 409);
    assert.equal(store.tried.length, 1);
  });
});
