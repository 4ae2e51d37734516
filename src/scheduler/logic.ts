/**
 * @module scheduler/logic
 * pickNode: the filter and score steps of kube-scheduler's default profile that matter here.
 * Filters: node Ready and schedulable (not cordoned), nodeSelector, required node affinity
 * (matchExpressions on labels), taints with NoSchedule/NoExecute tolerated. Score: fewest
 * pods of the same owner (spread, like PodTopologySpread's default hostname constraint),
 * then fewest pods (LeastAllocated stands in), then name for determinism.
 */
import type { Node, Pod } from '../api/types.js';
import type { Taint, Toleration } from 'kubernetes-types/core/v1.js';

export interface FitResult { node?: string; reasons: Map<string, number>; total: number }

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

function ownerUid(p: Pod): string | undefined {
  return p.metadata?.ownerReferences?.find((r) => r.controller)?.uid;
}

export function pickNode(pod: Pod, nodes: Node[], pods: Pod[]): FitResult {
  const reasons = new Map<string, number>();
  const fits: Node[] = [];
  for (const n of nodes) {
    const why = unfitReason(pod, n);
    if (why) reasons.set(why, (reasons.get(why) ?? 0) + 1);
    else fits.push(n);
  }
  if (!fits.length) return { reasons, total: nodes.length };
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

/** "0/3 nodes are available: 1 node(s) had untolerated taint {…}, 2 node(s) didn't match …. preemption: …" */
export function failedSchedulingMessage(r: FitResult): string {
  if (!r.total) return 'no nodes available to schedule pods';
  const parts = [...r.reasons.entries()].sort((a, b) => a[0].localeCompare(b[0])).map(([why, n]) => `${n} ${why}`);
  return `0/${r.total} nodes are available: ${parts.join(', ')}. preemption: 0/${r.total} nodes are available: ${r.total} Preemption is not helpful for scheduling.`;
}
