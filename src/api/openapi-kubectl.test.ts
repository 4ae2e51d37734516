/**
 * The stock kubectl reading svcplane's OpenAPI documents: a minimal loopback server answers
 * /version, plain discovery and /openapi/v3; `kubectl explain` must print field descriptions.
 * Skipped when kubectl is not installed.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { execFile, execFileSync } from 'node:child_process';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { openapiV3Index, openapiV3Document } from './openapi.js';
import { RESOURCES, KUBE_VERSION, groupVersion, res } from './registry.js';
import { strategicMergePatch, jsonPatch } from './patch.js';
import { serverSideApply, updateManagedFields } from './apply.js';
import { printTable } from './printers.js';
import YAML from 'yaml';
import type { KubeObject } from './types.js';

/** Services kept by the probe server (kubectl apply creates, reads and patches them). */
const services = new Map<string, KubeObject>();
let revision = 0;
const store = (o: KubeObject): KubeObject => {
  o.metadata = { ...o.metadata, resourceVersion: String(++revision) };
  services.set(o.metadata.name!, o);
  return o;
};
const patches: { contentType: string; query: string; body: unknown }[] = [];

function hasKubectl(): boolean {
  try { execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' }); return true; } catch { return false; }
}

function resourceList(gv: string): object {
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
    resources: RESOURCES.filter((r) => groupVersion(r) === gv).map((r) => ({ name: r.resource, singularName: r.singular, namespaced: r.namespaced,
      kind: r.kind, verbs: r.verbs, shortNames: r.shortNames, categories: r.categories })) };
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    try {
      route(req, res, Buffer.concat(chunks).toString());
    } catch (e) {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ kind: 'Status', apiVersion: 'v1', status: 'Failure', message: (e as Error).message, code: 500 }));
    }
  });
}

function route(req: http.IncomingMessage, res: http.ServerResponse, body: string): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (code: number, b: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(b));
  };
  const p = url.pathname;
  const svc = /^\/api\/v1\/namespaces\/default\/services(?:\/([^/]+))?$/.exec(p);
  if (svc) {
    const name = svc[1];
    const manager = url.searchParams.get('fieldManager') ?? 'kubectl';
    if (req.method === 'POST') {
      const o = updateManagedFields(undefined, JSON.parse(body) as KubeObject, manager, 'Update', { info: SERVICES });
      return send(201, store(o));
    }
    if (req.method === 'GET' && !name && /as=Table/.test(req.headers.accept ?? '')) {
      res.writeHead(200, { 'content-type': 'application/json;as=Table;v=v1;g=meta.k8s.io' });
      res.end(JSON.stringify(printTable(SERVICES, [...services.values()], { now: NOW, resourceVersion: '1' })));
      return;
    }
    const live = name ? services.get(name) : undefined;
    if (req.method === 'GET' && live) return send(200, live);
    const ct = req.headers['content-type'] ?? '';
    if (req.method === 'PATCH' && ct === 'application/apply-patch+yaml') {
      const r = serverSideApply(live, YAML.parse(body) as KubeObject, manager, { force: url.searchParams.get('force') === 'true', info: SERVICES, now: NOW.toISOString() });
      if ('conflicts' in r) {
        return send(409, { kind: 'Status', apiVersion: 'v1', metadata: {}, status: 'Failure', message: r.message, reason: 'Conflict',
          details: { causes: r.conflicts.map((c) => ({ reason: 'FieldManagerConflict', message: `conflict with ${c.manager}`, field: c.field })) }, code: 409 });
      }
      return send(live ? 200 : 201, store(r.object));
    }
    if (req.method === 'PATCH' && live && ct === 'application/json-patch+json') {
      // kubectl apply --server-side first moves client-side-apply ownership with a JSON patch.
      patches.push({ contentType: ct, query: url.search, body: JSON.parse(body) });
      const next = jsonPatch(live, JSON.parse(body)) as KubeObject;
      return send(200, store(next));
    }
    if (req.method === 'PATCH' && live) {
      const patch = JSON.parse(body);
      patches.push({ contentType: ct, query: url.search, body: patch });
      const next = updateManagedFields(live, strategicMergePatch(live, patch, SERVICES), manager, 'Update', { info: SERVICES });
      return send(200, store(next));
    }
  }
  if (p === '/version') return send(200, { ...KUBE_VERSION, platform: 'linux/amd64' });
  if (p === '/api') return send(200, { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [] });
  if (p === '/apis') {
    const groups = [...new Set(RESOURCES.filter((r) => r.group).map((r) => groupVersion(r)))].map((gv) => {
      const [g, v] = gv.split('/');
      return { name: g, versions: [{ groupVersion: gv, version: v }], preferredVersion: { groupVersion: gv, version: v } };
    });
    return send(200, { kind: 'APIGroupList', apiVersion: 'v1', groups });
  }
  if (p === '/api/v1') return send(200, resourceList('v1'));
  const m = /^\/apis\/([^/]+)\/([^/]+)$/.exec(p);
  if (m) return send(200, resourceList(`${m[1]}/${m[2]}`));
  if (p === '/openapi/v3') return send(200, openapiV3Index());
  if (p.startsWith('/openapi/v3/')) {
    const doc = openapiV3Document(p.slice('/openapi/v3/'.length));
    if (doc) return send(200, doc);
  }
  send(404, { kind: 'Status', apiVersion: 'v1', status: 'Failure', reason: 'NotFound', code: 404, message: 'the server could not find the requested resource' });
}

const SERVICES = res('services');
/** The probe server's clock: the seed notes show a Service aged 7m22s. */
const NOW = new Date('2024-05-01T12:07:22Z');

function kubeconfigFor(dir: string, port: number): string {
  const file = path.join(dir, 'kubeconfig');
  writeFileSync(file, `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:${port}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    namespace: default\n    user: t\ncurrent-context: t\nusers:\n- name: t\n  user:\n    token: x\n`);
  return file;
}

async function startProbe(t: { after: (fn: () => void) => void }): Promise<{ dir: string; kubectl: (...args: string[]) => Promise<string> }> {
  const dir = mkdtempSync(path.join(tmpdir(), 'svcplane-kubectl-'));
  const server = http.createServer(handler);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const kubeconfig = kubeconfigFor(dir, (server.address() as AddressInfo).port);
  const kubectl = (...args: string[]): Promise<string> => new Promise((resolve, reject) => {
    execFile('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(stdout);
    });
  });
  return { dir, kubectl };
}

test('kubectl explain service.spec.ports prints the field descriptions', { skip: !hasKubectl() }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'svcplane-openapi-'));
  const server = http.createServer(handler);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:${port}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    user: t\ncurrent-context: t\nusers:\n- name: t\n  user:\n    token: x\n`);
  const run = (args: string[]): Promise<string> => new Promise((resolve, reject) => {
    execFile('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), ...args], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(stdout);
    });
  });
  const out = await run(['explain', 'service.spec.ports']);
  assert.match(out, /KIND:\s+Service/);
  assert.match(out, /FIELD:\s+ports <\[\]ServicePort>/);
  assert.match(out, /The list of ports that are exposed by this service/);
  assert.match(out, /port\s+<integer> -required-/);
  assert.match(out, /targetPort\s+<IntOrString>/);
  const dep = await run(['explain', 'deployment.spec.template.spec.containers.ports']);
  assert.match(dep, /containerPort\s+<integer> -required-/);
});

test('kubectl apply (client-side) sends a three-way SMP that strategicMergePatch applies', { skip: !hasKubectl() }, async (t) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'svcplane-apply-'));
  const server = http.createServer(handler);
  t.after(() => { server.close(); rmSync(dir, { recursive: true, force: true }); });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const kubeconfig = path.join(dir, 'kubeconfig');
  writeFileSync(kubeconfig, `apiVersion: v1\nkind: Config\nclusters:\n- name: t\n  cluster:\n    server: http://127.0.0.1:${port}\ncontexts:\n- name: t\n  context:\n    cluster: t\n    namespace: default\n    user: t\ncurrent-context: t\nusers:\n- name: t\n  user:\n    token: x\n`);
  const manifest = path.join(dir, 'svc.yaml');
  const run = (): Promise<string> => new Promise((resolve, reject) => {
    execFile('kubectl', ['--kubeconfig', kubeconfig, '--cache-dir', path.join(dir, 'cache'), 'apply', '-f', manifest], { timeout: 30_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${err.message}\n${stderr}`)); else resolve(stdout);
    });
  });
  const svcYaml = (ports: string, selector: string): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: myapp\n  labels:\n    app: myapp\nspec:\n  selector:\n${selector}  ports:\n${ports}`;
  writeFileSync(manifest, svcYaml('  - name: http\n    port: 38080\n    targetPort: 8080\n  - name: metrics\n    port: 9090\n', '    app: myapp\n'));
  assert.match(await run(), /service\/myapp created/);
  // Server-side defaults kubectl never sent must survive the patch.
  const created = services.get('myapp') as any;
  created.spec.type = 'ClusterIP';
  created.spec.clusterIP = '10.96.3.215';
  for (const p of created.spec.ports) p.protocol = 'TCP';
  writeFileSync(manifest, svcYaml('  - name: https\n    port: 443\n    targetPort: 8443\n  - name: http\n    port: 38080\n    targetPort: 8081\n', '    app: myapp\n    tier: web\n'));
  assert.match(await run(), /service\/myapp configured/);
  assert.equal(patches.length, 1);
  assert.equal(patches[0].contentType, 'application/strategic-merge-patch+json');
  assert.match(patches[0].query, /fieldManager=kubectl-client-side-apply/);
  const sent = patches[0].body as any;
  assert.deepEqual(sent.spec['$setElementOrder/ports'], [{ port: 443 }, { port: 38080 }]);
  assert.ok(sent.spec.ports.some((p: any) => p.$patch === 'delete' && p.port === 9090));
  const live = services.get('myapp') as any;
  assert.deepEqual(live.spec.ports, [{ name: 'https', port: 443, targetPort: 8443 }, { name: 'http', port: 38080, targetPort: 8081, protocol: 'TCP' }]);
  assert.deepEqual(live.spec.selector, { app: 'myapp', tier: 'web' });
  assert.equal(live.spec.clusterIP, '10.96.3.215');
  assert.match(live.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], /"tier":"web"/);
  // Applying the same manifest again sends no change.
  assert.match(await run(), /service\/myapp unchanged/);
});

test('kubectl get -o wide renders svcplane Tables; apply --server-side takes over, conflicts, --force-conflicts', { skip: !hasKubectl() }, async (t) => {
  services.clear();
  const { dir, kubectl } = await startProbe(t);
  const manifest = path.join(dir, 'web.yaml');
  const yaml = (targetPort: number): string => `apiVersion: v1\nkind: Service\nmetadata:\n  name: myapp\nspec:\n  selector:\n    app: myapp\n  ports:\n  - name: http\n    port: 38080\n    targetPort: ${targetPort}\n`;
  writeFileSync(manifest, yaml(8080));
  await kubectl('apply', '-f', manifest);
  const live = services.get('myapp') as any;
  Object.assign(live.spec, { type: 'ClusterIP', clusterIP: '10.96.3.215', clusterIPs: ['10.96.3.215'] });
  live.spec.ports[0].protocol = 'TCP';
  live.metadata.creationTimestamp = '2024-05-01T12:00:00Z';
  assert.equal(await kubectl('get', 'svc', '-o', 'wide'), [
    'NAME    TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)     AGE     SELECTOR',
    'myapp   ClusterIP   10.96.3.215   <none>        38080/TCP   7m22s   app=myapp', ''].join('\n'));
  // The first server-side apply takes over client-side-apply ownership (csaupgrade), no conflict.
  writeFileSync(manifest, yaml(9090));
  assert.match(await kubectl('apply', '--server-side', '-f', manifest), /serverside-applied/);
  assert.ok(patches.some((p) => p.contentType === 'application/json-patch+json'));
  // Another manager changing the same field conflicts with the "kubectl" Apply manager.
  writeFileSync(manifest, yaml(7070));
  await assert.rejects(kubectl('apply', '--server-side', '--field-manager=other', '-f', manifest),
    /Apply failed with 1 conflict: conflict with "kubectl": \.spec\.ports\[port=38080,protocol="TCP"\]\.targetPort/);
  assert.equal((services.get('myapp') as any).spec.ports[0].targetPort, 9090);
  assert.match(await kubectl('apply', '--server-side', '--field-manager=other', '--force-conflicts', '-f', manifest), /serverside-applied/);
  const after = services.get('myapp') as any;
  assert.equal(after.spec.ports[0].targetPort, 7070);
  assert.ok(after.metadata.managedFields.some((e: any) => e.manager === 'other' && e.operation === 'Apply'));
});
