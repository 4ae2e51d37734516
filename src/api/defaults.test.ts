import { test } from 'node:test';
import assert from 'node:assert/strict';
import { applyDefaults, defaultPullPolicy } from './defaults.js';
import { res } from './registry.js';
import type { KubeObject } from './types.js';

function defaulted(kind: string, o: KubeObject): any { // eslint-disable-line @typescript-eslint/no-explicit-any
  const c = structuredClone(o);
  applyDefaults(c, { ...res('pods'), kind });
  // idempotent
  const again = structuredClone(c);
  applyDefaults(again, { ...res('pods'), kind });
  assert.deepEqual(again, c, `${kind} defaults are idempotent`);
  return c;
}

test('Service ClusterIP defaults as kubectl get -o yaml shows them', () => {
  const s = defaulted('Service', { metadata: { name: 'web' }, spec: { selector: { app: 'web' }, ports: [{ port: 80 }] } });
  assert.deepEqual(s.spec, {
    selector: { app: 'web' }, ports: [{ port: 80, protocol: 'TCP', targetPort: 80 }],
    type: 'ClusterIP', sessionAffinity: 'None', internalTrafficPolicy: 'Cluster',
    ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack',
  });
  assert.deepEqual(s.status, { loadBalancer: {} });
});

const P1 = [{ port: 1 }];

test('Service NodePort / LoadBalancer / ExternalName / ClientIP / headless', () => {
  const np = defaulted('Service', { spec: { type: 'NodePort', ports: [{ port: 80, targetPort: 'http' }] } });
  assert.equal(np.spec.externalTrafficPolicy, 'Cluster');
  assert.equal(np.spec.ports[0].targetPort, 'http');
  assert.equal(np.spec.allocateLoadBalancerNodePorts, undefined);
  const lb = defaulted('Service', { spec: { type: 'LoadBalancer', ports: [{ port: 443, protocol: 'UDP' }] } });
  assert.equal(lb.spec.allocateLoadBalancerNodePorts, true);
  assert.equal(lb.spec.externalTrafficPolicy, 'Cluster');
  assert.equal(lb.spec.ports[0].protocol, 'UDP');
  const lbs = defaulted('Service', { spec: { type: 'LoadBalancer', ports: P1 }, status: { loadBalancer: { ingress: [{ ip: '172.18.255.200' }] } } });
  assert.deepEqual(lbs.status.loadBalancer.ingress, [{ ip: '172.18.255.200', ipMode: 'VIP' }]);
  const hn = defaulted('Pod', { spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 53 }] }] } });
  assert.equal(hn.spec.containers[0].ports[0].hostPort, 53);
  const hnt = defaulted('Deployment', { spec: { template: { spec: { hostNetwork: true, containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 53 }] }] } } } });
  assert.equal(hnt.spec.template.spec.containers[0].ports[0].hostPort, undefined);
  const en = defaulted('Service', { spec: { type: 'ExternalName', externalName: 'example.com' } });
  assert.deepEqual(en.spec, { type: 'ExternalName', externalName: 'example.com', sessionAffinity: 'None' });
  const ci = defaulted('Service', { spec: { sessionAffinity: 'ClientIP', ports: [{ port: 1 }] } });
  assert.deepEqual(ci.spec.sessionAffinityConfig, { clientIP: { timeoutSeconds: 10800 } });
  const none = defaulted('Service', { spec: { sessionAffinityConfig: { clientIP: { timeoutSeconds: 5 } } } });
  assert.equal(none.spec.sessionAffinityConfig, undefined);
  const hl = defaulted('Service', { spec: { clusterIP: 'None', selector: { a: 'b' } } });
  assert.deepEqual([hl.spec.clusterIPs, hl.spec.ipFamilyPolicy], [['None'], 'SingleStack']);
  const hlns = defaulted('Service', { spec: { clusterIP: 'None' } });
  assert.equal(hlns.spec.ipFamilyPolicy, 'RequireDualStack');
  const eip = defaulted('Service', { spec: { externalIPs: ['1.2.3.4'] } });
  assert.equal(eip.spec.externalTrafficPolicy, 'Cluster');
});

test('Pod defaults as kubectl get pod -o yaml shows them', () => {
  const p = defaulted('Pod', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx:1.27', ports: [{ containerPort: 80 }],
    readinessProbe: { httpGet: { port: 80 } } }] } });
  assert.deepEqual(p.spec.containers[0], {
    name: 'c', image: 'nginx:1.27', imagePullPolicy: 'IfNotPresent', ports: [{ containerPort: 80, protocol: 'TCP' }],
    terminationMessagePath: '/dev/termination-log', terminationMessagePolicy: 'File',
    readinessProbe: { httpGet: { port: 80, path: '/', scheme: 'HTTP' }, timeoutSeconds: 1, periodSeconds: 10, successThreshold: 1, failureThreshold: 3 },
  });
  const { containers: _c, ...rest } = p.spec;
  assert.deepEqual(rest, {
    dnsPolicy: 'ClusterFirst', restartPolicy: 'Always', securityContext: {}, terminationGracePeriodSeconds: 30,
    schedulerName: 'default-scheduler', enableServiceLinks: true, serviceAccountName: 'default', serviceAccount: 'default',
    priority: 0, preemptionPolicy: 'PreemptLowerPriority',
    tolerations: [
      { key: 'node.kubernetes.io/not-ready', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
      { key: 'node.kubernetes.io/unreachable', operator: 'Exists', effect: 'NoExecute', tolerationSeconds: 300 },
    ],
  });
  assert.deepEqual(p.status, { phase: 'Pending', qosClass: 'BestEffort' });
  const g = defaulted('Pod', { spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { cpu: '1', memory: '1Gi' } } }] } });
  assert.deepEqual(g.spec.containers[0].resources.requests, { cpu: '1', memory: '1Gi' });
  assert.equal(g.status.qosClass, 'Guaranteed');
});

test('imagePullPolicy from the tag', () => {
  assert.equal(defaultPullPolicy('nginx'), 'Always');
  assert.equal(defaultPullPolicy('nginx:latest'), 'Always');
  assert.equal(defaultPullPolicy('localhost:5000/nginx'), 'Always');
  assert.equal(defaultPullPolicy('localhost:5000/nginx:1.2'), 'IfNotPresent');
  assert.equal(defaultPullPolicy('nginx@sha256:abc'), 'IfNotPresent');
});

test('Deployment, ReplicaSet, StatefulSet defaults', () => {
  const tpl = { metadata: { labels: { app: 'a' } }, spec: { containers: [{ name: 'c', image: 'busybox' }] } };
  const d = defaulted('Deployment', { spec: { selector: { matchLabels: { app: 'a' } }, template: tpl } });
  assert.equal(d.spec.replicas, 1);
  assert.deepEqual(d.spec.strategy, { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: '25%', maxSurge: '25%' } });
  assert.equal(d.spec.revisionHistoryLimit, 10);
  assert.equal(d.spec.progressDeadlineSeconds, 600);
  assert.equal(d.spec.minReadySeconds, undefined);
  assert.equal(d.spec.template.spec.dnsPolicy, 'ClusterFirst');
  assert.equal(d.spec.template.spec.enableServiceLinks, undefined, 'templates do not get Pod-only defaults');
  assert.equal(d.spec.template.spec.serviceAccountName, undefined);
  const rec = defaulted('Deployment', { spec: { strategy: { type: 'Recreate' } } });
  assert.deepEqual(rec.spec.strategy, { type: 'Recreate' });
  assert.equal(defaulted('ReplicaSet', { spec: {} }).spec.replicas, 1);
  const s = defaulted('StatefulSet', { spec: { template: tpl } });
  assert.equal(s.spec.podManagementPolicy, 'OrderedReady');
  assert.deepEqual(s.spec.updateStrategy, { type: 'RollingUpdate', rollingUpdate: { partition: 0 } });
  assert.deepEqual(s.spec.persistentVolumeClaimRetentionPolicy, { whenDeleted: 'Retain', whenScaled: 'Retain' });
  assert.equal(s.spec.replicas, 1);
  assert.equal(s.spec.revisionHistoryLimit, 10);
  const od = defaulted('StatefulSet', { spec: { updateStrategy: { type: 'OnDelete' } } });
  assert.deepEqual(od.spec.updateStrategy, { type: 'OnDelete' });
});

test('Endpoints, EndpointSlice, Namespace, Secret', () => {
  assert.equal(defaulted('Endpoints', { subsets: [{ ports: [{ port: 80 }] }] }).subsets[0].ports[0].protocol, 'TCP');
  assert.deepEqual(defaulted('EndpointSlice', { addressType: 'IPv4', ports: [{ port: 80 }] }).ports[0], { port: 80, name: '', protocol: 'TCP' });
  const ns = defaulted('Namespace', { metadata: { name: 'dev' } });
  assert.deepEqual(ns, { metadata: { name: 'dev', labels: { 'kubernetes.io/metadata.name': 'dev' } }, spec: { finalizers: ['kubernetes'] }, status: { phase: 'Active' } });
  assert.equal(defaulted('Secret', {}).type, 'Opaque');
});
