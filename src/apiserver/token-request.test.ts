/**
 * TokenRequest and service account authentication against the API server (memory store) over
 * HTTPS and the secure socket: upstream's validation words and codes, the claims of the token it
 * returns, which tokens authenticate (and stop authenticating when their ServiceAccount or Pod
 * goes), and the kubelet's path: requestPodToken → the projected files → inClusterConfig().
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { startApiServer, type ApiServer } from './server.js';
import { httpsConn, request, type Conn } from './testing.js';
import { Client } from '../client/rest.js';
import { inClusterConfig } from '../client/kubeconfig.js';
import { requestPodToken, tokenRefreshAt, writeServiceAccountFiles } from '../client/serviceaccount-token.js';
import { res } from '../api/registry.js';
import type { Pod } from '../api/types.js';

const claimsOf = (t: string) => JSON.parse(Buffer.from(t.split('.')[1]!, 'base64url').toString());

describe('TokenRequest and service account tokens', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-satoken-'));
  let api: ApiServer;
  let admin: Conn;
  let ca: string;
  const tokenPath = (ns: string, sa: string) => `/api/v1/namespaces/${ns}/serviceaccounts/${sa}/token`;
  const ask = async (ns: string, sa: string, body: object = {}) => request(admin, 'POST', tokenPath(ns, sa), { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest', ...body });
  const tokenFor = async (ns: string, sa: string, spec: object = {}) => {
    const r = await ask(ns, sa, { spec });
    assert.equal(r.status, 201, r.text);
    return r.json.status.token as string;
  };
  const as = (token: string): Conn => ({ url: api.url, ca, token });
  const secureSocket = (token: string, path: string) => new Promise<number>((resolve, reject) => {
    https.get({ socketPath: join(dir, 'apiserver-secure.sock'), path, ca, servername: 'localhost', headers: { Authorization: `Bearer ${token}` }, agent: false }, (r) => { r.resume(); resolve(r.statusCode ?? 0); }).on('error', reject);
  });
  const mkPod = async (name: string, serviceAccountName = 'default') => (await request(admin, 'POST', '/api/v1/namespaces/default/pods', {
    apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { serviceAccountName, containers: [{ name: 'c', image: 'busybox' }] },
  })).json as Pod;

  before(async () => {
    api = await startApiServer({ dataDir: dir, store: new MemoryStore() as never, port: 0 });
    admin = httpsConn(dir, api.url);
    ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
  });
  after(async () => { await api?.close(); rmSync(dir, { recursive: true, force: true }); });

  it('keeps the signing key owner-only in the data dir', () => {
    assert.equal(statSync(join(dir, 'pki', 'sa.key')).mode & 0o777, 0o600);
  });

  it('answers 201 with a token, defaults (3600 s, the API audience) and upstream\'s claims', async () => {
    const r = await ask('default', 'default');
    assert.equal(r.status, 201, r.text);
    assert.equal(r.json.kind, 'TokenRequest');
    assert.deepEqual(r.json.spec, { audiences: ['https://kubernetes.default.svc.cluster.local'], expirationSeconds: 3600 });
    const c = claimsOf(r.json.status.token);
    const sa = (await request(admin, 'GET', '/api/v1/namespaces/default/serviceaccounts/default')).json;
    assert.equal(c.exp - c.iat, 3600);
    assert.equal(Date.parse(r.json.status.expirationTimestamp) / 1000, c.exp);
    assert.deepEqual({ iss: c.iss, sub: c.sub, aud: c.aud, k: c['kubernetes.io'] }, {
      iss: 'https://kubernetes.default.svc.cluster.local', sub: 'system:serviceaccount:default:default', aud: ['https://kubernetes.default.svc.cluster.local'],
      k: { namespace: 'default', serviceaccount: { name: 'default', uid: sa.metadata.uid } },
    });
  });

  it('refuses bad requests with upstream\'s words and codes', async () => {
    const cases: [object, number, string][] = [
      [{ spec: { expirationSeconds: 599 } }, 422, 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 599: may not specify a duration less than 10 minutes'],
      [{ spec: { expirationSeconds: 2 ** 32 + 1 } }, 422, 'TokenRequest.authentication.k8s.io "" is invalid: spec.expirationSeconds: Invalid value: 4294967297: may not specify a duration larger than 2^32 seconds'],
      [{ spec: { expirationSeconds: '600' } }, 400, 'TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal string into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64'],
      [{ metadata: { name: 'other' } }, 422, 'TokenRequest.authentication.k8s.io "default" is invalid: metadata.name: Invalid value: "other": must match the service account name if specified'],
      [{ metadata: { namespace: 'kube-system' } }, 422, 'TokenRequest.authentication.k8s.io "default" is invalid: metadata.namespace: Invalid value: "kube-system": must match the service account namespace if specified'],
      [{ spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'nope' } } }, 404, 'pods "nope" not found'],
      [{ spec: { boundObjectRef: { kind: 'Deployment', apiVersion: 'apps/v1', name: 'd' } } }, 400, 'cannot bind token to object of type apps/v1, Kind=Deployment'],
    ];
    for (const [body, code, message] of cases) {
      const r = await ask('default', 'default', body);
      assert.equal(r.status, code, `${JSON.stringify(body)}: ${r.text}`);
      assert.equal(r.json.message, message);
    }
    const missing = await ask('default', 'ghost');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.message, 'serviceaccounts "ghost" not found');
    await request(admin, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'other' } });
    await mkPod('runs-as-other', 'other');
    const wrongSa = await ask('default', 'default', { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'runs-as-other' } } });
    assert.equal(wrongSa.status, 400);
    assert.equal(wrongSa.json.message, 'cannot bind token for serviceaccount "default" to pod running with different serviceaccount name.');
    const wrongUid = await ask('default', 'other', { spec: { boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: 'runs-as-other', uid: 'not-it' } } });
    assert.equal(wrongUid.status, 409);
    assert.equal(wrongUid.json.message, 'Operation cannot be fulfilled on Pod "runs-as-other": the UID in the bound object reference (not-it) does not match the UID in record. The object might have been deleted and then recreated');
  });

  it('authenticates its tokens on the HTTPS port and the secure socket; others are 401', async () => {
    const t = await tokenFor('default', 'default');
    assert.equal((await request(as(t), 'GET', '/api/v1/namespaces/default/pods')).status, 200);
    assert.equal(await secureSocket(t, '/api/v1/namespaces/default/pods'), 200);
    assert.equal((await request(as(t.slice(0, -2) + (t.endsWith('AA') ? 'BB' : 'AA')), 'GET', '/api/v1/namespaces/default/pods')).status, 401);
    assert.equal(await secureSocket(t + 'x', '/api/v1/namespaces/default/pods'), 401);
    const otherAud = await tokenFor('default', 'default', { audiences: ['vault'] });
    assert.equal((await request(as(otherAud), 'GET', '/api/v1/namespaces/default/pods')).status, 401, 'a token for another audience is not for the API');
  });

  it('a deleted ServiceAccount\'s tokens stop authenticating, also when one of the same name is made again', async () => {
    await request(admin, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'short-lived' } });
    const t = await tokenFor('default', 'short-lived');
    assert.equal((await request(as(t), 'GET', '/api/v1/namespaces/default/pods')).status, 200);
    assert.equal((await request(admin, 'DELETE', '/api/v1/namespaces/default/serviceaccounts/short-lived')).status, 200);
    assert.equal((await request(as(t), 'GET', '/api/v1/namespaces/default/pods')).status, 401);
    await request(admin, 'POST', '/api/v1/namespaces/default/serviceaccounts', { metadata: { name: 'short-lived' } });
    assert.equal((await request(as(t), 'GET', '/api/v1/namespaces/default/pods')).status, 401, 'the new one has another uid');
  });

  it('the kubelet\'s pod token: bound to the pod, extended to a year, projected files that inClusterConfig reads', async () => {
    const pod = await mkPod('web');
    const client = new Client({ server: 'http://localhost', socketPath: api.socketPath });
    const issued = Date.now();
    const { token, expirationTimestamp } = await requestPodToken(client, pod);
    client.close();
    const c = claimsOf(token);
    assert.deepEqual(c['kubernetes.io'].pod, { name: 'web', uid: pod.metadata!.uid });
    assert.equal(c['kubernetes.io'].warnafter, c.iat + 3607);
    assert.equal(c.exp - c.iat, 365 * 24 * 3600);
    assert.equal(Math.round(Date.parse(expirationTimestamp) / 1000) - c.iat, 3607, 'status shows the hour asked for');
    const refresh = tokenRefreshAt(issued, expirationTimestamp);
    assert.ok(refresh > issued + 0.79 * 3607_000 && refresh < issued + 0.81 * 3608_000);

    const saDir = join(dir, 'pods', 'web', 'serviceaccount');
    writeServiceAccountFiles(saDir, { token, ca, namespace: 'default' });
    assert.equal(statSync(saDir).mode & 0o777, 0o755);
    for (const f of ['token', 'ca.crt', 'namespace']) assert.equal(statSync(join(saDir, f)).mode & 0o777, 0o644, f);
    const saved = { ...process.env };
    try {
      delete process.env.SVCPLANE_APISERVER_SOCKET;
      process.env.KUBERNETES_SERVICE_HOST = '127.0.0.1';
      process.env.KUBERNETES_SERVICE_PORT = String(api.port);
      const inPod = new Client(inClusterConfig(saDir));
      const list = await inPod.list(res('pods'), 'default');
      assert.ok(list.items.some((p) => p.metadata?.name === 'web'));
      // The pod goes: its token no longer authenticates (an unscheduled pod is deleted at once).
      await request(admin, 'DELETE', '/api/v1/namespaces/default/pods/web');
      await assert.rejects(inPod.list(res('pods'), 'default'), (e: { code?: number }) => e.code === 401);
      inPod.close();
    } finally {
      for (const k of ['SVCPLANE_APISERVER_SOCKET', 'KUBERNETES_SERVICE_HOST', 'KUBERNETES_SERVICE_PORT']) { if (saved[k] === undefined) delete process.env[k]; else process.env[k] = saved[k]; }
    }
  });
});
