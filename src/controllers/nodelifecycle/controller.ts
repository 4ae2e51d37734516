/**
 * @module controllers/nodelifecycle/controller
 * Node lifecycle (pkg/controller/nodelifecycle): a node whose kube-node-lease Lease has not been
 * renewed for the grace period (40 s) gets its conditions set to Unknown ("Kubelet stopped
 * posting node status."), the node.kubernetes.io/unreachable taints, and its pods' Ready
 * condition set to False so endpoints move them to not-ready. When the lease is renewed again
 * the taints are removed (the node agent sets Ready itself).
 */
import type { Lease, Node, NodeCondition, Pod } from '../../api/types.js';
import { res } from '../../api/registry.js';
import { keyOf } from '../../client/keys.js';
import { QueueController, type ControllerContext } from '../shared/controller.js';
import { ignoreNotFound } from '../shared/errors.js';

export const CONTROLLER_NAME = 'node-lifecycle-controller';
export const LEASE_NAMESPACE = 'kube-node-lease';
export const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
const MONITOR_PERIOD_MS = 5000;
const BY_NODE = 'nodeName';

/** When did the node last show life? (lease renewTime, Ready heartbeat, or creation) */
export function lastHeartbeat(node: Node, lease: Lease | undefined): number {
  const times = [lease?.spec?.renewTime, node.status?.conditions?.find((c) => c.type === 'Ready')?.lastHeartbeatTime]
    .map((t) => (t ? Date.parse(t) : 0));
  return Math.max(...times, 0) || Date.parse(node.metadata?.creationTimestamp ?? '') || 0;
}

export function unknownConditions(conds: NodeCondition[], now: string): NodeCondition[] {
  const types = ['Ready', 'MemoryPressure', 'DiskPressure', 'PIDPressure'];
  const out = conds.filter((c) => !types.includes(c.type));
  for (const t of types) {
    const old = conds.find((c) => c.type === t);
    out.push({
      type: t, status: 'Unknown', reason: 'NodeStatusUnknown', message: 'Kubelet stopped posting node status.',
      lastHeartbeatTime: old?.lastHeartbeatTime ?? now, lastTransitionTime: old?.status === 'Unknown' ? old.lastTransitionTime : now,
    });
  }
  return out;
}

export class NodeLifecycleController extends QueueController {
  private readonly nodeInf;
  private readonly leaseInf;
  private readonly podInf;
  private timer?: NodeJS.Timeout;
  /** Grace starts when we start watching, so a restarted controller does not mark every node at once. */
  private readonly startedAt = Date.now();

  constructor(ctx: ControllerContext) {
    super(CONTROLLER_NAME, ctx);
    this.nodeInf = ctx.informers.get<Node>('nodes');
    this.leaseInf = ctx.informers.get<Lease>('leases');
    this.podInf = ctx.informers.get<Pod>('pods');
    this.podInf.addIndex(BY_NODE, (p) => (p.spec?.nodeName ? [p.spec.nodeName] : []));
    this.nodeInf.addHandlers({ add: (n) => this.queue.add(keyOf(n)), update: (_o, n) => this.queue.add(keyOf(n)) });
    this.leaseInf.addHandlers({
      update: (_o, l) => { if (l.metadata?.namespace === LEASE_NAMESPACE) this.queue.add(l.metadata!.name!); },
    });
  }

  override start(): void {
    super.start();
    this.timer = setInterval(() => { for (const n of this.nodeInf.list()) this.queue.add(keyOf(n)); }, Math.min(MONITOR_PERIOD_MS, this.ctx.opts.nodeMonitorGracePeriodMs / 4));
    this.timer.unref();
  }

  override stop(): void {
    if (this.timer) clearInterval(this.timer);
    super.stop();
  }

  protected async sync(name: string): Promise<void> {
    const node = this.nodeInf.get(name);
    if (!node) return;
    const lease = this.leaseInf.get(`${LEASE_NAMESPACE}/${name}`);
    const last = Math.max(lastHeartbeat(node, lease), this.startedAt);
    const stale = Date.now() - last > this.ctx.opts.nodeMonitorGracePeriodMs;
    const c = this.ctx.client;
    const taints = node.spec?.taints ?? [];
    const hasTaint = taints.some((t) => t.key === UNREACHABLE_TAINT);
    const ready = node.status?.conditions?.find((x) => x.type === 'Ready');
    if (stale) {
      const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
      if (ready?.status !== 'Unknown') {
        await ignoreNotFound(c.patch(res('nodes'), undefined, name, { status: { conditions: unknownConditions(node.status?.conditions ?? [], now) } }, 'merge', 'status'));
        this.ctx.recorder.event(node, 'Normal', 'NodeNotReady', `Node ${name} status is now: NodeNotReady`);
      }
      if (!hasTaint) {
        const next = [...taints.filter((t) => t.key !== 'node.kubernetes.io/not-ready'),
          { key: UNREACHABLE_TAINT, effect: 'NoSchedule', timeAdded: now }, { key: UNREACHABLE_TAINT, effect: 'NoExecute', timeAdded: now }];
        await ignoreNotFound(c.patch(res('nodes'), undefined, name, { spec: { taints: next } }, 'merge'));
      }
      // MarkPodsNotReady
      for (const p of this.podInf.byIndex(BY_NODE, name)) {
        const pr = p.status?.conditions?.find((x) => x.type === 'Ready');
        if (!pr || pr.status === 'False') continue;
        const conds = (p.status?.conditions ?? []).map((x) => (x.type === 'Ready' ? { ...x, status: 'False', lastTransitionTime: now } : x));
        await ignoreNotFound(c.patch(res('pods'), p.metadata!.namespace, p.metadata!.name!, { status: { conditions: conds } }, 'merge', 'status'));
      }
      this.queue.addAfter(name, MONITOR_PERIOD_MS);
    } else {
      if (hasTaint) {
        const next = taints.filter((t) => t.key !== UNREACHABLE_TAINT);
        await ignoreNotFound(c.patch(res('nodes'), undefined, name, { spec: { taints: next.length ? next : null } }, 'merge'));
      }
      // Look again just after the lease would expire.
      this.queue.addAfter(name, Math.max(100, last + this.ctx.opts.nodeMonitorGracePeriodMs - Date.now() + 50));
    }
  }
}
