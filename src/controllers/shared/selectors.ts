/**
 * @module controllers/shared/selectors
 * Compiled label selectors for the loops, over src/api/selectors (apimachinery's labels
 * semantics). An empty selector matches everything; a missing (null) one matches nothing.
 */
import type { LabelSelector } from '../../api/types.js';
import { labelSelectorFromObject, matchLabels, type Requirement } from '../../api/selectors.js';

export type Labels = Record<string, string> | undefined;

/** A compiled selector: a predicate over labels. */
export type Selector = (labels: Labels) => boolean;

export const MATCH_NOTHING: Selector = () => false;
export const MATCH_EVERYTHING: Selector = () => true;

/** metav1.LabelSelectorAsSelector (src/api/selectors); undefined → nothing, {} → everything.
 * A selector with an invalid operator matches nothing, as upstream controllers skip it. */
export function selectorFromLabelSelector(sel: LabelSelector | undefined | null): Selector {
  let reqs: Requirement[] | null;
  try { reqs = labelSelectorFromObject(sel); } catch { return MATCH_NOTHING; }
  if (reqs === null) return MATCH_NOTHING;
  if (!reqs.length) return MATCH_EVERYTHING;
  return (labels) => matchLabels(reqs, labels);
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
