/**
 * @module api/registry
 * The resources svcplane serves: one row per resource, used by the API server (routing,
 * discovery, OpenAPI), the client (paths) and kubectl-facing printers.
 */

export interface ResourceInfo {
  /** API group, '' for core. */
  group: string;
  version: string;
  /** Plural lower-case resource name, as in URLs. */
  resource: string;
  singular: string;
  kind: string;
  listKind: string;
  namespaced: boolean;
  shortNames: string[];
  categories: string[];
  verbs: string[];
  /** Subresources served, e.g. ['status', 'scale']. */
  subresources: string[];
}

const ALL_VERBS = ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'];

function r(group: string, version: string, resource: string, kind: string, namespaced: boolean,
  shortNames: string[] = [], subresources: string[] = [], opts: Partial<ResourceInfo> = {}): ResourceInfo {
  return {
    group, version, resource, kind, namespaced, shortNames, subresources,
    singular: kind.toLowerCase(),
    listKind: `${kind}List`,
    categories: [],
    verbs: ALL_VERBS,
    ...opts,
  };
}

export const RESOURCES: readonly ResourceInfo[] = [
  r('', 'v1', 'namespaces', 'Namespace', false, ['ns'], ['status', 'finalize'], { verbs: ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'] }),
  r('', 'v1', 'pods', 'Pod', true, ['po'], ['status', 'binding', 'log', 'exec', 'attach', 'portforward', 'eviction'], { categories: ['all'] }),
  r('', 'v1', 'services', 'Service', true, ['svc'], ['status', 'proxy'], { categories: ['all'], verbs: ['create', 'delete', 'deletecollection', 'get', 'list', 'patch', 'update', 'watch'] }),
  r('', 'v1', 'endpoints', 'Endpoints', true, ['ep'], [], { singular: 'endpoints' }),
  r('', 'v1', 'nodes', 'Node', false, ['no'], ['status', 'proxy']),
  r('', 'v1', 'events', 'Event', true, ['ev']),
  r('', 'v1', 'configmaps', 'ConfigMap', true, ['cm']),
  r('', 'v1', 'secrets', 'Secret', true),
  r('', 'v1', 'serviceaccounts', 'ServiceAccount', true, ['sa'], ['token']),
  r('', 'v1', 'bindings', 'Binding', true, [], [], { verbs: ['create'] }),
  r('apps', 'v1', 'deployments', 'Deployment', true, ['deploy'], ['status', 'scale'], { categories: ['all'] }),
  r('apps', 'v1', 'replicasets', 'ReplicaSet', true, ['rs'], ['status', 'scale'], { categories: ['all'] }),
  r('apps', 'v1', 'statefulsets', 'StatefulSet', true, ['sts'], ['status', 'scale'], { categories: ['all'] }),
  r('apps', 'v1', 'controllerrevisions', 'ControllerRevision', true),
  r('discovery.k8s.io', 'v1', 'endpointslices', 'EndpointSlice', true),
  r('coordination.k8s.io', 'v1', 'leases', 'Lease', true),
];

/** "apps/v1" or "v1". */
export function groupVersion(info: { group: string; version: string }): string {
  return info.group ? `${info.group}/${info.version}` : info.version;
}

/** Find a resource by group and plural name. */
export function findResource(group: string, resource: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => x.group === group && x.resource === resource);
}

/** Find a resource by apiVersion and kind (as written in manifests). */
export function resourceForKind(apiVersion: string, kind: string): ResourceInfo | undefined {
  return RESOURCES.find((x) => groupVersion(x) === apiVersion && x.kind === kind);
}

/** Convenience: the registry row for a well-known resource, e.g. res('services'), res('deployments'). */
export function res(resource: string): ResourceInfo {
  const found = RESOURCES.find((x) => x.resource === resource);
  if (!found) throw new Error(`unknown resource ${resource}`);
  return found;
}

/**
 * The REST path of a collection or an object:
 * /api/v1/namespaces/default/services/myapp/status
 */
export function resourcePath(info: ResourceInfo, namespace?: string, name?: string, subresource?: string): string {
  let p = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  if (info.namespaced && namespace) p += `/namespaces/${encodeURIComponent(namespace)}`;
  p += `/${info.resource}`;
  if (name !== undefined) p += `/${encodeURIComponent(name)}`;
  if (subresource) p += `/${subresource}`;
  return p;
}

/**
 * The storage key of an object, laid out like kube-apiserver's etcd keys:
 * /registry/<group-prefixed resource>/<namespace>/<name>. Core resources have no group prefix
 * ("services/specs" is what kube-apiserver uses for Services; svcplane keeps it simpler).
 */
export function storageKey(info: ResourceInfo, namespace: string | undefined, name?: string): string {
  const base = info.group && info.group !== 'apps' ? `/registry/${info.group}/${info.resource}` : `/registry/${info.resource}`;
  if (!info.namespaced) return name === undefined ? `${base}/` : `${base}/${name}`;
  if (namespace === undefined) return `${base}/`;
  return name === undefined ? `${base}/${namespace}/` : `${base}/${namespace}/${name}`;
}

/** The Kubernetes version svcplane reports (stock kubectl dispatches on the minor). */
export const KUBE_VERSION = { major: '1', minor: '32', gitVersion: 'v1.32.5-svcplane' } as const;
