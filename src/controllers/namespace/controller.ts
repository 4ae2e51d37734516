/**
 * @module controllers/namespace/controller
 * Namespace controller (pkg/controller/namespace): a Namespace being deleted (phase
 * Terminating) has everything in it deleted; once nothing is left its "kubernetes" finalizer
 * is removed through the finalize subresource and the API server lets it go.
 */
import type { Namespace } from '../../api/types.js';
import { RESOURCES, res } from '../../api/registry.js';
import { keyOf } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound } from '../shared/errors.js';

export const CONTROLLER_NAME = 'namespace-controller';
export const FINALIZER = 'kubernetes';
const RECHECK_MS = 1000;

export class NamespaceController extends QueueController {
  private readonly nsInf;

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.nsInf = ctx.informers.get<Namespace>('namespaces');
    this.nsInf.addHandlers({ add: (n) => this.queue.add(keyOf(n)), update: (_o, n) => this.queue.add(keyOf(n)) });
  }

  protected async sync(name: string): Promise<void> {
    const ns = this.nsInf.get(name);
    if (!ns?.metadata?.deletionTimestamp) return;
    const c = this.ctx.client;
    let left = 0;
    // Pods last but one and events last, as the content's own controllers may still write them.
    const order = RESOURCES.filter((r) => r.namespaced && r.verbs.includes('list') && r.verbs.includes('delete'))
      .sort((a, b) => rank(a.resource) - rank(b.resource));
    for (const r of order) {
      const list = await c.list<{ metadata?: { name?: string; deletionTimestamp?: string } }>(r, name);
      for (const o of list.items) {
        left++;
        if (!o.metadata?.deletionTimestamp) await ignoreNotFound(c.delete(r, name, o.metadata!.name!, { propagationPolicy: 'Background' }));
      }
    }
    if (left) { this.queue.addAfter(name, RECHECK_MS); return; }
    const fins = ns.spec?.finalizers ?? [];
    if (fins.includes(FINALIZER)) {
      const latest = await ignoreNotFound(c.get<Namespace>(res('namespaces'), undefined, name));
      if (!latest) return;
      latest.spec = { ...(latest.spec ?? {}), finalizers: (latest.spec?.finalizers ?? []).filter((f) => f !== FINALIZER) };
      await ignoreNotFound(c.update(res('namespaces'), undefined, latest, 'finalize'));
    }
  }
}

function rank(resource: string): number {
  return resource === 'events' ? 3 : resource === 'pods' ? 2 : resource === 'leases' ? 1 : 0;
}
