import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePod, makeService } from '../testing/builders.js';
import { MAX_CAPACITY, OVER_CAPACITY_ANNOTATION, computeEndpoints, endpointsEqual } from './logic.js';

test('ready pods are addresses, unready ones notReadyAddresses, with targetRef and nodeName', () => {
  const svc = makeService('web');
  const ep = computeEndpoints(svc, [
    makePod('b', { ip: '10.244.1.3', node: 'w1' }),
    makePod('a', { ip: '10.244.2.2', node: 'w2', ready: false }),
    makePod('pending'), // no IP yet
    makePod('done', { ip: '10.244.1.9', phase: 'Succeeded' }),
  ]);
  assert.equal(ep.subsets!.length, 1);
  const s = ep.subsets![0]!;
  assert.deepEqual(s.addresses, [{ ip: '10.244.1.3', nodeName: 'w1', targetRef: { kind: 'Pod', namespace: 'default', name: 'b', uid: 'uid-b' } }]);
  assert.deepEqual(s.notReadyAddresses!.map((a) => a.ip), ['10.244.2.2']);
  assert.deepEqual(s.ports, [{ port: 8080, protocol: 'TCP' }]);
});

test('terminating pods are left out unless publishNotReadyAddresses', () => {
  const pods = [makePod('a', { ip: '10.0.0.1', deleting: true }), makePod('b', { ip: '10.0.0.2', ready: false })];
  assert.equal(computeEndpoints(makeService('web'), pods).subsets![0]!.addresses, undefined);
  const pub = computeEndpoints(makeService('web', { publishNotReady: true }), pods);
  assert.deepEqual(pub.subsets![0]!.addresses!.map((a) => a.ip), ['10.0.0.1', '10.0.0.2']);
});

test('named targetPorts resolve per pod, splitting subsets by port', () => {
  const svc = makeService('web', { ports: [{ name: 'http', port: 80, targetPort: 'web' }] });
  const ep = computeEndpoints(svc, [
    makePod('a', { ip: '10.0.0.1', ports: [{ name: 'web', containerPort: 8080 }] }),
    makePod('b', { ip: '10.0.0.2', ports: [{ name: 'web', containerPort: 9090 }] }),
    makePod('c', { ip: '10.0.0.3' }), // no such port: not listed
  ]);
  const byPort = Object.fromEntries(ep.subsets!.map((s) => [s.ports![0]!.port, s.addresses!.map((a) => a.ip)]));
  assert.deepEqual(byPort, { 8080: ['10.0.0.1'], 9090: ['10.0.0.2'] });
  assert.equal(ep.subsets![0]!.ports![0]!.name, 'http');
});

test('hostname is set when the pod subdomain is the Service name', () => {
  const svc = makeService('svc-nginx', { clusterIP: 'None' });
  const ep = computeEndpoints(svc, [makePod('stateful-nginx-0', { ip: '10.0.0.1', hostname: 'stateful-nginx-0', subdomain: 'svc-nginx' }), makePod('x', { ip: '10.0.0.2', hostname: 'x', subdomain: 'other' })]);
  const addrs = ep.subsets![0]!.addresses!;
  assert.equal(addrs.find((a) => a.ip === '10.0.0.1')!.hostname, 'stateful-nginx-0');
  assert.equal(addrs.find((a) => a.ip === '10.0.0.2')!.hostname, undefined);
  assert.equal(ep.metadata!.labels!['service.kubernetes.io/headless'], '');
});

test('more than 1000 addresses are truncated and annotated', () => {
  const pods = Array.from({ length: MAX_CAPACITY + 5 }, (_, i) => makePod(`p${i}`, { ip: `10.1.${i >> 8}.${i & 255}` }));
  const ep = computeEndpoints(makeService('big'), pods);
  assert.equal(ep.subsets![0]!.addresses!.length, MAX_CAPACITY);
  assert.equal(ep.metadata!.annotations![OVER_CAPACITY_ANNOTATION], 'truncated');
  const small = computeEndpoints(makeService('big'), pods.slice(0, 3), ep);
  assert.equal(small.metadata!.annotations?.[OVER_CAPACITY_ANNOTATION], undefined);
});

test('equal subsets need no write', () => {
  const svc = makeService('web');
  const pods = [makePod('a', { ip: '10.0.0.1' })];
  const ep = computeEndpoints(svc, pods);
  assert.ok(endpointsEqual(ep, computeEndpoints(svc, pods, ep)));
  assert.ok(!endpointsEqual(ep, computeEndpoints(svc, [makePod('a', { ip: '10.0.0.1', ready: false })], ep)));
});
