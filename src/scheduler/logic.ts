/**
 * @module scheduler/logic
 * pickNode: the filter and score steps of kube-scheduler's default profile that matter here.
 * Filters: node Ready and schedulable (not cordoned), nodeSelector, required node affinity
 * (matchExpressions on labels), taints with NoSchedule/NoExecute tolerated, and the pod count
 * of NodeResourcesFit (status.allocatable.pods: the kubelet's --max-pods, 110). Score: fewest
 * pods of the same owner (spread, like PodTopologySpread's default hostname constraint),
 * then fewest pods (LeastAllocated stands in), then name for determinism.
 */
import type { Node, Pod } from '../api/types.js';
import type { Taint, Toleration } from 'kubernetes-types/core/v1.js';

export interface FitResult {
  node?: string;
  reasons: Map<string, number>;
  total: number;
  /** Nodes rejected only for a reason preemption could resolve (NodeResourcesFit's Unschedulable). */
  preemptable?: number;
}

/** noderesources/fit.go: the reason a node whose pod slots are all taken gives. */
export const TOO_MANY_PODS = 'Too many pods';
/** The default preemption plugin's words for nodes it may and may not help on. */
export const NO_VICTIMS = 'No preemption victims found for incoming pod';
export const NOT_HELPFUL = 'Preemption is not helpful for scheduling';

const SUFFIX: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, P: 1e15, E: 1e18,
  Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40, Pi: 2 ** 50, Ei: 2 ** 60, m: 1e-3,
};

/** resource.Quantity.Value() of a count such as allocatable pods ("110", "1k", "2e2"); 0 when absent or malformed. */
export function quantityValue(q: string | number | undefined): number {
  return Math.ceil(quantityNumber(q));
}

/** A quantity as a plain number, fractions kept ("500m" → 0.5, "64Mi" → 67108864); 0 when absent or malformed. */
export function quantityNumber(q: string | number | undefined): number {
  if (typeof q === 'number') return Number.isFinite(q) ? q : 0;
  const m = /^\+?(\d+(?:\.\d*)?|\.\d+)(?:(Ki|Mi|Gi|Ti|Pi|Ei|[kMGTPEm])|[eE]([+-]?\d+))?$/.exec(q?.trim() ?? '');
  if (!m) return 0;
  const mult = m[3] !== undefined ? 10 ** Number(m[3]) : SUFFIX[m[2] ?? ''] ?? NaN;
  const v = Number(m[1]) * mult;
  return Number.isFinite(v) ? v : 0;
}

/** How many pods the node admits (NodeInfo.Allocatable.AllowedPodNumber). */
export function allowedPods(n: Node): number {
  return quantityValue(n.status?.allocatable?.pods as string | undefined);
}

/** Pods that hold one of a node's slots: bound to it and not finished (deleting ones still count). */
export function podsPerNode(pods: Pod[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const p of pods) {
    const n = p.spec?.nodeName;
    if (!n || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    m.set(n, (m.get(n) ?? 0) + 1);
  }
  return m;
}

export function nodeReady(n: Node): boolean {
  return n.status?.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
}

/** v1helper.TolerationsTolerateTaint. */
export function tolerates(tols: Toleration[], t: Taint): boolean {
  return tols.some((tol) => {
    if (tol.effect && tol.effect !== t.effect) return false;
    if (tol.key && tol.key !== t.key) return false;
    if (!tol.key && tol.operator !== 'Exists') return false;
    if ((tol.operator ?? 'Equal') === 'Exists') return true;
    return (tol.value ?? '') === (t.value ?? '');
  });
}

function matchesAffinity(pod: Pod, node: Node): boolean {
  const terms = pod.spec?.affinity?.nodeAffinity?.requiredDuringSchedulingIgnoredDuringExecution?.nodeSelectorTerms;
  if (!terms?.length) return true;
  const l = node.metadata?.labels ?? {};
  return terms.some((term) => (term.matchExpressions ?? []).every((e) => {
    const has = e.key in l;
    switch (e.operator) {
      case 'In': return has && (e.values ?? []).includes(l[e.key]!);
      case 'NotIn': return !has || !(e.values ?? []).includes(l[e.key]!);
      case 'Exists': return has;
      case 'DoesNotExist': return !has;
      case 'Gt': return has && Number(l[e.key]) > Number(e.values?.[0]);
      case 'Lt': return has && Number(l[e.key]) < Number(e.values?.[0]);
      default: return false;
    }
  }) && (term.matchFields ?? []).every((f) => f.key !== 'metadata.name' || (f.operator === 'In' ? (f.values ?? []).includes(node.metadata!.name!) : !(f.values ?? []).includes(node.metadata!.name!))));
}

/** Why a node does not fit, in kube-scheduler's words (undefined = fits). */
export function unfitReason(pod: Pod, node: Node): string | undefined {
  if (pod.spec?.nodeName && pod.spec.nodeName !== node.metadata?.name) return "node(s) didn't match the requested node name";
  const tols = pod.spec?.tolerations ?? [];
  for (const t of node.spec?.taints ?? []) {
    if (t.effect !== 'NoSchedule' && t.effect !== 'NoExecute') continue;
    if (!tolerates(tols, t)) return `node(s) had untolerated taint {${t.key}: ${t.value ?? ''}}`;
  }
  if (node.spec?.unschedulable && !tolerates(tols, { key: 'node.kubernetes.io/unschedulable', effect: 'NoSchedule' })) return 'node(s) were unschedulable';
  if (!nodeReady(node)) return "node(s) had untolerated taint {node.kubernetes.io/not-ready: }";
  const sel = pod.spec?.nodeSelector ?? {};
  for (const [k, v] of Object.entries(sel)) if (node.metadata?.labels?.[k] !== v) return "node(s) didn't match Pod's node affinity/selector";
  if (!matchesAffinity(pod, node)) return "node(s) didn't match Pod's node affinity/selector";
  return undefined;
}

/** nodeports plugin: the reason a node whose host ports a pod wants are taken gives. */
export const PORTS_TAKEN = "node(s) didn't have free ports for the requested pod ports";

interface HostPort { ip: string; protocol: string; port: number }
function hostPorts(p: Pod): HostPort[] {
  const out: HostPort[] = [];
  for (const c of [...(p.spec?.initContainers ?? []), ...(p.spec?.containers ?? [])]) {
    for (const port of c.ports ?? []) if (port.hostPort) out.push({ ip: port.hostIP || '0.0.0.0', protocol: port.protocol ?? 'TCP', port: port.hostPort });
  }
  return out;
}

/**
 * Whether a pod's host ports collide with those of the node's other pods (HostPortInfo.CheckConflict):
 * same protocol and port, and the same address or either one 0.0.0.0.
 */
export function hostPortsTaken(pod: Pod, podsOnNode: Pod[]): boolean {
  const want = hostPorts(pod);
  if (!want.length) return false;
  for (const other of podsOnNode) {
    if (other.metadata?.uid === pod.metadata?.uid || other.status?.phase === 'Succeeded' || other.status?.phase === 'Failed') continue;
    for (const h of hostPorts(other)) {
      if (want.some((w) => w.protocol === h.protocol && w.port === h.port && (w.ip === h.ip || w.ip === '0.0.0.0' || h.ip === '0.0.0.0'))) return true;
    }
  }
  return false;
}

function ownerUid(p: Pod): string | undefined {
  return p.metadata?.ownerReferences?.find((r) => r.controller)?.uid;
}

export function pickNode(pod: Pod, nodes: Node[], pods: Pod[]): FitResult {
  const reasons = new Map<string, number>();
  const fits: Node[] = [];
  const used = podsPerNode(pods);
  let preemptable = 0;
  for (const n of nodes) {
    // The plugins run in order and the first that rejects a node names the reason; the pod
    // count (NodeResourcesFit) comes after the node's taints, affinity and name.
    let why = unfitReason(pod, n);
    if (!why && hostPorts(pod).length && hostPortsTaken(pod, pods.filter((p) => p.spec?.nodeName === n.metadata?.name))) why = PORTS_TAKEN;
    if (!why && (used.get(n.metadata!.name!) ?? 0) + 1 > allowedPods(n)) { why = TOO_MANY_PODS; preemptable++; }
    if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
    else fits.push(n);
  }
  if (!fits.length) return { reasons, total: nodes.length, preemptable };
  const owner = ownerUid(pod);
  const count = new Map<string, { same: number; all: number }>();
  for (const n of fits) count.set(n.metadata!.name!, { same: 0, all: 0 });
  for (const p of pods) {
    const c = p.spec?.nodeName ? count.get(p.spec.nodeName) : undefined;
    if (!c || p.status?.phase === 'Succeeded' || p.status?.phase === 'Failed') continue;
    c.all++;
    if (owner && ownerUid(p) === owner) c.same++;
  }
  fits.sort((a, b) => {
    const ca = count.get(a.metadata!.name!)!, cb = count.get(b.metadata!.name!)!;
    return ca.same - cb.same || ca.all - cb.all || a.metadata!.name!.localeCompare(b.metadata!.name!);
  });
  return { node: fits[0]!.metadata!.name!, reasons, total: nodes.length };
}

/** FitError.Error(): "<count> <reason>" entries sorted as strings (sort.Strings), joined with ", ". */
function histogram(reasons: Map<string, number>): string {
  return [...reasons.entries()].map(([why, n]) => `${n} ${why}`).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0)).join(', ');
}

/**
 * "0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption
 * victims found for incoming pod." The preemption part is DefaultPreemption's answer: nodes
 * rejected for a resource (Unschedulable) are tried, and with no pod of lower priority on them
 * there is no victim; nodes rejected for taints, affinity or readiness
 * (UnschedulableAndUnresolvable) are not helped by preemption.
 */
export function failedSchedulingMessage(r: FitResult): string {
  if (!r.total) return 'no nodes available to schedule pods';
  const pre = new Map<string, number>();
  if (r.preemptable) pre.set(NO_VICTIMS, r.preemptable);
  if (r.total - (r.preemptable ?? 0) > 0) pre.set(NOT_HELPFUL, r.total - (r.preemptable ?? 0));
  return `0/${r.total} nodes are available: ${histogram(r.reasons)}. preemption: 0/${r.total} nodes are available: ${histogram(pre)}.`;
}
