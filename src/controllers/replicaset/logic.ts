/**
 * @module controllers/replicaset/logic
 * The pure parts of pkg/controller/replicaset: which pods to delete first when scaling down,
 * the pod a template stamps out, and the status a set of pods gives.
 */
import type { Pod, PodTemplateSpec, ReplicaSet } from '../../api/types.js';
import type { ReplicaSetStatus } from 'kubernetes-types/apps/v1.js';
import { isPodAvailable, isPodReady, podCondition } from '../shared/pods.js';
import { labelsContain } from '../shared/selectors.js';
import { newControllerRef } from '../shared/owners.js';

const PHASE_RANK: Record<string, number> = { Pending: 0, Unknown: 1, Running: 2 };

/**
 * controller.ActivePods ordering (Less = delete first):
 * unassigned < assigned; Pending < Unknown < Running; not ready < ready; ready for less time
 * first; more restarts first; newer first.
 */
export function compareForDeletion(a: Pod, b: Pod): number {
  const aa = a.spec?.nodeName ? 1 : 0, ba = b.spec?.nodeName ? 1 : 0;
  if (aa !== ba) return aa - ba;
  const ap = PHASE_RANK[a.status?.phase ?? 'Pending'] ?? 0, bp = PHASE_RANK[b.status?.phase ?? 'Pending'] ?? 0;
  if (ap !== bp) return ap - bp;
  const ar = isPodReady(a) ? 1 : 0, br = isPodReady(b) ? 1 : 0;
  if (ar !== br) return ar - br;
  if (ar && br) {
    const at = Date.parse(podCondition(a, 'Ready')?.lastTransitionTime ?? '') || 0;
    const bt = Date.parse(podCondition(b, 'Ready')?.lastTransitionTime ?? '') || 0;
    if (at !== bt) return bt - at; // ready more recently → delete first
  }
  const restarts = (p: Pod) => Math.max(0, ...(p.status?.containerStatuses ?? []).map((c) => c.restartCount ?? 0));
  if (restarts(a) !== restarts(b)) return restarts(b) - restarts(a);
  const ac = Date.parse(a.metadata?.creationTimestamp ?? '') || 0, bc = Date.parse(b.metadata?.creationTimestamp ?? '') || 0;
  return bc - ac;
}

export function podsToDelete(pods: Pod[], n: number): Pod[] {
  return [...pods].sort(compareForDeletion).slice(0, Math.max(0, n));
}

/** The pod a controller's template stamps out (GetPodFromTemplate). */
export function podFromTemplate(template: PodTemplateSpec, owner: { metadata?: any }, ownerKind: string, ownerApiVersion = 'apps/v1'): Pod {
  const tm = template.metadata ?? {};
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      generateName: `${owner.metadata.name}-`,
      namespace: owner.metadata.namespace,
      labels: { ...(tm.labels ?? {}) },
      annotations: tm.annotations ? { ...tm.annotations } : undefined,
      finalizers: tm.finalizers,
      ownerReferences: [newControllerRef(owner, ownerApiVersion, ownerKind)],
    },
    spec: structuredClone(template.spec ?? { containers: [] }),
  };
}

export function replicaSetStatus(rs: ReplicaSet, pods: Pod[], now = Date.now()): ReplicaSetStatus {
  const minReady = rs.spec?.minReadySeconds ?? 0;
  const tl = rs.spec?.template?.metadata?.labels;
  const status: ReplicaSetStatus = {
    replicas: pods.length,
    fullyLabeledReplicas: pods.filter((p) => labelsContain(p.metadata?.labels, tl)).length,
    readyReplicas: pods.filter(isPodReady).length,
    availableReplicas: pods.filter((p) => isPodAvailable(p, minReady, now)).length,
    observedGeneration: rs.metadata?.generation ?? 0,
  };
  const prev = rs.status?.conditions;
  if (prev?.length) status.conditions = prev;
  return status;
}

export function statusEqual(a: ReplicaSetStatus | undefined, b: ReplicaSetStatus): boolean {
  a ??= {} as ReplicaSetStatus;
  return (a.replicas ?? 0) === (b.replicas ?? 0) && (a.fullyLabeledReplicas ?? 0) === (b.fullyLabeledReplicas ?? 0)
    && (a.readyReplicas ?? 0) === (b.readyReplicas ?? 0) && (a.availableReplicas ?? 0) === (b.availableReplicas ?? 0)
    && (a.observedGeneration ?? 0) === (b.observedGeneration ?? 0);
}
