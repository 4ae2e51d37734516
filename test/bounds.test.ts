/**
 * Bounded work, through svcplane's API server (memory store, HTTP over its unix socket):
 * - a Deployment scaled to 400 on 3 nodes of 110 pod slots: the controllers create all 400 pods,
 *   the scheduler binds 330 (never a 111th on a node) and leaves 70 Pending with PodScheduled=False
 *   / Unschedulable and kube-scheduler's FailedScheduling event; the nodes stay Ready; scaling
 *   down removes the unscheduled pods first. (The node agent is the controllers' stand-in: a real
 *   one per pod costs a process and a namespace, too much for 330 pods on the CI machine.)
 * - a real node agent whose pod CIDR has no address left: the pod stays ContainerCreating with a
 *   FailedCreatePodSandBox event in containerd + host-local's words, the node stays Ready, the
 *   other pods keep serving, and a freed address lets the pod start.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { res } from '../src/api/registry.js';
import type { Node, Pod } from '../src/api/types.js';
import { startApiServer, type ApiServer } from '../src/apiserver/server.js';
import { Client } from '../src/client/rest.js';
import { Informer } from '../src/client/informer.js';
import { startControllerManager, type ControllerManager } from '../src/controllers/manager.js';
import { FakeNodeAgent } from '../src/controllers/testing/nodeagent.js';
import { startKubelet, type Kubelet, type KubeletOptions } from '../src/kubelet/kubelet.js';
import { startScheduler } from '../src/scheduler/index.js';
import { MemoryStore } from '../src/store/memory.js';
import { createTestNode, curlIn, eventually, makePod, type TestNode } from './kubelet-helpers.js';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

const isRoot = process.getuid?.() === 0;

async function apiOnSocket(dir: string): Promise<{ api: ApiServer; client: Client }> {
  const socketPath = join(dir, 'api.sock');
  const api = await startApiServer({ dataDir: dir, store: new MemoryStore() as never, port: 0, host: '127.0.0.1', socketPath });
  const client = new Client({ server: 'http://localhost', socketPath });
  for (const ns of ['default', 'kube-system', 'kube-node-lease']) await client.create(res('namespaces'), undefined, { metadata: { name: ns } }).catch(() => undefined);
  return { api, client };
}

const readyNode = (n: Node) => n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True' && !n.spec?.taints?.length;

describe('node pod slots bound what a Deployment scaled to 400 gets', { concurrency: false }, () => {
  const NODES = ['wb-control-plane', 'wb-worker', 'wb-worker2'];
  const TOO_MANY = '0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.';
  let dir: string;
  let api: ApiServer;
  let client: Client;
  let agent: FakeNodeAgent;
  let cm: ControllerManager | undefined;
  let sched: { stop(): Promise<void> } | undefined;
  let watch: Informer<Pod> | undefined;
  /** The most pods ever seen bound to one node at once. */
  let maxPerNode = 0;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'svp-wbbounds-'));
    ({ api, client } = await apiOnSocket(dir));
    agent = new FakeNodeAgent(client, NODES, 110);
    await agent.start();
    watch = new Informer<Pod>(client, res('pods'));
    const count = () => {
      const per = new Map<string, number>();
      for (const p of watch!.list()) if (p.spec?.nodeName && !['Succeeded', 'Failed'].includes(p.status?.phase ?? '')) per.set(p.spec.nodeName, (per.get(p.spec.nodeName) ?? 0) + 1);
      maxPerNode = Math.max(maxPerNode, ...per.values());
    };
    watch.addHandlers({ add: count, update: count });
    await watch.start();
    cm = await startControllerManager(client, { leaderElect: false, nodeMonitorGracePeriodMs: 5000, port: 0, controllers: ['deployment', 'replicaset', 'nodelifecycle', 'garbagecollector'] });
    sched = await startScheduler(client, { leaderElect: false, port: 0 });
  });
  after(async () => {
    await cm?.stop();
    await sched?.stop();
    watch?.stop();
    agent?.stop();
    client?.close();
    await api?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('binds 330 pods, leaves 70 Pending with FailedScheduling, keeps nodes Ready, and scales down the unscheduled first', { timeout: 150_000 }, async () => {
    const labels = { app: 'many' };
    await client.create(res('deployments'), 'default', {
      apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name: 'many', namespace: 'default' },
      spec: { replicas: 3, selector: { matchLabels: labels }, template: { metadata: { labels }, spec: { containers: [{ name: 'c', image: 'registry.k8s.io/pause' }] } } },
    });
    await client.patch(res('deployments'), 'default', 'many', { spec: { replicas: 400 } }, 'merge', 'scale');
    const pods = async () => (await client.list<Pod>(res('pods'), 'default', { labelSelector: 'app=many' })).items;
    const unschedulable = (p: Pod) => p.status?.conditions?.some((c) => c.type === 'PodScheduled' && c.status === 'False' && c.reason === 'Unschedulable' && c.message === TOO_MANY);
    const settled = await eventually(async () => {
      const all = await pods();
      const bound = all.filter((p) => p.spec?.nodeName);
      return all.length === 400 && bound.length === 330 && all.filter((p) => !p.spec?.nodeName).every(unschedulable) ? all : undefined;
    }, 120_000, '400 pods, 330 bound, 70 unschedulable');
    const perNode = new Map<string, number>();
    for (const p of settled) if (p.spec?.nodeName) perNode.set(p.spec.nodeName, (perNode.get(p.spec.nodeName) ?? 0) + 1);
    assert.deepEqual([...perNode.entries()].sort(), NODES.map((n) => [n, 110]).sort());
    assert.ok(maxPerNode <= 110, `a node held ${maxPerNode} pods`);
    const pending = settled.filter((p) => !p.spec?.nodeName);
    assert.ok(pending.every((p) => p.status?.phase === 'Pending'));
    const events = (await client.list<any>(res('events'), 'default')).items;
    const failed = new Set(events.filter((e) => e.reason === 'FailedScheduling' && e.type === 'Warning' && e.message === TOO_MANY).map((e) => e.involvedObject.name));
    assert.deepEqual(pending.map((p) => p.metadata!.name).filter((n) => !failed.has(n)), [], 'a FailedScheduling event for every pending pod');
    const nodes = (await client.list<Node>(res('nodes'))).items;
    assert.ok(nodes.every(readyNode), JSON.stringify(nodes.map((n) => [n.metadata?.name, n.status?.conditions, n.spec?.taints])));
    assert.deepEqual(nodes.map((n) => n.status?.allocatable?.pods), ['110', '110', '110']);

    // Scaling down deletes the pods that never got a node first.
    await client.patch(res('deployments'), 'default', 'many', { spec: { replicas: 300 } }, 'merge', 'scale');
    await eventually(async () => { const all = await pods(); return all.length === 300 && all.every((p) => p.spec?.nodeName) ? all : undefined; }, 60_000, '300 pods, all bound');
    assert.ok(maxPerNode <= 110, `a node held ${maxPerNode} pods`);
  });
});

/** A real node agent in a test node namespace, against an API server on a unix socket: set up before the suite's tests, torn down after. */
function nodeAgent(prefix: string, o: Pick<KubeletOptions, 'podCIDR' | 'maxPods'>): { node: TestNode; client: Client } {
  const f = {} as { node: TestNode; client: Client };
  let dir: string | undefined;
  let api: ApiServer | undefined;
  let kubelet: Kubelet | undefined;
  before(async () => {
    f.node = await createTestNode(prefix);
    dir = mkdtempSync(join(tmpdir(), `svp-${prefix}-`));
    ({ api, client: f.client } = await apiOnSocket(dir));
    kubelet = await startKubelet({
      client: f.client, nodeName: 'node-a', nodeIP: '172.18.0.9', dataDir: f.node.dataDir, clusterName: f.node.cluster,
      socket: join(f.node.dataDir, 'kubelet', 'node-a.sock'), nodeNetns: f.node.netns, apiserverSocket: join(dir, 'api.sock'), ...o,
    });
  });
  after(async () => {
    await kubelet?.stop({ killPods: true }).catch(() => undefined);
    f.client?.close();
    await api?.close().catch(() => undefined);
    await f.node?.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });
  return f;
}

/** Create a one-container pod (the server gives it its uid). */
async function createPod(client: Client, name: string, image: string): Promise<void> {
  const p = makePod(name, [{ name: 'c', image }]);
  delete (p.metadata as { uid?: string }).uid;
  await client.create(res('pods'), 'default', p);
}

describe('a node out of pod addresses', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  // A /29: host-local's range set 10.244.7.1-10.244.7.6, the gateway .1 excluded: 5 pods.
  const f = nodeAgent('wbip', { podCIDR: '10.244.7.0/29' });

  it('keeps the pod ContainerCreating with FailedCreatePodSandBox, the node Ready and the other pods serving', { timeout: 120_000 }, async () => {
    const { node, client } = f;
    const create = (name: string, image: string) => createPod(client, name, image);
    const list = async () => (await client.list<Pod>(res('pods'), 'default')).items;
    const running = (p: Pod) => p.status?.phase === 'Running' && !!p.status.podIP;
    await create('web', 'jocatalin/kubernetes-bootcamp');
    const web = await eventually(async () => (await list()).find((p) => p.metadata!.name === 'web' && running(p)), 30_000, 'web running');
    for (let i = 1; i <= 5; i++) await create(`p${i}`, 'registry.k8s.io/pause');
    const creating = (p: Pod) => p.status?.phase === 'Pending' && !p.status.podIP && p.status.containerStatuses?.[0]?.state?.waiting?.reason === 'ContainerCreating';
    const [stuck] = await eventually(async () => {
      const all = await list();
      const s = all.filter(creating);
      return all.filter(running).length === 5 && s.length === 1 ? s : undefined;
    }, 60_000, '5 pods running and 1 ContainerCreating');
    const ips = (await list()).filter(running).map((p) => p.status!.podIP!).sort();
    assert.deepEqual(ips, ['10.244.7.2', '10.244.7.3', '10.244.7.4', '10.244.7.5', '10.244.7.6']);

    const ev = await eventually(async () => (await client.list<any>(res('events'), 'default')).items.find((e) => e.involvedObject?.uid === stuck!.metadata!.uid && e.reason === 'FailedCreatePodSandBox'), 20_000, 'FailedCreatePodSandBox event');
    assert.equal(ev.type, 'Warning');
    assert.match(ev.message, /^Failed to create pod sandbox: rpc error: code = Unknown desc = failed to setup network for sandbox "[0-9a-f]{64}": plugin type="bridge" failed \(add\): failed to allocate for range 0: no IP addresses available in range set: 10\.244\.7\.1-10\.244\.7\.6$/);

    // The node is fine: Ready, its Lease held, and a pod on it answers.
    const n = await client.get<Node>(res('nodes'), undefined, 'node-a');
    assert.equal(n.status?.conditions?.find((c) => c.type === 'Ready')?.status, 'True');
    assert.equal(n.status?.allocatable?.pods, '110');
    assert.equal((await client.get<any>(res('leases'), 'kube-node-lease', 'node-a')).spec.holderIdentity, 'node-a');
    assert.equal(await eventually(() => { const r = curlIn(node.netns, `http://${web.status!.podIP}:8080/`); return r.code === 0 ? r.out : undefined; }, 20_000, 'web answers'), 'Hello Kubernetes bootcamp! | Running on: web | v=1\n');
    // Retries are spaced out: one event object, not one per half-second tick.
    const sandboxEvents = (await client.list<any>(res('events'), 'default')).items.filter((e) => e.reason === 'FailedCreatePodSandBox');
    assert.equal(sandboxEvents.length, 1);
    assert.ok((sandboxEvents[0].count ?? 1) <= 3, `event count ${sandboxEvents[0].count}`);

    // An address comes back: the waiting pod gets it and runs.
    const victim = (await list()).find((p) => running(p) && p.metadata!.name !== 'web')!;
    await client.delete(res('pods'), 'default', victim.metadata!.name!, { gracePeriodSeconds: 0 });
    const started = await eventually(async () => { const p = (await list()).find((x) => x.metadata!.uid === stuck!.metadata!.uid); return p && running(p) ? p : undefined; }, 40_000, 'the waiting pod running');
    assert.equal(started.status!.podIP, victim.status!.podIP);
  });
});

describe('a node agent with every pod slot taken', { skip: !isRoot && 'needs root', concurrency: false }, () => {
  const f = nodeAgent('wbmax', { podCIDR: '10.244.7.0/24', maxPods: 2 });

  it('rejects a pod bound past --max-pods with OutOfpods, as the kubelet admits', { timeout: 60_000 }, async () => {
    const { client } = f;
    const n = await client.get<Node>(res('nodes'), undefined, 'node-a');
    assert.deepEqual([n.status?.capacity?.pods, n.status?.allocatable?.pods], ['2', '2']);
    const list = async () => (await client.list<Pod>(res('pods'), 'default')).items;
    for (const name of ['a', 'b']) await createPod(client, name, 'registry.k8s.io/pause');
    await eventually(async () => (await list()).filter((p) => p.status?.phase === 'Running').length === 2 || undefined, 30_000, 'two pods running');
    await createPod(client, 'c', 'registry.k8s.io/pause');
    const rejected = await eventually(async () => (await list()).find((p) => p.metadata!.name === 'c' && p.status?.phase === 'Failed'), 20_000, 'pod c rejected');
    assert.equal(rejected.status!.reason, 'OutOfpods');
    assert.equal(rejected.status!.message, "Pod was rejected: Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2");
    assert.equal(rejected.status!.podIP, undefined);
    const ev = await eventually(async () => (await client.list<any>(res('events'), 'default')).items.find((e) => e.involvedObject?.name === 'c' && e.reason === 'OutOfpods'), 10_000, 'OutOfpods event');
    assert.equal(ev.message, "Node didn't have enough resource: pods, requested: 1, used: 2, capacity: 2");
    assert.equal((await list()).filter((p) => p.status?.phase === 'Running').length, 2);
  });
});
