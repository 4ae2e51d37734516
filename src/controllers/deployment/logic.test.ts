import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Deployment, ReplicaSet } from '../../api/types.js';
import { deploymentStatus, equalIgnoreHash, findNewReplicaSet, newRSNewReplicas, podTemplateHash, resolveFenceposts, scaleDownOld } from './logic.js';

const tpl = { metadata: { labels: { app: 'myapp' } }, spec: { containers: [{ name: 'myapp', image: 'jocatalin/kubernetes-bootcamp:v1' }] } };

function deploy(replicas: number, strategy?: Deployment['spec'] extends infer S ? any : never): Deployment {
  return { metadata: { name: 'myapp', namespace: 'default', uid: 'd1', generation: 2 }, spec: { replicas, selector: { matchLabels: { app: 'myapp' } }, template: structuredClone(tpl), strategy } };
}

function rs(name: string, spec: number, avail: number, created: string, image = 'jocatalin/kubernetes-bootcamp:v1', ready = avail): ReplicaSet {
  const t = structuredClone(tpl);
  t.spec.containers[0]!.image = image;
  (t.metadata.labels as any)['pod-template-hash'] = name.split('-').pop();
  return { metadata: { name, namespace: 'default', creationTimestamp: created, annotations: {} }, spec: { replicas: spec, selector: {}, template: t }, status: { replicas: spec, readyReplicas: ready, availableReplicas: avail } };
}

test('fenceposts: 25% surge rounds up, 25% unavailable rounds down, both zero → 1 unavailable', () => {
  assert.deepEqual(resolveFenceposts(deploy(10)), { maxSurge: 3, maxUnavailable: 2 });
  assert.deepEqual(resolveFenceposts(deploy(3)), { maxSurge: 1, maxUnavailable: 0 });
  assert.deepEqual(resolveFenceposts(deploy(3, { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } })), { maxSurge: 0, maxUnavailable: 1 });
  assert.deepEqual(resolveFenceposts(deploy(4, { type: 'Recreate' })), { maxSurge: 0, maxUnavailable: 4 });
});

test('the new ReplicaSet is the one whose template equals the Deployment template, ignoring the hash label', () => {
  const d = deploy(3);
  const old = rs('myapp-aaa', 3, 3, '2026-01-01T00:00:00Z', 'jocatalin/kubernetes-bootcamp:v0');
  const cur = rs('myapp-bbb', 0, 0, '2026-01-01T00:01:00Z');
  assert.equal(findNewReplicaSet(d, [old, cur])?.metadata?.name, 'myapp-bbb');
  assert.ok(equalIgnoreHash(cur.spec!.template, d.spec!.template));
  assert.equal(podTemplateHash(d.spec!.template!), podTemplateHash(structuredClone(tpl)));
});

test('rolling update of 3 replicas: surge 1, then old scaled down only as new pods become available', () => {
  const d = deploy(3);
  const old = rs('myapp-aaa', 3, 3, '2026-01-01T00:00:00Z', 'v0');
  const nw = rs('myapp-bbb', 0, 0, '2026-01-01T00:01:00Z');
  assert.equal(newRSNewReplicas(d, [old, nw], nw), 1); // 3 + maxSurge 1 − 3
  nw.spec!.replicas = 1; nw.status!.availableReplicas = 0;
  // maxUnavailable 0: nothing old may go while the new pod is not available.
  assert.equal(scaleDownOld(d, [old], nw).size, 0);
  nw.status!.availableReplicas = 1;
  assert.deepEqual([...scaleDownOld(d, [old], nw)], [['myapp-aaa', 2]]);
});

test('unhealthy old replicas are scaled down first', () => {
  const d = deploy(4);
  const old = rs('myapp-aaa', 4, 2, '2026-01-01T00:00:00Z', 'v0');
  const nw = rs('myapp-bbb', 1, 0, '2026-01-01T00:01:00Z');
  // all 5, minAvailable 3, new unavailable 1 → may scale down 1, taken from the 2 unhealthy.
  assert.deepEqual([...scaleDownOld(d, [old], nw)], [['myapp-aaa', 3]]);
});

test('status: READY 3/3 with Available and Progressing as upstream words them', () => {
  const d = deploy(3);
  const nw = rs('myapp-fdb95659d', 3, 3, '2026-01-01T00:01:00Z');
  const s = deploymentStatus(d, [nw], nw);
  assert.equal(s.replicas, 3); assert.equal(s.updatedReplicas, 3); assert.equal(s.readyReplicas, 3); assert.equal(s.availableReplicas, 3);
  assert.equal(s.unavailableReplicas, 0); assert.equal(s.observedGeneration, 2);
  const av = s.conditions!.find((c) => c.type === 'Available')!;
  assert.equal(av.reason, 'MinimumReplicasAvailable'); assert.equal(av.message, 'Deployment has minimum availability.');
  const pr = s.conditions!.find((c) => c.type === 'Progressing')!;
  assert.equal(pr.reason, 'NewReplicaSetAvailable'); assert.equal(pr.message, 'ReplicaSet "myapp-fdb95659d" has successfully progressed.');
  const mid = deploymentStatus(d, [rs('myapp-fdb95659d', 3, 1, '2026-01-01T00:01:00Z')], rs('myapp-fdb95659d', 3, 1, '2026-01-01T00:01:00Z'));
  assert.equal(mid.conditions!.find((c) => c.type === 'Available')!.status, 'False');
  assert.equal(mid.conditions!.find((c) => c.type === 'Progressing')!.reason, 'ReplicaSetUpdated');
});
