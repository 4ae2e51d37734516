/**
 * @module controllers/endpointslice/controller
 * EndpointSlice controller (pkg/controller/endpointslice): slices for every Service with a
 * selector, labelled kubernetes.io/service-name and managed-by endpointslice-controller.k8s.io,
 * owned by the Service, at most maxEndpointsPerSlice endpoints each; one slice write per pod
 * change (see logic.ts). Zones come from the node label topology.kubernetes.io/zone.
 */
import type { EndpointSlice, Node, Pod, Service } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound, isNotFound } from '../shared/errors.js';
import { metrics } from '../shared/metrics.js';
import { indexPodsByLabel, indexServicesBySelector, podsForService, servicesForPod } from '../shared/podindex.js';
import { podChangeMatters } from '../shared/podchange.js';
import { SliceTracker } from '../shared/slicetracker.js';
import { CONTROLLER_MANAGED_BY, MANAGED_BY_LABEL, SERVICE_NAME_LABEL, ZONE_LABEL, computeSlices, desiredGroups } from './logic.js';

export const CONTROLLER_NAME = 'endpointslice-controller';
export const BY_SERVICE = 'sliceService';
/** How long to wait for the informer to catch up with our own writes. */
const STALE_RETRY_MS = 50;

/** Index slices by "namespace/service" of their kubernetes.io/service-name label. */
export function indexSlicesByService(inf: { addIndex(name: string, fn: (o: EndpointSlice) => string[]): unknown }): void {
  inf.addIndex(BY_SERVICE, (s) => { const n = s.metadata?.labels?.[SERVICE_NAME_LABEL]; return n ? [`${s.metadata?.namespace}/${n}`] : []; });
}

export class EndpointSliceController extends QueueController {
  private readonly svcInf;
  private readonly podInf;
  private readonly sliceInf;
  private readonly nodeInf;
  private readonly tracker = new SliceTracker();
  /** Optional hook for the bench: called after a service's slices were written. */
  onWrite?: (svcKey: string, op: 'create' | 'update' | 'delete', slice: EndpointSlice) => void;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.svcInf = ctx.informers.get<Service>('services');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.sliceInf = ctx.informers.get<EndpointSlice>('endpointslices');
    this.nodeInf = ctx.informers.get<Node>('nodes');
    indexPodsByLabel(this.podInf);
    indexServicesBySelector(this.svcInf);
    indexSlicesByService(this.sliceInf);
    this.svcInf.addHandlers({ add: (s) => this.queue.add(keyOf(s)), update: (_o, s) => this.queue.add(keyOf(s)), delete: (s) => { this.tracker.forget(keyOf(s)); this.queue.add(keyOf(s)); } });
    const enqueuePod = (p: Pod) => { for (const k of servicesForPod(this.svcInf, p)) this.queue.add(k); };
    this.podInf.addHandlers({
      add: enqueuePod,
      update: (o, p) => { if (!podChangeMatters(o, p)) return; enqueuePod(p); enqueuePod(o); },
      delete: enqueuePod,
    });
    const sliceEvent = (s: EndpointSlice, deleted: boolean) => {
      if (s.metadata?.labels?.[MANAGED_BY_LABEL] !== CONTROLLER_MANAGED_BY) return;
      const n = s.metadata?.labels?.[SERVICE_NAME_LABEL];
      if (!n) return;
      const k = `${s.metadata?.namespace}/${n}`;
      this.tracker.observed(k, s, deleted);
      this.queue.add(k);
    };
    this.sliceInf.addHandlers({ add: (s) => sliceEvent(s, false), update: (_o, s) => sliceEvent(s, false), delete: (s) => sliceEvent(s, true) });
  }

  private zoneOf = (node: string): string | undefined => this.nodeInf.get(node)?.metadata?.labels?.[ZONE_LABEL];

  protected async sync(key: string): Promise<void> {
    const { namespace } = splitKey(key);
    const svc = this.svcInf.get(key);
    // Deleted Services: their slices go with them through ownerReferences (garbage collector).
    if (!svc || svc.metadata?.deletionTimestamp) return;
    if (!svc.spec?.selector || !Object.keys(svc.spec.selector).length || svc.spec.type === 'ExternalName') return;
    if (this.tracker.stale(key)) { this.queue.addAfter(key, STALE_RETRY_MS); return; }
    const existing = this.sliceInf.byIndex(BY_SERVICE, key).filter((s) => s.metadata?.labels?.[MANAGED_BY_LABEL] === CONTROLLER_MANAGED_BY);
    const desired = desiredGroups(svc, podsForService(this.podInf, svc), this.zoneOf);
    const ch = computeSlices(svc, desired, existing, this.ctx.opts.maxEndpointsPerSlice);
    const c = this.ctx.client;
    const r = res('endpointslices');
    // Creates first, deletes last, so readers never see a Service with fewer endpoints than it has.
    for (const s of ch.create) {
      const made = await c.create<EndpointSlice>(r, namespace, s);
      this.tracker.wrote(key, made, this.sliceInf.get(keyOf(made)));
      metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'create' });
      this.onWrite?.(key, 'create', made);
    }
    for (const s of ch.update) {
      try {
        const upd = await c.update<EndpointSlice>(r, namespace, s);
        this.tracker.wrote(key, upd, this.sliceInf.get(keyOf(upd)));
        metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'update' });
        this.onWrite?.(key, 'update', upd);
      } catch (e) {
        if (isNotFound(e)) continue;
        throw e;
      }
    }
    for (const s of ch.delete) {
      await ignoreNotFound(c.delete(r, namespace, s.metadata!.name!));
      this.tracker.deleted(key, s.metadata!.name!, this.sliceInf.get(keyOf(s)));
      metrics.sliceWrites.inc({ controller: CONTROLLER_NAME, op: 'delete' });
      this.onWrite?.(key, 'delete', s);
    }
  }
}
