import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makePod } from '../testing/builders.js';
import { podFromTemplate, podsToDelete, replicaSetStatus } from './logic.js';

test('scale-down deletes unscheduled, then pending, then not-ready pods before ready ones', () => {
  const ready = makePod('ready', { ip: '10.244.1.2', node: 'n1' });
  const notReady = makePod('notready', { ip: '10.244.1.3', node: 'n1', ready: false });
  const pending = makePod('pending', { node: 'n1' });
  const unscheduled = makePod('unscheduled');
  assert.deepEqual(podsToDelete([ready, notReady, pending, unscheduled], 4).map((p) => p.metadata!.name), ['unscheduled', 'pending', 'notready', 'ready']);
  assert.deepEqual(podsToDelete([ready, notReady], 1).map((p) => p.metadata!.name), ['notready']);
});

test('pods from a template carry generateName, labels and a blocking controller reference', () => {
  const rs = { metadata: { name: 'myapp-fdb95659d', namespace: 'default', uid: 'rs1' } };
  const p = podFromTemplate({ metadata: { labels: { app: 'myapp', 'pod-template-hash': 'fdb95659d' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } }, rs, 'ReplicaSet');
  assert.equal(p.metadata!.generateName, 'myapp-fdb95659d-');
  assert.equal(p.metadata!.labels!['pod-template-hash'], 'fdb95659d');
  assert.deepEqual(p.metadata!.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'myapp-fdb95659d', uid: 'rs1', controller: true, blockOwnerDeletion: true }]);
});

test('status counts ready, available after minReadySeconds, and fully labeled pods', () => {
  const rs = { metadata: { name: 'r', generation: 4 }, spec: { minReadySeconds: 30, template: { metadata: { labels: { app: 'web' } } } } } as any;
  const pods = [makePod('a', { ip: '10.0.0.1' }), makePod('b', { ip: '10.0.0.2', ready: false }), makePod('c', { ip: '10.0.0.3', labels: { other: 'x' } })];
  const now = Date.parse('2026-01-01T00:00:20Z');
  assert.deepEqual(replicaSetStatus(rs, pods, now), { replicas: 3, fullyLabeledReplicas: 2, readyReplicas: 2, availableReplicas: 0, observedGeneration: 4 });
  assert.equal(replicaSetStatus(rs, pods, now + 60_000).availableReplicas, 2);
});
