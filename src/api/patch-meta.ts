/**
 * @module api/patch-meta
 * Strategic-merge metadata for the built-in types svcplane serves: for each upstream type
 * (named as in the Kubernetes OpenAPI, e.g. io.k8s.api.core.v1.PodSpec) the fields that lead to
 * a list with a patch strategy, with the merge key and list type the Go struct tags declare
 * (`patchStrategy:"merge" patchMergeKey:"name"`, `+listType=map`). Fields not listed here
 * follow the defaults: maps merge, lists are replaced. The same table decorates the OpenAPI
 * schemas (x-kubernetes-patch-strategy / -merge-key / -list-type / -list-map-keys).
 */

export interface FieldPatchMeta {
  /** Type name of the field's value (of each element for lists). */
  type?: string;
  list?: boolean;
  /** 'merge', 'retainKeys', 'merge,retainKeys', 'replace'. */
  strategy?: string;
  mergeKey?: string;
  listType?: 'atomic' | 'map' | 'set';
  listMapKeys?: string[];
  /** '+mapType=atomic' / '+structType=atomic': owned and replaced as a whole by apply. */
  mapType?: 'atomic' | 'granular';
}

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1.';
const CORE = 'io.k8s.api.core.v1.';
const APPS = 'io.k8s.api.apps.v1.';
const DISCOVERY = 'io.k8s.api.discovery.v1.';
const COORD = 'io.k8s.api.coordination.v1.';

export const OBJECT_META = `${META}ObjectMeta`;

const mergeList = (type: string | undefined, mergeKey: string, listMapKeys = [mergeKey]): FieldPatchMeta =>
  ({ type, list: true, strategy: 'merge', mergeKey, listType: 'map', listMapKeys });
const conditions = (type: string): FieldPatchMeta => mergeList(type, 'type');
const atomic = (type?: string): FieldPatchMeta => ({ type, list: true, listType: 'atomic' });
const ref = (type: string): FieldPatchMeta => ({ type });

const containerFields = {
  ports: mergeList(`${CORE}ContainerPort`, 'containerPort', ['containerPort', 'protocol']),
  env: mergeList(`${CORE}EnvVar`, 'name'),
  volumeMounts: mergeList(`${CORE}VolumeMount`, 'mountPath'),
  volumeDevices: mergeList(`${CORE}VolumeDevice`, 'devicePath'),
  envFrom: atomic(`${CORE}EnvFromSource`),
  resizePolicy: atomic(`${CORE}ContainerResizePolicy`),
  command: atomic(),
  args: atomic(),
};

/** Patch metadata by type name. */
export const PATCH_META: Record<string, Record<string, FieldPatchMeta>> = {
  [`${META}ObjectMeta`]: {
    finalizers: { list: true, strategy: 'merge', listType: 'set' },
    ownerReferences: mergeList(`${META}OwnerReference`, 'uid'),
    managedFields: atomic(`${META}ManagedFieldsEntry`),
  },
  [`${META}LabelSelector`]: { matchExpressions: atomic(`${META}LabelSelectorRequirement`) },
  [`${CORE}Pod`]: { metadata: ref(OBJECT_META), spec: ref(`${CORE}PodSpec`), status: ref(`${CORE}PodStatus`) },
  [`${CORE}PodTemplateSpec`]: { metadata: ref(OBJECT_META), spec: ref(`${CORE}PodSpec`) },
  [`${CORE}PodSpec`]: {
    containers: mergeList(`${CORE}Container`, 'name'),
    initContainers: mergeList(`${CORE}Container`, 'name'),
    ephemeralContainers: mergeList(`${CORE}EphemeralContainer`, 'name'),
    volumes: { type: `${CORE}Volume`, list: true, strategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    imagePullSecrets: mergeList(`${CORE}LocalObjectReference`, 'name'),
    hostAliases: mergeList(`${CORE}HostAlias`, 'ip'),
    topologySpreadConstraints: mergeList(`${CORE}TopologySpreadConstraint`, 'topologyKey', ['topologyKey', 'whenUnsatisfiable']),
    resourceClaims: { type: `${CORE}PodResourceClaim`, list: true, strategy: 'merge,retainKeys', mergeKey: 'name', listType: 'map', listMapKeys: ['name'] },
    schedulingGates: mergeList(`${CORE}PodSchedulingGate`, 'name'),
    tolerations: atomic(`${CORE}Toleration`),
    readinessGates: atomic(`${CORE}PodReadinessGate`),
  },
  [`${CORE}Container`]: containerFields,
  [`${CORE}EphemeralContainer`]: containerFields,
  [`${CORE}PodStatus`]: {
    conditions: conditions(`${CORE}PodCondition`),
    podIPs: mergeList(`${CORE}PodIP`, 'ip'),
    hostIPs: mergeList(`${CORE}HostIP`, 'ip'),
    containerStatuses: atomic(`${CORE}ContainerStatus`),
    initContainerStatuses: atomic(`${CORE}ContainerStatus`),
    ephemeralContainerStatuses: atomic(`${CORE}ContainerStatus`),
  },
  [`${CORE}Service`]: { metadata: ref(OBJECT_META), spec: ref(`${CORE}ServiceSpec`), status: ref(`${CORE}ServiceStatus`) },
  [`${CORE}ServiceSpec`]: {
    ports: mergeList(`${CORE}ServicePort`, 'port', ['port', 'protocol']),
    selector: { mapType: 'atomic' },
    clusterIPs: atomic(),
    externalIPs: atomic(),
    ipFamilies: atomic(),
    loadBalancerSourceRanges: atomic(),
  },
  [`${CORE}ServiceStatus`]: { conditions: conditions(`${META}Condition`), loadBalancer: ref(`${CORE}LoadBalancerStatus`) },
  [`${CORE}LoadBalancerStatus`]: { ingress: atomic(`${CORE}LoadBalancerIngress`) },
  [`${CORE}Endpoints`]: { metadata: ref(OBJECT_META), subsets: atomic(`${CORE}EndpointSubset`) },
  [`${CORE}Node`]: { metadata: ref(OBJECT_META), spec: ref(`${CORE}NodeSpec`), status: ref(`${CORE}NodeStatus`) },
  [`${CORE}NodeSpec`]: { podCIDRs: { list: true, strategy: 'merge', listType: 'set' }, taints: atomic(`${CORE}Taint`) },
  [`${CORE}NodeStatus`]: {
    conditions: conditions(`${CORE}NodeCondition`),
    addresses: mergeList(`${CORE}NodeAddress`, 'type'),
    images: atomic(`${CORE}ContainerImage`),
  },
  [`${CORE}Namespace`]: { metadata: ref(OBJECT_META), status: ref(`${CORE}NamespaceStatus`) },
  [`${CORE}NamespaceStatus`]: { conditions: conditions(`${CORE}NamespaceCondition`) },
  [`${CORE}Event`]: { metadata: ref(OBJECT_META) },
  [`${CORE}ConfigMap`]: { metadata: ref(OBJECT_META) },
  [`${CORE}Secret`]: { metadata: ref(OBJECT_META) },
  [`${CORE}ServiceAccount`]: { metadata: ref(OBJECT_META), secrets: mergeList(`${CORE}ObjectReference`, 'name'), imagePullSecrets: atomic(`${CORE}LocalObjectReference`) },
  [`${CORE}Binding`]: { metadata: ref(OBJECT_META) },
  [`${APPS}Deployment`]: { metadata: ref(OBJECT_META), spec: ref(`${APPS}DeploymentSpec`), status: ref(`${APPS}DeploymentStatus`) },
  [`${APPS}DeploymentSpec`]: { template: ref(`${CORE}PodTemplateSpec`), selector: ref(`${META}LabelSelector`), strategy: { type: `${APPS}DeploymentStrategy`, strategy: 'retainKeys' } },
  [`${APPS}DeploymentStatus`]: { conditions: conditions(`${APPS}DeploymentCondition`) },
  [`${APPS}ReplicaSet`]: { metadata: ref(OBJECT_META), spec: ref(`${APPS}ReplicaSetSpec`), status: ref(`${APPS}ReplicaSetStatus`) },
  [`${APPS}ReplicaSetSpec`]: { template: ref(`${CORE}PodTemplateSpec`), selector: ref(`${META}LabelSelector`) },
  [`${APPS}ReplicaSetStatus`]: { conditions: conditions(`${APPS}ReplicaSetCondition`) },
  [`${APPS}StatefulSet`]: { metadata: ref(OBJECT_META), spec: ref(`${APPS}StatefulSetSpec`), status: ref(`${APPS}StatefulSetStatus`) },
  [`${APPS}StatefulSetSpec`]: { template: ref(`${CORE}PodTemplateSpec`), selector: ref(`${META}LabelSelector`), volumeClaimTemplates: atomic(`${CORE}PersistentVolumeClaim`) },
  [`${APPS}StatefulSetStatus`]: { conditions: conditions(`${APPS}StatefulSetCondition`) },
  [`${APPS}ControllerRevision`]: { metadata: ref(OBJECT_META) },
  [`${DISCOVERY}EndpointSlice`]: { metadata: ref(OBJECT_META), endpoints: atomic(`${DISCOVERY}Endpoint`), ports: atomic(`${DISCOVERY}EndpointPort`) },
  [`${COORD}Lease`]: { metadata: ref(OBJECT_META) },
};

/** Types that are atomic as a whole (x-kubernetes-map-type: atomic on the type's schema). */
export const ATOMIC_TYPES: readonly string[] = [`${META}LabelSelector`, `${CORE}ObjectReference`, `${CORE}LocalObjectReference`,
  `${CORE}ConfigMapKeySelector`, `${CORE}SecretKeySelector`, `${CORE}ObjectFieldSelector`, `${CORE}ResourceFieldSelector`];

/** The OpenAPI type name of a kind served under apiVersion (group/version). */
export function typeNameFor(group: string, version: string, kind: string): string {
  if (group === '') return `io.k8s.api.core.${version}.${kind}`;
  const g = group.replace(/\.k8s\.io$/, '').split('.').reverse().join('.');
  return `io.k8s.api.${g}.${version}.${kind}`;
}

/** Patch metadata of one field of a type (empty when the type or field has none). */
export function fieldMeta(typeName: string | undefined, field: string): FieldPatchMeta {
  if (!typeName) return {};
  return PATCH_META[typeName]?.[field] ?? {};
}
