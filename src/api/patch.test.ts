import { test } from 'node:test';
import assert from 'node:assert/strict';
import { strategicMergePatch, mergePatch, jsonPatch, PatchError } from './patch.js';
import { res } from './registry.js';
import type { KubeObject } from './types.js';

const svc = (): KubeObject => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'myapp', namespace: 'default', labels: { app: 'myapp' }, finalizers: ['a', 'b'] },
  spec: { type: 'ClusterIP', clusterIP: '10.96.3.215', selector: { app: 'myapp' },
    ports: [{ name: 'http', port: 38080, protocol: 'TCP', targetPort: 8080 }, { name: 'metrics', port: 9090, protocol: 'TCP', targetPort: 9090 }] },
});

const deploy = (): KubeObject => ({
  apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'myapp' },
  spec: {
    replicas: 3, selector: { matchLabels: { app: 'myapp' } },
    strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25%', maxUnavailable: '25%' } },
    template: { metadata: { labels: { app: 'myapp' } }, spec: {
      containers: [
        { name: 'myapp', image: 'v1', ports: [{ containerPort: 8080, protocol: 'TCP' }], env: [{ name: 'A', value: '1' }, { name: 'B', value: '2' }],
          volumeMounts: [{ name: 'data', mountPath: '/data' }], args: ['x', 'y'] },
        { name: 'sidecar', image: 's1' }],
      volumes: [{ name: 'data', hostPath: { path: '/tmp/d', type: '' } }],
      tolerations: [{ key: 'k1', operator: 'Exists' }] } },
  },
});

const SVC = res('services');
const DEPLOY = res('deployments');
const POD = res('pods');

type Case = [string, KubeObject, unknown, (o: any) => void]; // eslint-disable-line @typescript-eslint/no-explicit-any

const cases: Case[] = [
  ['scalar replace and null deletes a key', svc(), { spec: { type: 'NodePort', clusterIP: null } }, (o) => {
    assert.equal(o.spec.type, 'NodePort'); assert.equal('clusterIP' in o.spec, false);
  }],
  ['maps merge (labels)', svc(), { metadata: { labels: { tier: 'web', app: null } } }, (o) => assert.deepEqual(o.metadata.labels, { tier: 'web' })],
  ['Service ports merge by port', svc(), { spec: { ports: [{ port: 38080, targetPort: 8081 }, { port: 443, name: 'https' }] } }, (o) => {
    assert.deepEqual(o.spec.ports.map((p: any) => [p.port, p.targetPort]), [[38080, 8081], [443, undefined], [9090, 9090]]);
    assert.equal(o.spec.ports[0].name, 'http');
  }],
  ['$patch: delete in a list by merge key', svc(), { spec: { ports: [{ $patch: 'delete', port: 9090 }] } }, (o) => assert.deepEqual(o.spec.ports.map((p: any) => p.port), [38080])],
  ['$patch: replace in a list', svc(), { spec: { ports: [{ $patch: 'replace' }, { port: 1, protocol: 'UDP' }] } }, (o) => assert.deepEqual(o.spec.ports, [{ port: 1, protocol: 'UDP' }])],
  ['$patch: replace on a map', svc(), { spec: { $patch: 'replace', ports: [{ port: 5 }] } }, (o) => assert.deepEqual(o.spec, { ports: [{ port: 5 }] })],
  ['$patch: delete on a map', svc(), { spec: { selector: { $patch: 'delete' } } }, (o) => assert.deepEqual(o.spec.selector, {})],
  ['finalizers merge as a set; $deleteFromPrimitiveList', svc(), { metadata: { finalizers: ['c', 'a'], '$deleteFromPrimitiveList/finalizers': ['b'] } },
    (o) => assert.deepEqual(o.metadata.finalizers, ['c', 'a'])],
  ['containers by name, env by name, ports by containerPort, volumeMounts by mountPath; args replaced', deploy(),
    { spec: { template: { spec: { containers: [{ name: 'myapp', image: 'v2', env: [{ name: 'B', value: '3' }, { name: 'C', value: '4' }],
      ports: [{ containerPort: 9090 }], volumeMounts: [{ mountPath: '/data', readOnly: true }], args: ['z'] }] } } } },
    (o) => {
      const [c, s] = o.spec.template.spec.containers;
      assert.equal(c.image, 'v2'); assert.equal(s.image, 's1');
      assert.deepEqual(c.env, [{ name: 'A', value: '1' }, { name: 'B', value: '3' }, { name: 'C', value: '4' }]);
      // Patch items come first when the live order cannot place them (mergeSortedSlice).
      assert.deepEqual(c.ports.map((p: any) => p.containerPort), [9090, 8080]);
      assert.deepEqual(c.volumeMounts, [{ name: 'data', mountPath: '/data', readOnly: true }]);
      assert.deepEqual(c.args, ['z']);
    }],
  ['tolerations are replaced (no merge key upstream)', deploy(), { spec: { template: { spec: { tolerations: [{ key: 'k2', operator: 'Exists' }] } } } },
    (o) => assert.deepEqual(o.spec.template.spec.tolerations, [{ key: 'k2', operator: 'Exists' }])],
  ['$retainKeys on volumes (volume source switched)', deploy(),
    { spec: { template: { spec: { volumes: [{ $retainKeys: ['emptyDir', 'name'], name: 'data', emptyDir: {} }] } } } },
    (o) => assert.deepEqual(o.spec.template.spec.volumes, [{ name: 'data', emptyDir: {} }])],
  ['$retainKeys on Deployment strategy as kubectl sends it', deploy(),
    { spec: { strategy: { $retainKeys: ['type'], type: 'Recreate', rollingUpdate: null } } },
    (o) => assert.deepEqual(o.spec.strategy, { type: 'Recreate' })],
  ['a new nested value keeps no directives or nulls', { metadata: { name: 'p' }, spec: {} },
    { spec: { containers: [{ name: 'c', image: 'i', env: [{ name: 'X', value: null }] }], '$setElementOrder/containers': [{ name: 'c' }] } },
    (o) => assert.deepEqual(o.spec, { containers: [{ name: 'c', image: 'i', env: [{ name: 'X' }] }] })],
  ['pod status conditions merge by type', { metadata: { name: 'p' }, status: { conditions: [{ type: 'Ready', status: 'False' }, { type: 'PodScheduled', status: 'True' }] } },
    { status: { conditions: [{ type: 'Ready', status: 'True' }] } },
    (o) => assert.deepEqual(o.status.conditions, [{ type: 'Ready', status: 'True' }, { type: 'PodScheduled', status: 'True' }])],
];

for (const [name, orig, patch, check] of cases) {
  test(`SMP: ${name}`, () => {
    const before = JSON.stringify(orig);
    const info = orig.kind === 'Deployment' ? DEPLOY : orig.kind === 'Service' ? SVC : POD;
    check(strategicMergePatch(orig, patch, info));
    assert.equal(JSON.stringify(orig), before, 'original must not change');
  });
}

test('SMP: kubectl client-side apply patch with $setElementOrder and $patch: delete', () => {
  // What kubectl 1.32 sends after removing the "metrics" port and adding "https" to the manifest.
  const patch = { metadata: { annotations: { 'kubectl.kubernetes.io/last-applied-configuration': '{...}\n' } },
    spec: { '$setElementOrder/ports': [{ port: 443 }, { port: 38080 }], ports: [{ name: 'https', port: 443, targetPort: 8443 }, { $patch: 'delete', port: 9090 }] } };
  const out = strategicMergePatch(svc(), patch, SVC) as any;
  assert.deepEqual(out.spec.ports, [{ name: 'https', port: 443, targetPort: 8443 }, { name: 'http', port: 38080, protocol: 'TCP', targetPort: 8080 }]);
  assert.equal(out.metadata.annotations['kubectl.kubernetes.io/last-applied-configuration'], '{...}\n');
});

test('SMP: $setElementOrder keeps server-only items in their live position', () => {
  const live: KubeObject = { kind: 'Pod', metadata: { name: 'p' }, spec: { containers: [{ name: 'a' }, { name: 'b' }, { name: 'c' }] } };
  const out = strategicMergePatch(live, { spec: { '$setElementOrder/containers': [{ name: 'a' }, { name: 'c' }], containers: [{ name: 'c', image: 'x' }] } }, POD) as any;
  assert.deepEqual(out.spec.containers, [{ name: 'a' }, { name: 'b' }, { name: 'c', image: 'x' }]);
  const reorder = strategicMergePatch(live, { spec: { '$setElementOrder/containers': [{ name: 'c' }, { name: 'b' }, { name: 'a' }] } }, POD) as any;
  assert.deepEqual(reorder.spec.containers.map((c: any) => c.name), ['c', 'b', 'a']);
});

test('SMP: primitive list with $setElementOrder and $deleteFromPrimitiveList', () => {
  const out = strategicMergePatch(svc(), { metadata: { '$setElementOrder/finalizers': ['c', 'a'], finalizers: ['c'], '$deleteFromPrimitiveList/finalizers': ['b'] } }, SVC) as any;
  assert.deepEqual(out.metadata.finalizers, ['c', 'a']);
});

test('SMP: errors', () => {
  assert.throws(() => strategicMergePatch(svc(), { spec: { ports: [{ name: 'x' }] } }, SVC), /does not contain declared merge key: port/);
  assert.throws(() => strategicMergePatch(svc(), { spec: { $patch: 'bogus' } }, SVC), PatchError);
  assert.throws(() => strategicMergePatch(svc(), [1], SVC), PatchError);
});

test('JSON merge patch: RFC 7386 appendix A', () => {
  const rows: [unknown, unknown, unknown][] = [
    [{ a: 'b' }, { a: 'c' }, { a: 'c' }], [{ a: 'b' }, { b: 'c' }, { a: 'b', b: 'c' }], [{ a: 'b' }, { a: null }, {}],
    [{ a: 'b', b: 'c' }, { a: null }, { b: 'c' }], [{ a: ['b'] }, { a: 'c' }, { a: 'c' }], [{ a: 'c' }, { a: ['b'] }, { a: ['b'] }],
    [{ a: { b: 'c' } }, { a: { b: 'd', c: null } }, { a: { b: 'd' } }], [{ a: [{ b: 'c' }] }, { a: [1] }, { a: [1] }],
    [['a', 'b'], ['c', 'd'], ['c', 'd']], [{ a: 'b' }, ['c'], ['c']], [{ a: 'foo' }, null, null], [{ a: 'foo' }, 'bar', 'bar'],
    [{ e: null }, { a: 1 }, { e: null, a: 1 }], [[1, 2], { a: 'b', c: null }, { a: 'b' }], [{}, { a: { bb: { ccc: null } } }, { a: { bb: {} } }],
  ];
  for (const [o, p, want] of rows) assert.deepEqual(mergePatch(o, p), want, JSON.stringify([o, p]));
});

test('JSON patch: RFC 6902 operations', () => {
  const doc = { spec: { replicas: 3, ports: [{ port: 80 }], a: { 'x/y': 1, 'm~n': 2 } } };
  const out = jsonPatch(doc, [
    { op: 'test', path: '/spec/replicas', value: 3 },
    { op: 'replace', path: '/spec/replicas', value: 5 },
    { op: 'add', path: '/spec/ports/-', value: { port: 443 } },
    { op: 'add', path: '/spec/ports/0', value: { port: 1 } },
    { op: 'remove', path: '/spec/a/x~1y' },
    { op: 'copy', from: '/spec/a/m~0n', path: '/spec/b' },
    { op: 'move', from: '/spec/b', path: '/spec/c' },
  ]);
  assert.deepEqual(out, { spec: { replicas: 5, ports: [{ port: 1 }, { port: 80 }, { port: 443 }], a: { 'm~n': 2 }, c: 2 } });
  assert.equal(doc.spec.replicas, 3);
  assert.deepEqual(jsonPatch({ a: 1 }, [{ op: 'replace', path: '', value: [1] }]), [1]);
});

test('JSON patch: failures are PatchErrors with json-patch wording', () => {
  const doc = { spec: { replicas: 3 } };
  const err = (ops: unknown, re: RegExp): void => {
    assert.throws(() => jsonPatch(doc, ops), (e: unknown) => e instanceof PatchError && re.test(e.message));
  };
  err([{ op: 'test', path: '/spec/replicas', value: 4 }], /^testing value \/spec\/replicas failed: test failed$/);
  err([{ op: 'replace', path: '/spec/x', value: 4 }], /replace operation does not apply: doc is missing key: \/spec\/x/);
  err([{ op: 'add', path: '/spec/a/b', value: 4 }], /add operation does not apply: doc is missing path: "\/spec\/a\/b"/);
  err([{ op: 'remove', path: '/spec/nope' }], /error in remove for path: '\/spec\/nope'/);
  err([{ op: 'frob', path: '/spec' }], /Unexpected kind: frob/);
  err({ op: 'add' }, /cannot unmarshal/);
});

test('SMP: nested directives inside a merged list item (kubectl edit removing an env var, reordering)', () => {
  const patch = { spec: { template: { spec: {
    '$setElementOrder/containers': [{ name: 'sidecar' }, { name: 'myapp' }],
    containers: [{ name: 'myapp', '$setElementOrder/env': [{ name: 'B' }], env: [{ $patch: 'delete', name: 'A' }] }],
  } } } };
  const out = strategicMergePatch(deploy(), patch, DEPLOY) as any;
  const cs = out.spec.template.spec.containers;
  assert.deepEqual(cs.map((c: any) => c.name), ['sidecar', 'myapp']);
  assert.deepEqual(cs[1].env, [{ name: 'B', value: '2' }]);
  assert.equal(cs[1].image, 'v1');
});

test('SMP: ownerReferences by uid, node addresses by type, kubectl scale / label patches', () => {
  const rs: KubeObject = { kind: 'ReplicaSet', metadata: { name: 'r', labels: { a: '1' }, ownerReferences: [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: 'u1' }] }, spec: { replicas: 1 } };
  const out = strategicMergePatch(rs, { metadata: { ownerReferences: [{ uid: 'u1', controller: true }], labels: { b: '2' } }, spec: { replicas: 5 } }, res('replicasets')) as any;
  assert.deepEqual(out.metadata.ownerReferences, [{ apiVersion: 'apps/v1', kind: 'Deployment', name: 'd', uid: 'u1', controller: true }]);
  assert.deepEqual(out.metadata.labels, { a: '1', b: '2' });
  assert.equal(out.spec.replicas, 5);
  const node: KubeObject = { kind: 'Node', metadata: { name: 'n' }, status: { addresses: [{ type: 'InternalIP', address: '172.18.0.2' }, { type: 'Hostname', address: 'n' }] } };
  const n2 = strategicMergePatch(node, { status: { addresses: [{ type: 'InternalIP', address: '172.18.0.9' }] } }, res('nodes')) as any;
  assert.deepEqual(n2.status.addresses, [{ type: 'InternalIP', address: '172.18.0.9' }, { type: 'Hostname', address: 'n' }]);
});
