/**
 * @module controllers/loadbalancer/controller
 * LoadBalancer IP allocation, like MetalLB's controller: Services of type LoadBalancer with no
 * loadBalancerClass (or svcplane.io/lb) get an address from the pool in
 * status.loadBalancer.ingress[{ip, ipMode: VIP}]; spec.loadBalancerIP or the
 * metallb.universe.tf/loadBalancerIPs annotation asks for a specific one. An exhausted pool
 * leaves the Service pending with a Warning event; addresses are released when the Service
 * is deleted or stops being a LoadBalancer.
 */
import type { Service } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf, splitKey } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound } from '../shared/errors.js';
import { IPPool } from './pool.js';

export const CONTROLLER_NAME = 'service-lb-controller';
export const LB_CLASS = 'svcplane.io/lb';
export const IPS_ANNOTATION = 'metallb.universe.tf/loadBalancerIPs';
export const POOL_NAME = 'default';

export function isOurs(svc: Service): boolean {
  return svc.spec?.type === 'LoadBalancer' && (!svc.spec.loadBalancerClass || svc.spec.loadBalancerClass === LB_CLASS);
}

export function requestedIP(svc: Service): string | undefined {
  const a = svc.metadata?.annotations?.[IPS_ANNOTATION];
  if (a) return a.split(',').map((s) => s.trim()).find((s) => !s.includes(':'));
  return svc.spec?.loadBalancerIP || undefined;
}

export function ingressIPs(svc: Service): string[] {
  return (svc.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x);
}

/** Decide a Service's address: keep, take the requested one, or the lowest free. */
export function chooseIP(svc: Service, pool: IPPool, usedByOthers: Set<string>): { ip?: string; error?: string } {
  const want = requestedIP(svc);
  const have = ingressIPs(svc)[0];
  if (want) {
    if (!pool.contains(want)) return { error: `requested IP "${want}" is not in pool "${POOL_NAME}" (${pool.spec})` };
    if (usedByOthers.has(want)) return { error: `requested IP "${want}" is already allocated to another service` };
    return { ip: want };
  }
  if (have && pool.contains(have) && !usedByOthers.has(have)) return { ip: have };
  const ip = pool.firstFree(usedByOthers);
  return ip ? { ip } : { error: `no available IPs in pool "${POOL_NAME}" (${pool.spec})` };
}

export class LoadBalancerController extends QueueController {
  private readonly svcInf;
  private readonly pool: IPPool;
  /** Our allocations not yet seen through the informer (svc key → ip). */
  private readonly allocated = new Map<string, string>();

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.pool = new IPPool(ctx.opts.lbPool);
    this.svcInf = ctx.informers.get<Service>('services');
    const enq = (s: Service) => this.queue.add(keyOf(s));
    this.svcInf.addHandlers({
      add: enq,
      update: (o, s) => { if (o.metadata?.resourceVersion !== s.metadata?.resourceVersion) enq(s); },
      // A released address may let a pending Service in.
      delete: (s) => { this.allocated.delete(keyOf(s)); if (isOurs(s)) this.requeuePending(); },
    });
  }

  private requeuePending(): void {
    for (const s of this.svcInf.list()) if (isOurs(s) && !ingressIPs(s).length) this.queue.add(keyOf(s));
  }

  private usedByOthers(key: string): Set<string> {
    const used = new Set<string>();
    for (const s of this.svcInf.list()) {
      if (keyOf(s) === key || !isOurs(s)) continue;
      for (const ip of ingressIPs(s)) used.add(ip);
    }
    for (const [k, ip] of this.allocated) if (k !== key) used.add(ip);
    return used;
  }

  protected async sync(key: string): Promise<void> {
    const svc = this.svcInf.get(key);
    const { namespace, name } = splitKey(key);
    const c = this.ctx.client;
    if (!svc) { this.allocated.delete(key); return; }
    if (!isOurs(svc)) {
      const had = this.allocated.delete(key);
      // No longer a LoadBalancer: release the address we gave it.
      if (svc.spec?.type !== 'LoadBalancer' && ingressIPs(svc).some((ip) => this.pool.contains(ip))) {
        await ignoreNotFound(c.patch(res('services'), namespace, name, { status: { loadBalancer: { ingress: null } } }, 'merge', 'status'));
        this.requeuePending();
      } else if (had) this.requeuePending();
      return;
    }
    const { ip, error } = chooseIP(svc, this.pool, this.usedByOthers(key));
    if (!ip) {
      this.allocated.delete(key);
      this.ctx.recorder.event(svc, 'Warning', 'AllocationFailed', `Failed to allocate IP for "${key}": ${error}`);
      if (ingressIPs(svc).length) await ignoreNotFound(c.patch(res('services'), namespace, name, { status: { loadBalancer: { ingress: null } } }, 'merge', 'status'));
      return;
    }
    this.allocated.set(key, ip);
    const cur = svc.status?.loadBalancer?.ingress ?? [];
    if (cur.length === 1 && cur[0]!.ip === ip && cur[0]!.ipMode === 'VIP') return;
    await ignoreNotFound(c.patch(res('services'), namespace, name, { status: { loadBalancer: { ingress: [{ ip, ipMode: 'VIP' }] } } }, 'merge', 'status'));
    this.ctx.recorder.event(svc, 'Normal', 'IPAllocated', `Assigned IP ["${ip}"]`);
  }
}
