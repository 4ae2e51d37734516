/**
 * @module controllers/shared/controller
 * What every loop shares: the context it is built from (client, shared informers, event
 * recorder, options) and the Controller shape the manager runs.
 */
import type { Client } from '../../client/rest.js';
import { EventRecorder } from '../../client/events.js';
import { WorkQueue } from '../../client/workqueue.js';
import type { SharedInformers } from './informers.js';
import { log } from './log.js';
import { metrics } from './metrics.js';

export interface ControllerOptions {
  /** LoadBalancer IP pool: "a.b.c.d-a.b.c.e" or CIDR, comma-separated. */
  lbPool: string;
  /** Node lease age after which a node is NotReady (ms). */
  nodeMonitorGracePeriodMs: number;
  /** --max-endpoints-per-slice */
  maxEndpointsPerSlice: number;
  /** Workers per queue. */
  workers: number;
  /** PEM of the cluster CA (--root-ca-file): the root-ca-cert-publisher runs only with it. */
  rootCA?: string;
}

export const DEFAULT_OPTIONS: ControllerOptions = {
  lbPool: '172.18.255.200-172.18.255.250',
  nodeMonitorGracePeriodMs: 40_000,
  maxEndpointsPerSlice: 100,
  workers: 2,
  rootCA: undefined,
};

export interface ControllerContext {
  client: Client;
  informers: SharedInformers;
  recorder: EventRecorder;
  opts: ControllerOptions;
}

export interface Controller {
  readonly name: string;
  /** Called after informers are registered but before they start (to add handlers). */
  start(): void;
  stop(): void;
}

/** A loop built on one work queue: handlers enqueue keys, sync(key) reconciles one object. */
export abstract class QueueController implements Controller {
  readonly queue: WorkQueue;
  private running?: Promise<void>;

  constructor(readonly name: string, protected readonly ctx: ControllerContext) {
    this.queue = new WorkQueue(name, (key, err) => {
      metrics.syncErrors.inc({ controller: name });
      // Conflicts are routine (a stale cache); they are retried like upstream, quietly.
      const conflict = (err as { code?: number })?.code === 409;
      log(conflict ? 'info' : 'warn', name, 'sync failed, will retry', { key, error: String((err as Error)?.message ?? err) });
    });
  }

  protected abstract sync(key: string): Promise<void>;

  start(): void {
    this.running = this.queue.run(async (key) => {
      const end = metrics.syncDuration.startTimer({ controller: this.name });
      try { await this.sync(key); } finally { end(); }
    }, this.ctx.opts.workers);
  }

  stop(): void {
    this.queue.shutdown();
  }

  /** Wait for the workers to return after stop(). */
  done(): Promise<void> {
    return this.running ?? Promise.resolve();
  }
}
