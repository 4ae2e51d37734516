/**
 * @module controllers/statefulset/controller
 * StatefulSet controller (pkg/controller/statefulset): pods <set>-0..N-1 with hostname = pod
 * name and subdomain = spec.serviceName; OrderedReady creates N+1 only once 0..N are Running
 * and Ready and deletes from the highest ordinal, one at a time; Parallel does all at once.
 * Each template is stored as a ControllerRevision; RollingUpdate replaces pods from the
 * highest ordinal down to spec.updateStrategy.rollingUpdate.partition.
 */
import type { Pod, PodTemplateSpec, StatefulSet } from '../../api/types.js';
import type { ControllerRevision } from 'kubernetes-types/apps/v1.js';
import { res } from '../../api/registry.js';
import { keyOf } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { BY_CONTROLLER_UID } from '../shared/informers.js';
import { controllerRefOf, newControllerRef } from '../shared/owners.js';
import { ignoreNotFound, isAlreadyExists } from '../shared/errors.js';
import { isPodTerminal } from '../shared/pods.js';
import { BURST_REPLICAS, SLOW_START_INITIAL_BATCH_SIZE, slowStartBatch } from '../shared/slowstart.js';
import { REVISION_LABEL, isRunningAndReady, ordinalOf, podForOrdinal, revisionHash, revisionName, statefulSetStatus } from './logic.js';

export const CONTROLLER_NAME = 'statefulset-controller';

export class StatefulSetController extends QueueController {
  private readonly setInf;
  private readonly podInf;
  private readonly revInf;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.setInf = ctx.informers.get<StatefulSet>('statefulsets');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.revInf = ctx.informers.get<ControllerRevision>('controllerrevisions');
    this.setInf.addHandlers({ add: (s) => this.queue.add(keyOf(s)), update: (_o, s) => this.queue.add(keyOf(s)), delete: (s) => this.queue.add(keyOf(s)) });
    const podEv = (p: Pod) => { const r = controllerRefOf(p); if (r?.kind === 'StatefulSet') this.queue.add(`${p.metadata?.namespace}/${r.name}`); };
    this.podInf.addHandlers({ add: podEv, update: (_o, p) => podEv(p), delete: podEv });
  }

  /** The revision for the set's current template, creating it if needed. */
  private async ensureRevision(set: StatefulSet, revs: ControllerRevision[]): Promise<ControllerRevision> {
    const tpl = set.spec!.template!;
    const hash = revisionHash(tpl, set.status?.collisionCount ?? 0);
    const name = revisionName(set, hash);
    const found = revs.find((r) => r.metadata?.name === name);
    if (found) return found;
    const max = Math.max(0, ...revs.map((r) => r.revision ?? 0));
    const rev: ControllerRevision = {
      apiVersion: 'apps/v1', kind: 'ControllerRevision',
      metadata: {
        name, namespace: set.metadata!.namespace,
        labels: { ...(set.spec?.selector?.matchLabels ?? {}), [REVISION_LABEL]: hash },
        ownerReferences: [newControllerRef(set, 'apps/v1', 'StatefulSet')],
      },
      data: { spec: { template: { ...tpl, $patch: 'replace' } } },
      revision: max + 1,
    };
    try {
      return await this.ctx.client.create<ControllerRevision>(res('controllerrevisions'), set.metadata!.namespace, rev);
    } catch (e) {
      if (!isAlreadyExists(e)) throw e;
      return this.ctx.client.get<ControllerRevision>(res('controllerrevisions'), set.metadata!.namespace, name);
    }
  }

  protected async sync(key: string): Promise<void> {
    const set = this.setInf.get(key);
    if (!set || set.metadata?.deletionTimestamp) return;
    const ns = set.metadata!.namespace!;
    const c = this.ctx.client;
    const revs = this.revInf.byIndex(BY_CONTROLLER_UID, set.metadata!.uid!);
    const updateRev = await this.ensureRevision(set, revs);
    const updateRevision = updateRev.metadata!.name!.slice(set.metadata!.name!.length + 1);
    const currentRevision = set.status?.currentRevision || updateRevision;
    const currentRev = revs.find((r) => r.metadata?.name === revisionName(set, currentRevision)) ?? updateRev;
    const templateOf = (rev: ControllerRevision) => ((rev.data as any)?.spec?.template ?? set.spec!.template) as PodTemplateSpec & { $patch?: string };
    const clean = (t: PodTemplateSpec & { $patch?: string }) => { const { $patch: _p, ...rest } = t; return rest as PodTemplateSpec; };

    const replicas = set.spec?.replicas ?? 1;
    const parallel = set.spec?.podManagementPolicy === 'Parallel';
    const rolling = (set.spec?.updateStrategy?.type ?? 'RollingUpdate') === 'RollingUpdate';
    const partition = rolling ? (set.spec?.updateStrategy?.rollingUpdate?.partition ?? 0) : 0;
    const pods = this.podInf.byIndex(BY_CONTROLLER_UID, set.metadata!.uid!).filter((p) => ordinalOf(set, p) >= 0);
    const byOrd = new Map(pods.map((p) => [ordinalOf(set, p), p]));
    const rev = (p: Pod) => p.metadata?.labels?.[REVISION_LABEL];
    // Which revision an ordinal should run: below the partition stays on the current one.
    const wantRev = (i: number) => (rolling && i < partition ? currentRevision : updateRevision);
    const wantTpl = (i: number) => clean(templateOf(wantRev(i) === updateRevision ? updateRev : currentRev));

    let blocked = false;
    // Failed pods are recreated (deleted first).
    for (const p of pods) {
      if (isPodTerminal(p) && !p.metadata?.deletionTimestamp) {
        await ignoreNotFound(c.delete(res('pods'), ns, p.metadata!.name!));
        this.ctx.recorder.event(set, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata!.name} in StatefulSet ${set.metadata!.name} successful`);
        blocked = !parallel;
      }
    }
    // Create/wait in ordinal order. Parallel creates what is missing in slow-start batches, at most
    // BURST_REPLICAS per sync (the pods' add events bring the next sync); the scan stops there too,
    // so a huge spec.replicas never turns into one long loop.
    const create = async (i: number) => {
      const pod = podForOrdinal(set, wantTpl(i), i, wantRev(i));
      try {
        await c.create(res('pods'), ns, pod);
        this.ctx.recorder.event(set, 'Normal', 'SuccessfulCreate', `create Pod ${pod.metadata!.name} in StatefulSet ${set.metadata!.name} successful`);
      } catch (e) {
        if (isAlreadyExists(e)) return;
        this.ctx.recorder.event(set, 'Warning', 'FailedCreate', `create Pod ${pod.metadata!.name} in StatefulSet ${set.metadata!.name} failed error: ${(e as Error).message}`);
        throw e;
      }
    };
    const missing: number[] = [];
    for (let i = 0; i < replicas && !blocked && missing.length < BURST_REPLICAS; i++) {
      const p = byOrd.get(i);
      if (!p) {
        if (parallel) missing.push(i);
        else { await create(i); blocked = true; }
        continue;
      }
      if (!parallel && (!isRunningAndReady(p) || p.metadata?.deletionTimestamp)) blocked = true;
    }
    if (missing.length) {
      let next = 0;
      const { error } = await slowStartBatch(missing.length, SLOW_START_INITIAL_BATCH_SIZE, () => create(missing[next++]!));
      if (error) throw error;
    }
    // Scale down from the highest ordinal.
    const extra = pods.filter((p) => ordinalOf(set, p) >= replicas).sort((a, b) => ordinalOf(set, b) - ordinalOf(set, a));
    if (!blocked) {
      for (const p of extra) {
        if (p.metadata?.deletionTimestamp) { if (!parallel) break; continue; }
        await ignoreNotFound(c.delete(res('pods'), ns, p.metadata!.name!));
        this.ctx.recorder.event(set, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata!.name} in StatefulSet ${set.metadata!.name} successful`);
        if (!parallel) { blocked = true; break; }
      }
    }
    // Rolling update: all pods ready first, then one stale pod at a time from the top.
    if (!blocked && rolling && !extra.length) {
      const inRange = [...byOrd.entries()].filter(([i]) => i < replicas);
      const allReady = inRange.length === replicas && inRange.every(([, p]) => isRunningAndReady(p));
      if (allReady) {
        for (let i = replicas - 1; i >= partition; i--) {
          const p = byOrd.get(i)!;
          if (rev(p) !== updateRevision) {
            await ignoreNotFound(c.delete(res('pods'), ns, p.metadata!.name!));
            this.ctx.recorder.event(set, 'Normal', 'SuccessfulDelete', `delete Pod ${p.metadata!.name} in StatefulSet ${set.metadata!.name} successful`);
            break;
          }
        }
      }
    }
    const status = statefulSetStatus(set, pods.filter((p) => ordinalOf(set, p) < replicas || !p.metadata?.deletionTimestamp), currentRevision, updateRevision, set.status?.collisionCount ?? 0);
    if (JSON.stringify(set.status ?? {}) !== JSON.stringify({ ...set.status, ...status })) {
      await c.update<StatefulSet>(res('statefulsets'), ns, { ...set, status } as StatefulSet, 'status');
    }
    // Keep revision history bounded (revisionHistoryLimit, default 10), never the live ones.
    const limit = set.spec?.revisionHistoryLimit ?? 10;
    const live = new Set([currentRevision, updateRevision, ...pods.map(rev)]);
    const old = revs.filter((r) => !live.has(r.metadata!.name!.slice(set.metadata!.name!.length + 1))).sort((a, b) => (a.revision ?? 0) - (b.revision ?? 0));
    for (const r of old.slice(0, Math.max(0, old.length - limit))) await ignoreNotFound(c.delete(res('controllerrevisions'), ns, r.metadata!.name!));
  }
}
