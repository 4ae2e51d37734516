/**
 * @module client/leader
 * Leader election over a coordination.k8s.io/v1 Lease, like client-go's leaderelection: the
 * holder renews every renewMs; others take over once renewTime + leaseDuration has passed.
 * Updates are compare-and-swap on resourceVersion, so two candidates can never both win.
 */
import type { Lease } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from './rest.js';
import { ApiError } from './types.js';

export interface LeaderElectorOptions {
  client: Client;
  namespace: string;
  name: string;
  identity: string;
  leaseDurationSec?: number;
  renewMs?: number;
  retryMs?: number;
  onStartedLeading: () => void;
  onStoppedLeading?: () => void;
}

/** metav1.MicroTime as the API serializes it. */
export function microTime(d = new Date()): string {
  return d.toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}

export class LeaderElector {
  private leading = false;
  private timer?: NodeJS.Timeout;
  private stopped = false;

  constructor(private readonly o: LeaderElectorOptions) {}

  isLeader(): boolean {
    return this.leading;
  }

  start(): void {
    void this.tick();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.leading) { this.leading = false; this.o.onStoppedLeading?.(); }
  }

  private schedule(): void {
    if (this.stopped) return;
    const ms = this.leading ? (this.o.renewMs ?? 2000) : (this.o.retryMs ?? 2000);
    this.timer = setTimeout(() => void this.tick(), ms);
    this.timer.unref?.();
  }

  private async tick(): Promise<void> {
    try {
      const ok = await this.tryAcquireOrRenew();
      if (ok && !this.leading) { this.leading = true; this.o.onStartedLeading(); }
      if (!ok && this.leading) { this.leading = false; this.o.onStoppedLeading?.(); }
    } catch {
      // API unreachable: a leader that cannot renew steps down once its lease would expire.
      if (this.leading) { this.leading = false; this.o.onStoppedLeading?.(); }
    }
    this.schedule();
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const r = res('leases');
    const dur = this.o.leaseDurationSec ?? 15;
    const now = new Date();
    let lease: Lease | undefined;
    try {
      lease = await this.o.client.get<Lease>(r, this.o.namespace, this.o.name);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 404)) throw e;
    }
    if (!lease) {
      try {
        await this.o.client.create(r, this.o.namespace, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
          metadata: { name: this.o.name, namespace: this.o.namespace },
          spec: { holderIdentity: this.o.identity, leaseDurationSeconds: dur, acquireTime: microTime(now), renewTime: microTime(now), leaseTransitions: 0 },
        });
        return true;
      } catch (e) {
        if (e instanceof ApiError && e.code === 409) return false;
        throw e;
      }
    }
    const spec = lease.spec ?? {};
    const holder = spec.holderIdentity;
    const renewed = spec.renewTime ? Date.parse(spec.renewTime) : 0;
    const expired = renewed + (spec.leaseDurationSeconds ?? dur) * 1000 < now.getTime();
    if (holder && holder !== this.o.identity && !expired) return false;
    const next: Lease = {
      ...lease,
      spec: {
        ...spec,
        holderIdentity: this.o.identity,
        leaseDurationSeconds: dur,
        renewTime: microTime(now),
        acquireTime: holder === this.o.identity ? spec.acquireTime : microTime(now),
        leaseTransitions: (spec.leaseTransitions ?? 0) + (holder === this.o.identity ? 0 : 1),
      },
    };
    try {
      await this.o.client.update(r, this.o.namespace, next as any);
      return true;
    } catch (e) {
      if (e instanceof ApiError && e.code === 409) return false;
      throw e;
    }
  }
}
