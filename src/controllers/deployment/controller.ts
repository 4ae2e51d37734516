/**
 * @module controllers/deployment/controller
 * Deployment controller (pkg/controller/deployment): one ReplicaSet per pod template, named
 * <deployment>-<pod-template-hash>; RollingUpdate (maxSurge / maxUnavailable over available
 * pods) and Recreate; revisions for rollout history and undo; old ReplicaSets trimmed to
 * revisionHistoryLimit; status and the Available / Progressing conditions kubectl reads.
 */
import type { Deployment, Pod, ReplicaSet } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { BY_CONTROLLER_UID, BY_NAMESPACE } from '../shared/informers.js';
import { selectorFromLabelSelector } from '../shared/selectors.js';
import { controllerRefOf, newControllerRef } from '../shared/owners.js';
import { isAlreadyExists, ignoreNotFound } from '../shared/errors.js';
import { isPodActive } from '../shared/pods.js';
import {
  DESIRED_REPLICAS_ANNOTATION, NEW_RS_CREATED, POD_TEMPLATE_HASH, REVISION_ANNOTATION, condition, deploymentStatus,
  deploymentStatusEqual, findNewReplicaSet, newRSNewReplicas, podTemplateHash, replicaSetAnnotations, resolveFenceposts,
  revisionOf, scaleDownOld, setCondition,
} from './logic.js';

export const CONTROLLER_NAME = 'deployment-controller';
const DEFAULT_HISTORY_LIMIT = 10;

export class DeploymentController extends QueueController {
  private readonly dInf;
  private readonly rsInf;
  private readonly podInf;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.dInf = ctx.informers.get<Deployment>('deployments');
    this.rsInf = ctx.informers.get<ReplicaSet>('replicasets');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.dInf.addHandlers({ add: (d) => this.queue.add(keyOf(d)), update: (_o, d) => this.queue.add(keyOf(d)), delete: (d) => this.queue.add(keyOf(d)) });
    const rsChanged = (rs: ReplicaSet) => {
      const ref = controllerRefOf(rs);
      if (ref?.kind === 'Deployment') this.queue.add(`${rs.metadata?.namespace}/${ref.name}`);
    };
    this.rsInf.addHandlers({ add: rsChanged, update: (_o, rs) => rsChanged(rs), delete: rsChanged });
    // Recreate waits for old pods to be gone: pod deletions wake the owning Deployment.
    this.podInf.addHandlers({
      delete: (p) => {
        const ref = controllerRefOf(p);
        if (ref?.kind !== 'ReplicaSet') return;
        const rs = this.rsInf.get(`${p.metadata?.namespace}/${ref.name}`);
        if (rs) rsChanged(rs);
      },
    });
  }

  /** ClaimReplicaSets: owned ones, plus orphans matching the selector (adopted). */
  private async ownedReplicaSets(d: Deployment): Promise<ReplicaSet[]> {
    const owned = this.rsInf.byIndex(BY_CONTROLLER_UID, d.metadata!.uid!);
    const sel = selectorFromLabelSelector(d.spec?.selector);
    for (const rs of this.rsInf.byIndex(BY_NAMESPACE, d.metadata!.namespace!)) {
      if (controllerRefOf(rs) || rs.metadata?.deletionTimestamp || !sel(rs.metadata?.labels)) continue;
      const refs = [...(rs.metadata?.ownerReferences ?? []), newControllerRef(d, 'apps/v1', 'Deployment')];
      const adopted = await ignoreNotFound(this.ctx.client.patch<ReplicaSet>(res('replicasets'), rs.metadata!.namespace, rs.metadata!.name!,
        { metadata: { ownerReferences: refs, resourceVersion: rs.metadata?.resourceVersion } }, 'merge'));
      if (adopted) owned.push(adopted);
    }
    return owned;
  }

  protected async sync(key: string): Promise<void> {
    const d0 = this.dInf.get(key);
    if (!d0 || d0.metadata?.deletionTimestamp) return;
    const d = structuredClone(d0);
    const rss = await this.ownedReplicaSets(d);
    let newRS = findNewReplicaSet(d, rss);
    const old = rss.filter((rs) => rs !== newRS);
    if (d.spec?.paused) {
      // Paused: scale only, no new template rolled out.
      if (newRS && (newRS.spec?.replicas ?? 0) !== (d.spec?.replicas ?? 1) && !old.some((rs) => (rs.spec?.replicas ?? 0) > 0)) {
        newRS = await this.scaleRS(d, newRS, d.spec?.replicas ?? 1);
      }
      return this.syncStatus(d, rss, newRS);
    }
    if (d.spec?.strategy?.type === 'Recreate') {
      newRS = await this.recreate(d, old, newRS);
    } else {
      newRS = await this.rolling(d, old, newRS);
    }
    await this.cleanup(d, old);
    const all = newRS ? [...old.map((rs) => this.rsInf.get(keyOf(rs)) ?? rs), newRS] : old;
    await this.syncStatus(d, all, newRS);
  }

  /** getNewReplicaSet(createIfNotExisted): create it, or bump an adopted old one to the newest revision. */
  private async ensureNewRS(d: Deployment, old: ReplicaSet[], existing: ReplicaSet | undefined, initialReplicas: (rs: ReplicaSet) => number): Promise<ReplicaSet> {
    const maxOld = Math.max(0, ...old.map(revisionOf));
    const ns = d.metadata!.namespace!;
    if (existing) {
      const rev = revisionOf(existing);
      const want = rev > maxOld ? rev : maxOld + 1;
      const ann = replicaSetAnnotations(d, want, existing.metadata?.annotations);
      // desired/max replicas are updated by scaling; keep them here unless the revision moves.
      if (JSON.stringify(ann) !== JSON.stringify(existing.metadata?.annotations ?? {}) || (existing.spec?.minReadySeconds ?? 0) !== (d.spec?.minReadySeconds ?? 0)) {
        const upd = structuredClone(existing);
        upd.metadata!.annotations = ann;
        upd.spec!.minReadySeconds = d.spec?.minReadySeconds;
        return this.ctx.client.update<ReplicaSet>(res('replicasets'), ns, upd);
      }
      return existing;
    }
    const collisions = d.status?.collisionCount;
    const hash = podTemplateHash(d.spec!.template!, collisions);
    const template = structuredClone(d.spec!.template!);
    template.metadata = { ...(template.metadata ?? {}), labels: { ...(template.metadata?.labels ?? {}), [POD_TEMPLATE_HASH]: hash } };
    const selector = structuredClone(d.spec!.selector ?? {});
    selector.matchLabels = { ...(selector.matchLabels ?? {}), [POD_TEMPLATE_HASH]: hash };
    const rs: ReplicaSet = {
      apiVersion: 'apps/v1', kind: 'ReplicaSet',
      metadata: {
        name: `${d.metadata!.name}-${hash}`, namespace: ns,
        labels: { ...(template.metadata.labels ?? {}) },
        annotations: replicaSetAnnotations(d, maxOld + 1),
        ownerReferences: [newControllerRef(d, 'apps/v1', 'Deployment')],
      },
      spec: { replicas: 0, minReadySeconds: d.spec?.minReadySeconds, selector, template },
    };
    rs.spec!.replicas = initialReplicas(rs);
    try {
      const created = await this.ctx.client.create<ReplicaSet>(res('replicasets'), ns, rs);
      if ((created.spec?.replicas ?? 0) > 0) {
        this.ctx.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled up replica set ${created.metadata!.name} from 0 to ${created.spec!.replicas}`);
      }
      const ts = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      d.status = { ...(d.status ?? {}), conditions: setCondition(d.status?.conditions ?? [], condition('Progressing', 'True', NEW_RS_CREATED, `Created new replica set "${created.metadata!.name}"`, ts)) };
      return created;
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      // Same name, different template (a hash collision): count it so the next hash differs.
      const other = await this.ctx.client.get<ReplicaSet>(res('replicasets'), ns, rs.metadata!.name!);
      if (controllerRefOf(other)?.uid === d.metadata?.uid && findNewReplicaSet(d, [other])) return other;
      const next = { ...d0Status(d), collisionCount: (d.status?.collisionCount ?? 0) + 1 };
      await this.ctx.client.update<Deployment>(res('deployments'), ns, { ...d, status: next } as Deployment, 'status');
      throw new Error(`deployment ${keyOf(d)}: hash collision on replica set ${rs.metadata!.name}, retrying with collisionCount ${next.collisionCount}`);
    }
  }

  private async scaleRS(d: Deployment, rs: ReplicaSet, n: number): Promise<ReplicaSet> {
    const from = rs.spec?.replicas ?? 0;
    const { maxSurge } = resolveFenceposts(d);
    const upd = structuredClone(rs);
    upd.spec!.replicas = n;
    upd.metadata!.annotations = { ...(upd.metadata?.annotations ?? {}), [DESIRED_REPLICAS_ANNOTATION]: String(d.spec?.replicas ?? 1), 'deployment.kubernetes.io/max-replicas': String((d.spec?.replicas ?? 1) + maxSurge) };
    const out = await this.ctx.client.update<ReplicaSet>(res('replicasets'), rs.metadata!.namespace, upd);
    if (from !== n) {
      this.ctx.recorder.event(d, 'Normal', 'ScalingReplicaSet', `Scaled ${n > from ? 'up' : 'down'} replica set ${rs.metadata!.name} from ${from} to ${n}`);
    }
    return out;
  }

  private async rolling(d: Deployment, old: ReplicaSet[], existing: ReplicaSet | undefined): Promise<ReplicaSet> {
    let newRS = await this.ensureNewRS(d, old, existing, (rs) => newRSNewReplicas(d, old, rs));
    const replicas = d.spec?.replicas ?? 1;
    // reconcileNewReplicaSet
    const cur = newRS.spec?.replicas ?? 0;
    const target = cur > replicas ? replicas : newRSNewReplicas(d, [...old, newRS], newRS);
    if (target !== cur) newRS = await this.scaleRS(d, newRS, target);
    // reconcileOldReplicaSets
    const downs = scaleDownOld(d, old, newRS);
    for (const rs of old) {
      const n = downs.get(rs.metadata!.name!);
      if (n !== undefined) await this.scaleRS(d, rs, n);
    }
    return newRS;
  }

  private async recreate(d: Deployment, old: ReplicaSet[], existing: ReplicaSet | undefined): Promise<ReplicaSet | undefined> {
    for (const rs of old) if ((rs.spec?.replicas ?? 0) > 0) await this.scaleRS(d, rs, 0);
    // Wait until no old pod is running before the new ones start.
    const oldRunning = old.some((rs) => this.podInf.byIndex(BY_CONTROLLER_UID, rs.metadata!.uid!).some(isPodActive) || (rs.status?.replicas ?? 0) > 0);
    if (oldRunning && !existing) return undefined;
    if (oldRunning) return existing;
    let newRS = await this.ensureNewRS(d, old, existing, () => d.spec?.replicas ?? 1);
    if ((newRS.spec?.replicas ?? 0) !== (d.spec?.replicas ?? 1)) newRS = await this.scaleRS(d, newRS, d.spec?.replicas ?? 1);
    return newRS;
  }

  /** cleanupDeployment: delete the oldest empty ReplicaSets beyond revisionHistoryLimit. */
  private async cleanup(d: Deployment, old: ReplicaSet[]): Promise<void> {
    const limit = d.spec?.revisionHistoryLimit ?? DEFAULT_HISTORY_LIMIT;
    const cands = old.filter((rs) => (rs.spec?.replicas ?? 0) === 0 && (rs.status?.replicas ?? 0) === 0 && !rs.metadata?.deletionTimestamp)
      .sort((a, b) => revisionOf(a) - revisionOf(b));
    const extra = cands.length - limit;
    for (let i = 0; i < extra; i++) await ignoreNotFound(this.ctx.client.delete(res('replicasets'), d.metadata!.namespace, cands[i]!.metadata!.name!));
  }

  private async syncStatus(d: Deployment, all: ReplicaSet[], newRS: ReplicaSet | undefined): Promise<void> {
    const status = deploymentStatus(d, all, newRS);
    if (deploymentStatusEqual(this.dInf.get(keyOf(d))?.status, status)) return;
    const { namespace } = splitKey(keyOf(d));
    const latest = this.dInf.get(keyOf(d)) ?? d;
    await this.ctx.client.update<Deployment>(res('deployments'), namespace, { ...latest, status } as Deployment, 'status');
    // Progress deadline: look again when it would expire.
    if (status.conditions?.some((c) => c.type === 'Progressing' && c.status === 'True' && c.reason !== 'NewReplicaSetAvailable')) {
      this.queue.addAfter(keyOf(d), ((d.spec?.progressDeadlineSeconds ?? 600) + 1) * 1000);
    }
  }
}

function d0Status(d: Deployment) {
  return d.status ?? {};
}

export { REVISION_ANNOTATION };
