/**
 * @module api/selectors
 * Label selectors (equality- and set-based, k8s.io/apimachinery/pkg/labels) and field selectors
 * (k8s.io/apimachinery/pkg/fields), with the parse errors kube-apiserver and kubectl print.
 */
import type { KubeObject, LabelSelector } from './types.js';
import type { ResourceInfo } from './registry.js';
import { validateLabelKey, validateLabelValue } from './names.js';

export type Operator = 'in' | 'notin' | 'exists' | '!' | '=' | '==' | '!=' | 'gt' | 'lt';

export interface Requirement { key: string; operator: Operator; values: string[] }

/** Binary operators in the order the parser lists them when it expected one. */
const BINARY_OPERATORS = ['in', 'notin', '=', '==', '!=', 'gt', 'lt'];
const SPECIAL = new Set(['=', '!', '(', ')', ',', '>', '<']);
const SYMBOLS: Record<string, Tok> = { '!': 'DNE', '!=': 'NE', '(': 'OPEN', ')': 'CLOSE', ',': 'COMMA', '=': 'EQ', '==': 'DEQ', '>': 'GT', '<': 'LT' };
const KEYWORDS: Record<string, Tok> = { in: 'IN', notin: 'NOTIN' };

type Tok = 'ID' | 'END' | 'ERR' | 'DNE' | 'NE' | 'OPEN' | 'CLOSE' | 'COMMA' | 'EQ' | 'DEQ' | 'GT' | 'LT' | 'IN' | 'NOTIN';
interface Item { tok: Tok; lit: string }

function isSpace(c: string): boolean { return c === ' ' || c === '\t' || c === '\r' || c === '\n'; }

/** The lexer of labels.Parse: identifiers run until whitespace or a special symbol; symbols match greedily. */
function lex(s: string): Item[] {
  const out: Item[] = [];
  let i = 0;
  for (;;) {
    while (i < s.length && isSpace(s[i]!)) i++;
    if (i >= s.length) { out.push({ tok: 'END', lit: '' }); return out; }
    if (SPECIAL.has(s[i]!)) {
      let buf = '';
      let last: Item | undefined;
      while (i < s.length && SPECIAL.has(s[i]!)) {
        if (!SYMBOLS[buf + s[i]!]) break;
        buf += s[i]!; i++;
        last = { tok: SYMBOLS[buf]!, lit: buf };
      }
      if (!last) { out.push({ tok: 'ERR', lit: `error expected: keyword found '${s[i]}'` }); i++; continue; }
      out.push(last);
      continue;
    }
    let buf = '';
    while (i < s.length && !isSpace(s[i]!) && !SPECIAL.has(s[i]!)) buf += s[i++]!;
    out.push({ tok: KEYWORDS[buf] ?? 'ID', lit: buf });
  }
}

class Parser {
  private pos = 0;
  constructor(private readonly items: Item[]) {}
  /** In value context the keywords in/notin are plain identifiers. */
  private look(values: boolean): Item {
    const it = this.items[this.pos]!;
    if (values && (it.tok === 'IN' || it.tok === 'NOTIN')) return { tok: 'ID', lit: it.lit };
    return it;
  }
  private next(values: boolean): Item {
    const it = this.look(values);
    if (this.pos < this.items.length - 1) this.pos++;
    return it;
  }

  parse(): Requirement[] {
    const reqs: Requirement[] = [];
    for (;;) {
      const { tok, lit } = this.look(true);
      if (tok === 'ID' || tok === 'DNE') {
        let r: Requirement;
        try { r = this.requirement(); } catch (e) { throw new Error(`unable to parse requirement: ${(e as Error).message}`); }
        reqs.push(r);
        const t = this.next(true);
        if (t.tok === 'END') return reqs;
        if (t.tok === 'COMMA') {
          const t2 = this.look(true);
          if (t2.tok !== 'ID' && t2.tok !== 'DNE') throw new Error(`found '${t2.lit}', expected: identifier after ','`);
          continue;
        }
        throw new Error(`found '${t.lit}', expected: ',' or 'end of string'`);
      }
      if (tok === 'END') return reqs;
      throw new Error(`found '${lit}', expected: !, identifier, or 'end of string'`);
    }
  }

  private requirement(): Requirement {
    let t = this.next(true);
    let op: Operator | undefined;
    if (t.tok === 'DNE') { op = '!'; t = this.next(true); }
    if (t.tok !== 'ID') throw new Error(`found '${t.lit}', expected: identifier`);
    const key = t.lit;
    const kerrs = validateLabelKey(key);
    // upstream reports this one with an empty field path, hence the leading ': '
    if (kerrs.length) throw new Error(`: Invalid value: ${JSON.stringify(key)}: ${kerrs.join('; ')}`);
    const la = this.look(true).tok;
    if (la === 'END' || la === 'COMMA') return newRequirement(key, op ?? 'exists', []);
    if (op === '!') throw new Error(`found '${this.look(true).lit}', expected: ',' or 'end of string'`);
    op = this.operator();
    let values: string[];
    if (op === 'in' || op === 'notin') values = this.setValues();
    else values = this.exactValue();
    return newRequirement(key, op, values);
  }

  private operator(): Operator {
    const t = this.next(false);
    switch (t.tok) {
      case 'IN': return 'in';
      case 'NOTIN': return 'notin';
      case 'EQ': return '=';
      case 'DEQ': return '==';
      case 'NE': return '!=';
      case 'GT': return 'gt';
      case 'LT': return 'lt';
      default: throw new Error(`found '${t.lit}', expected: ${BINARY_OPERATORS.join(', ')}`);
    }
  }

  private setValues(): string[] {
    const t = this.next(true);
    if (t.tok !== 'OPEN') throw new Error(`found '${t.lit}' expected: '('`);
    const la = this.look(true);
    if (la.tok === 'ID' || la.tok === 'COMMA') {
      const vals = this.identifiersList();
      const c = this.next(true);
      // upstream names the token seen before the list here
      if (c.tok !== 'CLOSE') throw new Error(`found '${la.lit}', expected: ')'`);
      return vals;
    }
    if (la.tok === 'CLOSE') { this.next(true); return ['']; }
    throw new Error(`found '${la.lit}', expected: ',', ')' or identifier`);
  }

  private identifiersList(): string[] {
    const s = new Set<string>();
    for (;;) {
      const t = this.next(true);
      if (t.tok === 'ID') {
        s.add(t.lit);
        const t2 = this.look(true);
        if (t2.tok === 'COMMA') continue;
        if (t2.tok === 'CLOSE') return [...s].sort();
        throw new Error(`found '${t2.lit}', expected: ',' or ')'`);
      }
      if (t.tok === 'COMMA') {
        if (s.size === 0) s.add('');
        const t2 = this.look(true);
        if (t2.tok === 'CLOSE') { s.add(''); return [...s].sort(); }
        if (t2.tok === 'COMMA') { this.next(true); s.add(''); }
        continue;
      }
      throw new Error(`found '${t.lit}', expected: ',', or identifier`);
    }
  }

  private exactValue(): string[] {
    const la = this.look(true);
    if (la.tok === 'END' || la.tok === 'COMMA') return [''];
    const t = this.next(true);
    if (t.tok === 'ID') return [t.lit];
    throw new Error(`found '${t.lit}', expected: identifier`);
  }
}

/** labels.NewRequirement: checks the operator/value combination and label syntax. */
export function newRequirement(key: string, operator: Operator, values: string[]): Requirement {
  const errs: string[] = [];
  const kerrs = validateLabelKey(key);
  if (kerrs.length) errs.push(`key: Invalid value: ${JSON.stringify(key)}: ${kerrs.join('; ')}`);
  switch (operator) {
    case 'in': case 'notin':
      if (values.length === 0) errs.push("values: Invalid value: []string{}: for 'in', 'notin' operators, values set can't be empty");
      break;
    case '=': case '==': case '!=':
      if (values.length !== 1) errs.push(`values: Invalid value: ${goSlice(values)}: exact-match compatibility requires one single value`);
      break;
    case 'exists': case '!':
      if (values.length !== 0) errs.push(`values: Invalid value: ${goSlice(values)}: values set must be empty for exists and does not exist`);
      break;
    case 'gt': case 'lt':
      if (values.length !== 1) errs.push(`values: Invalid value: ${goSlice(values)}: for 'Gt', 'Lt' operators, exactly one value is required`);
      values.forEach((v, i) => {
        if (!/^[-+]?\d+$/.test(v)) errs.push(`values[${i}]: Invalid value: ${JSON.stringify(v)}: for 'Gt', 'Lt' operators, the value must be an integer`);
      });
      break;
  }
  values.forEach((v, i) => {
    const verrs = validateLabelValue(v);
    if (verrs.length) errs.push(`values[${i}][${key}]: Invalid value: ${JSON.stringify(v)}: ${verrs.join('; ')}`);
  });
  if (errs.length === 1) throw new Error(errs[0]);
  if (errs.length > 1) throw new Error(`[${errs.join(', ')}]`);
  return { key, operator, values: [...values].sort() };
}

function goSlice(v: string[]): string {
  return `[]string{${v.map((x) => JSON.stringify(x)).join(', ')}}`;
}

function byKey(a: Requirement, b: Requirement): number {
  return a.key < b.key ? -1 : a.key > b.key ? 1 : 0;
}

/** Parse a `-l`/labelSelector string. Empty → [] (matches everything). Throws with Kubernetes' message. */
export function parseLabelSelector(s: string): Requirement[] {
  return new Parser(lex(s)).parse().sort(byKey);
}

/** metav1.LabelSelectorAsSelector: undefined → null (nothing); {} → [] (everything). Throws on a bad operator. */
export function labelSelectorFromObject(sel: LabelSelector | undefined | null): Requirement[] | null {
  if (!sel) return null;
  const reqs: Requirement[] = [];
  for (const k of Object.keys(sel.matchLabels ?? {}).sort()) reqs.push(newRequirement(k, '=', [sel.matchLabels![k]!]));
  for (const e of sel.matchExpressions ?? []) {
    let op: Operator;
    switch (e.operator) {
      case 'In': op = 'in'; break;
      case 'NotIn': op = 'notin'; break;
      case 'Exists': op = 'exists'; break;
      case 'DoesNotExist': op = '!'; break;
      default: throw new Error(`${JSON.stringify(e.operator)} is not a valid label selector operator`);
    }
    reqs.push(newRequirement(e.key, op, [...(e.values ?? [])]));
  }
  return reqs.sort(byKey);
}

/** A Service-style map selector: every key must equal its value. */
export function selectorFromMap(m: Record<string, string>): Requirement[] {
  return Object.keys(m).sort().map((k) => ({ key: k, operator: '=' as Operator, values: [m[k]!] }));
}

function matchOne(r: Requirement, labels: Record<string, string>): boolean {
  const has = Object.prototype.hasOwnProperty.call(labels, r.key);
  const v = has ? labels[r.key]! : undefined;
  switch (r.operator) {
    case 'in': case '=': case '==': return has && r.values.includes(v!);
    case 'notin': case '!=': return !has || !r.values.includes(v!);
    case 'exists': return has;
    case '!': return !has;
    case 'gt': case 'lt': {
      if (!has || !/^[-+]?\d+$/.test(v!)) return false;
      const lv = BigInt(v!);
      const rv = BigInt(r.values[0]!);
      return r.operator === 'gt' ? lv > rv : lv < rv;
    }
  }
}

/** Every requirement holds. An empty list matches everything. */
export function matchLabels(reqs: Requirement[] | null, labels: Record<string, string> | undefined): boolean {
  if (reqs === null) return false;
  const l = labels ?? {};
  return reqs.every((r) => matchOne(r, l));
}

/** Requirement.String() */
export function requirementString(r: Requirement): string {
  switch (r.operator) {
    case 'exists': return r.key;
    case '!': return `!${r.key}`;
    case 'in': return `${r.key} in (${r.values.join(',')})`;
    case 'notin': return `${r.key} notin (${r.values.join(',')})`;
    case 'gt': return `${r.key}>${r.values[0]}`;
    case 'lt': return `${r.key}<${r.values[0]}`;
    default: return `${r.key}${r.operator}${r.values[0]}`;
  }
}

/** The selector as kubectl prints it ('app=myapp,tier in (a,b)'), '<none>' when empty or nil. */
export function formatLabelSelector(sel: LabelSelector | Record<string, string> | undefined | null): string {
  if (!sel) return '<none>';
  let reqs: Requirement[] | null;
  if ('matchLabels' in sel || 'matchExpressions' in sel) {
    try { reqs = labelSelectorFromObject(sel as LabelSelector); } catch { return '<error>'; }
  } else {
    reqs = selectorFromMap(sel as Record<string, string>);
  }
  const s = (reqs ?? []).map(requirementString).join(',');
  return s === '' ? '<none>' : s;
}

// ---- field selectors ----

export interface FieldRequirement { field: string; op: '=' | '==' | '!='; value: string }

const FIELD_OPS = ['!=', '==', '='] as const;

/** Split on unescaped commas (fields.ParseSelector). */
function splitTerms(s: string): string[] {
  const terms: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && i + 1 < s.length) { cur += s[i]! + s[i + 1]!; i++; continue; }
    if (s[i] === ',') { terms.push(cur); cur = ''; continue; }
    cur += s[i]!;
  }
  terms.push(cur);
  return terms;
}

function unescapeValue(s: string): string {
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i]!;
    if (c === '\\') {
      const n = s[i + 1];
      if (n === undefined) throw new Error(`invalid field selector: unterminated escape sequence in "${s}"`);
      if (n !== '\\' && n !== ',' && n !== '=') throw new Error(`invalid field selector: invalid escape sequence: \\${n}`);
      out += n; i++;
      continue;
    }
    if (c === ',' || c === '=') throw new Error(`invalid field selector: unescaped character ${JSON.stringify(c)} in "${s}"`);
    out += c;
  }
  return out;
}

/** Parse a fieldSelector string ('metadata.name=x,status.phase!=Running'). Empty → []. */
export function parseFieldSelector(s: string): FieldRequirement[] {
  const reqs: FieldRequirement[] = [];
  for (const part of splitTerms(s)) {
    if (part === '') continue;
    let found = false;
    for (let i = 0; i < part.length && !found; i++) {
      for (const op of FIELD_OPS) {
        if (part.startsWith(op, i)) {
          reqs.push({ field: part.slice(0, i), op, value: unescapeValue(part.slice(i + op.length)) });
          found = true;
          break;
        }
      }
    }
    if (!found) throw new Error(`invalid selector: '${s}'; can't understand '${part}'`);
  }
  return reqs;
}

/** Fields every resource supports (kube-apiserver's DefaultMetaV1FieldSelectorConversion). */
const COMMON_FIELDS = ['metadata.name', 'metadata.namespace'];
/** Extra field labels per kind, as registered by kube-apiserver 1.32 (AddFieldLabelConversionFunc). */
const KIND_FIELDS: Record<string, string[]> = {
  Pod: ['spec.nodeName', 'spec.restartPolicy', 'spec.schedulerName', 'spec.serviceAccountName', 'spec.hostNetwork',
    'status.phase', 'status.podIP', 'status.podIPs', 'status.nominatedNodeName'],
  Event: ['involvedObject.kind', 'involvedObject.namespace', 'involvedObject.name', 'involvedObject.uid',
    'involvedObject.apiVersion', 'involvedObject.resourceVersion', 'involvedObject.fieldPath',
    'reason', 'reportingComponent', 'source', 'type'],
  Namespace: ['status.phase'],
  Node: ['spec.unschedulable'],
  Secret: ['type'],
  Service: ['spec.clusterIP', 'spec.type'],
  ReplicaSet: ['status.replicas'],
};

export function fieldSelectorSupported(info: Pick<ResourceInfo, 'kind'>, field: string): boolean {
  return COMMON_FIELDS.includes(field) || (KIND_FIELDS[info.kind]?.includes(field) ?? false);
}

function get(obj: unknown, path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) {
    if (cur === null || typeof cur !== 'object') return undefined;
    cur = (cur as Record<string, unknown>)[p];
  }
  return cur;
}

/** The value a field label has on an object, as kube-apiserver's *ToSelectableFields computes it. */
export function fieldValue(obj: KubeObject, field: string): string {
  if (field === 'source') return String(get(obj, ['source', 'component']) ?? '');
  if (field === 'spec.hostNetwork') return get(obj, ['spec', 'hostNetwork']) === true ? 'true' : 'false';
  if (field === 'spec.unschedulable') return get(obj, ['spec', 'unschedulable']) === true ? 'true' : 'false';
  if (field === 'status.podIPs') {
    // kube-apiserver exposes only the first (primary) IP under status.podIPs
    const ips = get(obj, ['status', 'podIPs']) as { ip?: string }[] | undefined;
    return ips?.[0]?.ip ?? '';
  }
  if (field === 'status.replicas') return String(get(obj, ['status', 'replicas']) ?? 0);
  const v = get(obj, field.split('.'));
  return v === undefined || v === null ? '' : String(v);
}

/** Every requirement holds on the object. */
export function matchFields(reqs: FieldRequirement[], obj: KubeObject): boolean {
  return reqs.every((r) => {
    const v = fieldValue(obj, r.field);
    return r.op === '!=' ? v !== r.value : v === r.value;
  });
}
