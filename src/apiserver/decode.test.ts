/**
 * Strict decoding over HTTPS, as kube-apiserver's Go decoder answers: wrong JSON types and
 * out-of-range integers are 400 (create/update) or 422 (patch results) with Go's words, before
 * anything is stored; malformed bodies, patches, YAML and query parameters are 4xx, never 500;
 * a Warning header that Node cannot write as text never turns a stored write into an error.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { startApiServer, type ApiServer } from './server.js';
import { httpsConn, request, type Conn, type Reply } from './testing.js';

const NS = '/api/v1/namespaces/default';
const DEPLOY = '/apis/apps/v1/namespaces/default/deployments';
const deployment = (name: string, spec: Record<string, unknown> = {}) => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name },
  spec: { replicas: 1, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }, ...spec },
});

describe('API server decodes as kube-apiserver', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-decode-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let c: Conn;
  const send = (method: string, path: string, body?: unknown, ct = 'application/json'): Promise<Reply> =>
    request(c, method, path, typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body), body === undefined ? {} : { 'Content-Type': ct });
  /** The store's revision: unchanged when a request was refused. */
  const revision = () => store.currentRevision();
  const refused = async (r: Promise<Reply>, code: number, message?: string | RegExp): Promise<Reply> => {
    const rev = await revision();
    const reply = await r;
    assert.equal(reply.status, code, reply.text);
    assert.equal(reply.json?.kind, 'Status', reply.text);
    assert.equal(reply.json.code, code);
    if (typeof message === 'string') assert.equal(reply.json.message, message);
    else if (message) assert.match(reply.json.message, message);
    assert.equal(await revision(), rev, 'nothing stored');
    return reply;
  };
  before(async () => {
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    c = httpsConn(dir, srv.url);
    assert.equal((await send('POST', DEPLOY, deployment('web'))).status, 201);
  });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('create: wrong JSON types and out-of-range integers are 400 with the Go decoder\'s words', async () => {
    const cases: [unknown, string][] = [
      [deployment('a', { replicas: '3' }), 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32'],
      [deployment('a', { replicas: 1.5 }), 'json: cannot unmarshal number 1.5 into Go struct field DeploymentSpec.spec.replicas of type int32'],
      ['{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"},"spec":{"replicas":1e10}}', 'json: cannot unmarshal number 1e10 into Go struct field DeploymentSpec.spec.replicas of type int32'],
      ['{"apiVersion":"apps/v1","kind":"Deployment","metadata":{"name":"a"},"spec":{"replicas":2147483648}}', 'json: cannot unmarshal number 2147483648 into Go struct field DeploymentSpec.spec.replicas of type int32'],
      [deployment('a', { selector: 'app=a' }), 'json: cannot unmarshal string into Go struct field DeploymentSpec.spec.selector of type v1.LabelSelector'],
      [{ ...deployment('a'), metadata: { name: 1 } }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.name of type string'],
      [{ ...deployment('a'), metadata: { name: 'a', labels: { app: 1 } } }, 'json: cannot unmarshal number into Go struct field ObjectMeta.metadata.labels of type string'],
      [{ ...deployment('a'), metadata: 'str' }, 'json: cannot unmarshal string into Go struct field Deployment.metadata of type v1.ObjectMeta'],
    ];
    for (const [body, err] of cases) await refused(send('POST', DEPLOY, body), 400, `Deployment in version "v1" cannot be handled as a Deployment: ${err}`);
    const svc = (spec: unknown) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name: 's' }, spec });
    await refused(send('POST', `${NS}/services`, svc({ ports: [{ port: '80' }] })), 400,
      'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal string into Go struct field ServicePort.spec.ports.port of type int32');
    await refused(send('POST', `${NS}/services`, svc({ ports: { port: 80 } })), 400,
      'Service in version "v1" cannot be handled as a Service: json: cannot unmarshal object into Go struct field ServiceSpec.spec.ports of type []v1.ServicePort');
    await refused(send('POST', `${NS}/services`, { ...svc({ ports: [{ port: 80 }] }), apiVersion: 'apps/v1' }), 400,
      'Service in version "v1" cannot be handled as a Service: no kind "Service" is registered for version "apps/v1" in scheme "pkg/api/legacyscheme/scheme.go:30"');
    await refused(send('POST', `${NS}/secrets`, { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'x' }, data: { k: 'YWJj#' } }), 400,
      'Secret in version "v1" cannot be handled as a Secret: illegal base64 data at input byte 4');
    // YAML bodies decode the same way.
    await refused(send('POST', DEPLOY, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec: {replicas: "3"}\n', 'application/yaml'), 400,
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
    // In range and well typed: created.
    assert.equal((await send('POST', DEPLOY, deployment('b', { replicas: 2147483647 }))).status, 201);
  });

  it('update, status and every patch type: the result decodes before it is stored', async () => {
    const cur = (await send('GET', `${DEPLOY}/web`)).json;
    await refused(send('PUT', `${DEPLOY}/web`, { ...cur, spec: { ...cur.spec, replicas: '3' } }), 400,
      'Deployment in version "v1" cannot be handled as a Deployment: json: cannot unmarshal string into Go struct field DeploymentSpec.spec.replicas of type int32');
    await refused(send('PUT', `${DEPLOY}/web/status`, { ...cur, status: { replicas: 1e10 } }), 400,
      /DeploymentStatus\.status\.replicas of type int32$/);
    const patches: [string, string][] = [
      ['application/merge-patch+json', '{"spec":{"replicas":1e10}}'],
      ['application/strategic-merge-patch+json', '{"spec":{"replicas":"3"}}'],
      ['application/json-patch+json', '[{"op":"replace","path":"/spec/replicas","value":1.5}]'],
      ['application/merge-patch+json', '{"metadata":{"labels":{"a":1}}}'],
    ];
    for (const [ct, p] of patches) {
      const r = await refused(send('PATCH', `${DEPLOY}/web`, p, ct), 422, /^ "" is invalid: patch: Invalid value: "\{.*\}": json: cannot unmarshal /);
      assert.equal(r.json.reason, 'Invalid');
      assert.equal(r.json.details.causes[0].field, 'patch');
    }
    await refused(send('PATCH', `${DEPLOY}/web?fieldManager=m&force=true`, 'apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec: {replicas: 10000000000}\n', 'application/apply-patch+yaml'), 422,
      /json: cannot unmarshal number 10000000000 into Go struct field DeploymentSpec\.spec\.replicas of type int32$/);
    // /scale: an int32 in autoscaling/v1 Scale.
    await refused(send('PATCH', `${DEPLOY}/web/scale`, '{"spec":{"replicas":9007199254740993}}', 'application/merge-patch+json'), 422,
      /json: cannot unmarshal number 9007199254740992 into Go struct field ScaleSpec\.spec\.replicas of type int32$/);
    await refused(send('PUT', `${DEPLOY}/web/scale`, '{"apiVersion":"autoscaling/v1","kind":"Scale","metadata":{"name":"web"},"spec":{"replicas":1e10}}'), 400,
      'Scale in version "v1" cannot be handled as a Scale: json: cannot unmarshal number 1e10 into Go struct field ScaleSpec.spec.replicas of type int32');
    assert.equal((await send('GET', `${DEPLOY}/web`)).json.spec.replicas, 1);
    const ok = await send('PATCH', `${DEPLOY}/web/scale`, '{"spec":{"replicas":3}}', 'application/merge-patch+json');
    assert.equal(ok.status, 200, ok.text);
    assert.equal(ok.json.spec.replicas, 3);
  });

  it('malformed bodies, patches, YAML and query parameters are 4xx Status, never 500', async () => {
    const deep = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep"},"data":{},"x":${'['.repeat(10_000)}${']'.repeat(10_000)}}`;
    await refused(send('POST', `${NS}/configmaps`, deep), 400, "couldn't get version/kind; json parse error: exceeded max depth");
    const deepYaml = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: deep}\nx: ${'['.repeat(3000)}${']'.repeat(3000)}\n`;
    await refused(send('POST', `${NS}/configmaps`, deepYaml, 'application/yaml'), 400, /^error converting YAML to JSON: yaml: /);
    await refused(send('POST', `${NS}/configmaps`, 'apiVersion: v1\nkind: ConfigMap\nmetadata: &m {name: cyc, labels: *m}\n', 'application/yaml'), 400,
      "error converting YAML to JSON: yaml: anchor 'm' value contains itself");
    const bomb = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]', ...'bcdefghi'.split('').map((x, i) => `${x}: &${x} [${Array(9).fill(`*${'abcdefghi'[i]}`).join(',')}]`)].join('\n');
    await refused(send('POST', `${NS}/configmaps`, `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\n${bomb}\n`, 'application/yaml'), 400,
      'error converting YAML to JSON: yaml: document contains excessive aliasing');
    await refused(send('PATCH', `${DEPLOY}/web?fieldManager=m`, `apiVersion: apps/v1\nkind: Deployment\nmetadata: &m {name: web, labels: *m}\n`, 'application/apply-patch+yaml'), 400,
      "error decoding YAML: yaml: anchor 'm' value contains itself");
    for (const body of ['null', '"str"', '1']) {
      await refused(send('PATCH', `${DEPLOY}/web`, body, 'application/merge-patch+json'), 400, 'Invalid JSON Patch');
      for (const ct of ['application/strategic-merge-patch+json', 'application/json-patch+json', 'application/apply-patch+yaml']) {
        const rev = await revision();
        const r = await send('PATCH', `${DEPLOY}/web?fieldManager=m`, body, ct);
        assert.ok(r.status === 200 || (r.status >= 400 && r.status < 500), `${ct} ${body}: ${r.status} ${r.text}`);
        assert.equal(r.json?.kind, r.status === 200 ? 'Deployment' : 'Status', r.text);
        assert.equal(await revision(), rev, `${ct} ${body} changed nothing`);
      }
    }
    await refused(send('PATCH', `${DEPLOY}/web`, '""', 'application/json-patch+json'), 400, 'json: cannot unmarshal string into Go value of type jsonpatch.Patch');
    for (const op of ['[{"op":"replace","path":"","value":"str"}]', '[{"op":"remove","path":""}]', '[{"op":"add","path":"","value":1}]']) {
      const rev = await revision();
      const r = await send('PATCH', `${DEPLOY}/web`, op, 'application/json-patch+json');
      assert.ok(r.status >= 400 && r.status < 500, `${op}: ${r.status} ${r.text}`);
      assert.equal(await revision(), rev);
    }
    await refused(send('GET', `${DEPLOY}?limit=99999999999999999999`), 400, 'strconv.ParseInt: parsing "99999999999999999999": value out of range');
    await refused(send('GET', `${DEPLOY}?limit=abc`), 400, 'strconv.ParseInt: parsing "abc": invalid syntax');
    assert.equal((await send('GET', `${DEPLOY}?limit=9223372036854775807`)).status, 200);
    await refused(send('DELETE', `${DEPLOY}/web?gracePeriodSeconds=1e3`), 400, 'strconv.ParseInt: parsing "1e3": invalid syntax');
    // Dot segments would resolve to the namespace itself: refused, nothing deleted.
    await refused(send('DELETE', `${NS}/services/%2e%2e`), 400, 'Name parameter invalid: "..": may not be \'..\'');
    await refused(send('DELETE', `${NS}/services/..`), 400, 'Name parameter invalid: "..": may not be \'..\'');
    await refused(send('GET', `${NS}/configmaps/a%2Fb`), 400, 'Name parameter invalid: "a/b": may not contain \'/\'');
    assert.equal((await send('GET', '/api/v1/namespaces/default')).json.status.phase, 'Active');
    await refused(send('DELETE', `${DEPLOY}/web`, { gracePeriodSeconds: 'x' }), 400, 'json: cannot unmarshal string into Go struct field DeleteOptions.gracePeriodSeconds of type int64');
  });

  it('a Warning header with characters past Latin-1 goes out as UTF-8: the stored write is acknowledged', async () => {
    const field = 'ünïcødé☃\u2028"q"';
    const rev = await revision();
    const r = await send('POST', `${NS}/configmaps`, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'warn' }, data: { a: 'b' }, [field]: 1 });
    assert.equal(r.status, 201, r.text);
    assert.ok(await revision() > rev);
    const warning = Buffer.from(String(r.headers.warning), 'latin1').toString('utf8');
    assert.equal(warning, '299 - "unknown field \\"ünïcødé☃\u2028\\"q\\"\\""');
    assert.equal((await send('GET', `${NS}/configmaps/warn`)).status, 200);
    // A patch naming the same field warns the same way and is stored once.
    const p = await send('PATCH', `${NS}/configmaps/warn`, { data: { a: 'c' }, [`${field}2`]: 1 }, 'application/merge-patch+json');
    assert.equal(p.status, 200, p.text);
    assert.match(Buffer.from(String(p.headers.warning), 'latin1').toString('utf8'), /ünïcødé☃\u2028\\"q\\"2/);
  });
});
