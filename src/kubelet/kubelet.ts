/**
 * @module kubelet/kubelet
 * The node agent: registers its Node, renews its Lease, watches the Pods bound to it and drives
 * the PodRuntime (start, status patch, graceful deletion), serves logs/exec on its socket.
 */
import type { ConfigMap, Node, Pod, Secret, Service } from '../api/types.js';
import { res } from '../api/registry.js';
import { EventRecorder } from '../client/events.js';
import { Informer } from '../client/informer.js';
import { Client } from '../client/rest.js';
import { ApiError } from '../client/types.js';
import { WorkQueue } from '../client/workqueue.js';
import { requestPodToken, SERVICE_ACCOUNT_MOUNT, tokenRefreshAt, writeServiceAccountFiles } from '../client/serviceaccount-token.js';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { metrics } from './metrics.js';
import { LEASE_DURATION_S, LEASE_NAMESPACE, LEASE_RENEW_MS, MAX_PODS, microTime, nodeStatus, type NodeIdentity } from './node.js';
import { registerNode } from './register.js';
import { PodRuntime, qosClass } from './runtime.js';
import { CriRuntime } from './cri-runtime.js';
import { SANDBOX_IMAGE } from '../cluster/containerd.js';
import { COREDNS_IMAGE } from '../cluster/bootstrap.js';
import type { NodeRuntime } from './node-runtime.js';
import { startServer, type KubeletServer } from './server.js';

export const NODE_STATUS_MS = 30_000;
export const DEFAULT_GRACE_S = 30;

export interface KubeletOptions {
  kubeconfig?: string;
  client?: Client;
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  dataDir: string;
  clusterName: string;
  clusterDNS?: string[];
  clusterDomain?: string;
  socket?: string;
  healthzPort?: number;
  /** Node netns when not running inside it (tests). */
  nodeNetns?: string;
  apiserverSocket?: string;
  /** The Node was registered (and posted Ready) already by the caller. */
  registered?: boolean;
  /** --max-pods: pod slots the Node reports, and more pods than this are rejected (default 110). */
  maxPods?: number;
  /** containerd's socket: pods become containers through the CRI (else host processes). */
  containerdSocket?: string;
  /** Serve the built-in images on the node's 127.0.0.1 (containerd's registry mirror). */
  registryPort?: number;
}

export interface Kubelet {
  runtime: NodeRuntime;
  stop(opts?: { killPods?: boolean }): Promise<void>;
}

function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ ts: new Date().toISOString(), component: 'kubelet', msg, ...fields }));
}

export async function startKubelet(o: KubeletOptions): Promise<Kubelet> {
  const client = o.client ?? Client.fromKubeconfig(o.kubeconfig);
  const id: NodeIdentity = { nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, socket: o.socket, maxPods: o.maxPods };
  const maxPods = o.maxPods ?? MAX_PODS;
  const recorder = new EventRecorder(client, 'kubelet', o.nodeName);
  const queue = new WorkQueue(`kubelet-${o.nodeName}`, (key, err) => log('pod sync failed', { pod: key, err: String((err as Error).message ?? err) }));
  const services = new Informer<Service>(client, res('services'));
  const pods = new Informer<Pod>(client, res('pods'), { fieldSelector: `spec.nodeName=${o.nodeName}` });
  const byUid = new Map<string, Pod>();
  const lastStatus = new Map<string, string>();
  const seenAt = new Map<string, number>();
  let synced = false;

  const envSources = {
    services: (ns: string) => services.list().filter((s) => s.metadata?.namespace === ns),
    configMap: async (ns: string, name: string) => client.get<ConfigMap>(res('configmaps'), ns, name).catch(() => undefined),
    secret: async (ns: string, name: string) => client.get<Secret>(res('secrets'), ns, name).catch(() => undefined),
  };
  // Tokens of projected serviceAccountToken volumes, kept until the token manager would renew them.
  const tokens = new Map<string, { token: string; refreshAt: number }>();
  const projectedToken = async (pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string> => {
    const key = `${pod.metadata?.uid}/${audience ?? ''}/${expirationSeconds}`;
    const had = tokens.get(key);
    if (had && Date.now() < had.refreshAt) return had.token;
    const issuedAt = Date.now();
    const t = await requestPodToken(client, pod, expirationSeconds, audience ? [audience] : undefined);
    tokens.set(key, { token: t.token, refreshAt: tokenRefreshAt(issuedAt, t.expirationTimestamp) });
    return t.token;
  };
  const nodeAllocatable = nodeStatus({ nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, maxPods: o.maxPods }, undefined, true)?.allocatable ?? {};
  let registry: { close(): void } | undefined;
  if (o.containerdSocket && o.registryPort) {
    // Pulls of built-in images fail (ErrImagePull) while it does not serve; loaded images still run.
    registry = await Promise.all([import('../images/registry.js'), import('../images/build.js')])
      .then(([m, b]) => m.startRegistry({ cacheDir: b.imageCacheDir(), host: '127.0.0.1', port: o.registryPort! }))
      .catch((e: unknown) => { log('image registry did not start', { err: String(e) }); return undefined; });
  }
  const runtime: NodeRuntime = o.containerdSocket ? new CriRuntime({
    dataDir: o.dataDir, nodeName: o.nodeName, nodeIP: o.nodeIP, clusterName: o.clusterName,
    clusterDNS: o.clusterDNS ?? ['10.96.0.10'], clusterDomain: o.clusterDomain ?? 'cluster.local', socket: o.containerdSocket,
    env: envSources,
    volumes: {
      configMap: envSources.configMap,
      secret: envSources.secret,
      token: (pod, audience, expirationSeconds) => projectedToken(pod, audience, expirationSeconds),
      allocatable: () => nodeAllocatable,
    },
    // The kube-api-access volume: a token bound to the pod, the cluster CA, the namespace.
    podMounts: async (pod, dir) => {
      if (pod.spec?.automountServiceAccountToken === false) return [];
      const { token } = await requestPodToken(client, pod);
      const sa = join(dir, 'serviceaccount');
      writeServiceAccountFiles(sa, { token, ca: readFileSync(join(o.dataDir, 'pki', 'ca.crt'), 'utf8'), namespace: pod.metadata?.namespace ?? 'default' });
      return [{ containerPath: SERVICE_ACCOUNT_MOUNT, hostPath: sa, readonly: true }];
    },
    onStatusChange: (uid) => queue.add(uid),
    event: (pod, type, reason, message) => recorder.event(pod, type, reason, message),
  }) : new PodRuntime({
    dataDir: o.dataDir, nodeName: o.nodeName, nodeIP: o.nodeIP, podCIDR: o.podCIDR, clusterName: o.clusterName,
    clusterDNS: o.clusterDNS ?? ['10.96.0.10'], clusterDomain: o.clusterDomain ?? 'cluster.local', nodeNetns: o.nodeNetns,
    apiserverSocket: o.apiserverSocket ?? `${o.dataDir}/apiserver.sock`,
    env: {
      services: (ns) => services.list().filter((s) => s.metadata?.namespace === ns),
      configMap: async (ns, name) => client.get<ConfigMap>(res('configmaps'), ns, name).catch(() => undefined),
      secret: async (ns, name) => client.get<Secret>(res('secrets'), ns, name).catch(() => undefined),
    },
    onStatusChange: (uid) => queue.add(uid),
    event: (pod, type, reason, message) => recorder.event(pod, type, reason, message),
  });
  const tAdopt = Date.now();
  const adopted = await runtime.adopt();
  log('runtime ready', { runtime: runtime instanceof CriRuntime ? 'containerd' : 'process', ms: Date.now() - tAdopt });
  if (runtime instanceof CriRuntime && registry) {
    const images = [SANDBOX_IMAGE, COREDNS_IMAGE];
    void runtime.prepull(images).then(() => log('pre-pulled', { images, ms: Date.now() - tAdopt }));
  }
  if (adopted.length) log('found pods from a previous run', { count: adopted.length });

  // Node registration: create, or bring an existing object up to date (the CLI may have done it
  // already, before loading this module).
  if (!o.registered) {
    await registerNode(client, id, log);
    log('node registered', { node: o.nodeName });
  }
  const nodes = res('nodes');

  const leases = res('leases');
  const renewLease = async () => {
    const spec = { holderIdentity: o.nodeName, leaseDurationSeconds: LEASE_DURATION_S, renewTime: microTime() };
    try {
      await client.patch(leases, LEASE_NAMESPACE, o.nodeName, { spec }, 'merge');
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) {
        await client.create(leases, LEASE_NAMESPACE, {
          apiVersion: 'coordination.k8s.io/v1', kind: 'Lease',
          metadata: { name: o.nodeName, namespace: LEASE_NAMESPACE, ownerReferences: [] },
          spec: { ...spec, acquireTime: microTime() },
        });
      } else throw e;
    }
  };
  await renewLease().catch((e) => log('lease renewal failed', { err: (e as Error).message }));
  const leaseTimer = setInterval(() => void renewLease().catch((e) => log('lease renewal failed', { err: (e as Error).message })), LEASE_RENEW_MS);
  const statusTimer = setInterval(() => {
    void client.get<Node>(nodes, undefined, o.nodeName)
      .then((n) => client.patch(nodes, undefined, o.nodeName, { status: { conditions: nodeStatus(id, n.status?.conditions, true)!.conditions } }, 'merge', 'status'))
      .catch((e) => log('node status update failed', { err: (e as Error).message }));
  }, NODE_STATUS_MS);

  const server: KubeletServer = await startServer(runtime, o.socket, o.healthzPort, () => synced);

  const syncPod = async (uid: string) => {
    const pod = byUid.get(uid);
    if (!pod) {
      // Gone from the API (force-deleted): nothing to report, just clean up.
      if (runtime.has(uid)) { await runtime.stop(uid, 0); runtime.remove(uid); lastStatus.delete(uid); }
      return;
    }
    const ns = pod.metadata?.namespace;
    const name = pod.metadata!.name!;
    if (pod.metadata?.deletionTimestamp) {
      const grace = pod.metadata.deletionGracePeriodSeconds ?? pod.spec?.terminationGracePeriodSeconds ?? DEFAULT_GRACE_S;
      if (runtime.has(uid)) {
        const stopping = runtime.stop(uid, grace);
        await pushStatus(uid, pod);
        await stopping;
        await pushStatus(uid, pod);
      }
      try {
        await client.delete(res('pods'), ns, name, { gracePeriodSeconds: 0, preconditions: { uid } });
      } catch (e) {
        if (!(e instanceof ApiError) || (e.code !== 404 && e.code !== 409)) throw e;
      }
      if (runtime.has(uid)) runtime.remove(uid);
      byUid.delete(uid);
      lastStatus.delete(uid);
      return;
    }
    const phase = pod.status?.phase;
    if ((phase === 'Succeeded' || phase === 'Failed') && !runtime.has(uid)) return;
    if (!runtime.has(uid)) {
      // Admission (lifecycle.NewPredicateAdmitHandler): a pod bound past the node's pod slots —
      // the scheduler never does it, a pod with spec.nodeName set by hand can — is rejected.
      // Pods still terminating hold their slot, as they do for the scheduler.
      const used = runtime.uids().filter((u) => !['Succeeded', 'Failed'].includes(runtime.status(u)?.phase ?? '')).length;
      if (used + 1 > maxPods) {
        const message = `Node didn't have enough resource: pods, requested: 1, used: ${used}, capacity: ${maxPods}`;
        recorder.event(pod, 'Warning', 'OutOfpods', message);
        await client.patch(res('pods'), ns, name, { status: { phase: 'Failed', reason: 'OutOfpods', message: `Pod was rejected: ${message}`, qosClass: qosClass(pod) } }, 'merge', 'status')
          .catch((e) => { if (!(e instanceof ApiError && e.code === 404)) throw e; });
        return;
      }
    }
    if (!seenAt.has(uid)) seenAt.set(uid, Date.now());
    // A pod whose sandbox cannot be built still reports ContainerCreating (and is retried).
    let failed: unknown;
    try { await runtime.start(pod); } catch (e) { failed = e ?? new Error('pod start failed'); }
    await pushStatus(uid, pod);
    if (failed) throw failed;
  };

  const pushStatus = async (uid: string, pod: Pod) => {
    const st = runtime.status(uid);
    if (!st) return;
    const body = JSON.stringify(st);
    if (lastStatus.get(uid) === body) return;
    try {
      // Strategic: conditions merge by type, so those others own (readiness gates) stay; podIPs
      // and hostIPs, which merge by ip, are the kubelet's whole lists (a new sandbox's address
      // replaces the old one rather than joining it).
      const replace = { $patch: 'replace' };
      const patch = { status: { ...st, ...(st.podIPs ? { podIPs: [...st.podIPs, replace] } : {}), ...(st.hostIPs ? { hostIPs: [...st.hostIPs, replace] } : {}) } };
      const updated = await client.patch<Pod>(res('pods'), pod.metadata?.namespace, pod.metadata!.name!, patch, 'strategic', 'status');
      lastStatus.set(uid, body);
      if (updated?.metadata?.uid === uid) byUid.set(uid, { ...byUid.get(uid)!, status: updated.status });
      const t0 = seenAt.get(uid);
      if (t0 && st.phase === 'Running') { metrics.podStartDuration.observe((Date.now() - t0) / 1000); seenAt.delete(uid); }
    } catch (e) {
      if (e instanceof ApiError && e.code === 404) return;
      throw e;
    }
  };

  pods.addHandlers({
    add: (p) => { byUid.set(p.metadata!.uid!, p); queue.add(p.metadata!.uid!); },
    update: (_o, p) => { byUid.set(p.metadata!.uid!, p); queue.add(p.metadata!.uid!); },
    delete: (p) => { byUid.delete(p.metadata!.uid!); queue.add(p.metadata!.uid!); },
  });
  await services.start();
  await pods.start();
  // Pods this node ran that no longer exist: stop them and free their sandboxes.
  const removed = await runtime.cleanOrphans(new Set(pods.list().map((p) => p.metadata!.uid!)));
  if (removed.length) log('removed orphaned pods', { removed });
  synced = true;
  void queue.run(async (uid) => {
    try { await syncPod(uid); metrics.syncs.inc({ result: 'ok' }); } catch (e) { metrics.syncs.inc({ result: 'error' }); throw e; }
  }, 4);
  const gaugeTimer = setInterval(() => {
    metrics.runningPods.set(runtime.uids().length);
  }, 5000);
  gaugeTimer.unref();

  return {
    runtime,
    async stop(opts = {}) {
      clearInterval(leaseTimer); clearInterval(statusTimer); clearInterval(gaugeTimer);
      pods.stop(); services.stop();
      queue.shutdown();
      if (opts.killPods) for (const uid of runtime.uids()) { await runtime.stop(uid, 0); runtime.remove(uid); }
      runtime.close();
      registry?.close();
      await server.close();
    },
  };
}
