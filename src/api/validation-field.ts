/**
 * @module api/validation-field
 * Field errors as k8s.io/apimachinery/pkg/util/validation/field renders them: the type phrase,
 * the bad value in Go's formatting (strings quoted, numbers bare, structs as %#v), then the detail.
 * The API server turns a list of these into a 422 Status whose causes carry `type`/`field`/`message`.
 */

export type FieldErrorType = 'FieldValueRequired' | 'FieldValueInvalid' | 'FieldValueNotSupported' | 'FieldValueDuplicate'
  | 'FieldValueForbidden' | 'FieldValueTooLong' | 'FieldValueTooMany' | 'FieldValueTypeInvalid';

export interface FieldError {
  type: FieldErrorType;
  field: string;
  /** Detail text after the type phrase (and value). */
  detail: string;
  badValue?: unknown;
  /** Kubernetes' rendering without the field, e.g. 'Invalid value: 80: provided port is not in the valid range…'. */
  message: string;
}

const TYPE_PHRASE: Record<FieldErrorType, string> = {
  FieldValueRequired: 'Required value',
  FieldValueInvalid: 'Invalid value',
  FieldValueNotSupported: 'Unsupported value',
  FieldValueDuplicate: 'Duplicate value',
  FieldValueForbidden: 'Forbidden',
  FieldValueTooLong: 'Too long',
  FieldValueTooMany: 'Too many',
  FieldValueTypeInvalid: 'Invalid value',
};

/** A value already rendered the Go way (for structs such as v1.LabelSelector). */
export class GoRepr {
  constructor(readonly text: string, readonly value?: unknown) {}
}

/** Go's %q for the strings we meet (ASCII); JSON quoting agrees except for a few escapes. */
export function goQuote(s: string): string {
  return JSON.stringify(s).replace(/\\u007f/g, '\\x7f');
}

/** How field.Error prints a bad value: simple types with %v / %q, anything else %#v. */
export function goValue(v: unknown): string {
  if (v instanceof GoRepr) return v.text;
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return goQuote(v);
  if (typeof v === 'number' || typeof v === 'boolean' || typeof v === 'bigint') return String(v);
  if (Array.isArray(v)) {
    if (v.every((x) => typeof x === 'string')) return `[]string{${v.map((x) => goQuote(x as string)).join(', ')}}`;
    return `[]interface {}{${v.map(goValue).join(', ')}}`;
  }
  if (typeof v === 'object') {
    const o = v as Record<string, unknown>;
    if (Object.values(o).every((x) => typeof x === 'string')) return goStringMap(o as Record<string, string>);
    return JSON.stringify(v);
  }
  return String(v);
}

/** map[string]string{"a":"b"} with sorted keys, as Go prints maps; nil maps as map[string]string(nil). */
export function goStringMap(m: Record<string, string> | undefined | null): string {
  if (!m) return 'map[string]string(nil)';
  return `map[string]string{${Object.keys(m).sort().map((k) => `${goQuote(k)}:${goQuote(m[k]!)}`).join(', ')}}`;
}

/** intstr.IntOrString as %#v. */
export function goIntOrString(v: unknown): GoRepr {
  if (typeof v === 'string') return new GoRepr(`intstr.IntOrString{Type:1, IntVal:0, StrVal:${goQuote(v)}}`, v);
  const n = typeof v === 'number' ? v : 0;
  return new GoRepr(`intstr.IntOrString{Type:0, IntVal:${n}, StrVal:""}`, v);
}

/** v1.LabelSelector as %#v (what kube-apiserver prints for immutable or empty selectors). */
export function goLabelSelector(sel: { matchLabels?: Record<string, string>; matchExpressions?: { key: string; operator: string; values?: string[] }[] } | undefined): GoRepr {
  if (!sel) return new GoRepr('null', sel);
  const ml = sel.matchLabels ? goStringMap(sel.matchLabels) : 'map[string]string(nil)';
  const me = sel.matchExpressions
    ? `[]v1.LabelSelectorRequirement{${sel.matchExpressions.map((e) => `v1.LabelSelectorRequirement{Key:${goQuote(e.key)}, Operator:${goQuote(e.operator)}, Values:${e.values ? `[]string{${e.values.map(goQuote).join(', ')}}` : '[]string(nil)'}}`).join(', ')}}`
    : '[]v1.LabelSelectorRequirement(nil)';
  return new GoRepr(`v1.LabelSelector{MatchLabels:${ml}, MatchExpressions:${me}}`, sel);
}

function plain(v: unknown): unknown {
  return v instanceof GoRepr ? v.value : v;
}

function make(type: FieldErrorType, field: string, badValue: unknown, detail: string, showValue: boolean): FieldError {
  let message = TYPE_PHRASE[type];
  if (showValue) message += `: ${goValue(badValue)}`;
  if (detail) message += `: ${detail}`;
  const e: FieldError = { type, field, detail, message };
  if (showValue) e.badValue = plain(badValue);
  return e;
}

export const Required = (field: string, detail = ''): FieldError => make('FieldValueRequired', field, undefined, detail, false);
export const Forbidden = (field: string, detail: string): FieldError => make('FieldValueForbidden', field, undefined, detail, false);
export const Invalid = (field: string, value: unknown, detail: string): FieldError => make('FieldValueInvalid', field, value, detail, true);
export const Duplicate = (field: string, value: unknown): FieldError => make('FieldValueDuplicate', field, value, '', true);

export function NotSupported(field: string, value: unknown, valid: readonly string[]): FieldError {
  const detail = valid.length ? `supported values: ${valid.map((v) => goQuote(v)).join(', ')}` : '';
  return make('FieldValueNotSupported', field, value, detail, true);
}

export function TooLong(field: string, maxLength: number): FieldError {
  const detail = maxLength >= 0 ? `may not be more than ${maxLength} ${maxLength === 1 ? 'byte' : 'bytes'}` : 'value is too long';
  return make('FieldValueTooLong', field, undefined, detail, false);
}

export function TooMany(field: string, actual: number, max: number): FieldError {
  const detail = max >= 0 ? `must have at most ${max} ${max === 1 ? 'item' : 'items'}` : 'has too many items';
  return make('FieldValueTooMany', field, actual, detail, actual >= 0);
}

/** 'spec.ports[0].nodePort: Invalid value: 80: …' (field.Error.Error(): the path, even when empty, then ': '). */
export function fieldErrorString(e: FieldError): string {
  return `${e.field}: ${e.message}`;
}

/** field.Path helpers: child('spec', 'ports'), idx(p, 0), key(p, 'k'). */
export const child = (p: string, ...names: string[]): string => [p, ...names].filter((x) => x !== '').join('.');
export const idx = (p: string, i: number): string => `${p}[${i}]`;
export const key = (p: string, k: string): string => `${p}[${k}]`;

export const NEGATIVE_MSG = 'must be greater than or equal to 0';
export const IMMUTABLE_MSG = 'field is immutable';

export function nonNegative(field: string, v: unknown): FieldError[] {
  return typeof v === 'number' && v < 0 ? [Invalid(field, v, NEGATIVE_MSG)] : [];
}
