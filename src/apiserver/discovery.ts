/**
 * @module apiserver/discovery
 * The discovery documents kubectl reads first: /api, /apis, /api/v1, /apis/<g>/<v>, and the
 * aggregated form (apidiscovery.k8s.io/v2 and v2beta1) when the Accept header asks for it.
 */
import { RESOURCES, groupVersion, type ResourceInfo } from '../api/registry.js';

const SUBRESOURCE_KINDS: Record<string, { group: string; version: string; kind: string }> = {
  scale: { group: 'autoscaling', version: 'v1', kind: 'Scale' },
  binding: { group: '', version: 'v1', kind: 'Binding' },
  eviction: { group: 'policy', version: 'v1', kind: 'Eviction' },
  token: { group: 'authentication.k8s.io', version: 'v1', kind: 'TokenRequest' },
};

const SUBRESOURCE_VERBS: Record<string, string[]> = {
  status: ['get', 'patch', 'update'], scale: ['get', 'patch', 'update'], binding: ['create'], eviction: ['create'], token: ['create'],
  log: ['get'], exec: ['create', 'get'], attach: ['create', 'get'], portforward: ['create', 'get'], proxy: ['create', 'delete', 'get', 'patch', 'update'],
  finalize: ['update'],
};

export function groups(): { group: string; version: string }[] {
  const seen = new Map<string, { group: string; version: string }>();
  for (const r of RESOURCES) if (r.group) seen.set(groupVersion(r), { group: r.group, version: r.version });
  return [...seen.values()];
}

export function apiVersions(serverAddress: string) {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList() {
  return {
    kind: 'APIGroupList', apiVersion: 'v1',
    groups: groups().map((g) => ({
      name: g.group, versions: [{ groupVersion: `${g.group}/${g.version}`, version: g.version }],
      preferredVersion: { groupVersion: `${g.group}/${g.version}`, version: g.version },
    })),
  };
}

export function apiGroup(group: string) {
  const g = groups().find((x) => x.group === group);
  if (!g) return undefined;
  const gv = { groupVersion: `${g.group}/${g.version}`, version: g.version };
  return { kind: 'APIGroup', apiVersion: 'v1', name: g.group, versions: [gv], preferredVersion: gv };
}

function subKind(r: ResourceInfo, sub: string) {
  return SUBRESOURCE_KINDS[sub] ?? { group: r.group, version: r.version, kind: r.kind };
}

export function resourceList(group: string, version: string) {
  const rs = RESOURCES.filter((r) => r.group === group && r.version === version);
  if (!rs.length) return undefined;
  const resources: object[] = [];
  for (const r of rs) {
    resources.push({
      name: r.resource, singularName: r.singular, namespaced: r.namespaced, kind: r.kind, verbs: r.verbs,
      ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}),
      storageVersionHash: Buffer.from(`${groupVersion(r)}/${r.kind}`).toString('base64').slice(0, 11),
    });
    for (const s of r.subresources) {
      const k = subKind(r, s);
      resources.push({ name: `${r.resource}/${s}`, singularName: '', namespaced: r.namespaced, ...(k.group !== r.group ? { group: k.group, version: k.version } : {}), kind: k.kind, verbs: SUBRESOURCE_VERBS[s] ?? ['get'] });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group ? `${group}/${version}` : version, resources };
}

/** Aggregated discovery: core (for /api) or every named group (for /apis). */
export function aggregated(core: boolean, apiVersion: 'apidiscovery.k8s.io/v2' | 'apidiscovery.k8s.io/v2beta1') {
  const gvs = core ? [{ group: '', version: 'v1' }] : groups();
  return {
    kind: 'APIGroupDiscoveryList', apiVersion, metadata: {},
    items: gvs.map((g) => ({
      metadata: { name: g.group, creationTimestamp: null },
      versions: [{
        version: g.version, freshness: 'Current',
        resources: RESOURCES.filter((r) => r.group === g.group && r.version === g.version).map((r) => ({
          resource: r.resource, responseKind: { group: r.group, version: r.version, kind: r.kind }, scope: r.namespaced ? 'Namespaced' : 'Cluster',
          singularResource: r.singular, verbs: r.verbs,
          ...(r.shortNames.length ? { shortNames: r.shortNames } : {}), ...(r.categories.length ? { categories: r.categories } : {}),
          ...(r.subresources.length ? { subresources: r.subresources.map((s) => ({ subresource: s, responseKind: subKind(r, s), verbs: SUBRESOURCE_VERBS[s] ?? ['get'] })) } : {}),
        })),
      }],
    })),
  };
}
