/**
 * @module api/printers
 * meta.k8s.io/v1 Table output: the columns `kubectl get` shows, computed exactly as
 * kube-apiserver's pkg/printers/internalversion/printers.go does. The server always fills the
 * wide (priority 1) cells too; kubectl hides them unless `-o wide`.
 */
import type { KubeObject } from './types.js';
import type { ResourceInfo } from './registry.js';

const TABLE_API_VERSION = 'meta.k8s.io/v1';
const PARTIAL_KIND = 'PartialObjectMetadata';
const NONE = '<none>';
const UNKNOWN = '<unknown>';
/** formatEndpoints / formatDiscovery* show this many entries, then "+ N more...". */
const LIST_MAX = 3;
const NODE_ROLE_PREFIX = 'node-role.kubernetes.io/';
const NODE_ROLE_LABEL = 'kubernetes.io/role';
const NODE_UNREACHABLE_REASON = 'NodeLost';

export interface ColumnDefinition {
  name: string;
  type: string;
  format: string;
  description: string;
  priority: number;
}

export interface TableRow {
  cells: unknown[];
  object?: unknown;
  conditions?: { type: string; status: string; reason?: string; message?: string }[];
}

export interface Table {
  kind: 'Table';
  apiVersion: typeof TABLE_API_VERSION;
  metadata: { resourceVersion?: string; continue?: string; remainingItemCount?: number };
  columnDefinitions: ColumnDefinition[];
  rows: TableRow[];
}

export interface PrintOptions {
  includeObject?: 'None' | 'Metadata' | 'Object';
  now?: Date;
  /** The list's resourceVersion / continue token, copied into Table.metadata. */
  resourceVersion?: string;
  continue?: string;
  /** Watch events after the first carry no column definitions (as kube-apiserver does). */
  noHeaders?: boolean;
}

// Any JSON object, read loosely: printers must never throw on partial objects.
type J = any; // eslint-disable-line @typescript-eslint/no-explicit-any

const D_NAME = "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names";
const D_AGE = 'CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata';

function col(name: string, description = '', type = 'string', priority = 0, format = ''): ColumnDefinition {
  return { name, type, format, description, priority };
}
const NAME_COL = col('Name', D_NAME, 'string', 0, 'name');
const AGE_COL = col('Age', D_AGE);

type RowFn = (o: J, now: Date) => { cells: unknown[]; conditions?: TableRow['conditions'] };

interface Printer { columns: ColumnDefinition[]; row: RowFn }

/** duration.HumanDuration from k8s.io/apimachinery/pkg/util/duration. */
export function humanDuration(ms: number): string {
  const seconds = Math.trunc(ms / 1000);
  if (seconds < -1) return '<invalid>';
  if (seconds < 0) return '0s';
  if (seconds < 60 * 2) return `${seconds}s`;
  const minutes = Math.trunc(seconds / 60);
  if (minutes < 10) {
    const s = seconds % 60;
    return s === 0 ? `${minutes}m` : `${minutes}m${s}s`;
  }
  if (minutes < 60 * 3) return `${minutes}m`;
  const hours = Math.trunc(minutes / 60);
  if (hours < 8) {
    const m = minutes % 60;
    return m === 0 ? `${hours}h` : `${hours}h${m}m`;
  }
  if (hours < 48) return `${hours}h`;
  if (hours < 24 * 8) {
    const h = hours % 24;
    return h === 0 ? `${Math.trunc(hours / 24)}d` : `${Math.trunc(hours / 24)}d${h}h`;
  }
  if (hours < 24 * 365 * 2) return `${Math.trunc(hours / 24)}d`;
  if (hours < 24 * 365 * 8) {
    const dy = Math.trunc(hours / 24) % 365;
    return dy === 0 ? `${Math.trunc(hours / 24 / 365)}y` : `${Math.trunc(hours / 24 / 365)}y${dy}d`;
  }
  return `${Math.trunc(hours / 24 / 365)}y`;
}

/** translateTimestampSince: "<unknown>" for a zero/absent timestamp. */
function since(ts: unknown, now: Date): string {
  if (typeof ts !== 'string' || ts === '') return UNKNOWN;
  const t = Date.parse(ts);
  if (Number.isNaN(t) || t <= 0) return UNKNOWN;
  return humanDuration(now.getTime() - t);
}

/** labels.FormatLabels: sorted k=v joined by commas, "<none>" when empty. */
export function formatLabels(m: Record<string, string> | undefined): string {
  const keys = Object.keys(m ?? {}).sort();
  if (keys.length === 0) return NONE;
  return keys.map((k) => `${k}=${m![k]}`).join(',');
}

/** metav1.LabelSelectorAsSelector(...).String(): requirements sorted by key. */
export function formatLabelSelector(sel: J): string {
  if (sel === undefined || sel === null) return NONE;
  const reqs: { key: string; s: string }[] = [];
  for (const [k, v] of Object.entries(sel.matchLabels ?? {})) reqs.push({ key: k, s: `${k}=${v as string}` });
  for (const e of sel.matchExpressions ?? []) {
    const vals = [...(e.values ?? [])].sort().join(',');
    switch (e.operator) {
      case 'In': reqs.push({ key: e.key, s: `${e.key} in (${vals})` }); break;
      case 'NotIn': reqs.push({ key: e.key, s: `${e.key} notin (${vals})` }); break;
      case 'Exists': reqs.push({ key: e.key, s: `${e.key}` }); break;
      case 'DoesNotExist': reqs.push({ key: e.key, s: `!${e.key}` }); break;
      default: break;
    }
  }
  // sort.Stable by key, as labels.NewSelector().Add does.
  reqs.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return reqs.map((r) => r.s).join(',');
}

function containerCells(containers: J[] | undefined): [string, string] {
  const cs = containers ?? [];
  return [cs.map((c) => c.name ?? '').join(','), cs.map((c) => c.image ?? '').join(',')];
}

function num(v: unknown): number { return typeof v === 'number' ? v : 0; }

function listWithMore(list: string[], more: boolean, count: number, empty: string): string {
  const ret = list.join(',');
  if (more) return `${ret} + ${count - LIST_MAX} more...`;
  return ret === '' ? empty : ret;
}

// ---------------------------------------------------------------- pods

function isRestartableInit(c: J | undefined): boolean {
  return c?.restartPolicy === 'Always';
}

function laterTs(a: string | undefined, b: string | undefined): string | undefined {
  if (!b) return a;
  if (!a) return b;
  return Date.parse(b) > Date.parse(a) ? b : a;
}

const podSuccessConditions = [{ type: 'Completed', status: 'True', reason: 'Succeeded', message: 'The pod has completed successfully.' }];
const podFailedConditions = [{ type: 'Completed', status: 'True', reason: 'Failed', message: 'The pod failed.' }];

/** printPod: READY, STATUS (the reason kubectl shows), RESTARTS. */
export function podRow(pod: J, now: Date): { cells: unknown[]; conditions?: TableRow['conditions'] } {
  const spec = pod.spec ?? {};
  const status = pod.status ?? {};
  let restarts = 0;
  let restartableInitRestarts = 0;
  let totalContainers = (spec.containers ?? []).length;
  let readyContainers = 0;
  let lastRestart: string | undefined;
  let lastRestartableInitRestart: string | undefined;
  const phase: string = status.phase ?? '';
  let reason: string = status.reason || phase;
  for (const c of status.conditions ?? []) {
    if (c.type === 'PodScheduled' && c.reason === 'SchedulingGated') reason = 'SchedulingGated';
  }
  let conditions: TableRow['conditions'];
  if (phase === 'Succeeded') conditions = podSuccessConditions;
  else if (phase === 'Failed') conditions = podFailedConditions;

  const inits = new Map<string, J>();
  for (const c of spec.initContainers ?? []) {
    inits.set(c.name, c);
    if (isRestartableInit(c)) totalContainers++;
  }
  let initializing = false;
  const initStatuses: J[] = status.initContainerStatuses ?? [];
  for (let i = 0; i < initStatuses.length; i++) {
    const cs = initStatuses[i];
    restarts += num(cs.restartCount);
    const lastTerm = cs.lastState?.terminated;
    if (lastTerm) lastRestart = laterTs(lastRestart, lastTerm.finishedAt);
    const restartable = isRestartableInit(inits.get(cs.name));
    if (restartable) {
      restartableInitRestarts += num(cs.restartCount);
      if (lastTerm) lastRestartableInitRestart = laterTs(lastRestartableInitRestart, lastTerm.finishedAt);
    }
    const term = cs.state?.terminated;
    const wait = cs.state?.waiting;
    if (term && num(term.exitCode) === 0) continue;
    if (restartable && cs.started === true) {
      if (cs.ready) readyContainers++;
      continue;
    }
    if (term) {
      if (!term.reason) reason = term.signal ? `Init:Signal:${term.signal}` : `Init:ExitCode:${num(term.exitCode)}`;
      else reason = `Init:${term.reason}`;
    } else if (wait && wait.reason && wait.reason !== 'PodInitializing') {
      reason = `Init:${wait.reason}`;
    } else {
      reason = `Init:${i}/${(spec.initContainers ?? []).length}`;
    }
    initializing = true;
    break;
  }

  const initializedTrue = (status.conditions ?? []).some((c: J) => c.type === 'Initialized' && c.status === 'True');
  if (!initializing || initializedTrue) {
    restarts = restartableInitRestarts;
    lastRestart = lastRestartableInitRestart;
    let hasRunning = false;
    const statuses: J[] = status.containerStatuses ?? [];
    for (let i = statuses.length - 1; i >= 0; i--) {
      const cs = statuses[i];
      restarts += num(cs.restartCount);
      const lastTerm = cs.lastState?.terminated;
      if (lastTerm) lastRestart = laterTs(lastRestart, lastTerm.finishedAt);
      const wait = cs.state?.waiting;
      const term = cs.state?.terminated;
      if (wait && wait.reason) reason = wait.reason;
      else if (term && term.reason) reason = term.reason;
      else if (term && !term.reason) reason = term.signal ? `Signal:${term.signal}` : `ExitCode:${num(term.exitCode)}`;
      else if (cs.ready && cs.state?.running) {
        hasRunning = true;
        readyContainers++;
      }
    }
    if (reason === 'Completed' && hasRunning) {
      const ready = (status.conditions ?? []).some((c: J) => c.type === 'Ready' && c.status === 'True');
      reason = ready ? 'Running' : 'NotReady';
    }
  }

  const deleting = !!pod.metadata?.deletionTimestamp;
  if (deleting && status.reason === NODE_UNREACHABLE_REASON) reason = 'Unknown';
  else if (deleting && phase !== 'Succeeded' && phase !== 'Failed') reason = 'Terminating';

  let restartsStr = String(restarts);
  if (restarts !== 0 && lastRestart) restartsStr = `${restarts} (${since(lastRestart, now)} ago)`;

  let podIP: string = status.podIPs?.[0]?.ip ?? '';
  if (!podIP) podIP = NONE;
  const nodeName = spec.nodeName || NONE;
  const nominated = status.nominatedNodeName || NONE;
  let gates = NONE;
  const rg: J[] = spec.readinessGates ?? [];
  if (rg.length > 0) {
    let trueCount = 0;
    for (const g of rg) {
      const c = (status.conditions ?? []).find((x: J) => x.type === g.conditionType);
      if (c && c.status === 'True') trueCount++;
    }
    gates = `${trueCount}/${rg.length}`;
  }
  return {
    cells: [pod.metadata?.name ?? '', `${readyContainers}/${totalContainers}`, reason, restartsStr,
      since(pod.metadata?.creationTimestamp, now), podIP, nodeName, nominated, gates],
    conditions,
  };
}

// ---------------------------------------------------------------- services

function lbStatusString(lb: J): string {
  const set = new Set<string>();
  for (const ing of lb?.ingress ?? []) {
    if (ing.ip) set.add(ing.ip);
    else if (ing.hostname) set.add(ing.hostname);
  }
  return [...set].sort().join(',');
}

/** getServiceExternalIP (wide, as the server prints it). */
export function serviceExternalIP(svc: J): string {
  const spec = svc.spec ?? {};
  const extIPs: string[] = spec.externalIPs ?? [];
  switch (spec.type) {
    case 'ClusterIP':
    case 'NodePort':
      return extIPs.length > 0 ? extIPs.join(',') : NONE;
    case 'LoadBalancer': {
      const lb = lbStatusString(svc.status?.loadBalancer);
      if (extIPs.length > 0) return [...(lb ? lb.split(',') : []), ...extIPs].join(',');
      return lb || '<pending>';
    }
    case 'ExternalName':
      return spec.externalName ?? '';
    default:
      return UNKNOWN;
  }
}

/** makePortString: "80/TCP", "80:32380/TCP". */
export function servicePorts(ports: J[] | undefined): string {
  return (ports ?? []).map((p) => (p.nodePort > 0 ? `${p.port}:${p.nodePort}/${p.protocol ?? ''}` : `${p.port}/${p.protocol ?? ''}`)).join(',');
}

// ---------------------------------------------------------------- endpoints

function joinHostPort(ip: string, port: number): string {
  return ip.includes(':') ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/** formatEndpoints(endpoints, nil). */
export function formatEndpoints(ep: J): string {
  const subsets: J[] = ep.subsets ?? [];
  if (subsets.length === 0) return NONE;
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const ss of subsets) {
    const addrs: J[] = ss.addresses ?? [];
    const ports: J[] = ss.ports ?? [];
    if (ports.length === 0) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === LIST_MAX) { more = true; break; }
        list.push(a.ip);
      }
      continue;
    }
    for (const p of ports) {
      count += addrs.length;
      for (const a of addrs) {
        if (list.length === LIST_MAX) { more = true; break; }
        list.push(joinHostPort(a.ip, p.port));
      }
    }
  }
  const ret = list.join(',');
  return more ? `${ret} + ${count - LIST_MAX} more...` : ret;
}

function formatDiscoveryPorts(ports: J[] | undefined): string {
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const p of ports ?? []) {
    if (list.length < LIST_MAX) list.push(p.port !== undefined && p.port !== null ? String(p.port) : p.name ?? '*');
    else if (list.length === LIST_MAX) more = true;
    count++;
  }
  return listWithMore(list, more, count, '<unset>');
}

function formatDiscoveryEndpoints(eps: J[] | undefined): string {
  const list: string[] = [];
  let more = false;
  let count = 0;
  for (const e of eps ?? []) {
    for (const a of e.addresses ?? []) {
      if (list.length < LIST_MAX) list.push(a);
      else if (list.length === LIST_MAX) more = true;
      count++;
    }
  }
  return listWithMore(list, more, count, '<unset>');
}

// ---------------------------------------------------------------- nodes

function nodeRoles(node: J): string {
  const roles = new Set<string>();
  for (const [k, v] of Object.entries<string>(node.metadata?.labels ?? {})) {
    if (k.startsWith(NODE_ROLE_PREFIX)) {
      const role = k.slice(NODE_ROLE_PREFIX.length);
      if (role) roles.add(role);
    } else if (k === NODE_ROLE_LABEL && v) roles.add(v);
  }
  const r = [...roles].sort().join(',');
  return r || NONE;
}

function nodeAddress(node: J, type: string): string {
  return (node.status?.addresses ?? []).find((a: J) => a.type === type)?.address ?? NONE;
}

// ---------------------------------------------------------------- events

function formatEventSource(ev: J): string {
  const component = ev.source?.component || ev.reportingComponent || ev.reportingController || '';
  const instance = ev.source?.host || ev.reportingInstance || '';
  return instance ? `${component}, ${instance}` : component;
}

function eventRow(ev: J, now: Date): unknown[] {
  let first = since(ev.firstTimestamp, now);
  if (!ev.firstTimestamp) first = since(ev.eventTime, now);
  let last = since(ev.lastTimestamp, now);
  if (!ev.lastTimestamp) last = first;
  let count = num(ev.count);
  if (ev.series) {
    last = since(ev.series.lastObservedTime, now);
    count = num(ev.series.count);
  } else if (count === 0) count = 1;
  const io = ev.involvedObject ?? {};
  const kind = String(io.kind ?? '').toLowerCase();
  const target = io.name ? `${kind}/${io.name}` : kind;
  return [last, ev.type ?? '', ev.reason ?? '', target, io.fieldPath ?? '', formatEventSource(ev),
    String(ev.message ?? '').trim(), first, count, ev.metadata?.name ?? ''];
}

// ---------------------------------------------------------------- table of printers

const name = (o: J): string => o.metadata?.name ?? '';
const age = (o: J, now: Date): string => since(o.metadata?.creationTimestamp, now);
const D_CONTAINERS = 'Names of each container in the template.';
const D_IMAGES = 'Images referenced by each container in the template.';

const PRINTERS: Record<string, Printer> = {
  pods: {
    columns: [NAME_COL,
      col('Ready', 'The aggregate readiness state of this pod for accepting traffic.'),
      col('Status', 'The aggregate status of the containers in this pod.'),
      col('Restarts', 'The number of times the containers in this pod have been restarted and when the last container in this pod has restarted.'),
      AGE_COL,
      col('IP', 'podIP address allocated to the pod. Routable at least within the cluster. Empty if not yet allocated.', 'string', 1),
      col('Node', 'NodeName indicates in which node this pod is scheduled.', 'string', 1),
      col('Nominated Node', 'nominatedNodeName is set only when this pod preempts other pods on the node, but it cannot be scheduled right away as preemption victims receive their graceful termination periods.', 'string', 1),
      col('Readiness Gates', 'If specified, all readiness gates will be evaluated for pod readiness.', 'string', 1)],
    row: podRow,
  },
  services: {
    columns: [NAME_COL,
      col('Type', 'type determines how the Service is exposed.'),
      col('Cluster-IP', 'clusterIP is the IP address of the service and is usually assigned randomly.'),
      col('External-IP', 'externalIPs is a list of IP addresses for which nodes in the cluster will also accept traffic for this service.'),
      col('Port(s)', 'The list of ports that are exposed by this service.'),
      AGE_COL,
      col('Selector', 'Route service traffic to pods with label keys and values matching this selector.', 'string', 1)],
    row: (o, now) => {
      const spec = o.spec ?? {};
      const clusterIP = spec.clusterIPs?.[0] ?? spec.clusterIP ?? NONE;
      return { cells: [name(o), spec.type ?? '', clusterIP || NONE, serviceExternalIP(o), servicePorts(spec.ports) || NONE, age(o, now), formatLabels(spec.selector)] };
    },
  },
  endpoints: {
    columns: [NAME_COL, col('Endpoints', 'The set of all endpoints is the union of all subsets.'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), formatEndpoints(o), age(o, now)] }),
  },
  endpointslices: {
    columns: [NAME_COL,
      col('AddressType', 'addressType specifies the type of address carried by this EndpointSlice.'),
      col('Ports', 'ports specifies the list of network ports exposed by each endpoint in this slice.'),
      col('Endpoints', 'endpoints is a list of unique endpoints in this slice.'),
      AGE_COL],
    row: (o, now) => ({ cells: [name(o), o.addressType ?? '', formatDiscoveryPorts(o.ports), formatDiscoveryEndpoints(o.endpoints), age(o, now)] }),
  },
  deployments: {
    columns: [NAME_COL,
      col('Ready', 'Number of the pod with ready state'),
      col('Up-to-date', 'Total number of non-terminated pods targeted by this deployment that have the desired template spec.', 'integer'),
      col('Available', 'Total number of available pods (ready for at least minReadySeconds) targeted by this deployment.', 'integer'),
      AGE_COL,
      col('Containers', D_CONTAINERS, 'string', 1),
      col('Images', D_IMAGES, 'string', 1),
      col('Selector', 'Label selector for pods.', 'string', 1)],
    row: (o, now) => {
      const [cs, imgs] = containerCells(o.spec?.template?.spec?.containers);
      const st = o.status ?? {};
      return { cells: [name(o), `${num(st.readyReplicas)}/${num(o.spec?.replicas)}`, num(st.updatedReplicas), num(st.availableReplicas), age(o, now), cs, imgs, formatLabelSelector(o.spec?.selector)] };
    },
  },
  replicasets: {
    columns: [NAME_COL,
      col('Desired', 'Replicas is the number of desired replicas.', 'integer'),
      col('Current', 'Replicas is the most recently observed number of replicas.', 'integer'),
      col('Ready', 'readyReplicas is the number of pods targeted by this ReplicaSet with a Ready Condition.', 'integer'),
      AGE_COL,
      col('Containers', D_CONTAINERS, 'string', 1),
      col('Images', D_IMAGES, 'string', 1),
      col('Selector', 'Selector is a label query over pods that should match the replica count.', 'string', 1)],
    row: (o, now) => {
      const [cs, imgs] = containerCells(o.spec?.template?.spec?.containers);
      const st = o.status ?? {};
      return { cells: [name(o), num(o.spec?.replicas), num(st.replicas), num(st.readyReplicas), age(o, now), cs, imgs, formatLabelSelector(o.spec?.selector)] };
    },
  },
  statefulsets: {
    columns: [NAME_COL, col('Ready', 'Number of the pod with ready state'), AGE_COL,
      col('Containers', D_CONTAINERS, 'string', 1), col('Images', D_IMAGES, 'string', 1)],
    row: (o, now) => {
      const [cs, imgs] = containerCells(o.spec?.template?.spec?.containers);
      return { cells: [name(o), `${num(o.status?.readyReplicas)}/${num(o.spec?.replicas)}`, age(o, now), cs, imgs] };
    },
  },
  nodes: {
    columns: [NAME_COL, col('Status', 'The status of the node'), col('Roles', 'The roles of the node'), AGE_COL,
      col('Version', 'Kubelet Version reported by the node.'),
      col('Internal-IP', 'List of addresses reachable to the node.', 'string', 1),
      col('External-IP', 'List of addresses reachable to the node.', 'string', 1),
      col('OS-Image', 'OS Image reported by the node from /etc/os-release (e.g. Debian GNU/Linux 7 (wheezy)).', 'string', 1),
      col('Kernel-Version', "Kernel Version reported by the node from 'uname -r' (e.g. 3.16.0-0.bpo.4-amd64).", 'string', 1),
      col('Container-Runtime', 'ContainerRuntime Version reported by the node through runtime remote API (e.g. containerd://1.4.2).', 'string', 1)],
    row: (o, now) => {
      const status: string[] = [];
      const ready = (o.status?.conditions ?? []).find((c: J) => c.type === 'Ready');
      if (ready) status.push(ready.status === 'True' ? 'Ready' : 'NotReady');
      if (status.length === 0) status.push('Unknown');
      if (o.spec?.unschedulable) status.push('SchedulingDisabled');
      const ni = o.status?.nodeInfo ?? {};
      return {
        cells: [name(o), status.join(','), nodeRoles(o), age(o, now), ni.kubeletVersion ?? '',
          nodeAddress(o, 'InternalIP'), nodeAddress(o, 'ExternalIP'), ni.osImage || UNKNOWN, ni.kernelVersion || UNKNOWN, ni.containerRuntimeVersion || UNKNOWN],
      };
    },
  },
  namespaces: {
    columns: [NAME_COL, col('Status', 'The status of the namespace'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), o.status?.phase ?? '', age(o, now)] }),
  },
  events: {
    columns: [
      col('Last Seen', 'The time at which the most recent occurrence of this event was recorded.'),
      col('Type', 'Type of this event (Normal, Warning), new types could be added in the future'),
      col('Reason', "This should be a short, machine understandable string that gives the reason for the transition into the object's current status."),
      col('Object', 'The object that this event is about.'),
      col('Subobject', 'If referring to a piece of an object instead of an entire object, this string should contain a valid JSON/Go field access statement, such as desiredState.manifest.containers[2].', 'string', 1),
      col('Source', 'The component reporting this event. Should be a short machine understandable string.', 'string', 1),
      col('Message', 'A human-readable description of the status of this operation.'),
      col('First Seen', 'The time at which the event was first recorded. (Time of server receipt is in TypeMeta.)', 'string', 1),
      col('Count', 'The number of times this event has occurred.', 'string', 1),
      col('Name', D_NAME, 'string', 1, 'name')],
    row: (o, now) => ({ cells: eventRow(o, now) }),
  },
  leases: {
    columns: [NAME_COL, col('Holder', 'holderIdentity contains the identity of the holder of a current lease.'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), o.spec?.holderIdentity ?? UNKNOWN, age(o, now)] }),
  },
  configmaps: {
    columns: [NAME_COL, col('Data', 'Number of data in configmap', 'integer'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), Object.keys(o.data ?? {}).length + Object.keys(o.binaryData ?? {}).length, age(o, now)] }),
  },
  secrets: {
    columns: [NAME_COL, col('Type', 'The type of the secret'), col('Data', 'Number of data in secret', 'integer'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), o.type ?? '', Object.keys(o.data ?? {}).length, age(o, now)] }),
  },
  serviceaccounts: {
    columns: [NAME_COL, col('Secrets', 'Secrets is a list of the secrets in the same namespace that pods running using this ServiceAccount are allowed to use.', 'integer'), AGE_COL],
    row: (o, now) => ({ cells: [name(o), (o.secrets ?? []).length, age(o, now)] }),
  },
  controllerrevisions: {
    columns: [NAME_COL, col('Controller', 'Controller of the object'), col('Revision', 'Revision indicates the revision of the state represented by Data.', 'integer'), AGE_COL],
    row: (o, now) => {
      const ref = (o.metadata?.ownerReferences ?? []).find((r: J) => r.controller === true);
      let controller = NONE;
      if (ref) {
        const apiVersion: string = ref.apiVersion ?? '';
        const group = apiVersion.includes('/') ? apiVersion.split('/')[0] : '';
        const gk = group ? `${ref.kind}.${group}` : ref.kind;
        controller = `${String(gk).toLowerCase()}/${ref.name}`;
      }
      return { cells: [name(o), controller, num(o.revision), age(o, now)] };
    },
  },
};

const DEFAULT_PRINTER: Printer = {
  columns: [NAME_COL, AGE_COL],
  row: (o, now) => ({ cells: [name(o), age(o, now)] }),
};

/** The column definitions served for a resource. */
export function columnDefinitions(info: ResourceInfo): ColumnDefinition[] {
  return (PRINTERS[info.resource] ?? DEFAULT_PRINTER).columns.map((c) => ({ ...c }));
}

function rowObject(o: KubeObject, include: 'None' | 'Metadata' | 'Object'): unknown {
  if (include === 'None') return undefined;
  if (include === 'Object') return o;
  return { kind: PARTIAL_KIND, apiVersion: TABLE_API_VERSION, metadata: o.metadata ?? {} };
}

/** A meta.k8s.io/v1 Table for objects of one resource. */
export function printTable(info: ResourceInfo, objs: KubeObject[], opts: PrintOptions = {}): Table {
  const printer = PRINTERS[info.resource] ?? DEFAULT_PRINTER;
  const now = opts.now ?? new Date();
  const include = opts.includeObject ?? 'Metadata';
  const rows: TableRow[] = objs.map((o) => {
    const r = printer.row(o, now);
    const row: TableRow = { cells: r.cells };
    const obj = rowObject(o, include);
    if (obj !== undefined) row.object = obj;
    if (r.conditions) row.conditions = r.conditions;
    return row;
  });
  const metadata: Table['metadata'] = {};
  if (opts.resourceVersion !== undefined) metadata.resourceVersion = opts.resourceVersion;
  if (opts.continue) metadata.continue = opts.continue;
  return {
    kind: 'Table',
    apiVersion: TABLE_API_VERSION,
    metadata,
    columnDefinitions: opts.noHeaders ? [] : printer.columns.map((c) => ({ ...c })),
    rows,
  };
}
