import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Desired, makeService, makeSlice } from './testing/fixtures.js';
import { clusterEndpoints, externalEndpoints } from './topology.js';

describe('ServicePortMap with the change trackers', () => {
  it('one ServicePort per Service port, nothing for headless and ExternalName', () => {
    const d = new Desired([
      makeService('a', 'web', (s) => { s.spec!.ports!.push({ name: 'dns', port: 53, protocol: 'UDP' }); }),
      makeService('a', 'headless', (s) => { s.spec!.clusterIP = 'None'; }),
      makeService('a', 'ext', (s) => { s.spec!.type = 'ExternalName'; s.spec!.externalName = 'example.com'; delete s.spec!.clusterIP; }),
    ]);
    d.update();
    assert.deepEqual(d.ports().map((p) => p.key), ['a/web:dns/udp', 'a/web:http/tcp']);
  });

  it('endpoints are matched by port name and protocol, across slices, each address once', () => {
    const d = new Desired([makeService('a', 'web')], [
      makeSlice('a', 'web', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }], [{ name: 'http', port: 8080 }], 'web-1'),
      makeSlice('a', 'web', [{ ip: '10.244.0.3' }, { ip: '10.244.1.2' }], [{ name: 'http', port: 8080 }], 'web-2'),
      makeSlice('a', 'web', [{ ip: '10.244.9.9' }], [{ name: 'other', port: 9 }], 'web-3'),
    ]);
    d.update();
    assert.deepEqual(d.ports()[0]!.endpoints.map((e) => `${e.ip}:${e.port}`), ['10.244.0.2:8080', '10.244.0.3:8080', '10.244.1.2:8080']);
  });

  it('reports only the service ports that changed; no-op updates mark nothing', () => {
    const d = new Desired([makeService('a', 'one'), makeService('a', 'two', (s) => { s.spec!.clusterIP = '10.96.0.20'; })], [makeSlice('a', 'one', [{ ip: '10.244.0.2' }])]);
    assert.equal(d.update().changed.size, 2);
    assert.equal(d.svc.onService(makeService('a', 'one', (s) => { Object.assign(s.metadata!, { resourceVersion: '7', labels: { x: 'y' } }); })), false, 'label-only change is a no-op');
    assert.equal(d.ep.onSlice(makeSlice('a', 'one', [{ ip: '10.244.0.2' }])), false, 'same slice content is a no-op');
    assert.equal(d.update().changed.size, 0);
    d.ep.onSlice(makeSlice('a', 'one', [{ ip: '10.244.0.3' }]));
    assert.deepEqual([...d.update().changed], ['a/one:http/tcp']);
    d.svc.onService(makeService('a', 'two'), true);
    assert.deepEqual([...d.update().changed], ['a/two:http/tcp']);
    assert.deepEqual(d.ports().map((p) => p.name), ['one']);
  });

  it('ready endpoints; serving-terminating ones only when none is ready', () => {
    const d = new Desired([makeService('a', 'web')], [makeSlice('a', 'web', [
      { ip: '10.244.0.2', ready: false, serving: true, terminating: true },
      { ip: '10.244.0.3', ready: true },
      { ip: '10.244.0.4', ready: false, serving: false, terminating: true },
    ])]);
    d.update();
    assert.deepEqual(clusterEndpoints(d.ports()[0]!, 'n').map((e) => e.ip), ['10.244.0.3']);
    d.ep.onSlice(makeSlice('a', 'web', [{ ip: '10.244.0.2', ready: false, serving: true, terminating: true }, { ip: '10.244.0.4', ready: false, serving: false, terminating: true }]));
    d.update();
    assert.deepEqual(clusterEndpoints(d.ports()[0]!, 'n').map((e) => e.ip), ['10.244.0.2']);
  });

  it('traffic policies Local select node-local endpoints', () => {
    const d = new Desired([makeService('a', 'web', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.internalTrafficPolicy = 'Local'; s.spec!.healthCheckNodePort = 31000; })],
      [makeSlice('a', 'web', [{ ip: '10.244.0.2', node: 'n0' }, { ip: '10.244.1.2', node: 'n1' }])]);
    d.update();
    const sp = d.ports()[0]!;
    assert.equal(sp.healthCheckNodePort, 31000);
    assert.deepEqual(externalEndpoints(sp, 'n1').map((e) => e.ip), ['10.244.1.2']);
    assert.deepEqual(clusterEndpoints(sp, 'n0').map((e) => e.ip), ['10.244.0.2']);
    assert.deepEqual(externalEndpoints(sp, 'n2'), []);
  });

  it('UDP: removed endpoints and services that gain endpoints need conntrack clean-up', () => {
    const svc = makeService('a', 'dns', (s) => { s.spec!.ports = [{ name: 'dns', port: 53, protocol: 'UDP' }]; });
    const d = new Desired([svc], []);
    d.update();
    d.ep.onSlice(makeSlice('a', 'dns', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]));
    let r = d.update();
    assert.deepEqual(r.staleUDPServiceIPs, [{ ip: '10.96.0.10', port: 53 }]);
    d.ep.onSlice(makeSlice('a', 'dns', [{ ip: '10.244.0.3' }], [{ name: 'dns', port: 53, protocol: 'UDP' }]));
    r = d.update();
    assert.deepEqual(r.staleUDPEndpoints.map((e) => `${e.ip}:${e.port}`), ['10.244.0.2:53']);
    assert.deepEqual(r.staleUDPServiceIPs, []);
  });

  it('trigger times come from the last-change-trigger-time annotation', () => {
    const d = new Desired([makeService('a', 'web')]);
    d.update();
    const s = makeSlice('a', 'web', [{ ip: '10.244.0.2' }]);
    s.metadata!.annotations = { 'endpoints.kubernetes.io/last-change-trigger-time': '2026-01-01T00:00:00Z' };
    d.ep.onSlice(s);
    assert.deepEqual(d.update().triggerTimes, [Date.parse('2026-01-01T00:00:00Z')]);
  });
});
