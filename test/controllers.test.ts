/**
 * Controllers + scheduler against the API server on the memory store (over its unix socket),
 * with a node agent stand-in that marks bound pods Running/Ready with a pod IP, renews node
 * Leases and finishes graceful pod deletion. CONTROLLERS_TEST_API=fake runs the same checks
 * against the controllers' small in-memory API (src/controllers/testing/fakeapi.ts).
 */
import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { Client } from '../src/client/rest.js';
import { Informer } from '../src/client/informer.js';
import { res } from '../src/api/registry.js';
import type { Pod } from '../src/api/types.js';
import { FakeApi } from '../src/controllers/testing/fakeapi.js';
import { startControllerManager, type ControllerManager } from '../src/controllers/manager.js';
import { startScheduler } from '../src/scheduler/index.js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

process.env.SVCPLANE_QUIET_CONTROLLERS = '1';
process.env.SVCPLANE_QUIET_INFORMERS = '1';

const NODES = ['svcplane-control-plane', 'svcplane-worker', 'svcplane-worker2'];
let api: { stop(): Promise<void> } | undefined;
let dataDir: string | undefined;
/** Slice writes seen on a watch (ADDED/MODIFIED/DELETED). */
let sliceWrites = 0;
let sliceWatch: { stop(): void } | undefined;
let client: Client;
let cm: ControllerManager;
let sched: { stop(): Promise<void> };
let agent: Informer<Pod>;
/** Pods the node agent keeps unready (by name). */
const holdUnready = new Set<string>();
/** Nodes whose lease the stand-in stops renewing. */
const deadNodes = new Set<string>();
let leaseTimer: NodeJS.Timeout | undefined;
let readyDelayMs = 0;
let ipSeq = 10;

async function eventually<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, what: string, ms = 8000): Promise<T> {
  const end = Date.now() + ms;
  let last: unknown;
  for (;;) {
    try { const v = await fn(); if (v) return v as T; } catch (e) { last = e; }
    if (Date.now() > end) {
      if (process.env.DUMP) console.error(JSON.stringify({ deploy: (await list('deployments')).map((d: any) => [d.metadata.name, d.metadata.generation, d.spec.replicas, d.status]), rs: (await list('replicasets')).map((r: any) => [r.metadata.name, r.spec.replicas, r.status, r.metadata.annotations]), pods: (await list<Pod>('pods')).map((p) => [p.metadata!.name, p.spec!.nodeName, p.status?.phase, p.status?.conditions?.find((c) => c.type === 'Ready')?.status]) }, null, 1));
      throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
}

function startNodeAgent(): Informer<Pod> {
  const inf = new Informer<Pod>(client, res('pods'));
  const pending = new Set<string>();
  const mark = (p: Pod) => {
    const k = `${p.metadata!.namespace}/${p.metadata!.name}`;
    // Graceful deletion: the node agent confirms the pod is gone.
    if (p.metadata?.deletionTimestamp && p.spec?.nodeName) {
      void client.delete(res('pods'), p.metadata.namespace, p.metadata.name!, { gracePeriodSeconds: 0, preconditions: { uid: p.metadata.uid } }).catch(() => undefined);
      return;
    }
    if (!p.spec?.nodeName || p.status?.podIP || p.metadata?.deletionTimestamp || pending.has(k)) return;
    pending.add(k);
    const node = NODES.indexOf(p.spec.nodeName);
    const ip = `10.244.${node}.${ipSeq++}`;
    const ready = !holdUnready.has(p.metadata!.name!);
    setTimeout(() => {
      void client.patch(res('pods'), p.metadata!.namespace, p.metadata!.name!, {
        status: {
          phase: 'Running', podIP: ip, podIPs: [{ ip }], hostIP: `172.18.0.${node + 2}`,
          conditions: [{ type: 'PodScheduled', status: 'True' }, { type: 'Ready', status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() }],
        },
      }, 'merge', 'status').catch(() => undefined).finally(() => pending.delete(k));
    }, readyDelayMs);
  };
  inf.addHandlers({ add: mark, update: (_o, p) => mark(p) });
  // Renew each node's kube-node-lease Lease, as kubelets do.
  const renew = async () => {
    for (const n of NODES) {
      if (deadNodes.has(n)) continue;
      const spec = { holderIdentity: n, leaseDurationSeconds: 40, renewTime: new Date().toISOString().replace('Z', '000Z') };
      try {
        const cur = await client.get<any>(res('leases'), 'kube-node-lease', n);
        await client.update(res('leases'), 'kube-node-lease', { ...cur, spec });
      } catch {
        await client.create(res('leases'), 'kube-node-lease', { metadata: { name: n, namespace: 'kube-node-lease' }, spec }).catch(() => undefined);
      }
    }
  };
  leaseTimer = setInterval(() => void renew(), 300);
  return inf;
}

async function setReady(ns: string, name: string, ready: boolean): Promise<void> {
  const p = await client.get<Pod>(res('pods'), ns, name);
  const conds = (p.status?.conditions ?? []).map((c) => (c.type === 'Ready' ? { ...c, status: ready ? 'True' : 'False', lastTransitionTime: new Date().toISOString() } : c));
  await client.patch(res('pods'), ns, name, { status: { conditions: conds } }, 'merge', 'status');
}

const list = async <T = any>(r: string, ns?: string, labelSelector?: string) => (await client.list<T>(res(r), ns, { labelSelector })).items;

function deployment(name: string, replicas: number, image = 'jocatalin/kubernetes-bootcamp:v1', ns = 'default'): any {
  return {
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, namespace: ns, labels: { app: name } },
    spec: { replicas, selector: { matchLabels: { app: name } }, template: { metadata: { labels: { app: name } }, spec: { containers: [{ name, image, ports: [{ name: 'http', containerPort: 8080 }] }] } } },
  };
}

function service(name: string, spec: any, ns = 'default'): any {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { type: 'ClusterIP', ...spec } };
}

before(async () => {
  if (process.env.CONTROLLERS_TEST_API === 'fake') {
    const fake = new FakeApi();
    client = new Client({ server: await fake.start() });
    api = fake;
  } else {
    const { startApiServer } = await import('../src/apiserver/server.js');
    const { MemoryStore } = await import('../src/store/memory.js');
    dataDir = mkdtempSync(join(tmpdir(), 'svp-ctrl-'));
    const socketPath = join(dataDir, 'api.sock');
    const srv = await startApiServer({ dataDir, store: new MemoryStore() as any, port: 0, host: '127.0.0.1', socketPath });
    client = new Client({ server: 'http://localhost', socketPath });
    api = { stop: () => srv.close() };
  }
  for (const ns of ['default', 'kube-system', 'kube-node-lease']) await client.create(res('namespaces'), undefined, { metadata: { name: ns } }).catch(() => undefined);
  sliceWatch = client.watch(res('endpointslices'), undefined, { resourceVersion: '' }, (ev) => { if (ev.type !== 'BOOKMARK' && ev.type !== 'ERROR') sliceWrites++; });
  for (const n of NODES) {
    await client.create(res('nodes'), undefined, { metadata: { name: n, labels: { 'kubernetes.io/hostname': n, 'topology.kubernetes.io/zone': n === 'svcplane-worker2' ? 'zone-b' : 'zone-a' } }, status: { capacity: { pods: '110' }, allocatable: { pods: '110' }, conditions: [{ type: 'Ready', status: 'True' }] } });
  }
  agent = startNodeAgent();
  await agent.start();
  cm = await startControllerManager(client, { leaderElect: false, lbPool: '172.18.255.200-172.18.255.201', nodeMonitorGracePeriodMs: 1500, port: 0 });
  sched = await startScheduler(client, { leaderElect: false, port: 0 });
});

after(async () => {
  await cm?.stop();
  await sched?.stop();
  agent?.stop();
  if (leaseTimer) clearInterval(leaseTimer);
  sliceWatch?.stop();
  client?.close();
  await api?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

test('a Deployment and its Service yield a ReplicaSet, spread pods, Endpoints, EndpointSlices and READY 3/3', async () => {
  await client.create(res('deployments'), 'default', deployment('myapp', 3));
  await client.create(res('services'), 'default', service('myapp', { selector: { app: 'myapp' }, ports: [{ port: 80, targetPort: 'http', protocol: 'TCP' }] }));
  const d = await eventually(async () => { const d = await client.get<any>(res('deployments'), 'default', 'myapp'); return d.status?.availableReplicas === 3 && d.status.updatedReplicas === 3 && d.status.observedGeneration === d.metadata.generation && d; }, 'deployment available');
  const rss = await list('replicasets', 'default', 'app=myapp');
  assert.equal(rss.length, 1);
  const rs = rss[0];
  const hash = rs.metadata.labels['pod-template-hash'];
  assert.equal(rs.metadata.name, `myapp-${hash}`);
  assert.equal(rs.metadata.annotations['deployment.kubernetes.io/revision'], '1');
  assert.equal(rs.metadata.ownerReferences[0].kind, 'Deployment');
  const pods = await list<Pod>('pods', 'default', 'app=myapp');
  assert.equal(pods.length, 3);
  for (const p of pods) assert.match(p.metadata!.name!, new RegExp(`^myapp-${hash}-[bcdfghjklmnpqrstvwxz2456789]{5}$`));
  assert.deepEqual(new Set(pods.map((p) => p.spec!.nodeName)), new Set(NODES), 'one pod per node');
  assert.deepEqual(d.status.conditions.map((c: any) => [c.type, c.status, c.reason]).sort(), [['Available', 'True', 'MinimumReplicasAvailable'], ['Progressing', 'True', 'NewReplicaSetAvailable']]);
  assert.equal(d.status.conditions.find((c: any) => c.type === 'Progressing').message, `ReplicaSet "myapp-${hash}" has successfully progressed.`);
  const ep = await eventually(async () => { const e = await client.get<any>(res('endpoints'), 'default', 'myapp'); return e.subsets?.[0]?.addresses?.length === 3 && e; }, 'endpoints');
  assert.deepEqual(ep.subsets[0].ports, [{ port: 8080, protocol: 'TCP' }]);
  assert.ok(ep.subsets[0].addresses.every((a: any) => a.targetRef.kind === 'Pod' && a.nodeName));
  const slices = await eventually(async () => { const s = await list('endpointslices', 'default', 'kubernetes.io/service-name=myapp'); return s.length === 1 && s[0].endpoints?.length === 3 && s; }, 'slice');
  assert.match(slices[0].metadata.name, /^myapp-[a-z0-9]{5}$/);
  assert.equal(slices[0].metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslice-controller.k8s.io');
  assert.ok(slices[0].endpoints.every((e: any) => e.conditions.ready && e.zone));
  const events = await list('events', 'default');
  assert.ok(events.some((e: any) => e.reason === 'ScalingReplicaSet' && e.message === `Scaled up replica set myapp-${hash} from 0 to 3`), 'ScalingReplicaSet event');
  assert.ok(events.some((e: any) => e.reason === 'SuccessfulCreate' && e.message.startsWith(`Created pod: myapp-${hash}-`)));
  assert.ok(events.some((e: any) => e.reason === 'Scheduled' && /^Successfully assigned default\/myapp-.* to svcplane-/.test(e.message)));
});

test('an unready pod moves to notReadyAddresses and ready=false with one slice write; a deleted pod disappears', async () => {
  const pods = await list<Pod>('pods', 'default', 'app=myapp');
  const victim = pods[0]!;
  await new Promise((r) => setTimeout(r, 300));
  const before = sliceWrites;
  await setReady('default', victim.metadata!.name!, false);
  await eventually(async () => { const e = await client.get<any>(res('endpoints'), 'default', 'myapp'); return e.subsets?.[0]?.notReadyAddresses?.[0]?.ip === victim.status!.podIP && e.subsets[0].addresses.length === 2; }, 'notReadyAddresses');
  const sl = await eventually(async () => { const s = (await list('endpointslices', 'default', 'kubernetes.io/service-name=myapp'))[0]; const e = s.endpoints.find((x: any) => x.targetRef.name === victim.metadata!.name); return e?.conditions.ready === false && s; }, 'slice ready=false');
  assert.deepEqual(sl.endpoints.find((x: any) => x.targetRef.name === victim.metadata!.name).conditions, { ready: false, serving: false, terminating: false });
  await new Promise((r) => setTimeout(r, 300));
  assert.equal(sliceWrites - before, 1, 'one slice write per pod change');
  await client.delete(res('pods'), 'default', victim.metadata!.name!);
  await eventually(async () => {
    const e = await client.get<any>(res('endpoints'), 'default', 'myapp');
    const s = (await list('endpointslices', 'default', 'kubernetes.io/service-name=myapp'))[0];
    const ips = JSON.stringify(e.subsets) + JSON.stringify(s.endpoints);
    return !ips.includes(victim.metadata!.name!) && e.subsets?.[0]?.addresses?.length === 3;
  }, 'deleted pod gone and replaced');
});

test('a selector-less Service with hand-written Endpoints is mirrored; skip-mirror is honoured', async () => {
  await client.create(res('services'), 'default', service('my-service', { ports: [{ port: 80, targetPort: 9376, protocol: 'TCP' }] }));
  await client.create(res('endpoints'), 'default', { metadata: { name: 'my-service' }, subsets: [{ addresses: [{ ip: '192.0.2.42' }], ports: [{ port: 9376 }] }] });
  const s = await eventually(async () => { const l = await list('endpointslices', 'default', 'kubernetes.io/service-name=my-service'); return l.length === 1 && l[0]; }, 'mirrored slice');
  assert.equal(s.metadata.labels['endpointslice.kubernetes.io/managed-by'], 'endpointslicemirroring-controller.k8s.io');
  assert.deepEqual(s.endpoints.map((e: any) => e.addresses[0]), ['192.0.2.42']);
  // The endpoints controller leaves the user's Endpoints alone.
  assert.equal((await client.get<any>(res('endpoints'), 'default', 'my-service')).subsets[0].addresses[0].ip, '192.0.2.42');
  await client.patch(res('endpoints'), 'default', 'my-service', { metadata: { labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } } }, 'merge');
  await eventually(async () => (await list('endpointslices', 'default', 'kubernetes.io/service-name=my-service')).length === 0, 'mirror removed');
});

test('LoadBalancer Services get pool IPs; an exhausted pool leaves <pending> with an event; release on delete', async () => {
  for (const n of ['lb1', 'lb2', 'lb3']) {
    await client.create(res('services'), 'default', service(n, { type: 'LoadBalancer', selector: { app: 'myapp' }, ports: [{ port: 80, targetPort: 8080, protocol: 'TCP' }] }));
    await new Promise((r) => setTimeout(r, 100));
  }
  const ipOf = async (n: string) => (await client.get<any>(res('services'), 'default', n)).status?.loadBalancer?.ingress?.[0];
  await eventually(async () => (await ipOf('lb1')) && (await ipOf('lb2')), 'two IPs');
  assert.deepEqual(new Set([(await ipOf('lb1')).ip, (await ipOf('lb2')).ip]), new Set(['172.18.255.200', '172.18.255.201']));
  assert.equal((await ipOf('lb1')).ipMode, 'VIP');
  const ev = await eventually(async () => (await list('events', 'default')).find((e: any) => e.reason === 'AllocationFailed' && e.involvedObject.name === 'lb3'), 'AllocationFailed');
  assert.match(ev.message, /no available IPs in pool/);
  assert.equal(ev.type, 'Warning');
  assert.equal(await ipOf('lb3'), undefined);
  const freed = (await ipOf('lb1')).ip;
  await client.delete(res('services'), 'default', 'lb1');
  await eventually(async () => (await ipOf('lb3'))?.ip === freed, 'lb3 gets the released IP');
  // type change releases
  const lb2 = await client.get<any>(res('services'), 'default', 'lb2');
  await client.patch(res('services'), 'default', 'lb2', { spec: { type: 'ClusterIP', allocateLoadBalancerNodePorts: null, externalTrafficPolicy: null, ports: lb2.spec.ports.map(({ nodePort: _n, ...p }: any) => p) } }, 'merge');
  await eventually(async () => !(await ipOf('lb2')), 'lb2 released');
  for (const n of ['lb2', 'lb3']) await client.delete(res('services'), 'default', n);
});

test('a rolling update keeps replicas − maxUnavailable pods ready; undo goes back to the old ReplicaSet', async () => {
  readyDelayMs = 150;
  let minReady = Infinity;
  let watching = true;
  const watcher = (async () => {
    while (watching) {
      const pods = agent.list().filter((p) => p.metadata?.labels?.app === 'myapp' && !p.metadata?.deletionTimestamp);
      minReady = Math.min(minReady, pods.filter((p) => p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')).length);
      await new Promise((r) => setTimeout(r, 10));
    }
  })();
  const oldRS = (await list('replicasets', 'default', 'app=myapp'))[0];
  await client.patch(res('deployments'), 'default', 'myapp', { spec: { template: { spec: { containers: [{ name: 'myapp', image: 'jocatalin/kubernetes-bootcamp:v2', ports: [{ name: 'http', containerPort: 8080 }] }] } } } }, 'merge');
  await eventually(async () => {
    const d = await client.get<any>(res('deployments'), 'default', 'myapp');
    return d.status.observedGeneration === d.metadata.generation && d.status.updatedReplicas === 3 && d.status.availableReplicas === 3 && d.status.replicas === 3;
  }, 'rollout complete', 15000);
  watching = false; await watcher;
  assert.ok(minReady >= 3, `ready pods never below 3 (maxUnavailable 25% of 3 = 0), saw ${minReady}`);
  const rss = await list('replicasets', 'default', 'app=myapp');
  assert.equal(rss.length, 2);
  const nw = rss.find((r: any) => r.metadata.name !== oldRS.metadata.name);
  assert.equal(nw.metadata.annotations['deployment.kubernetes.io/revision'], '2');
  assert.equal(rss.find((r: any) => r.metadata.name === oldRS.metadata.name).spec.replicas, 0);
  // kubectl rollout undo: patch the template back from the old ReplicaSet (minus pod-template-hash).
  const tpl = structuredClone(oldRS.spec.template);
  delete tpl.metadata.labels['pod-template-hash'];
  await client.patch(res('deployments'), 'default', 'myapp', [{ op: 'replace', path: '/spec/template', value: tpl }].length ? { spec: { template: tpl } } : {}, 'merge');
  await eventually(async () => {
    const r = await client.get<any>(res('replicasets'), 'default', oldRS.metadata.name);
    const d = await client.get<any>(res('deployments'), 'default', 'myapp');
    return r.metadata.annotations['deployment.kubernetes.io/revision'] === '3' && r.status.availableReplicas === 3 && d.status.updatedReplicas === 3 && d.status.replicas === 3;
  }, 'undo to revision 3 on the old ReplicaSet', 15000);
  readyDelayMs = 0;
});

test('StatefulSet: OrderedReady creates 0,1,2 each after the previous is ready, hostname/subdomain set, scales down from the top', async () => {
  readyDelayMs = 200;
  await client.create(res('namespaces'), undefined, { metadata: { name: 'dev' } });
  await client.create(res('statefulsets'), 'dev', {
    metadata: { name: 'stateful-nginx', namespace: 'dev' },
    spec: { replicas: 3, serviceName: 'svc-nginx', selector: { matchLabels: { app: 'nginx' } }, template: { metadata: { labels: { app: 'nginx' } }, spec: { containers: [{ name: 'nginx', image: 'nginx' }] } } },
  });
  const seen: string[] = [];
  await eventually(async () => {
    const pods = await list<Pod>('pods', 'dev');
    for (const p of pods) if (!seen.includes(p.metadata!.name!)) {
      // When pod N appears, every pod below it must already be ready.
      const lower = pods.filter((q) => Number(q.metadata!.name!.split('-').pop()) < Number(p.metadata!.name!.split('-').pop()));
      assert.ok(lower.every((q) => q.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')), `${p.metadata!.name} created before its predecessors were ready`);
      seen.push(p.metadata!.name!);
    }
    const s = await client.get<any>(res('statefulsets'), 'dev', 'stateful-nginx');
    return s.status?.readyReplicas === 3 && s.status.currentRevision === s.status.updateRevision;
  }, 'statefulset ready', 10000);
  assert.deepEqual(seen, ['stateful-nginx-0', 'stateful-nginx-1', 'stateful-nginx-2']);
  const p0 = await client.get<Pod>(res('pods'), 'dev', 'stateful-nginx-0');
  assert.equal(p0.spec!.hostname, 'stateful-nginx-0');
  assert.equal(p0.spec!.subdomain, 'svc-nginx');
  assert.equal(p0.metadata!.labels!['statefulset.kubernetes.io/pod-name'], 'stateful-nginx-0');
  assert.equal((await list('controllerrevisions', 'dev')).length, 1);
  await client.patch(res('statefulsets'), 'dev', 'stateful-nginx', { spec: { replicas: 1 } }, 'merge');
  await eventually(async () => { const names = (await list<Pod>('pods', 'dev')).map((p) => p.metadata!.name); return names.length === 1 && names[0] === 'stateful-nginx-0'; }, 'scaled down to 0');
  readyDelayMs = 0;
});

test('deleting a namespace deletes its content, then the namespace', async () => {
  await eventually(async () => (await list('pods', 'dev')).length === 1, 'dev has a pod');
  await client.delete(res('namespaces'), undefined, 'dev');
  await eventually(async () => !(await list('namespaces')).some((n: any) => n.metadata.name === 'dev'), 'namespace gone', 10000);
  assert.equal((await list('statefulsets', 'dev')).length, 0);
  assert.equal((await list('pods', 'dev')).length, 0);
});

test('cascade: deleting a Deployment removes its ReplicaSets and pods; orphan keeps the pods', async () => {
  await client.create(res('deployments'), 'default', deployment('gc1', 2));
  await eventually(async () => (await list('pods', 'default', 'app=gc1')).length === 2, 'gc1 pods');
  await client.delete(res('deployments'), 'default', 'gc1', { propagationPolicy: 'Background' });
  await eventually(async () => (await list('replicasets', 'default', 'app=gc1')).length === 0 && (await list('pods', 'default', 'app=gc1')).length === 0, 'cascade');

  await client.create(res('deployments'), 'default', deployment('gc2', 2));
  await eventually(async () => (await list('pods', 'default', 'app=gc2')).length === 2, 'gc2 pods');
  await client.delete(res('deployments'), 'default', 'gc2', { propagationPolicy: 'Orphan' });
  await eventually(async () => { const r = await list('replicasets', 'default', 'app=gc2'); return r.length === 1 && !r[0].metadata.ownerReferences?.length; }, 'orphaned RS');
  // The garbage collector orphans the dependents first, then lets the Deployment go.
  await eventually(async () => !(await list('deployments', 'default')).some((d: any) => d.metadata.name === 'gc2'), 'gc2 deleted');
  // Re-creating the Deployment adopts the orphaned ReplicaSet instead of making a new one.
  await client.create(res('deployments'), 'default', deployment('gc2', 2));
  await eventually(async () => { const r = await list('replicasets', 'default', 'app=gc2'); return r.length === 1 && r[0].metadata.ownerReferences?.[0]?.kind === 'Deployment'; }, 'adopted RS');
  await client.delete(res('deployments'), 'default', 'gc2', { propagationPolicy: 'Orphan' });
  await eventually(async () => { const r = await list('replicasets', 'default', 'app=gc2'); return r.length === 1 && !r[0].metadata.ownerReferences?.length; }, 'orphaned again');
  const rs = (await list('replicasets', 'default', 'app=gc2'))[0];
  await client.delete(res('replicasets'), 'default', rs.metadata.name, { propagationPolicy: 'Foreground' });
  await eventually(async () => (await list('replicasets', 'default', 'app=gc2')).length === 0 && (await list('pods', 'default', 'app=gc2')).length === 0, 'foreground');
});

test('node lease not renewed → node Unknown + unreachable taints, pods not ready; renewed → taints removed', async () => {
  const node = 'svcplane-worker2';
  deadNodes.add(node);
  await eventually(async () => {
    const n = await client.get<any>(res('nodes'), undefined, node);
    return n.status.conditions.find((c: any) => c.type === 'Ready').status === 'Unknown' && n.spec.taints?.some((t: any) => t.key === 'node.kubernetes.io/unreachable' && t.effect === 'NoExecute');
  }, 'node unknown', 10000);
  const n = await client.get<any>(res('nodes'), undefined, node);
  assert.equal(n.status.conditions.find((c: any) => c.type === 'Ready').message, 'Kubelet stopped posting node status.');
  await eventually(async () => (await list<Pod>('pods', 'default', 'app=myapp')).filter((p) => p.spec?.nodeName === node).every((p) => p.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'False'), 'pods not ready');
  deadNodes.delete(node);
  // The node agent posts Ready again once it is back.
  await client.patch(res('nodes'), undefined, node, { status: { conditions: [{ type: 'Ready', status: 'True' }] } }, 'merge', 'status');
  await eventually(async () => !(await client.get<any>(res('nodes'), undefined, node)).spec.taints?.length, 'taints removed');
});

test('two controller-managers with leader election: only one acts, the other takes over', async () => {
  const a = await startControllerManager(client, { identity: 'cm-a', leaseDurationSec: 1, renewMs: 200, retryMs: 200, controllers: ['replicaset'] });
  const b = await startControllerManager(client, { identity: 'cm-b', leaseDurationSec: 1, renewMs: 200, retryMs: 200, controllers: ['replicaset'] });
  try {
    await eventually(() => a.isLeader() || b.isLeader(), 'a leader');
    await new Promise((r) => setTimeout(r, 600));
    assert.ok(a.isLeader() !== b.isLeader(), 'exactly one leader');
    const [leader, other] = a.isLeader() ? [a, b] : [b, a];
    assert.equal(other.running().length, 0);
    assert.equal(leader.running().length, 1);
    const lease = await client.get<any>(res('leases'), 'kube-system', 'kube-controller-manager');
    assert.equal(lease.spec.holderIdentity, a.isLeader() ? 'cm-a' : 'cm-b');
    await leader.stop();
    await eventually(() => other.isLeader() && other.running().length === 1, 'takeover', 5000);
  } finally {
    await a.stop(); await b.stop();
  }
});
