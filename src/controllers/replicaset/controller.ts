/**
 * @module controllers/replicaset/controller
 * ReplicaSet controller (pkg/controller/replicaset): keeps spec.replicas active pods owned by
 * each ReplicaSet, adopting matching orphans and releasing pods whose labels stopped matching,
 * and reports status (replicas, fullyLabeledReplicas, readyReplicas, availableReplicas).
 */
import type { Pod, ReplicaSet } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { BY_CONTROLLER_UID, BY_NAMESPACE } from '../shared/informers.js';
import { Expectations } from '../shared/expectations.js';
import { controllerRefOf, newControllerRef } from '../shared/owners.js';
import { isPodActive, podCondition } from '../shared/pods.js';
import { selectorFromLabelSelector } from '../shared/selectors.js';
import { ignoreNotFound } from '../shared/errors.js';
import { BURST_REPLICAS, SLOW_START_INITIAL_BATCH_SIZE, isNamespaceTerminating, slowStartBatch } from '../shared/slowstart.js';
import { podFromTemplate, podsToDelete, replicaSetStatus, statusEqual } from './logic.js';

export const CONTROLLER_NAME = 'replicaset-controller';

export class ReplicaSetController extends QueueController {
  private readonly rsInf;
  private readonly podInf;
  private readonly exp = new Expectations();

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.rsInf = ctx.informers.get<ReplicaSet>('replicasets');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.rsInf.addHandlers({
      add: (rs) => this.queue.add(keyOf(rs)),
      update: (_o, rs) => this.queue.add(keyOf(rs)),
      delete: (rs) => { this.exp.forget(keyOf(rs)); this.queue.add(keyOf(rs)); },
    });
    this.podInf.addHandlers({
      add: (p) => this.podChanged(p, 'add'),
      update: (o, p) => { this.podChanged(p, p.metadata?.deletionTimestamp && !o.metadata?.deletionTimestamp ? 'delete' : undefined); if (controllerRefOf(o)?.uid !== controllerRefOf(p)?.uid) this.podChanged(o); },
      delete: (p) => this.podChanged(p, 'delete'),
    });
  }

  private ownerKey(p: Pod): string | undefined {
    const ref = controllerRefOf(p);
    if (ref?.kind !== 'ReplicaSet') return undefined;
    const rs = this.rsInf.get(`${p.metadata?.namespace}/${ref.name}`);
    return rs?.metadata?.uid === ref.uid ? keyOf(rs) : undefined;
  }

  private podChanged(p: Pod, ev?: 'add' | 'delete'): void {
    const key = this.ownerKey(p);
    if (key) {
      if (ev === 'add') this.exp.creationObserved(key);
      if (ev === 'delete') this.exp.deletionObserved(key);
      this.queue.add(key);
      // Availability flips minReadySeconds after readiness: look again then.
      const rs = this.rsInf.get(key);
      const mrs = rs?.spec?.minReadySeconds ?? 0;
      if (mrs > 0 && podCondition(p, 'Ready')?.status === 'True') this.queue.addAfter(key, mrs * 1000 + 100);
      return;
    }
    if (!controllerRefOf(p) && ev !== 'delete') {
      // An orphan: every matching ReplicaSet may want to adopt it.
      for (const rs of this.rsInf.byIndex(BY_NAMESPACE, p.metadata?.namespace ?? '')) {
        if (selectorFromLabelSelector(rs.spec?.selector)(p.metadata?.labels)) this.queue.add(keyOf(rs));
      }
    }
  }

  protected async sync(key: string): Promise<void> {
    const rs = this.rsInf.get(key);
    if (!rs) { this.exp.forget(key); return; }
    const { namespace } = splitKey(key);
    const c = this.ctx.client;
    const uid = rs.metadata!.uid!;
    const sel = selectorFromLabelSelector(rs.spec?.selector);
    let owned = this.podInf.byIndex(BY_CONTROLLER_UID, uid);
    // Release pods whose labels no longer match (ClaimPods).
    for (const p of owned.filter((p) => !sel(p.metadata?.labels) && !p.metadata?.deletionTimestamp)) {
      const refs = (p.metadata?.ownerReferences ?? []).filter((r) => r.uid !== uid);
      await ignoreNotFound(c.patch(res('pods'), namespace, p.metadata!.name!, { metadata: { ownerReferences: refs.length ? refs : null } }, 'merge'));
    }
    owned = owned.filter((p) => sel(p.metadata?.labels));
    // Adopt matching orphans, unless we are being deleted.
    if (!rs.metadata?.deletionTimestamp) {
      for (const p of this.podInf.byIndex(BY_NAMESPACE, namespace ?? '')) {
        if (controllerRefOf(p) || p.metadata?.deletionTimestamp || !sel(p.metadata?.labels)) continue;
        const refs = [...(p.metadata?.ownerReferences ?? []), newControllerRef(rs, 'apps/v1', 'ReplicaSet')];
        const adopted = await ignoreNotFound(c.patch<Pod>(res('pods'), namespace, p.metadata!.name!, { metadata: { ownerReferences: refs, resourceVersion: p.metadata?.resourceVersion } }, 'merge').catch(() => undefined));
        if (adopted) owned.push(adopted);
      }
    }
    const active = owned.filter(isPodActive);
    if (this.exp.satisfied(key) && !rs.metadata?.deletionTimestamp) await this.manage(rs, active);
    const status = replicaSetStatus(rs, active);
    if (!statusEqual(rs.status, status)) {
      await c.update<ReplicaSet>(res('replicasets'), namespace, { ...rs, status } as ReplicaSet, 'status');
    }
    const mrs = rs.spec?.minReadySeconds ?? 0;
    if (mrs > 0 && status.readyReplicas !== status.availableReplicas) this.queue.addAfter(key, mrs * 1000);
  }

  private async manage(rs: ReplicaSet, active: Pod[]): Promise<void> {
    const key = keyOf(rs);
    const ns = rs.metadata!.namespace!;
    const want = rs.spec?.replicas ?? 1;
    const diff = active.length - want;
    const c = this.ctx.client;
    if (diff < 0) {
      // At most BURST_REPLICAS per sync, in slow-start batches; the rest comes with the next sync
      // (the informer's view of these creations satisfies the expectations and requeues us).
      const n = Math.min(-diff, BURST_REPLICAS);
      this.exp.expect(key, n, 0);
      const { successes, error } = await slowStartBatch(n, SLOW_START_INITIAL_BATCH_SIZE, async () => {
        try {
          const pod = await c.create<Pod>(res('pods'), ns, podFromTemplate(rs.spec!.template!, rs, 'ReplicaSet'));
          this.ctx.recorder.event(rs, 'Normal', 'SuccessfulCreate', `Created pod: ${pod.metadata!.name}`);
        } catch (e) {
          // Every create fails in a namespace being deleted: nothing to report or retry.
          if (isNamespaceTerminating(e)) { this.exp.creationObserved(key); return; }
          this.ctx.recorder.event(rs, 'Warning', 'FailedCreate', `Error creating: ${(e as Error).message}`);
          throw e;
        }
      });
      // Creations never attempted or refused will not be observed.
      for (let i = successes; i < n; i++) this.exp.creationObserved(key);
      if (error) throw error;
    } else if (diff > 0) {
      const victims = podsToDelete(active, Math.min(diff, BURST_REPLICAS));
      this.exp.expect(key, 0, victims.length);
      // All at once (as upstream), every one awaited; the first error is returned.
      const results = await Promise.allSettled(victims.map(async (p) => {
        try {
          await c.delete(res('pods'), ns, p.metadata!.name!);
          this.ctx.recorder.event(rs, 'Normal', 'SuccessfulDelete', `Deleted pod: ${p.metadata!.name}`);
        } catch (e) {
          this.exp.deletionObserved(key);
          if ((e as { code?: number }).code !== 404) {
            this.ctx.recorder.event(rs, 'Warning', 'FailedDelete', `Error deleting: ${(e as Error).message}`);
            throw e;
          }
        }
      }));
      const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed) throw failed.reason;
    }
  }
}
