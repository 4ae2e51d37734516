/**
 * Service allocators through the API: ClusterIPs and NodePorts allocated, honoured when
 * requested, refused in upstream's words, released on delete and type change, never leaked by
 * a rejected request, and rebuilt from stored Services when the server restarts.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { startApiServer, type ApiServer } from './server.js';
import { request, socketConn, type Conn } from './testing.js';

const SVC = '/api/v1/namespaces/default/services';
const svc = (name: string, spec: Record<string, unknown>) => ({ apiVersion: 'v1', kind: 'Service', metadata: { name }, spec: { ports: [{ port: 80 }], ...spec } });
const MERGE = { 'Content-Type': 'application/merge-patch+json' };

describe('Service allocators', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-apisvc-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let c: Conn;
  before(async () => { srv = await startApiServer({ dataDir: dir, store, port: 0 }); c = socketConn(dir); });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('allocates a ClusterIP in the range and honours a requested one', async () => {
    const a = (await request(c, 'POST', SVC, svc('a', {}))).json;
    assert.match(a.spec.clusterIP, /^10\.(9[6-9]|10\d|11[01])\.\d+\.\d+$/);
    assert.deepEqual(a.spec.clusterIPs, [a.spec.clusterIP]);
    assert.deepEqual([a.spec.type, a.spec.sessionAffinity, a.spec.ports[0].protocol, a.spec.ports[0].targetPort, a.spec.ipFamilyPolicy], ['ClusterIP', 'None', 'TCP', 80, 'SingleStack']);
    const dns = (await request(c, 'POST', SVC, svc('dns', { clusterIP: '10.96.0.10' }))).json;
    assert.equal(dns.spec.clusterIP, '10.96.0.10');
    const taken = await request(c, 'POST', SVC, svc('dns2', { clusterIP: '10.96.0.10' }));
    assert.equal(taken.status, 422);
    assert.equal(taken.json.message, 'Service "dns2" is invalid: spec.clusterIPs: Invalid value: []string{"10.96.0.10"}: failed to allocate IP 10.96.0.10: provided IP is already allocated');
    const outside = await request(c, 'POST', SVC, svc('far', { clusterIP: '10.200.0.5' }));
    assert.equal(outside.json.message, 'Service "far" is invalid: spec.clusterIPs: Invalid value: []string{"10.200.0.5"}: failed to allocate IP 10.200.0.5: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12');
    const headless = (await request(c, 'POST', SVC, svc('hl', { clusterIP: 'None' }))).json;
    assert.deepEqual(headless.spec.clusterIPs, ['None']);
  });

  it('NodePorts: allocated, honoured, refused when taken, released on delete', async () => {
    const np = (await request(c, 'POST', SVC, svc('np', { type: 'NodePort' }))).json;
    assert.ok(np.spec.ports[0].nodePort >= 30000 && np.spec.ports[0].nodePort <= 32767);
    assert.equal(np.spec.externalTrafficPolicy, 'Cluster');
    await request(c, 'POST', SVC, svc('fixed', { type: 'NodePort', ports: [{ port: 80, nodePort: 32380 }] }));
    const dup = await request(c, 'POST', SVC, svc('dup', { type: 'NodePort', ports: [{ port: 80, nodePort: 32380 }] }));
    assert.equal(dup.json.message, 'Service "dup" is invalid: spec.ports[0].nodePort: Invalid value: 32380: provided port is already allocated');
    await request(c, 'DELETE', `${SVC}/fixed`);
    const again = await request(c, 'POST', SVC, svc('dup', { type: 'NodePort', ports: [{ port: 80, nodePort: 32380 }] }));
    assert.equal(again.status, 201);
  });

  it('a rejected request leaks no allocation', async () => {
    // The first port is allocated, the second is taken: the whole create fails and 32001 stays free.
    await request(c, 'POST', SVC, svc('holder', { type: 'NodePort', ports: [{ port: 80, nodePort: 32002 }] }));
    const r = await request(c, 'POST', SVC, svc('two', { type: 'NodePort', ports: [{ name: 'a', port: 80, nodePort: 32001 }, { name: 'b', port: 81, nodePort: 32002 }] }));
    assert.equal(r.status, 422);
    assert.equal((await request(c, 'POST', SVC, svc('one', { type: 'NodePort', ports: [{ port: 80, nodePort: 32001 }] }))).status, 201);
    // dryRun allocates nothing either.
    assert.equal((await request(c, 'POST', `${SVC}?dryRun=All`, svc('dry', { type: 'NodePort', ports: [{ port: 80, nodePort: 32003 }] }))).status, 201);
    assert.equal((await request(c, 'POST', SVC, svc('real', { type: 'NodePort', ports: [{ port: 80, nodePort: 32003 }] }))).status, 201);
  });

  it('type change to ClusterIP drops and releases node ports; LoadBalancer Local gets a healthCheckNodePort', async () => {
    const back = await request(c, 'PATCH', `${SVC}/one`, { spec: { type: 'ClusterIP' } }, MERGE);
    assert.equal(back.status, 200, back.text);
    assert.equal(back.json.spec.ports[0].nodePort, undefined);
    assert.equal(back.json.spec.externalTrafficPolicy, undefined);
    assert.equal((await request(c, 'POST', SVC, svc('reuse', { type: 'NodePort', ports: [{ port: 80, nodePort: 32001 }] }))).status, 201);
    const lb = (await request(c, 'POST', SVC, svc('lb', { type: 'LoadBalancer', externalTrafficPolicy: 'Local' }))).json;
    assert.ok(lb.spec.healthCheckNodePort >= 30000);
    assert.ok(lb.spec.ports[0].nodePort >= 30000);
  });

  it('ExternalName has no cluster IP; a changed clusterIP is immutable', async () => {
    const en = (await request(c, 'POST', SVC, { metadata: { name: 'ext' }, spec: { type: 'ExternalName', externalName: 'example.com' } })).json;
    assert.equal(en.spec.clusterIP, undefined);
    const a = (await request(c, 'GET', `${SVC}/a`)).json;
    const moved = await request(c, 'PUT', `${SVC}/a`, { ...a, spec: { ...a.spec, clusterIP: '10.96.0.99', clusterIPs: ['10.96.0.99'] } });
    assert.equal(moved.status, 422);
    assert.match(moved.json.message, /spec\.clusterIPs\[0\]: Invalid value: \[\]string\{"10\.96\.0\.99"\}: may not change once set/);
  });

  it('after a restart the allocations are rebuilt from stored Services', async () => {
    const taken = (await request(c, 'GET', `${SVC}/np`)).json.spec.ports[0].nodePort;
    await srv.close();
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    const r = await request(c, 'POST', SVC, svc('after', { type: 'NodePort', ports: [{ port: 80, nodePort: taken }] }));
    assert.equal(r.json.message, `Service "after" is invalid: spec.ports[0].nodePort: Invalid value: ${taken}: provided port is already allocated`);
    const ip = await request(c, 'POST', SVC, svc('after', { clusterIP: '10.96.0.10' }));
    assert.match(ip.json.message, /provided IP is already allocated/);
  });
});
