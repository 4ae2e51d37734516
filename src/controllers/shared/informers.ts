/**
 * @module controllers/shared/informers
 * One informer per resource, shared by every loop in the process (client-go's
 * SharedInformerFactory): each loop adds its handlers and indexes, then the manager starts them
 * all and waits for the initial lists before any loop syncs.
 */
import type { MetaObject } from '../../api/types.js';
import { res } from '../../api/registry.js';
import type { Client } from '../../client/rest.js';
import { Informer } from '../../client/informer.js';
import { controllerRefOf } from './owners.js';

/** Index of namespaced objects by namespace. */
export const BY_NAMESPACE = 'namespace';
/** Index by controller owner uid. */
export const BY_CONTROLLER_UID = 'controllerUID';

export class SharedInformers {
  private readonly informers = new Map<string, Informer<any>>();

  constructor(private readonly client: Client, private readonly resyncMs = 0) {}

  /** The informer for a resource (plural name as in the registry, e.g. 'pods'). */
  get<T extends MetaObject>(resource: string): Informer<T> {
    let inf = this.informers.get(resource);
    if (!inf) {
      inf = new Informer<T>(this.client, res(resource), { resyncMs: this.resyncMs });
      inf.addIndex(BY_NAMESPACE, (o: MetaObject) => [o.metadata?.namespace ?? '']);
      inf.addIndex(BY_CONTROLLER_UID, (o: MetaObject) => { const r = controllerRefOf(o); return r?.uid ? [r.uid] : []; });
      this.informers.set(resource, inf);
    }
    return inf as Informer<T>;
  }

  async start(): Promise<void> {
    await Promise.all([...this.informers.values()].map((i) => i.start()));
  }

  stop(): void {
    for (const i of this.informers.values()) i.stop();
  }
}
