/**
 * @module controllers/serviceaccount/controller
 * ServiceAccounts controller (pkg/controller/serviceaccount/serviceaccounts_controller.go): every
 * active namespace has ServiceAccount "default". A namespace that appears (the system ones
 * included, found by the first list) gets it; a deleted "default" is made again; a namespace
 * that is terminating is left alone, as upstream.
 */
import type { Namespace, ServiceAccount } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { isAlreadyExists, isNotFound } from '../shared/errors.js';

export const CONTROLLER_NAME = 'serviceaccount-controller';
/** The accounts every namespace gets (upstream's --service-account… default: just "default"). */
export const MANAGED = ['default'];

export class ServiceAccountsController extends QueueController {
  private readonly nsInf;
  private readonly saInf;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.nsInf = ctx.informers.get<Namespace>('namespaces');
    this.saInf = ctx.informers.get<ServiceAccount>('serviceaccounts');
    this.nsInf.addHandlers({ add: (n) => this.queue.add(n.metadata!.name!), update: (_o, n) => this.queue.add(n.metadata!.name!) });
    this.saInf.addHandlers({ delete: (sa) => { if (MANAGED.includes(sa.metadata?.name ?? '')) this.queue.add(sa.metadata!.namespace!); } });
  }

  protected async sync(ns: string): Promise<void> {
    const n = this.nsInf.get(ns);
    if (!n || n.metadata?.deletionTimestamp || n.status?.phase === 'Terminating') return;
    for (const name of MANAGED) {
      if (this.saInf.get(`${ns}/${name}`)) continue;
      try {
        await this.ctx.client.create(res('serviceaccounts'), ns, { apiVersion: 'v1', kind: 'ServiceAccount', metadata: { name } });
      } catch (e) {
        // Already there (the cache lags), or the namespace went away meanwhile: nothing to do.
        if (isAlreadyExists(e) || isNotFound(e)) continue;
        // Forbidden: the namespace began terminating after the cache saw it.
        if ((e as { code?: number }).code === 403) continue;
        throw e;
      }
    }
  }
}
