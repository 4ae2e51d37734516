import { test } from 'node:test';
import assert from 'node:assert/strict';
import { validateObject, validateUpdate, fieldErrorString, invalidMessage } from './validation.js';
import { applyDefaults } from './defaults.js';
import { res } from './registry.js';
import type { KubeObject } from './types.js';

const CTX = { nodePortRange: [30000, 32767] as [number, number], serviceCIDR: '10.96.0.0/12' };

/** Default like the API server, then validate; return the rendered errors. */
function errorsOf(resource: string, o: KubeObject): string[] {
  const info = res(resource);
  const c = structuredClone(o);
  if (info.namespaced && c.metadata && !c.metadata.namespace) c.metadata.namespace = 'default';
  applyDefaults(c, info);
  return validateObject(c, info, CTX).map(fieldErrorString);
}

function svc(spec: Record<string, unknown>, name = 'web'): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name }, spec };
}

const P80 = [{ port: 80 }];

test('valid objects have no errors', () => {
  assert.deepEqual(errorsOf('services', svc({ selector: { app: 'web' }, ports: P80 })), []);
  assert.deepEqual(errorsOf('services', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 30080 }] })), []);
  assert.deepEqual(errorsOf('services', svc({ type: 'LoadBalancer', ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80, protocol: 'UDP' }] })), []);
  assert.deepEqual(errorsOf('services', svc({ type: 'ExternalName', externalName: 'example.com.' })), []);
  assert.deepEqual(errorsOf('services', svc({ clusterIP: 'None', selector: { a: 'b' } })), []);
  assert.deepEqual(errorsOf('services', svc({ sessionAffinity: 'ClientIP', ports: P80, clusterIP: '10.96.0.50' })), []);
  assert.deepEqual(errorsOf('pods', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80, name: 'http' }],
    readinessProbe: { httpGet: { port: 'http' } }, env: [{ name: 'A', value: '1' }] }] } }), []);
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'x' }, { app: 'x' })), []);
  assert.deepEqual(errorsOf('statefulsets', { metadata: { name: 's' }, spec: { serviceName: 's', selector: { matchLabels: { app: 's' } }, template: tpl({ app: 's' }) } }), []);
  assert.deepEqual(errorsOf('endpointslices', { metadata: { name: 'web-abc' }, addressType: 'IPv4', endpoints: [{ addresses: ['10.244.1.5'] }], ports: [{ port: 80 }] }), []);
  assert.deepEqual(errorsOf('endpoints', { metadata: { name: 'web' }, subsets: [{ addresses: [{ ip: '10.244.1.5' }], ports: [{ port: 80 }] }] }), []);
  assert.deepEqual(errorsOf('namespaces', { metadata: { name: 'dev' } }), []);
  assert.deepEqual(errorsOf('configmaps', { metadata: { name: 'c' }, data: { 'a.b': '1', K_2: 'x' } }), []);
  assert.deepEqual(errorsOf('leases', { metadata: { name: 'l' }, spec: { holderIdentity: 'x', leaseDurationSeconds: 15 } }), []);
});

function tpl(labels: Record<string, string> | undefined): Record<string, unknown> {
  return { metadata: labels ? { labels } : {}, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
}
function deploy(sel: Record<string, string>, labels: Record<string, string> | undefined, extra: Record<string, unknown> = {}): KubeObject {
  return { metadata: { name: 'd' }, spec: { selector: { matchLabels: sel }, template: tpl(labels), ...extra } };
}

const DNS1035 = "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_LABEL = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUB = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

test('invalid Services → exact Kubernetes messages', () => {
  const rows: [KubeObject, string[]][] = [
    [svc({ ports: P80 }, 'My_App'), [`metadata.name: Invalid value: "My_App": ${DNS1035}`]],
    [svc({ ports: P80 }, '1web'), [`metadata.name: Invalid value: "1web": ${DNS1035}`]],
    [svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] }), ['spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767']],
    [svc({ type: 'NodePort', clusterIP: 'None', ports: P80 }), ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for NodePort services"]],
    [svc({ type: 'LoadBalancer', clusterIP: 'None', ports: P80 }), ["spec.clusterIPs[0]: Invalid value: \"None\": may not be set to 'None' for LoadBalancer services"]],
    [svc({ type: 'ExternalName' }), ['spec.externalName: Required value']],
    [svc({ type: 'ExternalName', externalName: 'Bad_Name' }), [`spec.externalName: Invalid value: "Bad_Name": ${DNS1123_SUB}`]],
    [svc({ ports: [{ name: 'http', port: 80 }, { name: 'http', port: 81 }] }), ['spec.ports[1].name: Duplicate value: "http"']],
    [svc({ ports: [{ port: 80 }, { name: 'b', port: 81 }] }), ['spec.ports[0].name: Required value']],
    [svc({ ports: [{ name: 'a', port: 80 }, { name: 'b', port: 80 }] }), ['spec.ports[1]: Duplicate value: core.ServicePort{Name:"", Protocol:"TCP", AppProtocol:(*string)(nil), Port:80, TargetPort:intstr.IntOrString{Type:0, IntVal:0, StrVal:""}, NodePort:0}']],
    [svc({ ports: [{ port: 70000 }] }), ['spec.ports[0].port: Invalid value: 70000: must be between 1 and 65535, inclusive', 'spec.ports[0].targetPort: Invalid value: 70000: must be between 1 and 65535, inclusive']],
    [svc({ ports: [{ port: 80, protocol: 'HTTP' }] }), ['spec.ports[0].protocol: Unsupported value: "HTTP": supported values: "SCTP", "TCP", "UDP"']],
    [svc({ type: 'Foo', ports: P80 }), ['spec.type: Unsupported value: "Foo": supported values: "ClusterIP", "ExternalName", "LoadBalancer", "NodePort"']],
    [svc({ ports: [{ port: 80, nodePort: 30001 }] }), ["spec.ports[0].nodePort: Forbidden: may not be used when `type` is 'ClusterIP'"]],
    [svc({ ports: [{ port: 80, targetPort: 'Http_Port' }] }), ['spec.ports[0].targetPort: Invalid value: "Http_Port": must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)']],
    [svc({ ports: [{ port: 80, targetPort: 'a-very-long-port-name' }] }), ['spec.ports[0].targetPort: Invalid value: "a-very-long-port-name": must be no more than 15 characters']],
    [svc({ sessionAffinity: 'Sticky', ports: P80 }), ['spec.sessionAffinity: Unsupported value: "Sticky": supported values: "ClientIP", "None"']],
    [svc({ sessionAffinity: 'ClientIP', sessionAffinityConfig: { clientIP: { timeoutSeconds: 100000 } }, ports: P80 }), ['spec.sessionAffinityConfig.clientIP.timeoutSeconds: Invalid value: 100000: must be greater than 0 and less than 86400']],
    [svc({ externalTrafficPolicy: 'Local', ports: P80 }), ['spec.externalTrafficPolicy: Invalid value: "Local": may only be set for externally-accessible services']],
    [svc({ type: 'NodePort', externalTrafficPolicy: 'Foo', ports: P80 }), ['spec.externalTrafficPolicy: Unsupported value: "Foo": supported values: "Cluster", "Local"']],
    [svc({ loadBalancerSourceRanges: ['10.0.0.0/8'], ports: P80 }), ["spec.LoadBalancerSourceRanges: Forbidden: may only be used when `type` is 'LoadBalancer'"]],
    [svc({ type: 'LoadBalancer', loadBalancerSourceRanges: ['10.0.0.0/33'], ports: P80 }), ['spec.LoadBalancerSourceRanges[0]: Invalid value: "10.0.0.0/33": must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)']],
    [svc({ clusterIP: '10.0.0.5', ports: P80 }), ['spec.clusterIPs: Invalid value: []string{"10.0.0.5"}: failed to allocate IP 10.0.0.5: provided IP is not in the valid range. The range of valid IPs is 10.96.0.0/12']],
    [svc({ clusterIP: '10.96.0.300', ports: P80 }), ['spec.clusterIPs[0]: Invalid value: "10.96.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)']],
    [svc({}), ['spec.ports: Required value']],
    [svc({ externalIPs: ['127.0.0.1'], ports: P80 }), ['spec.externalIPs[0]: Invalid value: "127.0.0.1": may not be in the loopback range (127.0.0.0/8, ::1/128)']],
    [svc({ selector: { 'app/x/y': 'a' }, ports: P80 }), [`spec.selector: Invalid value: "app/x/y": a qualified name must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]') with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')`]],
  ];
  for (const [o, want] of rows) assert.deepEqual(errorsOf('services', o), want, JSON.stringify(o.spec));
});

test('invalid Pods', () => {
  const pod = (spec: Record<string, unknown>, name = 'p'): KubeObject => ({ metadata: { name }, spec });
  const rows: [KubeObject, string[]][] = [
    [pod({ containers: [] }), ['spec.containers: Required value']],
    [pod({ containers: [{ name: 'Web', image: 'nginx' }] }), [`spec.containers[0].name: Invalid value: "Web": ${DNS1123_LABEL}`]],
    [pod({ containers: [{ name: 'c' }] }), ['spec.containers[0].image: Required value']],
    [pod({ containers: [{ name: 'c', image: 'x' }, { name: 'c', image: 'y' }] }), ['spec.containers[1].name: Duplicate value: "c"']],
    [pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 0 }] }] }), ['spec.containers[0].ports[0].containerPort: Required value']],
    [pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 99999 }] }] }), ['spec.containers[0].ports[0].containerPort: Invalid value: 99999: must be between 1 and 65535, inclusive']],
    [pod({ containers: [{ name: 'c', image: 'x', ports: [{ containerPort: 80, name: 'h' }, { containerPort: 81, name: 'h' }] }] }), ['spec.containers[0].ports[1].name: Duplicate value: "h"']],
    [pod({ restartPolicy: 'Sometimes', containers: [{ name: 'c', image: 'x' }] }), ['spec.restartPolicy: Unsupported value: "Sometimes": supported values: "Always", "OnFailure", "Never"']],
    [pod({ containers: [{ name: 'c', image: 'x', livenessProbe: {} }] }), ['spec.containers[0].livenessProbe: Required value: must specify a handler type']],
    [pod({ containers: [{ name: 'c', image: 'x', livenessProbe: { tcpSocket: { port: 80 }, successThreshold: 2 } }] }), ['spec.containers[0].livenessProbe.successThreshold: Invalid value: 2: must be 1']],
    [pod({ containers: [{ name: 'c', image: 'x', env: [{ name: 'A=B' }] }] }), ["spec.containers[0].env[0].name: Invalid value: \"A=B\": a valid environment variable name must consist only of printable ASCII characters other than '='"]],
    [pod({ containers: [{ name: 'c', image: 'x' }] }, 'Bad'), [`metadata.name: Invalid value: "Bad": ${DNS1123_SUB}`]],
  ];
  for (const [o, want] of rows) assert.deepEqual(errorsOf('pods', o), want, JSON.stringify(o.spec));
});

test('invalid Deployments, ReplicaSets, StatefulSets', () => {
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'y' }, { app: 'x' })),
    ['spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`']);
  assert.deepEqual(errorsOf('deployments', { metadata: { name: 'd' }, spec: { template: tpl({ app: 'x' }) } }), ['spec.selector: Required value']);
  assert.deepEqual(errorsOf('deployments', deploy({}, { app: 'x' })),
    ['spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: empty selector is invalid for deployment']);
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'x' }, { app: 'x' }, { replicas: -1 })), ['spec.replicas: Invalid value: -1: must be greater than or equal to 0']);
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'x' }, { app: 'x' }, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: 0, maxUnavailable: 0 } } })),
    ['spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:0, IntVal:0, StrVal:""}: may not be 0 when `maxSurge` is 0']);
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'x' }, { app: 'x' }, { strategy: { type: 'RollingUpdate', rollingUpdate: { maxSurge: '25', maxUnavailable: '150%' } } })), [
    "spec.strategy.rollingUpdate.maxSurge: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:\"25\"}: a valid percent string must be a numeric string followed by an ending '%' (e.g. '1%',  or '93%', regex used for validation is '[0-9]+%')",
    'spec.strategy.rollingUpdate.maxUnavailable: Invalid value: intstr.IntOrString{Type:1, IntVal:0, StrVal:"150%"}: must not be greater than 100%',
  ]);
  assert.deepEqual(errorsOf('deployments', deploy({ app: 'x' }, { app: 'x' }, { strategy: { type: 'Recreate', rollingUpdate: {} } })),
    ["spec.strategy.rollingUpdate: Forbidden: may not be specified when strategy `type` is 'Recreate'"]);
  const t = tpl({ app: 'x' }) as { spec: Record<string, unknown> };
  t.spec.restartPolicy = 'Never';
  assert.deepEqual(errorsOf('deployments', { metadata: { name: 'd' }, spec: { selector: { matchLabels: { app: 'x' } }, template: t } }),
    ['spec.template.spec.restartPolicy: Unsupported value: "Never": supported values: "Always"']);
  assert.deepEqual(errorsOf('replicasets', { metadata: { name: 'r' }, spec: { selector: { matchLabels: { app: 'y' } }, template: tpl(undefined) } }),
    ['spec.template.metadata.labels: Invalid value: map[string]string(nil): `selector` does not match template `labels`']);
  assert.deepEqual(errorsOf('statefulsets', { metadata: { name: 's' }, spec: { podManagementPolicy: 'Fast', selector: { matchLabels: { app: 's' } }, template: tpl({ app: 's' }) } }),
    ["spec.podManagementPolicy: Invalid value: \"Fast\": must be 'OrderedReady' or 'Parallel'"]);
});

test('invalid EndpointSlices, Endpoints, Namespaces, ConfigMaps, Leases', () => {
  assert.deepEqual(errorsOf('endpointslices', { metadata: { name: 'e' }, addressType: 'IPv5' }), ['addressType: Unsupported value: "IPv5": supported values: "FQDN", "IPv4", "IPv6"']);
  assert.deepEqual(errorsOf('endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: [{ addresses: [] }, { addresses: ['fd00::1'] }] }),
    ['endpoints[0].addresses: Required value: must contain at least 1 address', 'endpoints[1].addresses[0]: Invalid value: "fd00::1": must be a valid IPv4 address']);
  const many = Array.from({ length: 1001 }, () => ({ addresses: ['10.0.0.1'] }));
  assert.deepEqual(errorsOf('endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', endpoints: many }), ['endpoints: Too many: 1001: must have at most 1000 items']);
  assert.deepEqual(errorsOf('endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4', ports: [{ name: 'a', port: 1 }, { name: 'a', port: 2 }] }), ['ports[1].name: Duplicate value: "a"']);
  assert.deepEqual(errorsOf('endpoints', { metadata: { name: 'e' }, subsets: [{ addresses: [{ ip: '10.0.0.300' }], ports: [{ port: 80 }, { port: 81 }] }] }), [
    'subsets[0].addresses[0].ip: Invalid value: "10.0.0.300": must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)',
    'subsets[0].ports[0].name: Required value', 'subsets[0].ports[1].name: Required value']);
  assert.deepEqual(errorsOf('endpoints', { metadata: { name: 'e' }, subsets: [{ ports: [{ port: 80 }] }] }), ['subsets[0]: Required value: must specify `addresses` or `notReadyAddresses`']);
  assert.deepEqual(errorsOf('namespaces', { metadata: { name: 'my.ns' } }), [`metadata.name: Invalid value: "my.ns": ${DNS1123_LABEL}`]);
  assert.deepEqual(errorsOf('configmaps', { metadata: { name: 'c' }, data: { 'a b': '1' } }),
    ["data[a b]: Invalid value: \"a b\": a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"]);
  assert.deepEqual(errorsOf('leases', { metadata: { name: 'l' }, spec: { leaseDurationSeconds: 0 } }), ['spec.leaseDurationSeconds: Invalid value: 0: must be greater than 0']);
  assert.deepEqual(errorsOf('configmaps', { metadata: {} }), ['metadata.name: Required value: name or generateName is required']);
  assert.deepEqual(errorsOf('configmaps', { metadata: { generateName: 'cfg-' } }), []);
  assert.deepEqual(errorsOf('configmaps', { metadata: { name: 'c', labels: { app: 'a b' } } }),
    ["metadata.labels: Invalid value: \"a b\": a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"]);
});

function defaultedCopy(resource: string, o: KubeObject): KubeObject {
  const c = structuredClone(o);
  if (c.metadata && !c.metadata.namespace) c.metadata.namespace = 'default';
  applyDefaults(c, res(resource));
  return c;
}

test('updates: immutable fields', () => {
  const old = defaultedCopy('services', svc({ clusterIP: '10.96.0.20', ports: P80 }));
  Object.assign(old.metadata!, { uid: 'u1' });
  const changed = structuredClone(old);
  (changed.spec as Record<string, unknown>).clusterIP = '10.96.0.21';
  assert.deepEqual(validateUpdate(changed, old, res('services'), CTX).map(fieldErrorString),
    ['spec.clusterIPs[0]: Invalid value: []string{"10.96.0.21"}: may not change once set']);
  assert.deepEqual(validateUpdate(structuredClone(old), old, res('services'), CTX), []);
  const renamed = structuredClone(old);
  renamed.metadata!.name = 'other';
  assert.deepEqual(validateUpdate(renamed, old, res('services'), CTX).map(fieldErrorString), ['metadata.name: Invalid value: "other": field is immutable']);

  const d = defaultedCopy('deployments', deploy({ app: 'x' }, { app: 'x' }));
  const d2 = structuredClone(d);
  (d2.spec as any).selector = { matchLabels: { app: 'y' } }; // eslint-disable-line @typescript-eslint/no-explicit-any
  (d2.spec as any).template.metadata.labels = { app: 'y' }; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(validateUpdate(d2, d, res('deployments')).map(fieldErrorString),
    ['spec.selector: Invalid value: v1.LabelSelector{MatchLabels:map[string]string{"app":"y"}, MatchExpressions:[]v1.LabelSelectorRequirement(nil)}: field is immutable']);

  const s = defaultedCopy('statefulsets', { metadata: { name: 's' }, spec: { serviceName: 's', selector: { matchLabels: { app: 's' } }, template: tpl({ app: 's' }) } });
  const s2 = structuredClone(s);
  (s2.spec as any).serviceName = 'other'; // eslint-disable-line @typescript-eslint/no-explicit-any
  (s2.spec as any).replicas = 3; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(validateUpdate(s2, s, res('statefulsets')).map(fieldErrorString),
    ["spec: Forbidden: updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"]);
  const s3 = structuredClone(s);
  (s3.spec as any).replicas = 3; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(validateUpdate(s3, s, res('statefulsets')), []);

  const p = defaultedCopy('pods', { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'nginx:1' }] } });
  const p2 = structuredClone(p);
  (p2.spec as any).containers[0].image = 'nginx:2'; // eslint-disable-line @typescript-eslint/no-explicit-any
  assert.deepEqual(validateUpdate(p2, p, res('pods')), []);
  (p2.spec as any).restartPolicy = 'Never'; // eslint-disable-line @typescript-eslint/no-explicit-any
  const perr = validateUpdate(p2, p, res('pods')).map(fieldErrorString);
  assert.equal(perr.length, 1);
  assert.match(perr[0]!, /^spec: Forbidden: pod updates may not change fields other than `spec.containers\[\*\].image`,/);

  const es = defaultedCopy('endpointslices', { metadata: { name: 'e' }, addressType: 'IPv4' });
  const es2 = { ...structuredClone(es), addressType: 'IPv6' };
  assert.deepEqual(validateUpdate(es2, es, res('endpointslices')).map(fieldErrorString), ['addressType: Invalid value: "IPv6": field is immutable']);
});

test('invalidMessage joins like kube-apiserver', () => {
  const errs = validateObject(defaultedCopy('services', svc({ type: 'NodePort', ports: [{ port: 80, nodePort: 80 }] })), res('services'), CTX);
  assert.equal(invalidMessage('Service', 'web', errs), 'Service "web" is invalid: spec.ports[0].nodePort: Invalid value: 80: provided port is not in the valid range. The range of valid ports is 30000-32767');
  const two = validateObject(defaultedCopy('services', svc({ type: 'Foo' }, 'X')), res('services'), CTX);
  assert.match(invalidMessage('Service', 'X', two), /^Service "X" is invalid: \[metadata\.name: Invalid value: "X": .*, spec\.ports: Required value, spec\.type: Unsupported value: "Foo": .*\]$/);
  assert.equal(two[0]!.type, 'FieldValueInvalid');
  const d = validateObject(defaultedCopy('deployments', deploy({ app: 'y' }, { app: 'x' })), res('deployments'));
  assert.equal(invalidMessage('Deployment', 'd', [...d, ...d], 'apps'),
    'Deployment.apps "d" is invalid: spec.template.metadata.labels: Invalid value: map[string]string{"app":"x"}: `selector` does not match template `labels`');
  assert.equal(two[0]!.badValue, 'X');
});
