/**
 * @module controllers/shared/selectors
 * Label selector matching as apimachinery's labels package does it: matchLabels AND every
 * matchExpressions requirement (In, NotIn, Exists, DoesNotExist). An empty selector matches
 * everything; a missing (null) selector matches nothing, as for ReplicaSets and Services.
 */
import type { LabelSelector } from '../../api/types.js';

export type Labels = Record<string, string> | undefined;

/** A compiled selector: a predicate over labels. */
export type Selector = (labels: Labels) => boolean;

export const MATCH_NOTHING: Selector = () => false;
export const MATCH_EVERYTHING: Selector = () => true;

/** metav1.LabelSelectorAsSelector; undefined → nothing. */
export function selectorFromLabelSelector(sel: LabelSelector | undefined | null): Selector {
  if (!sel) return MATCH_NOTHING;
  const ml = Object.entries(sel.matchLabels ?? {});
  const exprs = sel.matchExpressions ?? [];
  if (!ml.length && !exprs.length) return MATCH_EVERYTHING;
  return (labels) => {
    const l = labels ?? {};
    for (const [k, v] of ml) if (l[k] !== v) return false;
    for (const e of exprs) {
      const has = Object.prototype.hasOwnProperty.call(l, e.key);
      const vals = e.values ?? [];
      switch (e.operator) {
        case 'In': if (!has || !vals.includes(l[e.key]!)) return false; break;
        case 'NotIn': if (has && vals.includes(l[e.key]!)) return false; break;
        case 'Exists': if (!has) return false; break;
        case 'DoesNotExist': if (has) return false; break;
        default: return false;
      }
    }
    return true;
  };
}

/** labels.SelectorFromSet for a Service's spec.selector map; an empty map matches nothing here
 * because Services with an empty selector are treated as selector-less by the endpoint controllers. */
export function selectorFromMap(m: Record<string, string> | undefined | null): Selector {
  const entries = Object.entries(m ?? {});
  if (!entries.length) return MATCH_NOTHING;
  return (labels) => {
    const l = labels ?? {};
    for (const [k, v] of entries) if (l[k] !== v) return false;
    return true;
  };
}

/** Does every key/value of `subset` appear in `labels`? (fullyLabeledReplicas) */
export function labelsContain(labels: Labels, subset: Labels): boolean {
  for (const [k, v] of Object.entries(subset ?? {})) if ((labels ?? {})[k] !== v) return false;
  return true;
}
