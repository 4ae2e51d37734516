/**
 * @module controllers/endpointslicemirroring/controller
 * EndpointSlice mirroring controller: watches Endpoints and Services; for selector-less
 * Services keeps mirrored slices in step with the user's Endpoints, and removes them when the
 * Endpoints go away, get the skip-mirror label, or the Service gains a selector.
 */
import type { EndpointSlice, Endpoints, Service } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound, isNotFound } from '../shared/errors.js';
import { metrics } from '../shared/metrics.js';
import { SliceTracker } from '../shared/slicetracker.js';
import { BY_SERVICE, indexSlicesByService } from '../endpointslice/controller.js';
import { MANAGED_BY_LABEL, SERVICE_NAME_LABEL } from '../endpointslice/logic.js';
import { MIRROR_MANAGED_BY, computeMirrorSlices, shouldMirror } from './logic.js';

export const CONTROLLER_NAME = 'endpointslicemirroring-controller';
const STALE_RETRY_MS = 50;

export class EndpointSliceMirroringController extends QueueController {
  private readonly svcInf;
  private readonly epInf;
  private readonly sliceInf;
  private readonly tracker = new SliceTracker();

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.svcInf = ctx.informers.get<Service>('services');
    this.epInf = ctx.informers.get<Endpoints>('endpoints');
    this.sliceInf = ctx.informers.get<EndpointSlice>('endpointslices');
    indexSlicesByService(this.sliceInf);
    const enq = (o: { metadata?: any }) => this.queue.add(keyOf(o));
    this.svcInf.addHandlers({ add: enq, update: (_o, s) => enq(s), delete: enq });
    this.epInf.addHandlers({ add: enq, update: (_o, e) => enq(e), delete: enq });
    const sliceEvent = (s: EndpointSlice, deleted: boolean) => {
      if (s.metadata?.labels?.[MANAGED_BY_LABEL] !== MIRROR_MANAGED_BY) return;
      const k = `${s.metadata?.namespace}/${s.metadata?.labels?.[SERVICE_NAME_LABEL]}`;
      this.tracker.observed(k, s, deleted);
      this.queue.add(k);
    };
    this.sliceInf.addHandlers({ add: (s) => sliceEvent(s, false), update: (_o, s) => sliceEvent(s, false), delete: (s) => sliceEvent(s, true) });
  }

  protected async sync(key: string): Promise<void> {
    const { namespace } = splitKey(key);
    if (this.tracker.stale(key)) { this.queue.addAfter(key, STALE_RETRY_MS); return; }
    const ep = this.epInf.get(key);
    const svc = this.svcInf.get(key);
    const existing = this.sliceInf.byIndex(BY_SERVICE, key).filter((s) => s.metadata?.labels?.[MANAGED_BY_LABEL] === MIRROR_MANAGED_BY);
    const c = this.ctx.client;
    const r = res('endpointslices');
    if (!shouldMirror(ep, svc) || ep!.metadata?.deletionTimestamp) {
      for (const s of existing) {
        await ignoreNotFound(c.delete(r, namespace, s.metadata!.name!));
        this.tracker.deleted(key, s.metadata!.name!, this.sliceInf.get(keyOf(s)));
        metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'delete' });
      }
      return;
    }
    const ch = computeMirrorSlices(ep!, existing);
    // Mirroring does not keep placeholders: an Endpoints with no addresses mirrors to nothing.
    if (!(ep!.subsets ?? []).some((s) => s.addresses?.length || s.notReadyAddresses?.length)) {
      ch.create = [];
      ch.update = [];
      ch.delete = existing;
    }
    for (const s of ch.create) {
      const made = await c.create<EndpointSlice>(r, namespace, s);
      this.tracker.wrote(key, made, this.sliceInf.get(keyOf(made)));
      metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'create' });
    }
    for (const s of ch.update) {
      try {
        { const upd = await c.update<EndpointSlice>(r, namespace, s); this.tracker.wrote(key, upd, this.sliceInf.get(keyOf(upd))); }
        metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'update' });
      } catch (e) { if (!isNotFound(e)) throw e; }
    }
    for (const s of ch.delete) {
      await ignoreNotFound(c.delete(r, namespace, s.metadata!.name!));
      this.tracker.deleted(key, s.metadata!.name!, this.sliceInf.get(keyOf(s)));
      metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'delete' });
    }
  }
}
