/**
 * @module controllers/testing/nodeagent
 * A node agent stand-in for controller tests: renews each node's kube-node-lease Lease, marks
 * pods bound to its nodes Running and Ready with a pod IP from 10.244.<node>.0/24, and
 * completes graceful deletion. Nothing is run.
 */
import type { Pod } from '../../api/types.js';
import { res } from '../../api/registry.js';
import type { Client } from '../../client/rest.js';
import { Informer } from '../../client/informer.js';

export class FakeNodeAgent {
  private inf?: Informer<Pod>;
  private timer?: NodeJS.Timeout;
  private seq = 10;
  private readonly pending = new Set<string>();

  /** `maxPods`: status.capacity/allocatable.pods of every node (the kubelet's --max-pods, 110). */
  constructor(private readonly client: Client, readonly nodes: string[], private readonly maxPods = 110) {}

  async start(): Promise<void> {
    const c = this.client;
    for (const [i, n] of this.nodes.entries()) {
      await c.create(res('nodes'), undefined, {
        metadata: { name: n, labels: { 'kubernetes.io/hostname': n, 'kubernetes.io/os': 'linux' } },
        spec: { podCIDR: `10.244.${i}.0/24` },
        status: {
          capacity: { pods: String(this.maxPods) }, allocatable: { pods: String(this.maxPods) },
          conditions: [{ type: 'Ready', status: 'True', reason: 'KubeletReady', message: 'kubelet is posting ready status' }], addresses: [{ type: 'InternalIP', address: `172.18.0.${i + 2}` }],
        },
      }).catch(() => undefined);
    }
    this.inf = new Informer<Pod>(c, res('pods'));
    const mark = (p: Pod) => this.mark(p);
    this.inf.addHandlers({ add: mark, update: (_o, p) => mark(p) });
    await this.inf.start();
    const renew = async () => {
      for (const n of this.nodes) {
        const spec = { holderIdentity: n, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') };
        try {
          const cur = await c.get<any>(res('leases'), 'kube-node-lease', n);
          await c.update(res('leases'), 'kube-node-lease', { ...cur, spec });
        } catch {
          await c.create(res('leases'), 'kube-node-lease', { metadata: { name: n, namespace: 'kube-node-lease' }, spec }).catch(() => undefined);
        }
      }
    };
    await renew();
    this.timer = setInterval(() => void renew(), 1000);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.inf?.stop();
  }

  private mark(p: Pod): void {
    const c = this.client;
    const node = this.nodes.indexOf(p.spec?.nodeName ?? '');
    if (node < 0) return;
    if (p.metadata?.deletionTimestamp) {
      void c.delete(res('pods'), p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } }).catch(() => undefined);
      return;
    }
    const k = `${p.metadata!.namespace}/${p.metadata!.name}`;
    if (p.status?.podIP || this.pending.has(k)) return;
    this.pending.add(k);
    const ip = `10.244.${node}.${this.seq++}`;
    const now = new Date().toISOString().replace(/\.\d{3}Z$/, 'Z');
    void c.patch(res('pods'), p.metadata!.namespace, p.metadata!.name!, {
      status: {
        phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `172.18.0.${node + 2}`, startTime: now,
        conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Initialized', status: 'True' }, { type: 'ContainersReady', status: 'True' }, { type: 'Ready', status: 'True', lastTransitionTime: now }],
        containerStatuses: (p.spec?.containers ?? []).map((ct) => ({ name: ct.name, image: ct.image, imageID: '', ready: true, restartCount: 0, started: true, state: { running: { startedAt: now } } })),
      },
    }, 'merge', 'status').catch(() => undefined).finally(() => this.pending.delete(k));
  }
}
