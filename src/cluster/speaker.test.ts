import { test } from 'node:test';
import assert from 'node:assert/strict';
import { desiredRoutes } from './speaker.js';

const node = (name: string, ip: string, ready = true) => ({
  metadata: { name }, status: { addresses: [{ type: 'InternalIP', address: ip }], conditions: [{ type: 'Ready', status: ready ? 'True' : 'False' }] },
});
const lb = (name: string, ip: string | undefined, policy = 'Cluster') => ({
  metadata: { name, namespace: 'default' },
  spec: { type: 'LoadBalancer', externalTrafficPolicy: policy },
  status: { loadBalancer: { ingress: ip ? [{ ip }] : [] } },
});
const slice = (svc: string, eps: [string, boolean][]) => ({
  metadata: { name: `${svc}-x`, namespace: 'default', labels: { 'kubernetes.io/service-name': svc } },
  addressType: 'IPv4', endpoints: eps.map(([n, ready]) => ({ addresses: ['10.244.0.9'], nodeName: n, conditions: { ready } })),
});
const nodes = [node('a', '172.18.0.2'), node('b', '172.18.0.3'), node('c', '172.18.0.4', false)];

test('Cluster policy: every Ready node is a next hop', () => {
  const r = desiredRoutes([lb('web', '172.18.255.200')] as any, [], nodes as any);
  assert.deepEqual([...r], [['172.18.255.200', ['172.18.0.2', '172.18.0.3']]]);
});

test('Local policy: only nodes with a ready endpoint; none → not announced', () => {
  const svcs = [lb('web', '172.18.255.201', 'Local'), lb('idle', '172.18.255.202', 'Local')];
  const r = desiredRoutes(svcs as any, [slice('web', [['b', true], ['a', false]])] as any, nodes as any);
  assert.deepEqual([...r], [['172.18.255.201', ['172.18.0.3']]]);
});

test('pending services (no ingress yet) and other types are ignored', () => {
  const r = desiredRoutes([lb('p', undefined), { metadata: { name: 'c', namespace: 'default' }, spec: { type: 'ClusterIP' } }] as any, [], nodes as any);
  assert.equal(r.size, 0);
});
