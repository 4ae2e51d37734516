import { test } from 'node:test';
import assert from 'node:assert/strict';
import { openapiV3Index, openapiV3Document, openapiV3Hash } from './openapi.js';
import { unknownFields, unknownFieldMessage } from './schema.js';
import { res } from './registry.js';

type Doc = { paths: Record<string, any>; components: { schemas: Record<string, any> } }; // eslint-disable-line @typescript-eslint/no-explicit-any

test('index lists every served group-version with a hashed URL', () => {
  const idx = openapiV3Index() as { paths: Record<string, { serverRelativeURL: string }> };
  assert.deepEqual(Object.keys(idx.paths).sort(), ['api', 'api/v1', 'apis', 'apis/apps/v1', 'apis/coordination.k8s.io/v1', 'apis/discovery.k8s.io/v1']);
  assert.match(idx.paths['api/v1'].serverRelativeURL, /^\/openapi\/v3\/api\/v1\?hash=[0-9A-F]{32}$/);
  assert.equal(idx.paths['api/v1'].serverRelativeURL.split('=')[1], openapiV3Hash('api/v1'));
  assert.equal(openapiV3Document('apis/nope/v1'), undefined);
});

test('PATCH operations carry the GVK and a fieldValidation query parameter (kubectl checks both)', () => {
  const doc = openapiV3Document('api/v1') as Doc;
  const item = doc.paths['/api/v1/namespaces/{namespace}/services/{name}'];
  assert.deepEqual(item.patch['x-kubernetes-group-version-kind'], { group: '', kind: 'Service', version: 'v1' });
  assert.ok(item.patch.parameters.some((p: any) => p.name === 'fieldValidation' && p.in === 'query'));
  assert.ok(item.patch.requestBody.content['application/strategic-merge-patch+json']);
  assert.equal(item.get.operationId, 'readCoreV1NamespacedService');
  // Every PATCH, subresources included, must have it: kubectl looks at whichever it meets first.
  for (const [p, v] of Object.entries(doc.paths)) {
    if (v.patch) assert.ok(v.patch.parameters.some((x: any) => x.name === 'fieldValidation'), p);
  }
  const apps = openapiV3Document('apis/apps/v1') as Doc;
  assert.deepEqual(apps.paths['/apis/apps/v1/namespaces/{namespace}/deployments/{name}/scale'].patch['x-kubernetes-group-version-kind'], { group: 'autoscaling', kind: 'Scale', version: 'v1' });
  assert.ok(apps.components.schemas['io.k8s.api.autoscaling.v1.Scale']);
  assert.ok(openapiV3Document('apis/discovery.k8s.io/v1'));
});

test('schemas as upstream: descriptions, GVK, patch metadata, int-or-string, date-time', () => {
  const s = (openapiV3Document('api/v1') as Doc).components.schemas;
  const svc = s['io.k8s.api.core.v1.Service'];
  assert.deepEqual(svc['x-kubernetes-group-version-kind'], [{ group: '', kind: 'Service', version: 'v1' }]);
  assert.deepEqual(svc.properties.spec.allOf, [{ $ref: '#/components/schemas/io.k8s.api.core.v1.ServiceSpec' }]);
  const ports = s['io.k8s.api.core.v1.ServiceSpec'].properties.ports;
  assert.equal(ports['x-kubernetes-patch-merge-key'], 'port');
  assert.equal(ports['x-kubernetes-patch-strategy'], 'merge');
  assert.deepEqual(ports['x-kubernetes-list-map-keys'], ['port', 'protocol']);
  assert.match(ports.description, /The list of ports that are exposed by this service/);
  const sp = s['io.k8s.api.core.v1.ServicePort'];
  assert.match(sp.properties.port.description, /The port that will be exposed by this service/);
  assert.deepEqual(sp.required, ['port']);
  assert.deepEqual(sp.properties.targetPort.allOf, [{ $ref: '#/components/schemas/io.k8s.apimachinery.pkg.util.intstr.IntOrString' }]);
  assert.equal(s['io.k8s.apimachinery.pkg.util.intstr.IntOrString'].format, 'int-or-string');
  assert.equal(s['io.k8s.apimachinery.pkg.apis.meta.v1.Time'].format, 'date-time');
  assert.equal(s['io.k8s.api.core.v1.PodSpec'].properties.containers['x-kubernetes-patch-merge-key'], 'name');
  assert.equal(s['io.k8s.api.core.v1.Container'].properties.volumeMounts['x-kubernetes-patch-merge-key'], 'mountPath');
});

test('unknownFields finds misspelt fields at any depth and accepts known ones', () => {
  const svc = { apiVersion: 'v1', kind: 'Service', metadata: { name: 'x', labels: { a: 'b' }, managedFields: [{ fieldsV1: { 'f:spec': {} } }] },
    spec: { portz: [], ports: [{ port: 80, nmae: 'http', targetPort: 'http' }], selector: { app: 'x' } }, extra: 1 };
  const got = unknownFields(svc, res('services'));
  assert.deepEqual(got, ['.spec.portz', '.spec.ports[0].nmae', '.extra']);
  assert.equal(unknownFieldMessage(got[0]), 'unknown field "spec.portz"');
  const dep = { apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'd' },
    spec: { replicas: 1, selector: { matchLabels: { a: 'b' } }, template: { metadata: { labels: { a: 'b' } },
      spec: { containers: [{ name: 'c', image: 'i', ports: [{ containerPort: 80 }], resources: { limits: { cpu: '1' } }, imagePullPolicy: 'IfNotPresent', imagePulPolicy: 'x' }] } } } };
  assert.deepEqual(unknownFields(dep, res('deployments')), ['.spec.template.spec.containers[0].imagePulPolicy']);
});
