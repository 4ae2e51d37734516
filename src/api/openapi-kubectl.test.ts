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
import { RESOURCES, KUBE_VERSION, groupVersion } from './registry.js';

function hasKubectl(): boolean {
  try { execFileSync('kubectl', ['version', '--client'], { stdio: 'ignore' }); return true; } catch { return false; }
}

function resourceList(gv: string): object {
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: gv,
    resources: RESOURCES.filter((r) => groupVersion(r) === gv).map((r) => ({ name: r.resource, singularName: r.singular, namespaced: r.namespaced,
      kind: r.kind, verbs: r.verbs, shortNames: r.shortNames, categories: r.categories })) };
}

function handler(req: http.IncomingMessage, res: http.ServerResponse): void {
  const url = new URL(req.url ?? '/', 'http://x');
  const send = (code: number, body: unknown): void => {
    res.writeHead(code, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body));
  };
  const p = url.pathname;
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
