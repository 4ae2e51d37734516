/**
 * @module scheduler
 * startScheduler: the scheduling loop behind a kube-system/kube-scheduler Lease, with
 * /healthz and /metrics.
 */
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import type { Client } from '../client/rest.js';
import { LeaderElector } from '../client/leader.js';
import { startHealthServer } from '../controllers/shared/health.js';
import { log } from '../controllers/shared/log.js';
import { Scheduler } from './scheduler.js';

export const LEASE_NAME = 'kube-scheduler';

export interface SchedulerOptions {
  leaderElect?: boolean;
  identity?: string;
  /** /healthz + /metrics port; 0 = off, -1 = any free port. */
  port?: number;
  schedulerName?: string;
  leaseDurationSec?: number;
  renewMs?: number;
  retryMs?: number;
}

export async function startScheduler(client: Client, o: SchedulerOptions = {}): Promise<{ stop(): Promise<void>; isLeader(): boolean; healthPort?: number }> {
  let current: Scheduler | undefined;
  const begin = async () => {
    const s = new Scheduler(client, o.schedulerName);
    current = s;
    await s.start();
    log('info', 'kube-scheduler', 'scheduling', {});
  };
  const end = () => { current?.stop(); current = undefined; };
  let elector: LeaderElector | undefined;
  if (o.leaderElect ?? true) {
    elector = new LeaderElector({
      client, namespace: 'kube-system', name: LEASE_NAME, identity: o.identity ?? `${hostname()}_${randomBytes(8).toString('hex')}`,
      leaseDurationSec: o.leaseDurationSec ?? 15, renewMs: o.renewMs ?? 2000, retryMs: o.retryMs ?? 2000,
      onStartedLeading: () => void begin(), onStoppedLeading: end,
    });
    elector.start();
  } else await begin();
  const health = await startHealthServer(o.port ?? 0);
  return {
    healthPort: health?.port,
    isLeader: () => (elector ? elector.isLeader() : true),
    stop: async () => { elector?.stop(); end(); await health?.close(); },
  };
}
