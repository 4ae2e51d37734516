/**
 * The index: projections, indexes by name and IP, changes DNS cannot see, the SOA serial, and the
 * change events answer caches rely on. Plus the name parser and reverse-name parsing.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DnsIndex, type Change } from './controller.js';
import { toDnsEndpoints } from './objects.js';
import { parseRequest } from './parse.js';
import { addressFromReverse } from './reverse.js';
import { service, slice } from './testdata.js';

test('updates DNS cannot see change nothing: no event, same serial', () => {
  let now = 100;
  const idx = new DnsIndex(() => now);
  const events: Change[] = [];
  idx.onChange((c) => events.push(c));
  const svc = service('default', 'web', '10.96.0.20', [{ name: 'http', port: 80 }]);
  now = 200;
  assert.equal(idx.upsertService(svc), true);
  assert.equal(idx.modified(), 200);
  now = 300;
  const withStatus = { ...svc, metadata: { ...svc.metadata, resourceVersion: '9', labels: { x: 'y' } }, status: { loadBalancer: { ingress: [{ ip: '1.2.3.4' }] } } };
  assert.equal(idx.upsertService(withStatus), false, 'labels/status/resourceVersion are invisible to DNS');
  assert.equal(idx.modified(), 200);
  assert.equal(events.length, 1);
  assert.deepEqual(events[0], { services: ['default/web'], reverse: true, all: false });
});

test('indexes by IP follow changes; a slice moving to another Service notifies both', () => {
  const idx = new DnsIndex(() => 1);
  const events: Change[] = [];
  idx.onChange((c) => events.push(c));
  idx.upsertService(service('default', 'a', '10.96.0.1'));
  idx.upsertService(service('default', 'b', '10.96.0.1')); // two Services, one IP (possible mid-update)
  assert.deepEqual(idx.servicesByIP('10.96.0.1').map((s) => s.name).sort(), ['a', 'b']);
  idx.upsertService(service('default', 'a', '10.96.0.2'));
  assert.deepEqual(idx.servicesByIP('10.96.0.1').map((s) => s.name), ['b']);
  assert.deepEqual(idx.servicesByIP('10.96.0.2').map((s) => s.name), ['a']);
  idx.deleteService('default', 'b');
  assert.deepEqual(idx.servicesByIP('10.96.0.1'), []);
  idx.upsertService(service('default', 'h', 'None'));
  assert.deepEqual(idx.servicesByIP('None'), [], 'headless Services have no address to index');

  idx.upsertEndpointSlice(slice('default', 'a', 's1', [{ ip: '10.244.0.5' }, { ip: '10.244.0.6', ready: false }]));
  assert.equal(idx.endpoints('default', 'a').length, 1);
  assert.deepEqual(idx.endpoints('default', 'a')[0].addresses.map((x) => x.ip), ['10.244.0.5'], 'not-ready endpoints are left out');
  assert.equal(idx.endpointsByIP('10.244.0.6').length, 0);
  events.length = 0;
  idx.upsertEndpointSlice(slice('default', 'h', 's1', [{ ip: '10.244.0.5' }]));
  assert.deepEqual(events[0].services.sort(), ['default/a', 'default/h']);
  assert.equal(idx.endpoints('default', 'a').length, 0);
  assert.equal(idx.endpoints('default', 'h').length, 1);
  idx.deleteEndpointSlice('default', 's1');
  assert.equal(idx.endpointsByIP('10.244.0.5').length, 0);
});

test('namespaces: add/delete is an "all" change', () => {
  const idx = new DnsIndex();
  const events: Change[] = [];
  idx.onChange((c) => events.push(c));
  idx.addNamespace('dev');
  idx.addNamespace('dev');
  assert.ok(idx.namespaceExists('dev'));
  idx.deleteNamespace('dev');
  assert.ok(!idx.namespaceExists('dev'));
  assert.deepEqual(events.map((e) => e.all), [true, true]);
});

test('projections: hostname, pod name, ports', () => {
  const e = toDnsEndpoints(slice('dev', 'web', 'web-x', [{ ip: '10.244.1.5', hostname: 'web-0', pod: 'web-0' }], [{ name: 'http', port: 8080 }]));
  assert.deepEqual(e, {
    name: 'web-x', namespace: 'dev', service: 'web',
    addresses: [{ ip: '10.244.1.5', hostname: 'web-0', targetRefName: 'web-0' }],
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  });
});

test('parseRequest and addressFromReverse', () => {
  const z = 'cluster.local';
  assert.deepEqual(parseRequest('_http._tcp.web.dev.svc.cluster.local', z), { port: 'http', protocol: 'tcp', endpoint: '', service: 'web', namespace: 'dev', podOrSvc: 'svc' });
  assert.deepEqual(parseRequest('web-0.web.dev.svc.cluster.local', z), { port: '', protocol: '', endpoint: 'web-0', service: 'web', namespace: 'dev', podOrSvc: 'svc' });
  assert.deepEqual(parseRequest('10-244-1-5.dev.pod.cluster.local', z), { port: '', protocol: '', endpoint: '', service: '10-244-1-5', namespace: 'dev', podOrSvc: 'pod' });
  assert.equal(parseRequest('a.b.c.web.dev.svc.cluster.local', z), null);
  assert.equal(parseRequest('web.dev.cluster.local', z), null);
  assert.deepEqual(parseRequest('cluster.local', z)?.podOrSvc, '');
  assert.equal(addressFromReverse('215.3.96.10.in-addr.arpa'), '10.96.3.215');
  assert.equal(addressFromReverse('3.96.10.in-addr.arpa'), '');
  assert.equal(addressFromReverse('300.3.96.10.in-addr.arpa'), '');
  assert.equal(addressFromReverse('1.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.d.f.ip6.arpa'), 'fd00::1');
});
