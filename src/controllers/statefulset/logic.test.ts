import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { StatefulSet } from '../../api/types.js';
import { makePod } from '../testing/builders.js';
import { ordinalOf, podForOrdinal, statefulSetStatus } from './logic.js';

const set: StatefulSet = { metadata: { name: 'stateful-nginx', namespace: 'dev', uid: 's1', generation: 1 }, spec: { replicas: 3, serviceName: 'svc-nginx', selector: { matchLabels: { app: 'nginx' } }, template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } } };

test('ordinals parse only <set>-N', () => {
  assert.equal(ordinalOf(set, makePod('stateful-nginx-2')), 2);
  assert.equal(ordinalOf(set, makePod('stateful-nginx-02')), -1);
  assert.equal(ordinalOf(set, makePod('stateful-nginx-x')), -1);
  assert.equal(ordinalOf(set, makePod('other-1')), -1);
});

test('pods get stable names, hostname, subdomain and identity labels', () => {
  const p = podForOrdinal(set, set.spec!.template, 0, 'stateful-nginx-7b9c');
  assert.equal(p.metadata!.name, 'stateful-nginx-0');
  assert.equal(p.spec!.hostname, 'stateful-nginx-0');
  assert.equal(p.spec!.subdomain, 'svc-nginx');
  assert.equal(p.metadata!.labels!['statefulset.kubernetes.io/pod-name'], 'stateful-nginx-0');
  assert.equal(p.metadata!.labels!['controller-revision-hash'], 'stateful-nginx-7b9c');
  assert.equal(p.metadata!.ownerReferences![0]!.kind, 'StatefulSet');
});

test('status: update revision becomes current when every pod runs it and is ready', () => {
  const pods = [0, 1, 2].map((i) => { const p = makePod(`stateful-nginx-${i}`, { ip: `10.0.0.${i}` }); p.metadata!.labels!['controller-revision-hash'] = 'new'; return p; });
  const s = statefulSetStatus(set, pods, 'old', 'new', 0);
  assert.equal(s.currentRevision, 'new'); assert.equal(s.updatedReplicas, 3); assert.equal(s.readyReplicas, 3);
  pods[0]!.metadata!.labels!['controller-revision-hash'] = 'old';
  const mid = statefulSetStatus(set, pods, 'old', 'new', 0);
  assert.equal(mid.currentRevision, 'old'); assert.equal(mid.currentReplicas, 1); assert.equal(mid.updatedReplicas, 2);
});
