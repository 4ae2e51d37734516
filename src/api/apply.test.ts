import { test } from 'node:test';
import assert from 'node:assert/strict';
import { serverSideApply, updateManagedFields, conflictMessage, toFieldsV1, fromFieldsV1, type ManagedFieldsEntry } from './apply.js';
import { res } from './registry.js';
import type { KubeObject } from './types.js';

const SVC = res('services');
const DEPLOY = res('deployments');
const T0 = '2024-05-01T12:00:00Z';
const T1 = '2024-05-01T12:05:00.123Z';

type AnyObj = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const svcManifest = (): KubeObject => ({
  apiVersion: 'v1', kind: 'Service', metadata: { name: 'myapp', labels: { app: 'myapp' } },
  spec: { selector: { app: 'myapp' }, ports: [{ name: 'http', port: 38080, targetPort: 8080 }] },
});

function apply(live: KubeObject | undefined, obj: KubeObject, manager = 'kubectl', force = false, info = SVC): AnyObj {
  return serverSideApply(live, obj, manager, { force, info, now: T0 });
}

test('apply on create records FieldsV1 the way kube-apiserver does', () => {
  const r = apply(undefined, svcManifest());
  const o = r.object;
  assert.equal(o.spec.ports[0].port, 38080);
  const [mf] = o.metadata.managedFields as ManagedFieldsEntry[];
  assert.equal(mf.manager, 'kubectl');
  assert.equal(mf.operation, 'Apply');
  assert.equal(mf.apiVersion, 'v1');
  assert.equal(mf.time, T0);
  assert.equal(mf.fieldsType, 'FieldsV1');
  assert.deepEqual(mf.fieldsV1, {
    'f:metadata': { 'f:labels': { '.': {}, 'f:app': {} } },
    'f:spec': {
      'f:ports': { '.': {}, 'k:{"port":38080,"protocol":"TCP"}': { '.': {}, 'f:name': {}, 'f:port': {}, 'f:targetPort': {} } },
      'f:selector': {},
    },
  });
});

test('FieldsV1 round trip', () => {
  const f = { 'f:spec': { 'f:ports': { '.': {}, 'k:{"port":80,"protocol":"TCP"}': { '.': {}, 'f:port': {} } }, 'f:type': {} } };
  assert.deepEqual(toFieldsV1(fromFieldsV1(f)), f);
});

test('apply again is idempotent; dropping a field removes it; another manager\'s fields stay', () => {
  const first = apply(undefined, svcManifest()).object;
  assert.deepEqual(apply(first, svcManifest()).object, first);
  // A controller sets a label with an Update.
  const withLabel = { ...first, metadata: { ...first.metadata, labels: { ...first.metadata.labels, team: 'x' } } };
  const updated = updateManagedFields(first, withLabel, 'labeler', 'Update', { info: SVC, now: T1 }) as AnyObj;
  assert.equal(updated.metadata.managedFields.length, 2);
  assert.deepEqual(updated.metadata.managedFields[1].fieldsV1, { 'f:metadata': { 'f:labels': { 'f:team': {} } } });
  assert.equal(updated.metadata.managedFields[1].time, '2024-05-01T12:05:00Z');
  // The applier no longer applies its label: removed; the labeler's stays.
  const m = svcManifest();
  delete (m.metadata as AnyObj).labels;
  const out = apply(updated, m).object;
  assert.deepEqual(out.metadata.labels, { team: 'x' });
});

test('conflict with an Update manager on a changed value; same value is shared; force takes ownership', () => {
  const dep: KubeObject = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'myapp' },
    spec: { replicas: 3, selector: { matchLabels: { app: 'myapp' } }, template: { metadata: { labels: { app: 'myapp' } }, spec: { containers: [{ name: 'myapp', image: 'v1' }] } } } };
  const live = updateManagedFields(undefined, dep, 'kubectl-client-side-apply', 'Update', { info: DEPLOY, now: T0 });
  const same = apply(live, dep, 'kubectl', false, DEPLOY);
  assert.ok('object' in same, 'same values: no conflict');
  const changed = { ...dep, spec: { ...(dep.spec as AnyObj), replicas: 5 } };
  const r = apply(live, changed, 'kubectl', false, DEPLOY);
  assert.deepEqual(r.conflicts, [{ field: '.spec.replicas', manager: `"kubectl-client-side-apply" using apps/v1 at ${T0}` }]);
  assert.equal(r.message, `Apply failed with 1 conflict: conflict with "kubectl-client-side-apply" using apps/v1 at ${T0}: .spec.replicas`);
  const forced = apply(live, changed, 'kubectl', true, DEPLOY).object;
  assert.equal(forced.spec.replicas, 5);
  const csa = forced.metadata.managedFields.find((e: ManagedFieldsEntry) => e.manager === 'kubectl-client-side-apply');
  assert.equal(csa.fieldsV1['f:spec']['f:replicas'], undefined);
  const mine = forced.metadata.managedFields.find((e: ManagedFieldsEntry) => e.manager === 'kubectl');
  assert.deepEqual(mine.fieldsV1['f:spec']['f:replicas'], {});
});

test('conflicts between two appliers and the multi-conflict message', () => {
  const a = apply(undefined, svcManifest(), 'a').object;
  const m = svcManifest() as AnyObj;
  m.spec.ports[0].targetPort = 9090;
  m.metadata.labels.app = 'other';
  const r = apply(a, m, 'b');
  assert.equal(r.conflicts.length, 2);
  assert.equal(r.message, 'Apply failed with 2 conflicts: conflicts with "a":\n- .metadata.labels.app\n- .spec.ports[port=38080,protocol="TCP"].targetPort');
  assert.equal(conflictMessage([{ field: '.spec.x', manager: '"m"' }]), 'Apply failed with 1 conflict: conflict with "m": .spec.x');
});

test('associative list items merge by key; items owned by others survive', () => {
  const a = apply(undefined, svcManifest(), 'a').object;
  const b: KubeObject = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'myapp' }, spec: { ports: [{ name: 'metrics', port: 9090 }] } };
  const out = apply(a, b, 'b').object;
  assert.deepEqual(out.spec.ports.map((p: AnyObj) => p.port), [9090, 38080]);
  assert.deepEqual(out.spec.selector, { app: 'myapp' });
  // a drops its port: only b's remains.
  const m = svcManifest() as AnyObj;
  m.spec.ports = [];
  const out2 = apply(out, m, 'a').object;
  assert.deepEqual(out2.spec.ports.map((p: AnyObj) => p.port), [9090]);
});

test('updateManagedFields: update steals changed fields from others and drops removed ones', () => {
  const live = apply(undefined, svcManifest(), 'kubectl').object;
  const next = structuredClone(live) as AnyObj;
  next.spec.ports[0].targetPort = 8081;
  delete next.metadata.labels;
  const out = updateManagedFields(live, next, 'kubectl-edit', 'Update', { info: SVC, now: T1 }) as AnyObj;
  const [applyEntry, edit] = out.metadata.managedFields;
  assert.equal(applyEntry.fieldsV1['f:metadata'], undefined);
  assert.equal(applyEntry.fieldsV1['f:spec']['f:ports']['k:{"port":38080,"protocol":"TCP"}']['f:targetPort'], undefined);
  assert.deepEqual(edit.fieldsV1, { 'f:spec': { 'f:ports': { 'k:{"port":38080,"protocol":"TCP"}': { 'f:targetPort': {} } } } });
  // A no-op write changes nothing.
  assert.deepEqual(updateManagedFields(out, out, 'x', 'Update', { info: SVC }).metadata?.managedFields, out.metadata.managedFields);
});
