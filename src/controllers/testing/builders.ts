/** @module controllers/testing/builders — small object builders for the loops' table tests. */
import type { Node, Pod, Service } from '../../api/types.js';

let seq = 0;

export function makePod(name: string, o: { ns?: string; labels?: Record<string, string>; ip?: string; ready?: boolean; node?: string; phase?: string; deleting?: boolean; hostname?: string; subdomain?: string; ports?: { name: string; containerPort: number }[]; owner?: string; created?: string } = {}): Pod {
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: o.ns ?? 'default', uid: `uid-${name}`, resourceVersion: String(++seq), labels: o.labels ?? { app: 'web' },
      creationTimestamp: o.created ?? '2026-01-01T00:00:00Z',
      deletionTimestamp: o.deleting ? '2026-01-01T00:01:00Z' : undefined,
      ownerReferences: o.owner ? [{ apiVersion: 'apps/v1', kind: 'ReplicaSet', name: o.owner, uid: `uid-${o.owner}`, controller: true }] : undefined,
    },
    spec: { nodeName: o.node, hostname: o.hostname, subdomain: o.subdomain, containers: [{ name: 'c', image: 'nginx', ports: o.ports?.map((p) => ({ ...p, protocol: 'TCP' })) }] },
    status: {
      phase: o.phase ?? (o.ip ? 'Running' : 'Pending'), podIP: o.ip, podIPs: o.ip ? [{ ip: o.ip }] : undefined,
      conditions: o.ip ? [{ type: 'Ready', status: o.ready === false ? 'False' : 'True', lastTransitionTime: '2026-01-01T00:00:10Z' }] : undefined,
    },
  };
}

export function makeService(name: string, o: { ns?: string; selector?: Record<string, string> | null; ports?: { name?: string; port: number; targetPort?: number | string }[]; clusterIP?: string; publishNotReady?: boolean; labels?: Record<string, string> } = {}): Service {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: o.ns ?? 'default', uid: `uid-svc-${name}`, labels: o.labels },
    spec: {
      selector: o.selector === null ? undefined : (o.selector ?? { app: 'web' }),
      ports: (o.ports ?? [{ port: 80, targetPort: 8080 }]).map((p) => ({ protocol: 'TCP', ...p })),
      clusterIP: o.clusterIP ?? '10.96.0.20', publishNotReadyAddresses: o.publishNotReady,
    },
  };
}

/** A Node as a kubelet registers it: Ready, with 110 pod slots unless `pods` says otherwise. */
export function makeNode(name: string, o: { ready?: boolean; taints?: { key: string; effect: string; value?: string }[]; labels?: Record<string, string>; pods?: number } = {}): Node {
  const slots = { pods: String(o.pods ?? 110) };
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: { name, uid: `uid-node-${name}`, labels: { 'kubernetes.io/hostname': name, ...(o.labels ?? {}) } },
    spec: { taints: o.taints },
    status: { capacity: slots, allocatable: slots, conditions: [{ type: 'Ready', status: o.ready === false ? 'False' : 'True' }] },
  };
}
