import { test } from 'node:test';
import assert from 'node:assert/strict';
import { printTable, humanDuration, type Table } from './printers.js';
import { res } from './registry.js';
import type { KubeObject } from './types.js';

const NOW = new Date('2024-05-01T12:00:00Z');
const ago = (s: number): string => new Date(NOW.getTime() - s * 1000).toISOString().replace(/\.\d+Z$/, 'Z');

/** Render like kubectl's human printer (upper-case headers, 3-space gaps), wide or not. */
function render(t: Table, wide = false): string {
  const cols = t.columnDefinitions.map((c, i) => ({ c, i })).filter(({ c }) => wide || c.priority === 0);
  const lines = [cols.map(({ c }) => c.name.toUpperCase()), ...t.rows.map((r) => cols.map(({ i }) => String(r.cells[i])))];
  const widths = cols.map((_, j) => Math.max(...lines.map((l) => l[j].length)));
  return lines.map((l) => l.map((s, j) => (j === l.length - 1 ? s : s.padEnd(widths[j] + 3))).join('')).join('\n');
}

test('humanDuration matches apimachinery', () => {
  const cases: [number, string][] = [[0, '0s'], [-1500, '0s'], [-3000, '<invalid>'], [59_000, '59s'], [119_000, '119s'],
    [120_000, '2m'], [442_000, '7m22s'], [780_000, '13m'], [3 * 3600_000 - 1, '179m'], [3 * 3600_000, '3h'],
    [3 * 3600_000 + 5 * 60_000, '3h5m'], [25 * 3600_000, '25h'], [76 * 3600_000, '3d4h'], [72 * 3600_000, '3d'],
    [30 * 86400_000, '30d'], [800 * 86400_000, '2y70d'], [3000 * 86400_000, '8y']];
  for (const [ms, want] of cases) assert.equal(humanDuration(ms), want, `${ms}`);
});

test('services -o wide as in the seed notes', () => {
  const svc: KubeObject = {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name: 'myapp', namespace: 'default', creationTimestamp: ago(442) },
    spec: { type: 'ClusterIP', clusterIP: '10.96.3.215', clusterIPs: ['10.96.3.215'], selector: { app: 'myapp' },
      ports: [{ name: 'http', port: 38080, protocol: 'TCP', targetPort: 8080 }] },
  };
  const t = printTable(res('services'), [svc], { now: NOW });
  assert.equal(render(t, true), [
    'NAME    TYPE        CLUSTER-IP    EXTERNAL-IP   PORT(S)     AGE     SELECTOR',
    'myapp   ClusterIP   10.96.3.215   <none>        38080/TCP   7m22s   app=myapp'].join('\n'));
  assert.deepEqual(t.rows[0].object, { kind: 'PartialObjectMetadata', apiVersion: 'meta.k8s.io/v1', metadata: svc.metadata });
});

test('service types: headless, NodePort, LoadBalancer pending/ingress, ExternalName', () => {
  const mk = (spec: object, status: object = {}): KubeObject => ({ metadata: { name: 's', creationTimestamp: ago(261) }, spec, status });
  const rows = printTable(res('services'), [
    mk({ type: 'ClusterIP', clusterIP: 'None', clusterIPs: ['None'], ports: [{ port: 80, protocol: 'TCP' }] }),
    mk({ type: 'NodePort', clusterIPs: ['10.96.0.9'], ports: [{ port: 80, nodePort: 32380, protocol: 'TCP' }, { port: 53, protocol: 'UDP' }] }),
    mk({ type: 'LoadBalancer', clusterIPs: ['10.96.0.8'], ports: [{ port: 80, nodePort: 30001, protocol: 'TCP' }] }),
    mk({ type: 'LoadBalancer', clusterIPs: ['10.96.0.8'], ports: [] }, { loadBalancer: { ingress: [{ ip: '172.18.255.201' }, { ip: '172.18.255.200' }] } }),
    mk({ type: 'ExternalName', externalName: 'my.database.example.com' }),
  ], { now: NOW, includeObject: 'None' }).rows;
  assert.deepEqual(rows.map((r) => r.cells.slice(1, 6)), [
    ['ClusterIP', 'None', '<none>', '80/TCP', '4m21s'],
    ['NodePort', '10.96.0.9', '<none>', '80:32380/TCP,53/UDP', '4m21s'],
    ['LoadBalancer', '10.96.0.8', '<pending>', '80:30001/TCP', '4m21s'],
    ['LoadBalancer', '10.96.0.8', '172.18.255.200,172.18.255.201', '<none>', '4m21s'],
    ['ExternalName', '<none>', 'my.database.example.com', '<none>', '4m21s'],
  ]);
  assert.equal(rows[0].object, undefined);
});

test('endpoints: ip:port list, "+ N more..." after 3, <none>', () => {
  const ep = (addrs: string[]): KubeObject => ({ metadata: { name: 'myapp', creationTimestamp: ago(22 * 60) },
    subsets: [{ addresses: addrs.map((ip) => ({ ip })), ports: [{ port: 8080, protocol: 'TCP' }] }] });
  const t = printTable(res('endpoints'), [ep(['100.121.213.101', '100.121.213.103', '100.84.80.80']),
    ep(['10.244.1.2', '10.244.1.3', '10.244.1.4', '10.244.2.2', '10.244.2.3']), { metadata: { name: 'x' } }], { now: NOW });
  assert.equal(render(t).split('\n')[1], 'myapp   100.121.213.101:8080,100.121.213.103:8080,100.84.80.80:8080   22m');
  assert.equal(t.rows[1].cells[1], '10.244.1.2:8080,10.244.1.3:8080,10.244.1.4:8080 + 2 more...');
  assert.deepEqual(t.rows[2].cells, ['x', '<none>', '<unknown>']);
});

test('endpointslices', () => {
  const t = printTable(res('endpointslices'), [{ metadata: { name: 'myapp-abc12', creationTimestamp: ago(30) }, addressType: 'IPv4',
    ports: [{ name: 'http', port: 8080, protocol: 'TCP' }], endpoints: [{ addresses: ['10.244.1.5'] }, { addresses: ['10.244.2.5'] }] },
  { metadata: { name: 'empty' }, addressType: 'IPv4' }], { now: NOW });
  assert.deepEqual(t.columnDefinitions.map((c) => c.name), ['Name', 'AddressType', 'Ports', 'Endpoints', 'Age']);
  assert.deepEqual(t.rows[0].cells, ['myapp-abc12', 'IPv4', '8080', '10.244.1.5,10.244.2.5', '30s']);
  assert.deepEqual(t.rows[1].cells.slice(2, 4), ['<unset>', '<unset>']);
});

test('deployments -o wide as in the seed notes', () => {
  const d: KubeObject = { metadata: { name: 'myapp', creationTimestamp: ago(13 * 60 + 5) },
    spec: { replicas: 3, selector: { matchLabels: { app: 'myapp' } },
      template: { spec: { containers: [{ name: 'myapp', image: 'jocatalin/kubernetes-bootcamp:v1' }] } } },
    status: { replicas: 3, readyReplicas: 3, updatedReplicas: 3, availableReplicas: 3 } };
  assert.equal(render(printTable(res('deployments'), [d], { now: NOW }), true), [
    'NAME    READY   UP-TO-DATE   AVAILABLE   AGE   CONTAINERS   IMAGES                             SELECTOR',
    'myapp   3/3     3            3           13m   myapp        jocatalin/kubernetes-bootcamp:v1   app=myapp'].join('\n'));
});

test('replicasets, statefulsets, selector with expressions', () => {
  const rs = printTable(res('replicasets'), [{ metadata: { name: 'myapp-fdb95659d', creationTimestamp: ago(60) },
    spec: { replicas: 3, selector: { matchLabels: { app: 'myapp', 'pod-template-hash': 'fdb95659d' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['web', 'api'] }, { key: 'z', operator: 'DoesNotExist' }] },
      template: { spec: { containers: [{ name: 'a', image: 'i1' }, { name: 'b', image: 'i2' }] } } },
    status: { replicas: 3, readyReplicas: 2 } }], { now: NOW });
  assert.deepEqual(rs.rows[0].cells, ['myapp-fdb95659d', 3, 3, 2, '60s', 'a,b', 'i1,i2', 'app=myapp,pod-template-hash=fdb95659d,tier in (api,web),!z']);
  const sts = printTable(res('statefulsets'), [{ metadata: { name: 'stateful-nginx', creationTimestamp: ago(58) },
    spec: { replicas: 3, template: { spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } }, status: { readyReplicas: 3 } }], { now: NOW });
  assert.equal(render(sts, true), 'NAME             READY   AGE   CONTAINERS   IMAGES\nstateful-nginx   3/3     58s   nginx        nginx');
});

test('pods -o wide as in the seed notes', () => {
  const pod: KubeObject = { metadata: { name: 'stateful-nginx-0', creationTimestamp: ago(58) },
    spec: { nodeName: 'dev-worker2', containers: [{ name: 'nginx', image: 'nginx' }] },
    status: { phase: 'Running', podIP: '10.244.2.18', podIPs: [{ ip: '10.244.2.18' }],
      conditions: [{ type: 'Ready', status: 'True' }],
      containerStatuses: [{ name: 'nginx', ready: true, restartCount: 0, state: { running: { startedAt: ago(50) } } }] } };
  assert.equal(render(printTable(res('pods'), [pod], { now: NOW }), true), [
    'NAME               READY   STATUS    RESTARTS   AGE   IP            NODE          NOMINATED NODE   READINESS GATES',
    'stateful-nginx-0   1/1     Running   0          58s   10.244.2.18   dev-worker2   <none>           <none>'].join('\n'));
});

test('pod status column like kubectl', () => {
  const mk = (status: object, extra: { deletionTimestamp?: string; spec?: object } = {}): KubeObject => ({
    metadata: { name: 'p', creationTimestamp: ago(100), deletionTimestamp: extra.deletionTimestamp },
    spec: { containers: [{ name: 'c' }], ...(extra.spec ?? {}) }, status });
  const cs = (state: object, more: object = {}): object => ({ containerStatuses: [{ name: 'c', ready: false, restartCount: 0, state, ...more }] });
  const cases: [KubeObject, string, string, string][] = [
    [mk({ phase: 'Pending' }), '0/1', 'Pending', '0'],
    [mk({ phase: 'Pending', ...cs({ waiting: { reason: 'ContainerCreating' } }) }), '0/1', 'ContainerCreating', '0'],
    [mk({ phase: 'Running', ...cs({ waiting: { reason: 'CrashLoopBackOff' } }, { restartCount: 2, lastState: { terminated: { exitCode: 1, finishedAt: ago(5) } } }) }), '0/1', 'CrashLoopBackOff', '2 (5s ago)'],
    [mk({ phase: 'Pending', ...cs({ waiting: { reason: 'ErrImagePull' } }) }), '0/1', 'ErrImagePull', '0'],
    [mk({ phase: 'Pending', ...cs({ waiting: { reason: 'ImagePullBackOff' } }) }), '0/1', 'ImagePullBackOff', '0'],
    [mk({ phase: 'Succeeded', ...cs({ terminated: { exitCode: 0, reason: 'Completed' } }) }), '0/1', 'Completed', '0'],
    [mk({ phase: 'Failed', ...cs({ terminated: { exitCode: 3 } }) }), '0/1', 'ExitCode:3', '0'],
    [mk({ phase: 'Running', ...cs({ running: {} }, { ready: true }) }, { deletionTimestamp: ago(1) }), '1/1', 'Terminating', '0'],
    [mk({ phase: 'Pending', initContainerStatuses: [{ name: 'i', restartCount: 0, state: { running: {} } }] }, { spec: { initContainers: [{ name: 'i' }] } }), '0/1', 'Init:0/1', '0'],
    [mk({ phase: 'Pending', initContainerStatuses: [{ name: 'i', restartCount: 1, state: { terminated: { exitCode: 2, reason: 'Error' } } }] }, { spec: { initContainers: [{ name: 'i' }] } }), '0/1', 'Init:Error', '1'],
  ];
  const t = printTable(res('pods'), cases.map((c) => c[0]), { now: NOW });
  cases.forEach(([, ready, status, restarts], i) => assert.deepEqual(t.rows[i].cells.slice(1, 4), [ready, status, restarts], `case ${i}`));
  assert.equal(t.rows[5].conditions?.[0].type, 'Completed');
});

test('nodes -o wide, namespaces, leases, configmaps, serviceaccounts, events, controllerrevisions, unknown', () => {
  const node = printTable(res('nodes'), [{ metadata: { name: 'svcplane-control-plane', creationTimestamp: ago(25 * 3600), labels: { 'node-role.kubernetes.io/control-plane': '' } },
    spec: { unschedulable: true },
    status: { conditions: [{ type: 'Ready', status: 'True' }], addresses: [{ type: 'InternalIP', address: '172.18.0.2' }, { type: 'Hostname', address: 'x' }],
      nodeInfo: { kubeletVersion: 'v1.32.5', osImage: 'Debian GNU/Linux 12 (bookworm)', kernelVersion: '6.1.0', containerRuntimeVersion: 'svcplane://0.1.0' } } }], { now: NOW });
  assert.deepEqual(node.rows[0].cells, ['svcplane-control-plane', 'Ready,SchedulingDisabled', 'control-plane', '25h', 'v1.32.5', '172.18.0.2', '<none>', 'Debian GNU/Linux 12 (bookworm)', '6.1.0', 'svcplane://0.1.0']);
  assert.deepEqual(printTable(res('namespaces'), [{ metadata: { name: 'dev', creationTimestamp: ago(76 * 3600) }, status: { phase: 'Active' } }], { now: NOW }).rows[0].cells, ['dev', 'Active', '3d4h']);
  assert.deepEqual(printTable(res('leases'), [{ metadata: { name: 'l' }, spec: { holderIdentity: 'n1' } }], { now: NOW }).rows[0].cells, ['l', 'n1', '<unknown>']);
  assert.deepEqual(printTable(res('configmaps'), [{ metadata: { name: 'c' }, data: { a: '1', b: '2' } }], { now: NOW }).rows[0].cells, ['c', 2, '<unknown>']);
  assert.deepEqual(printTable(res('serviceaccounts'), [{ metadata: { name: 'default' } }], { now: NOW }).rows[0].cells, ['default', 0, '<unknown>']);
  const ev = printTable(res('events'), [{ metadata: { name: 'myapp.17a' }, type: 'Normal', reason: 'ScalingReplicaSet', message: 'Scaled up replica set myapp-fdb95659d to 3 ',
    involvedObject: { kind: 'Deployment', name: 'myapp' }, source: { component: 'deployment-controller' }, firstTimestamp: ago(300), lastTimestamp: ago(60), count: 2 }], { now: NOW });
  assert.deepEqual(ev.columnDefinitions.filter((c) => c.priority === 0).map((c) => c.name), ['Last Seen', 'Type', 'Reason', 'Object', 'Message']);
  assert.deepEqual(ev.rows[0].cells, ['60s', 'Normal', 'ScalingReplicaSet', 'deployment/myapp', '', 'deployment-controller', 'Scaled up replica set myapp-fdb95659d to 3', '5m', 2, 'myapp.17a']);
  const cr = printTable(res('controllerrevisions'), [{ metadata: { name: 'web-7b', ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u', controller: true }] }, revision: 1 }], { now: NOW });
  assert.deepEqual(cr.rows[0].cells, ['web-7b', 'statefulset.apps/web', 1, '<unknown>']);
  const unk = printTable(res('bindings'), [{ metadata: { name: 'b', creationTimestamp: ago(5) } }], { now: NOW, includeObject: 'Object', resourceVersion: '42' });
  assert.deepEqual(unk.columnDefinitions.map((c) => c.name), ['Name', 'Age']);
  assert.deepEqual(unk.metadata, { resourceVersion: '42' });
  assert.equal((unk.rows[0].object as KubeObject).metadata?.name, 'b');
});
