/**
 * @module controllers/deployment/logic
 * The pure parts of pkg/controller/deployment (util/deployment_util.go, rolling.go, progress.go):
 * pod-template-hash, finding the new ReplicaSet, surge/unavailable fenceposts, how far the
 * new and old ReplicaSets may scale this round, and the status and conditions that follow.
 */
import type { Deployment, DeploymentCondition, DeploymentStatus, PodTemplateSpec, ReplicaSet } from '../../api/types.js';
import { computeHash } from '../shared/hash.js';

export const POD_TEMPLATE_HASH = 'pod-template-hash';
export const REVISION_ANNOTATION = 'deployment.kubernetes.io/revision';
export const REVISION_HISTORY_ANNOTATION = 'deployment.kubernetes.io/revision-history';
export const DESIRED_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/desired-replicas';
export const MAX_REPLICAS_ANNOTATION = 'deployment.kubernetes.io/max-replicas';
/** Deployment annotations not copied to its ReplicaSets (annotationsToSkip upstream). */
const SKIP_ANNOTATIONS = new Set([
  'kubectl.kubernetes.io/last-applied-configuration', REVISION_ANNOTATION, REVISION_HISTORY_ANNOTATION,
  DESIRED_REPLICAS_ANNOTATION, MAX_REPLICAS_ANNOTATION, 'deprecated.deployment.rollback.to',
]);

// Upstream reasons (pkg/controller/deployment/util).
export const NEW_RS_CREATED = 'NewReplicaSetCreated';
export const FOUND_NEW_RS = 'FoundNewReplicaSet';
export const RS_UPDATED = 'ReplicaSetUpdated';
export const NEW_RS_AVAILABLE = 'NewReplicaSetAvailable';
export const TIMED_OUT = 'ProgressDeadlineExceeded';
export const PAUSED = 'DeploymentPaused';
export const RESUMED = 'DeploymentResumed';
export const MIN_AVAILABLE = 'MinimumReplicasAvailable';
export const MIN_UNAVAILABLE = 'MinimumReplicasUnavailable';

/** The hash that names a Deployment's ReplicaSet: ComputeHash(&d.Spec.Template, d.Status.CollisionCount). */
export function podTemplateHash(template: PodTemplateSpec, collisionCount?: number): string {
  return computeHash(template, collisionCount);
}

function withoutHash(t: PodTemplateSpec | undefined): PodTemplateSpec {
  const c = structuredClone(t ?? {});
  if (c.metadata?.labels) {
    delete c.metadata.labels[POD_TEMPLATE_HASH];
    if (!Object.keys(c.metadata.labels).length) delete c.metadata.labels;
  }
  return c;
}

/** EqualIgnoreHash: same template apart from the pod-template-hash label. */
export function equalIgnoreHash(a: PodTemplateSpec | undefined, b: PodTemplateSpec | undefined): boolean {
  return podTemplateHash(withoutHash(a)) === podTemplateHash(withoutHash(b));
}

export function revisionOf(rs: ReplicaSet): number {
  return Number(rs.metadata?.annotations?.[REVISION_ANNOTATION] ?? 0) || 0;
}

/** FindNewReplicaSet: the oldest ReplicaSet whose template equals the Deployment's. */
export function findNewReplicaSet(d: Deployment, rss: ReplicaSet[]): ReplicaSet | undefined {
  const sorted = [...rss].sort((a, b) => (Date.parse(a.metadata?.creationTimestamp ?? '') || 0) - (Date.parse(b.metadata?.creationTimestamp ?? '') || 0) || (a.metadata!.name! < b.metadata!.name! ? -1 : 1));
  return sorted.find((rs) => equalIgnoreHash(rs.spec?.template, d.spec?.template));
}

function intOrPercent(v: number | string | undefined, total: number, def: string, roundUp: boolean): number {
  const x = v ?? def;
  if (typeof x === 'number') return x;
  if (/^\d+%$/.test(x)) {
    const f = (parseInt(x, 10) * total) / 100;
    return roundUp ? Math.ceil(f) : Math.floor(f);
  }
  return parseInt(x, 10) || 0;
}

/** ResolveFenceposts: maxSurge rounds up, maxUnavailable down; both 0 → unavailable 1. */
export function resolveFenceposts(d: Deployment): { maxSurge: number; maxUnavailable: number } {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return { maxSurge: 0, maxUnavailable: replicas };
  const ru = d.spec?.strategy?.rollingUpdate;
  const maxSurge = intOrPercent(ru?.maxSurge as any, replicas, '25%', true);
  let maxUnavailable = intOrPercent(ru?.maxUnavailable as any, replicas, '25%', false);
  if (maxSurge === 0 && maxUnavailable === 0) maxUnavailable = 1;
  return { maxSurge, maxUnavailable: Math.min(maxUnavailable, replicas) };
}

const specReplicas = (rs: ReplicaSet | undefined) => rs?.spec?.replicas ?? 0;
const available = (rs: ReplicaSet | undefined) => rs?.status?.availableReplicas ?? 0;

/** NewRSNewReplicas: how big the new ReplicaSet may grow this round (rolling update). */
export function newRSNewReplicas(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet): number {
  const replicas = d.spec?.replicas ?? 1;
  if (d.spec?.strategy?.type === 'Recreate') return replicas;
  const { maxSurge } = resolveFenceposts(d);
  const current = all.reduce((n, rs) => n + specReplicas(rs), 0);
  const maxTotal = replicas + maxSurge;
  if (current >= maxTotal) return specReplicas(newRS);
  const up = Math.min(maxTotal - current, replicas - specReplicas(newRS));
  return specReplicas(newRS) + Math.max(0, up);
}

/**
 * reconcileOldReplicaSets in one pure step: the new spec.replicas of each old ReplicaSet so
 * that at least replicas − maxUnavailable pods stay available. Unhealthy old pods go first
 * (cleanupUnhealthyReplicas), then available ones, oldest ReplicaSet first.
 */
export function scaleDownOld(d: Deployment, oldRSs: ReplicaSet[], newRS: ReplicaSet | undefined): Map<string, number> {
  const out = new Map<string, number>();
  const all = newRS ? [...oldRSs, newRS] : oldRSs;
  const oldPods = oldRSs.reduce((n, rs) => n + specReplicas(rs), 0);
  if (!oldPods) return out;
  const allPods = all.reduce((n, rs) => n + specReplicas(rs), 0);
  const { maxUnavailable } = resolveFenceposts(d);
  const minAvailable = (d.spec?.replicas ?? 1) - maxUnavailable;
  const newUnavailable = specReplicas(newRS) - available(newRS);
  let maxScaledDown = allPods - minAvailable - newUnavailable;
  if (maxScaledDown <= 0) return out;
  const byAge = [...oldRSs].sort((a, b) => (Date.parse(a.metadata?.creationTimestamp ?? '') || 0) - (Date.parse(b.metadata?.creationTimestamp ?? '') || 0));
  const target = new Map(byAge.map((rs) => [rs.metadata!.name!, specReplicas(rs)]));
  // 1. unhealthy replicas
  for (const rs of byAge) {
    if (maxScaledDown <= 0) break;
    const cur = target.get(rs.metadata!.name!)!;
    const unhealthy = cur - available(rs);
    if (cur === 0 || unhealthy <= 0) continue;
    const n = Math.min(maxScaledDown, unhealthy);
    target.set(rs.metadata!.name!, cur - n);
    maxScaledDown -= n;
  }
  // 2. available replicas, keeping minAvailable
  const availableNow = all.reduce((n, rs) => n + available(rs), 0);
  let total = availableNow - minAvailable;
  for (const rs of byAge) {
    if (total <= 0) break;
    const cur = target.get(rs.metadata!.name!)!;
    if (cur === 0) continue;
    const n = Math.min(cur, total);
    target.set(rs.metadata!.name!, cur - n);
    total -= n;
  }
  for (const rs of byAge) if (target.get(rs.metadata!.name!) !== specReplicas(rs)) out.set(rs.metadata!.name!, target.get(rs.metadata!.name!)!);
  return out;
}

/** The annotations a Deployment's ReplicaSet carries (SetNewReplicaSetAnnotations). */
export function replicaSetAnnotations(d: Deployment, revision: number, existing: Record<string, string> = {}): Record<string, string> {
  const out: Record<string, string> = { ...existing };
  for (const [k, v] of Object.entries(d.metadata?.annotations ?? {})) if (!SKIP_ANNOTATIONS.has(k)) out[k] = v;
  const { maxSurge } = resolveFenceposts(d);
  const replicas = d.spec?.replicas ?? 1;
  out[REVISION_ANNOTATION] = String(revision);
  out[DESIRED_REPLICAS_ANNOTATION] = String(replicas);
  out[MAX_REPLICAS_ANNOTATION] = String(replicas + maxSurge);
  return out;
}

export function condition(type: string, status: 'True' | 'False' | 'Unknown', reason: string, message: string, now: string): DeploymentCondition {
  return { type, status, reason, message, lastUpdateTime: now, lastTransitionTime: now };
}

/** SetDeploymentCondition: keep lastTransitionTime when the status did not change. */
export function setCondition(conds: DeploymentCondition[], c: DeploymentCondition): DeploymentCondition[] {
  const old = conds.find((x) => x.type === c.type);
  if (old && old.status === c.status && old.reason === c.reason && old.message === c.message) return conds;
  const next = { ...c };
  if (old && old.status === c.status) next.lastTransitionTime = old.lastTransitionTime;
  return [...conds.filter((x) => x.type !== c.type), next].sort((a, b) => (a.type === 'Available' ? -1 : b.type === 'Available' ? 1 : 0));
}

/** calculateStatus + syncRolloutStatus conditions. */
export function deploymentStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined, now = new Date()): DeploymentStatus {
  const replicas = d.spec?.replicas ?? 1;
  const sum = (f: (rs: ReplicaSet) => number) => all.reduce((n, rs) => n + f(rs), 0);
  const status: DeploymentStatus = {
    observedGeneration: d.metadata?.generation ?? 0,
    replicas: sum((rs) => rs.status?.replicas ?? 0),
    updatedReplicas: newRS?.status?.replicas ?? 0,
    readyReplicas: sum((rs) => rs.status?.readyReplicas ?? 0),
    availableReplicas: sum((rs) => rs.status?.availableReplicas ?? 0),
    collisionCount: d.status?.collisionCount,
  };
  status.unavailableReplicas = Math.max(0, sum(specReplicas) - (status.availableReplicas ?? 0));
  const ts = now.toISOString().replace(/\.\d{3}Z$/, 'Z');
  let conds = [...(d.status?.conditions ?? [])];
  const { maxUnavailable } = resolveFenceposts(d);
  conds = (status.availableReplicas ?? 0) >= replicas - maxUnavailable
    ? setCondition(conds, condition('Available', 'True', MIN_AVAILABLE, 'Deployment has minimum availability.', ts))
    : setCondition(conds, condition('Available', 'False', MIN_UNAVAILABLE, 'Deployment does not have minimum availability.', ts));
  const name = newRS?.metadata?.name;
  if (d.spec?.paused) {
    conds = setCondition(conds, condition('Progressing', 'Unknown', PAUSED, 'Deployment is paused', ts));
  } else if (newRS) {
    const complete = status.updatedReplicas === replicas && status.replicas === replicas && status.availableReplicas === replicas && (newRS.spec?.replicas ?? 0) === replicas;
    const prog = conds.find((c) => c.type === 'Progressing');
    if (complete) {
      conds = setCondition(conds, condition('Progressing', 'True', NEW_RS_AVAILABLE, `ReplicaSet "${name}" has successfully progressed.`, ts));
    } else if (prog?.reason === TIMED_OUT && prog.message?.includes(`"${name}"`)) {
      // stays timed out until progress completes
    } else {
      const deadline = d.spec?.progressDeadlineSeconds ?? 600;
      const lastProgress = prog && prog.message?.includes(`"${name}"`) ? Date.parse(prog.lastUpdateTime ?? '') : now.getTime();
      const progressed = !d.status || (d.status.updatedReplicas ?? 0) !== status.updatedReplicas || (d.status.availableReplicas ?? 0) !== status.availableReplicas || (d.status.replicas ?? 0) !== status.replicas;
      if (!progressed && prog && lastProgress + deadline * 1000 < now.getTime()) {
        conds = setCondition(conds, condition('Progressing', 'False', TIMED_OUT, `ReplicaSet "${name}" has timed out progressing.`, ts));
      } else if (progressed || !prog || prog.reason === RESUMED || !prog.message?.includes(`"${name}"`)) {
        const c = condition('Progressing', 'True', prog?.reason === NEW_RS_CREATED && prog.message?.includes(`"${name}"`) && !progressed ? NEW_RS_CREATED : RS_UPDATED,
          prog?.reason === NEW_RS_CREATED && prog.message?.includes(`"${name}"`) && !progressed ? prog.message! : `ReplicaSet "${name}" is progressing.`, ts);
        if (prog && prog.status === 'True') c.lastTransitionTime = prog.lastTransitionTime;
        conds = [...conds.filter((x) => x.type !== 'Progressing'), c];
      }
    }
  }
  status.conditions = conds;
  return status;
}

/** Has the observed status changed in a way worth a write? (ignores timestamps of unchanged conditions) */
export function deploymentStatusEqual(a: DeploymentStatus | undefined, b: DeploymentStatus): boolean {
  return JSON.stringify(a ?? {}) === JSON.stringify(b);
}
