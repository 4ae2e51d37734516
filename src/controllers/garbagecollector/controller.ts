/**
 * @module controllers/garbagecollector/controller
 * Garbage collector (pkg/controller/garbagecollector), without the full dependency graph:
 * every watched object is indexed by the uids of its owners, and a work item per uid decides:
 *  - a dependent whose owners are all gone (confirmed by a live GET, as the informers may lag)
 *    is deleted in the background; owners that are gone are dropped from a dependent that
 *    still has others;
 *  - an owner deleting with the "orphan" finalizer has its reference removed from every
 *    dependent, then the finalizer removed;
 *  - an owner deleting with "foregroundDeletion" has its dependents deleted (foreground) and
 *    loses the finalizer once no dependent with blockOwnerDeletion is left.
 */
import type { MetaObject, OwnerReference } from '../../api/types.js';
import { res, resourceForKind, type ResourceInfo } from '../../api/registry.js';
import type { Informer } from '../../client/informer.js';
import { keyOf } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound, isNotFound } from '../shared/errors.js';

export const CONTROLLER_NAME = 'garbage-collector-controller';
export const ORPHAN = 'orphan';
export const FOREGROUND = 'foregroundDeletion';
const BY_OWNER = 'ownerUID';
const RECHECK_MS = 500;

/** Resources whose objects the collector watches (owners and dependents). */
export const GC_RESOURCES = ['pods', 'replicasets', 'deployments', 'statefulsets', 'controllerrevisions', 'services',
  'endpoints', 'endpointslices', 'configmaps', 'secrets', 'serviceaccounts', 'namespaces', 'nodes'];

interface Ref { r: ResourceInfo; inf: Informer<MetaObject>; key: string }

export class GarbageCollector extends QueueController {
  private readonly infs: { r: ResourceInfo; inf: Informer<MetaObject> }[] = [];
  private readonly byUid = new Map<string, Ref>();

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    for (const name of GC_RESOURCES) {
      const r = res(name);
      const inf = ctx.informers.get<MetaObject>(name);
      inf.addIndex(BY_OWNER, (o) => (o.metadata?.ownerReferences ?? []).map((x) => x.uid));
      this.infs.push({ r, inf });
      inf.addHandlers({
        add: (o) => this.seen(r, inf, o),
        update: (_old, o) => this.seen(r, inf, o),
        delete: (o) => {
          const uid = o.metadata?.uid;
          if (!uid) return;
          this.byUid.delete(uid);
          // Its dependents may now be orphans.
          for (const d of this.dependents(uid)) this.queue.add(d.metadata!.uid!);
          // An owner waiting in foreground for this one may now finish.
          for (const ref of o.metadata?.ownerReferences ?? []) this.queue.add(ref.uid);
        },
      });
    }
  }

  private seen(r: ResourceInfo, inf: Informer<MetaObject>, o: MetaObject): void {
    const uid = o.metadata?.uid;
    if (!uid) return;
    this.byUid.set(uid, { r, inf, key: keyOf(o) });
    if (o.metadata?.ownerReferences?.length || o.metadata?.deletionTimestamp) this.queue.add(uid);
    if (o.metadata?.deletionTimestamp) for (const ref of o.metadata?.ownerReferences ?? []) this.queue.add(ref.uid);
  }

  private dependents(uid: string): MetaObject[] {
    const out: MetaObject[] = [];
    for (const { inf } of this.infs) out.push(...inf.byIndex(BY_OWNER, uid));
    return out;
  }

  private lookup(uid: string): { ref: Ref; obj: MetaObject } | undefined {
    const ref = this.byUid.get(uid);
    const obj = ref?.inf.get(ref.key);
    return ref && obj ? { ref, obj } : undefined;
  }

  /** Is the owner absent? The informer answers "present"; "absent" is confirmed with a GET. */
  private async ownerAbsent(dep: MetaObject, owner: OwnerReference): Promise<boolean> {
    if (this.byUid.has(owner.uid)) return false;
    const r = resourceForKind(owner.apiVersion, owner.kind);
    if (!r) return false; // a kind we do not serve: never collect on its account
    try {
      const o = await this.ctx.client.get<MetaObject>(r, r.namespaced ? dep.metadata?.namespace : undefined, owner.name);
      return o.metadata?.uid !== owner.uid;
    } catch (e) {
      if (isNotFound(e)) return true;
      throw e;
    }
  }

  protected async sync(uid: string): Promise<void> {
    const found = this.lookup(uid);
    if (!found) return;
    const { ref, obj } = found;
    const c = this.ctx.client;
    const ns = obj.metadata?.namespace;
    const name = obj.metadata!.name!;
    const fins = obj.metadata?.finalizers ?? [];
    // Owner side.
    if (obj.metadata?.deletionTimestamp && fins.includes(ORPHAN)) {
      for (const d of this.dependents(uid)) {
        const dr = this.byUid.get(d.metadata!.uid!);
        if (!dr) continue;
        const refs = (d.metadata?.ownerReferences ?? []).filter((x) => x.uid !== uid);
        await ignoreNotFound(c.patch(dr.r, d.metadata?.namespace, d.metadata!.name!, { metadata: { ownerReferences: refs.length ? refs : null, uid: d.metadata!.uid } }, 'merge'));
      }
      await this.removeFinalizer(ref.r, ns, name, ORPHAN);
      return;
    }
    if (obj.metadata?.deletionTimestamp && fins.includes(FOREGROUND)) {
      const deps = this.dependents(uid);
      for (const d of deps) {
        if (d.metadata?.deletionTimestamp) continue;
        const dr = this.byUid.get(d.metadata!.uid!);
        if (dr) await ignoreNotFound(c.delete(dr.r, d.metadata?.namespace, d.metadata!.name!, { propagationPolicy: 'Foreground', preconditions: { uid: d.metadata!.uid } }));
      }
      const blocking = deps.filter((d) => d.metadata?.ownerReferences?.some((x) => x.uid === uid && x.blockOwnerDeletion));
      if (!blocking.length) await this.removeFinalizer(ref.r, ns, name, FOREGROUND);
      else this.queue.addAfter(uid, RECHECK_MS);
      return;
    }
    // Dependent side.
    const owners = obj.metadata?.ownerReferences ?? [];
    if (!owners.length || obj.metadata?.deletionTimestamp) return;
    const absent: OwnerReference[] = [];
    let waitingForeground = false;
    for (const o of owners) {
      if (await this.ownerAbsent(obj, o)) { absent.push(o); continue; }
      const owner = this.lookup(o.uid)?.obj;
      if (owner?.metadata?.deletionTimestamp && owner.metadata.finalizers?.includes(FOREGROUND)) waitingForeground = true;
    }
    if (absent.length === owners.length) {
      await ignoreNotFound(c.delete(ref.r, ns, name, { propagationPolicy: 'Background', preconditions: { uid } }));
    } else if (absent.length) {
      const keep = owners.filter((o) => !absent.includes(o));
      await ignoreNotFound(c.patch(ref.r, ns, name, { metadata: { ownerReferences: keep, uid } }, 'merge'));
    } else if (waitingForeground && owners.every((o) => { const ow = this.lookup(o.uid)?.obj; return ow?.metadata?.deletionTimestamp && ow.metadata.finalizers?.includes(FOREGROUND); })) {
      await ignoreNotFound(c.delete(ref.r, ns, name, { propagationPolicy: 'Foreground', preconditions: { uid } }));
    }
  }

  private async removeFinalizer(r: ResourceInfo, ns: string | undefined, name: string, fin: string): Promise<void> {
    for (let i = 0; i < 5; i++) {
      const cur = await ignoreNotFound(this.ctx.client.get<MetaObject>(r, ns, name));
      if (!cur || !cur.metadata?.finalizers?.includes(fin)) return;
      cur.metadata.finalizers = cur.metadata.finalizers.filter((f) => f !== fin);
      try { await this.ctx.client.update(r, ns, cur); return; } catch (e) { if ((e as { code?: number }).code !== 409) throw e; }
    }
    throw new Error(`${r.resource} "${name}": could not remove finalizer ${fin} after 5 conflicts`);
  }
}
