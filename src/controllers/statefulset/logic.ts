/**
 * @module controllers/statefulset/logic
 * The pure parts of pkg/controller/statefulset: ordinals, revisions (ControllerRevision
 * names <sts>-<hash>), the pod for an ordinal, and the status a set of pods gives.
 */
import type { Pod, PodTemplateSpec, StatefulSet } from '../../api/types.js';
import type { StatefulSetStatus } from 'kubernetes-types/apps/v1.js';
import { computeHash } from '../shared/hash.js';
import { newControllerRef } from '../shared/owners.js';
import { isPodAvailable, isPodReady } from '../shared/pods.js';

export const POD_NAME_LABEL = 'statefulset.kubernetes.io/pod-name';
export const POD_INDEX_LABEL = 'apps.kubernetes.io/pod-index';
export const REVISION_LABEL = 'controller-revision-hash';

/** getParentNameAndOrdinal: "web-3" of set "web" → 3, anything else → -1. */
export function ordinalOf(set: StatefulSet, pod: Pod): number {
  const name = pod.metadata?.name ?? '';
  const prefix = `${set.metadata!.name}-`;
  if (!name.startsWith(prefix)) return -1;
  const rest = name.slice(prefix.length);
  return /^(0|[1-9]\d*)$/.test(rest) ? Number(rest) : -1;
}

export function revisionHash(template: PodTemplateSpec, collisionCount?: number): string {
  return computeHash(template, collisionCount);
}

export function revisionName(set: StatefulSet, hash: string): string {
  return `${set.metadata!.name}-${hash}`;
}

/** newVersionedStatefulSetPod. */
export function podForOrdinal(set: StatefulSet, template: PodTemplateSpec, ordinal: number, revision: string): Pod {
  const name = `${set.metadata!.name}-${ordinal}`;
  const tm = template.metadata ?? {};
  const spec = structuredClone(template.spec ?? { containers: [] });
  spec.hostname = name;
  if (set.spec?.serviceName) spec.subdomain = set.spec.serviceName;
  return {
    apiVersion: 'v1', kind: 'Pod',
    metadata: {
      name, namespace: set.metadata!.namespace,
      labels: { ...(tm.labels ?? {}), [POD_NAME_LABEL]: name, [POD_INDEX_LABEL]: String(ordinal), [REVISION_LABEL]: revision },
      annotations: tm.annotations ? { ...tm.annotations } : undefined,
      ownerReferences: [newControllerRef(set, 'apps/v1', 'StatefulSet')],
    },
    spec,
  };
}

export function isRunningAndReady(p: Pod): boolean {
  return p.status?.phase === 'Running' && isPodReady(p) && !p.metadata?.deletionTimestamp;
}

export function statefulSetStatus(set: StatefulSet, pods: Pod[], currentRevision: string, updateRevision: string, collisionCount: number): StatefulSetStatus {
  const live = pods;
  const rev = (p: Pod) => p.metadata?.labels?.[REVISION_LABEL];
  const s: StatefulSetStatus = {
    observedGeneration: set.metadata?.generation ?? 0,
    replicas: live.length,
    readyReplicas: live.filter(isPodReady).length,
    availableReplicas: live.filter((p) => isPodAvailable(p, set.spec?.minReadySeconds ?? 0)).length,
    currentReplicas: live.filter((p) => rev(p) === currentRevision).length,
    updatedReplicas: live.filter((p) => rev(p) === updateRevision).length,
    currentRevision, updateRevision, collisionCount,
  };
  // Rollout complete: the update revision becomes current.
  if (s.updatedReplicas === (set.spec?.replicas ?? 1) && s.readyReplicas === s.updatedReplicas && s.replicas === s.updatedReplicas) {
    s.currentRevision = updateRevision;
    s.currentReplicas = s.updatedReplicas;
  }
  return s;
}
