/**
 * @module controllers/endpoints/controller
 * Endpoints controller: keeps one core/v1 Endpoints per Service with a selector. Services
 * without a selector are left alone (their Endpoints are the user's); a Service's Endpoints
 * are deleted with it.
 */
import type { Endpoints, Pod, Service } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound, isNotFound } from '../shared/errors.js';
import { indexPodsByLabel, indexServicesBySelector, podsForService, servicesForPod } from '../shared/podindex.js';
import { podChangeMatters } from '../shared/podchange.js';
import { computeEndpoints, endpointsEqual } from './logic.js';

export const CONTROLLER_NAME = 'endpoints-controller';

export class EndpointsController extends QueueController {
  private readonly svcInf;
  private readonly podInf;
  private readonly epInf;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.svcInf = ctx.informers.get<Service>('services');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.epInf = ctx.informers.get<Endpoints>('endpoints');
    indexPodsByLabel(this.podInf);
    indexServicesBySelector(this.svcInf);
    this.svcInf.addHandlers({ add: (s) => this.queue.add(keyOf(s)), update: (_o, s) => this.queue.add(keyOf(s)), delete: (s) => this.queue.add(keyOf(s)) });
    const enqueuePod = (p: Pod) => { for (const k of servicesForPod(this.svcInf, p)) this.queue.add(k); };
    this.podInf.addHandlers({
      add: enqueuePod,
      update: (o, p) => { if (!podChangeMatters(o, p)) return; enqueuePod(p); if (o.metadata?.labels !== p.metadata?.labels) enqueuePod(o); },
      delete: enqueuePod,
    });
    // Someone edited or deleted our Endpoints: put it back.
    this.epInf.addHandlers({ update: (_o, e) => this.queue.add(keyOf(e)), delete: (e) => this.queue.add(keyOf(e)) });
  }

  protected async sync(key: string): Promise<void> {
    const { namespace, name } = splitKey(key);
    const c = this.ctx.client;
    const svc = this.svcInf.get(key);
    if (!svc) {
      // Upstream deletes the Endpoints of a deleted Service, selector or not.
      if (this.epInf.get(key)) await ignoreNotFound(c.delete(res('endpoints'), namespace, name));
      return;
    }
    if (!svc.spec?.selector || !Object.keys(svc.spec.selector).length) return;
    if (svc.metadata?.deletionTimestamp) return;
    const have = this.epInf.get(key);
    const want = computeEndpoints(svc, podsForService(this.podInf, svc), have);
    if (endpointsEqual(have, want)) return;
    if (!have) {
      try {
        await c.create(res('endpoints'), namespace, { ...want, metadata: { ...want.metadata, resourceVersion: undefined, uid: undefined, creationTimestamp: undefined } });
      } catch (e) {
        if ((e as { code?: number }).code === 409) { await c.update(res('endpoints'), namespace, { ...want, metadata: { ...want.metadata, resourceVersion: undefined } }); return; }
        throw e;
      }
      return;
    }
    try {
      await c.update(res('endpoints'), namespace, want);
    } catch (e) {
      if (isNotFound(e)) { this.queue.add(key); return; }
      throw e;
    }
  }
}
