/**
 * @module scheduler/scheduler
 * The scheduling loop: pending pods (no spec.nodeName, schedulerName default-scheduler) from
 * an informer go through a work queue, pickNode chooses, and a Binding is POSTed to
 * pods/<name>/binding. Success records "Scheduled"; no fit records "FailedScheduling" and the
 * pod waits until a node or pod changes (plus a periodic retry), as the unschedulable queue does.
 * Pods are counted per node from the informer plus the bindings not seen yet, so a burst of
 * pending pods never overfills a node's allocatable pod slots.
 */
import type { Binding, Node, Pod } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import { Informer } from '../client/informer.js';
import { WorkQueue } from '../client/workqueue.js';
import { EventRecorder } from '../client/events.js';
import { keyOf, splitKey } from '../client/keys.js';
import { failedSchedulingMessage, pickNode } from './logic.js';
import { metrics } from '../controllers/shared/metrics.js';
import { log } from '../controllers/shared/log.js';

export const SCHEDULER_NAME = 'default-scheduler';
const UNSCHEDULABLE_RETRY_MS = 10_000;

export class Scheduler {
  readonly pods: Informer<Pod>;
  readonly nodes: Informer<Node>;
  private readonly queue = new WorkQueue('scheduler', (key, err) => log('warn', 'scheduler', 'binding failed, will retry', { key, error: String((err as Error).message) }));
  private readonly recorder: EventRecorder;
  private readonly unschedulable = new Set<string>();
  /** Bindings made but not yet seen by the informer (pod key → node), counted for spreading. */
  private readonly assumed = new Map<string, string>();
  private retryTimer?: NodeJS.Timeout;

  constructor(private readonly client: Client, private readonly name = SCHEDULER_NAME) {
    this.recorder = new EventRecorder(client, name);
    this.pods = new Informer<Pod>(client, res('pods'));
    this.nodes = new Informer<Node>(client, res('nodes'));
    const consider = (p: Pod) => { if (this.pending(p)) this.queue.add(keyOf(p)); else this.assumed.delete(keyOf(p)); };
    const terminal = (p: Pod) => p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed';
    this.pods.addHandlers({
      add: consider,
      // A bound pod that finished frees its node's slot (NodeResourcesFit counts the others).
      update: (o, p) => { consider(p); if (p.spec?.nodeName && terminal(p) && !terminal(o)) this.retryUnschedulable(); },
      delete: (p) => { this.assumed.delete(keyOf(p)); this.unschedulable.delete(keyOf(p)); if (p.spec?.nodeName) this.retryUnschedulable(); },
    });
    this.nodes.addHandlers({ add: () => this.retryUnschedulable(), update: (o, n) => { if (o.metadata?.resourceVersion !== n.metadata?.resourceVersion) this.retryUnschedulable(); } });
  }

  private pending(p: Pod): boolean {
    return !p.spec?.nodeName && (p.spec?.schedulerName ?? SCHEDULER_NAME) === this.name && !p.metadata?.deletionTimestamp
      && p.status?.phase !== 'Succeeded' && p.status?.phase !== 'Failed';
  }

  private retryUnschedulable(): void {
    for (const k of this.unschedulable) this.queue.add(k);
    this.unschedulable.clear();
  }

  async start(workers = 1): Promise<void> {
    await Promise.all([this.nodes.start(), this.pods.start()]);
    void this.queue.run((k) => this.scheduleOne(k), workers);
    this.retryTimer = setInterval(() => this.retryUnschedulable(), UNSCHEDULABLE_RETRY_MS);
    this.retryTimer.unref();
  }

  stop(): void {
    if (this.retryTimer) clearInterval(this.retryTimer);
    this.queue.shutdown();
    this.pods.stop();
    this.nodes.stop();
  }

  private async scheduleOne(key: string): Promise<void> {
    const pod = this.pods.get(key);
    if (!pod || !this.pending(pod) || this.assumed.has(key)) return;
    const all = this.pods.list();
    // Count our own recent bindings the informer has not delivered yet.
    const view = all.map((p) => { const n = this.assumed.get(keyOf(p)); return n && !p.spec?.nodeName ? { ...p, spec: { ...p.spec!, nodeName: n } } : p; });
    const r = pickNode(pod, this.nodes.list(), view);
    if (!r.node) {
      metrics.scheduled.inc({ result: 'unschedulable' });
      this.unschedulable.add(key);
      this.recorder.event(pod, 'Warning', 'FailedScheduling', failedSchedulingMessage(r));
      const conds = (pod.status?.conditions ?? []).filter((c) => c.type !== 'PodScheduled');
      conds.push({ type: 'PodScheduled', status: 'False', reason: 'Unschedulable', message: failedSchedulingMessage(r), lastTransitionTime: new Date().toISOString().replace(/\.\d{3}Z$/, 'Z') });
      const cur = pod.status?.conditions?.find((c) => c.type === 'PodScheduled');
      if (cur?.status !== 'False') {
        await this.client.patch(res('pods'), pod.metadata!.namespace, pod.metadata!.name!, { status: { conditions: conds } }, 'merge', 'status').catch(() => undefined);
      }
      return;
    }
    const { namespace, name } = splitKey(key);
    const binding: Binding = {
      apiVersion: 'v1', kind: 'Binding',
      metadata: { name, namespace, uid: pod.metadata?.uid },
      target: { apiVersion: 'v1', kind: 'Node', name: r.node },
    };
    this.assumed.set(key, r.node);
    try {
      await this.client.create(res('pods'), namespace, binding, { subresource: 'binding', name });
    } catch (e) {
      this.assumed.delete(key);
      const code = (e as { code?: number }).code;
      if (code === 404 || code === 409) return; // gone, or bound by someone else
      metrics.scheduled.inc({ result: 'error' });
      throw e;
    }
    metrics.scheduled.inc({ result: 'scheduled' });
    this.recorder.event(pod, 'Normal', 'Scheduled', `Successfully assigned ${namespace}/${name} to ${r.node}`);
  }
}
