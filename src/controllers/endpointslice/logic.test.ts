import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { EndpointSlice, Pod } from '../../api/types.js';
import { makePod, makeService } from '../testing/builders.js';
import { computeSlices, desiredGroups, MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from './logic.js';

const svc = makeService('web', { ports: [{ name: 'http', port: 80, targetPort: 8080 }] });
let n = 0;
/** Pretend the API server stored the slices (names and resourceVersions). */
function store(slices: EndpointSlice[]): EndpointSlice[] {
  return slices.map((s) => ({ ...s, metadata: { ...s.metadata, name: s.metadata!.name ?? `web-${++n}`, resourceVersion: String(n) } }));
}
const pods = (count: number, ready = true): Pod[] => Array.from({ length: count }, (_, i) => makePod(`p${i}`, { ip: `10.244.${i >> 8}.${i & 255}`, node: 'w1', ready }));

test('250 pods make 3 slices of at most 100 with labels, owner and ports', () => {
  const ch = computeSlices(svc, desiredGroups(svc, pods(250)), [], 100);
  assert.deepEqual(ch.create.map((s) => s.endpoints.length).sort(), [100, 100, 50]);
  const s = ch.create[0]!;
  assert.equal(s.metadata!.generateName, 'web-');
  assert.equal(s.metadata!.labels![SERVICE_NAME_LABEL], 'web');
  assert.equal(s.metadata!.labels![MANAGED_BY_LABEL], 'endpointslice-controller.k8s.io');
  assert.equal(s.metadata!.ownerReferences![0]!.kind, 'Service');
  assert.deepEqual(s.ports, [{ name: 'http', port: 8080, protocol: 'TCP' }]);
  assert.deepEqual(s.endpoints[0]!.conditions, { ready: true, serving: true, terminating: false });
  assert.equal(s.endpoints[0]!.nodeName, 'w1');
});

test('one pod change writes one slice; no change writes nothing', () => {
  const all = pods(250);
  const existing = store(computeSlices(svc, desiredGroups(svc, all), [], 100).create);
  assert.deepEqual(computeSlices(svc, desiredGroups(svc, all), existing, 100), { create: [], update: [], delete: [] });
  const changed = [...all];
  changed[120] = makePod('p120', { ip: all[120]!.status!.podIP, node: 'w1', ready: false });
  const ch = computeSlices(svc, desiredGroups(svc, changed), existing, 100);
  assert.equal(ch.create.length + ch.update.length + ch.delete.length, 1);
  const ep = ch.update[0]!.endpoints.find((e) => e.targetRef!.name === 'p120')!;
  assert.deepEqual(ep.conditions, { ready: false, serving: false, terminating: false });
  // A deleted pod: one update too.
  const del = computeSlices(svc, desiredGroups(svc, all.filter((_, i) => i !== 7)), existing, 100);
  assert.equal(del.update.length, 1); assert.equal(del.create.length + del.delete.length, 0);
  // A new pod goes into a slice with room, not a new one.
  const add = computeSlices(svc, desiredGroups(svc, [...all, makePod('new', { ip: '10.9.9.9', node: 'w1' })]), existing, 100);
  assert.equal(add.update.length, 1); assert.equal(add.create.length, 0);
});

test('terminating pods stay with ready=false serving=true terminating=true', () => {
  const p = makePod('t', { ip: '10.0.0.5', deleting: true });
  const ch = computeSlices(svc, desiredGroups(svc, [p]), [], 100);
  assert.deepEqual(ch.create[0]!.endpoints[0]!.conditions, { ready: false, serving: true, terminating: true });
  const pub = makeService('web', { publishNotReady: true });
  assert.equal(computeSlices(pub, desiredGroups(pub, [p]), [], 100).create[0]!.endpoints[0]!.conditions!.ready, true);
});

test('an empty Service keeps one placeholder slice', () => {
  const ch = computeSlices(svc, desiredGroups(svc, []), [], 100);
  assert.equal(ch.create.length, 1);
  assert.deepEqual(ch.create[0]!.endpoints, []);
  const existing = store(ch.create);
  assert.deepEqual(computeSlices(svc, desiredGroups(svc, []), existing, 100), { create: [], update: [], delete: [] });
  // First endpoints arrive: the placeholder goes, a real slice comes.
  const next = computeSlices(svc, desiredGroups(svc, pods(2)), existing, 100);
  assert.equal(next.create.length, 1); assert.equal(next.delete.length, 1);
  // All pods go: the real slice is replaced by a placeholder.
  const real = store(next.create);
  const empty = computeSlices(svc, desiredGroups(svc, []), real, 100);
  assert.equal(empty.create.length, 1); assert.equal(empty.delete.length, 1);
  assert.deepEqual(empty.create[0]!.endpoints, []);
});

test('zone and hostname come from the node label and the pod subdomain', () => {
  const h = makeService('svc-nginx', { clusterIP: 'None' });
  const p = makePod('stateful-nginx-0', { ip: '10.0.0.1', node: 'w1', hostname: 'stateful-nginx-0', subdomain: 'svc-nginx' });
  const ep = computeSlices(h, desiredGroups(h, [p], (n) => (n === 'w1' ? 'zone-a' : undefined)), [], 100).create[0]!.endpoints[0]!;
  assert.equal(ep.zone, 'zone-a'); assert.equal(ep.hostname, 'stateful-nginx-0');
});
