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
import { strategicMergePatch } from './patch.js';
import type { KubeObject } from './types.js';

/** Services kept by the probe server (kubectl apply creates, reads and patches them). */
const services = new Map<string, KubeObject>();
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
  req.on('end', () => route(req, res, Buffer.concat(chunks).toString()));
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
    if (req.method === 'POST') {
      const o = JSON.parse(body) as KubeObject;
      services.set(o.metadata!.name!, o);
      return send(201, o);
    }
    const live = name ? services.get(name) : undefined;
    if (req.method === 'GET' && live) return send(200, live);
    if (req.method === 'PATCH' && live) {
      const patch = JSON.parse(body);
      patches.push({ contentType: req.headers['content-type'] ?? '', query: url.search, body: patch });
      const next = strategicMergePatch(live, patch, SERVICES);
      services.set(name!, next);
      return send(200, next);
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
  assert.match(out, /targetPort\s+<(IntOrString|string)>/);
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
