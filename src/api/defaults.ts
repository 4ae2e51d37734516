/**
 * @module api/defaults
 * Defaulting as kube-apiserver 1.32 applies it on create and update: the scheme defaulters
 * (pkg/apis/core/v1/defaults.go, pkg/apis/apps/v1/defaults.go, pkg/apis/discovery/v1/defaults.go)
 * plus the fields the registry strategies and default admission plugins fill in at create
 * (Pod status Pending + qosClass, ServiceAccount 'default', DefaultTolerationSeconds, Priority;
 * Namespace finalizer; Service clusterIPs/ipFamilies). Idempotent: running twice changes nothing.
 * IP and NodePort allocation are the API server's job, not done here.
 */
import type { KubeObject } from './types.js';
import type { ResourceInfo } from './registry.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const DEFAULT_TERMINATION_GRACE = 30;
const DEFAULT_SCHEDULER = 'default-scheduler';
const DEFAULT_TERMINATION_MESSAGE_PATH = '/dev/termination-log';
const DEFAULT_CLIENT_IP_TIMEOUT = 10800;
const DEFAULT_MODE = 420; // 0644, as upstream writes it in JSON
const DEFAULT_TOLERATION_SECONDS = 300;
const NOT_READY_TAINT = 'node.kubernetes.io/not-ready';
const UNREACHABLE_TAINT = 'node.kubernetes.io/unreachable';
const NAMESPACE_NAME_LABEL = 'kubernetes.io/metadata.name';

function obj(parent: Obj, key: string): Obj {
  if (parent[key] === undefined || parent[key] === null || typeof parent[key] !== 'object') parent[key] = {};
  return parent[key] as Obj;
}

function setIfUnset(o: Obj, key: string, v: unknown): void {
  if (o[key] === undefined || o[key] === null || o[key] === '') o[key] = v;
}

function arr(v: unknown): Obj[] {
  return Array.isArray(v) ? (v as Obj[]).filter((x) => x && typeof x === 'object') : [];
}

/** Apply every defaulter for the object's kind (mutates obj). */
export function applyDefaults(o: KubeObject, info: Pick<ResourceInfo, 'kind'>): void {
  const x = o as Obj;
  switch (info.kind) {
    case 'Service': defaultService(x); break;
    case 'Pod': defaultPod(x); break;
    case 'Deployment': defaultDeployment(x); break;
    case 'ReplicaSet': defaultReplicaSet(x); break;
    case 'StatefulSet': defaultStatefulSet(x); break;
    case 'Endpoints': defaultEndpoints(x); break;
    case 'EndpointSlice': defaultEndpointSlice(x); break;
    case 'Namespace': defaultNamespace(x); break;
    case 'Node': defaultNode(x); break;
    case 'Secret': setIfUnset(x, 'type', 'Opaque'); break;
    case 'Event': defaultEvent(x); break;
    default: break;
  }
}

// ---- Service ----

/** ExternallyAccessible in pkg/api/v1/service: NodePort/LoadBalancer, or ClusterIP with externalIPs. */
function externallyAccessible(spec: Obj): boolean {
  return spec.type === 'LoadBalancer' || spec.type === 'NodePort' ||
    (spec.type === 'ClusterIP' && Array.isArray(spec.externalIPs) && spec.externalIPs.length > 0);
}

export function defaultService(svc: Obj): void {
  const spec = obj(svc, 'spec');
  setIfUnset(spec, 'sessionAffinity', 'None');
  if (spec.sessionAffinity === 'None') delete spec.sessionAffinityConfig;
  if (spec.sessionAffinity === 'ClientIP') {
    const clientIP = obj(obj(spec, 'sessionAffinityConfig'), 'clientIP');
    setIfUnset(clientIP, 'timeoutSeconds', DEFAULT_CLIENT_IP_TIMEOUT);
  }
  setIfUnset(spec, 'type', 'ClusterIP');
  for (const p of arr(spec.ports)) {
    setIfUnset(p, 'protocol', 'TCP');
    if (p.targetPort === undefined || p.targetPort === null || p.targetPort === 0 || p.targetPort === '') p.targetPort = p.port;
  }
  if (externallyAccessible(spec)) setIfUnset(spec, 'externalTrafficPolicy', 'Cluster');
  if (spec.type === 'NodePort' || spec.type === 'LoadBalancer' || spec.type === 'ClusterIP') setIfUnset(spec, 'internalTrafficPolicy', 'Cluster');
  if (spec.type === 'LoadBalancer') setIfUnset(spec, 'allocateLoadBalancerNodePorts', true);

  // The registry keeps clusterIP and clusterIPs[0] in step (normalizeClusterIPs).
  if (spec.type !== 'ExternalName') {
    const ips: unknown[] = Array.isArray(spec.clusterIPs) ? spec.clusterIPs : [];
    if (spec.clusterIP && ips.length === 0) spec.clusterIPs = [spec.clusterIP];
    else if (!spec.clusterIP && ips.length > 0) spec.clusterIP = ips[0];
    // Single-stack cluster: the allocator settles families. Headless without selector is
    // RequireDualStack (upstream), with only the IPv4 family this cluster has.
    const headlessNoSelector = spec.clusterIP === 'None' && Object.keys(spec.selector ?? {}).length === 0;
    setIfUnset(spec, 'ipFamilyPolicy', headlessNoSelector ? 'RequireDualStack' : 'SingleStack');
    if (!Array.isArray(spec.ipFamilies) || spec.ipFamilies.length === 0) spec.ipFamilies = ['IPv4'];
  }
  const status = obj(svc, 'status');
  const lb = obj(status, 'loadBalancer');
  if (spec.type === 'LoadBalancer') {
    for (const ing of arr(lb.ingress)) if (ing.ip && !ing.ipMode) ing.ipMode = 'VIP';
  }
}

// ---- Pod and pod templates ----

/** pkg/apis/core/v1 SetDefaults_Container imagePullPolicy: Always for ':latest' or no tag, else IfNotPresent. */
export function defaultPullPolicy(image: string | undefined): 'Always' | 'IfNotPresent' {
  if (!image) return 'Always';
  if (image.includes('@')) return 'IfNotPresent';
  const lastSlash = image.lastIndexOf('/');
  const nameAndTag = image.slice(lastSlash + 1);
  const colon = nameAndTag.lastIndexOf(':');
  if (colon < 0) return 'Always';
  return nameAndTag.slice(colon + 1) === 'latest' ? 'Always' : 'IfNotPresent';
}

function defaultProbe(p: unknown): void {
  if (!p || typeof p !== 'object') return;
  const pr = p as Obj;
  setIfUnset(pr, 'timeoutSeconds', 1);
  setIfUnset(pr, 'periodSeconds', 10);
  setIfUnset(pr, 'successThreshold', 1);
  setIfUnset(pr, 'failureThreshold', 3);
  defaultHandler(pr);
}

function defaultHandler(h: Obj): void {
  if (h.httpGet && typeof h.httpGet === 'object') {
    setIfUnset(h.httpGet, 'path', '/');
    setIfUnset(h.httpGet, 'scheme', 'HTTP');
  }
}

function defaultContainer(c: Obj): void {
  setIfUnset(c, 'imagePullPolicy', defaultPullPolicy(c.image));
  setIfUnset(c, 'terminationMessagePath', DEFAULT_TERMINATION_MESSAGE_PATH);
  setIfUnset(c, 'terminationMessagePolicy', 'File');
  for (const p of arr(c.ports)) setIfUnset(p, 'protocol', 'TCP');
  for (const e of arr(c.env)) {
    if (e.valueFrom?.fieldRef) setIfUnset(e.valueFrom.fieldRef, 'apiVersion', 'v1');
  }
  defaultProbe(c.livenessProbe);
  defaultProbe(c.readinessProbe);
  defaultProbe(c.startupProbe);
  if (c.lifecycle && typeof c.lifecycle === 'object') {
    for (const k of ['postStart', 'preStop']) if (c.lifecycle[k]) defaultHandler(c.lifecycle[k]);
  }
}

function defaultVolume(v: Obj): void {
  const sources = Object.keys(v).filter((k) => k !== 'name');
  if (sources.length === 0) v.emptyDir = {};
  for (const k of ['configMap', 'secret', 'downwardAPI', 'projected']) {
    if (v[k] && typeof v[k] === 'object') setIfUnset(v[k], 'defaultMode', DEFAULT_MODE);
  }
  if (v.hostPath && typeof v.hostPath === 'object' && v.hostPath.type === undefined) v.hostPath.type = '';
}

/** SetDefaults_PodSpec plus the container, volume and probe defaulters. */
export function defaultPodSpec(spec: Obj): void {
  setIfUnset(spec, 'dnsPolicy', 'ClusterFirst');
  setIfUnset(spec, 'restartPolicy', 'Always');
  if (!spec.securityContext || typeof spec.securityContext !== 'object') spec.securityContext = {};
  setIfUnset(spec, 'terminationGracePeriodSeconds', DEFAULT_TERMINATION_GRACE);
  setIfUnset(spec, 'schedulerName', DEFAULT_SCHEDULER);
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) defaultContainer(c);
  for (const v of arr(spec.volumes)) defaultVolume(v);
}

/** Guaranteed when every container sets equal cpu and memory limits/requests, BestEffort when none sets any. */
function qosClass(spec: Obj): string {
  const cs = [...arr(spec.containers), ...arr(spec.initContainers)];
  let any = false;
  let guaranteed = cs.length > 0;
  for (const c of cs) {
    const req: Obj = c.resources?.requests ?? {};
    const lim: Obj = c.resources?.limits ?? {};
    for (const r of ['cpu', 'memory']) {
      if (req[r] !== undefined || lim[r] !== undefined) any = true;
      if (lim[r] === undefined || (req[r] !== undefined && String(req[r]) !== String(lim[r]))) guaranteed = false;
    }
  }
  if (!any) return 'BestEffort';
  return guaranteed ? 'Guaranteed' : 'Burstable';
}

function defaultPodTemplate(tpl: unknown): void {
  if (!tpl || typeof tpl !== 'object') return;
  defaultPodSpec(obj(tpl as Obj, 'spec'));
}

/** A Pod as kube-apiserver stores it after defaulting, the registry strategy and default admission. */
export function defaultPod(pod: Obj): void {
  const spec = obj(pod, 'spec');
  defaultPodSpec(spec);
  setIfUnset(spec, 'enableServiceLinks', true);
  // Host-network pods publish every container port on the node (Pods only, not templates).
  if (spec.hostNetwork === true) {
    for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
      for (const p of arr(c.ports)) if (!p.hostPort) p.hostPort = p.containerPort;
    }
  }
  // Limits copy into requests when requests are absent (SetDefaults_Pod).
  for (const c of [...arr(spec.containers), ...arr(spec.initContainers)]) {
    const lim = c.resources?.limits;
    if (lim && typeof lim === 'object') {
      const req = obj(c.resources, 'requests');
      for (const [k, v] of Object.entries(lim)) if (req[k] === undefined) req[k] = v;
    }
  }
  // ServiceAccount admission.
  if (!spec.serviceAccountName) spec.serviceAccountName = spec.serviceAccount || 'default';
  spec.serviceAccount = spec.serviceAccountName;
  // Priority admission (no priorityClassName → 0, preemptLowerPriority).
  if (spec.priority === undefined && !spec.priorityClassName) spec.priority = 0;
  setIfUnset(spec, 'preemptionPolicy', 'PreemptLowerPriority');
  // DefaultTolerationSeconds admission.
  const tol: Obj[] = Array.isArray(spec.tolerations) ? spec.tolerations : [];
  for (const key of [NOT_READY_TAINT, UNREACHABLE_TAINT]) {
    const covered = tol.some((t) => (t.key === key || (t.key === undefined && t.operator === 'Exists')) &&
      (t.effect === 'NoExecute' || t.effect === undefined || t.effect === ''));
    if (!covered) tol.push({ key, operator: 'Exists', effect: 'NoExecute', tolerationSeconds: DEFAULT_TOLERATION_SECONDS });
  }
  spec.tolerations = tol;
  const status = obj(pod, 'status');
  setIfUnset(status, 'phase', 'Pending');
  setIfUnset(status, 'qosClass', qosClass(spec));
}

// ---- apps/v1 ----

export function defaultDeployment(d: Obj): void {
  const spec = obj(d, 'spec');
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  const strategy = obj(spec, 'strategy');
  setIfUnset(strategy, 'type', 'RollingUpdate');
  if (strategy.type === 'RollingUpdate') {
    const ru = obj(strategy, 'rollingUpdate');
    setIfUnset(ru, 'maxUnavailable', '25%');
    setIfUnset(ru, 'maxSurge', '25%');
  }
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  if (spec.progressDeadlineSeconds === undefined || spec.progressDeadlineSeconds === null) spec.progressDeadlineSeconds = 600;
  defaultPodTemplate(spec.template);
}

export function defaultReplicaSet(rs: Obj): void {
  const spec = obj(rs, 'spec');
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  defaultPodTemplate(spec.template);
}

export function defaultStatefulSet(s: Obj): void {
  const spec = obj(s, 'spec');
  setIfUnset(spec, 'podManagementPolicy', 'OrderedReady');
  const us = obj(spec, 'updateStrategy');
  if (!us.type) {
    us.type = 'RollingUpdate';
    if (!us.rollingUpdate) us.rollingUpdate = {};
  }
  if (us.type === 'RollingUpdate' && us.rollingUpdate && typeof us.rollingUpdate === 'object') {
    if (us.rollingUpdate.partition === undefined || us.rollingUpdate.partition === null) us.rollingUpdate.partition = 0;
  }
  const ret = obj(spec, 'persistentVolumeClaimRetentionPolicy');
  setIfUnset(ret, 'whenDeleted', 'Retain');
  setIfUnset(ret, 'whenScaled', 'Retain');
  if (spec.replicas === undefined || spec.replicas === null) spec.replicas = 1;
  if (spec.revisionHistoryLimit === undefined || spec.revisionHistoryLimit === null) spec.revisionHistoryLimit = 10;
  for (const pvc of arr(spec.volumeClaimTemplates)) {
    const ps = obj(pvc, 'spec');
    setIfUnset(ps, 'volumeMode', 'Filesystem');
    setIfUnset(obj(pvc, 'status'), 'phase', 'Pending');
  }
  defaultPodTemplate(spec.template);
}

// ---- endpoints, namespaces, nodes, events ----

export function defaultEndpoints(ep: Obj): void {
  for (const ss of arr(ep.subsets)) for (const p of arr(ss.ports)) setIfUnset(p, 'protocol', 'TCP');
}

export function defaultEndpointSlice(es: Obj): void {
  for (const p of arr(es.ports)) {
    if (p.name === undefined || p.name === null) p.name = '';
    setIfUnset(p, 'protocol', 'TCP');
  }
}

export function defaultNamespace(ns: Obj): void {
  const name = ns.metadata?.name;
  // SetDefaults_Namespace: the immutable name label (NamespaceDefaultLabelName).
  if (typeof name === 'string' && name) obj(obj(ns, 'metadata'), 'labels')[NAMESPACE_NAME_LABEL] = name;
  const spec = obj(ns, 'spec');
  if (!Array.isArray(spec.finalizers)) spec.finalizers = ['kubernetes'];
  setIfUnset(obj(ns, 'status'), 'phase', 'Active');
}

export function defaultNode(n: Obj): void {
  const status = n.status as Obj | undefined;
  if (status && status.capacity && !status.allocatable) status.allocatable = { ...status.capacity };
}

export function defaultEvent(e: Obj): void {
  // core/v1 Events carry these as the API returns them even when unset.
  if (e.reportingComponent === undefined) e.reportingComponent = '';
  if (e.reportingInstance === undefined) e.reportingInstance = '';
}
