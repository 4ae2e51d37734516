/**
 * @module api/decode
 * Typed decoding as kube-apiserver's Go decoder does it (sigs.k8s.io/json into the versioned
 * structs), driven by the generated OpenAPI schemas: a value of the wrong JSON type, an integer
 * out of its int32/int64 range or with a fraction, a bad base64 `[]byte`, a malformed
 * Quantity or Time is an error worded as Go's (`json: cannot unmarshal string into Go struct
 * field DeploymentSpec.spec.replicas of type int32`). Unknown fields are reported (for
 * fieldValidation), not removed. Nulls become what Go's decode leaves: a struct field is dropped,
 * a list item or map value becomes its type's zero value (the object is changed in place).
 * Pure: no I/O.
 *
 * JSON.parse loses how a number was written (`1.0`, `1e10`, `9007199254740993`), which is what
 * Go's errors print and what decides an integer's validity; `parseJSON` keeps the literal text
 * of such numbers on the side (only when the text has any) so messages and range checks see it.
 */
import { schemaByName } from './openapi.js';

type Schema = Record<string, unknown>;
type Obj = Record<string, unknown>;
const REF_PREFIX = '#/components/schemas/';

/**
 * Nesting limit of request bodies. Go's scanner stops at 10000 and the typed decode then drops
 * what it does not know; svcplane keeps unknown fields (as warnings), and the recursive code
 * after decoding (patches, managedFields, the YAML parser itself at ~800) must never meet a
 * depth that overflows the stack, so bodies stop at 1000 — no Kubernetes object nests past ~40.
 */
export const MAX_JSON_DEPTH = 1000;

// ---- JSON with number literals ----

/** Containers → key (or array index) → the literal text of a number that JSON.parse rounded or reformatted. */
const literals = new WeakMap<object, Map<string, string>>();

export class JSONDepthError extends Error {
  constructor() { super('exceeded max depth'); }
}

/**
 * One pass over JSON text outside strings: the deepest nesting, and whether any number is written
 * with a fraction, an exponent or 16+ digits (the ones JSON.parse cannot give back exactly).
 */
export function scanJSON(t: string): { depth: number; inexact: boolean } {
  let depth = 0, max = 0, digits = 0, inexact = false;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 34) { // a string: skip to its closing quote
      for (i++; i < t.length; i++) { const d = t.charCodeAt(i); if (d === 92) i++; else if (d === 34) break; }
      digits = 0;
      continue;
    }
    if (c === 123 || c === 91) { if (++depth > max) max = depth; digits = 0; continue; }
    if (c === 125 || c === 93) { depth--; digits = 0; continue; }
    if (c >= 48 && c <= 57) { if (++digits >= 16) inexact = true; continue; }
    if (c === 46 || ((c === 101 || c === 69) && digits > 0)) inexact = true;
    digits = 0;
  }
  return { depth: max, inexact };
}

function setLiteral(container: object, key: string, text: string): void {
  let m = literals.get(container);
  if (!m) { m = new Map(); literals.set(container, m); }
  m.set(key, text);
}

function define(o: Obj, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;

/** Parse text JSON.parse already accepted, iteratively, keeping inexact numbers' literals. */
function parseKeepingLiterals(t: string): unknown {
  let i = 0;
  const stack: { c: Obj | unknown[]; key?: string }[] = [];
  let root: unknown;
  let done = false;
  const ws = () => { for (; i < t.length; i++) { const c = t.charCodeAt(i); if (c !== 32 && c !== 9 && c !== 10 && c !== 13) break; } };
  const str = (): string => {
    const start = i;
    for (i++; i < t.length; i++) { const d = t.charCodeAt(i); if (d === 92) i++; else if (d === 34) break; }
    i++;
    return JSON.parse(t.slice(start, i)) as string;
  };
  const finish = (v: unknown, lit?: string) => {
    const top = stack[stack.length - 1];
    if (!top) { root = v; done = true; return; }
    if (Array.isArray(top.c)) { if (lit !== undefined) setLiteral(top.c, String(top.c.length), lit); top.c.push(v); return; }
    define(top.c, top.key!, v);
    if (lit !== undefined) setLiteral(top.c, top.key!, lit);
    top.key = undefined;
  };
  while (!done) {
    ws();
    const top = stack[stack.length - 1];
    if (top && !Array.isArray(top.c) && top.key === undefined) {
      if (t[i] === '}') { i++; stack.pop(); finish(top.c); continue; }
      if (t[i] === ',') { i++; ws(); }
      top.key = str(); ws(); i++; // the colon
      continue;
    }
    if (top && Array.isArray(top.c)) {
      if (t[i] === ']') { i++; stack.pop(); finish(top.c); continue; }
      if (t[i] === ',') { i++; ws(); }
    }
    const c = t[i];
    if (c === '{') { i++; stack.push({ c: {} }); continue; }
    if (c === '[') { i++; stack.push({ c: [] }); continue; }
    if (c === '"') { finish(str()); continue; }
    if (c === 't') { i += 4; finish(true); continue; }
    if (c === 'f') { i += 5; finish(false); continue; }
    if (c === 'n') { i += 4; finish(null); continue; }
    NUMBER.lastIndex = i;
    const m = NUMBER.exec(t);
    if (!m) throw new SyntaxError(`unexpected character at ${i}`);
    i += m[0].length;
    finish(Number(m[0]), /[.eE]/.test(m[0]) || m[0].replace('-', '').length >= 16 ? m[0] : undefined);
  }
  return root;
}

/**
 * JSON.parse with Go's nesting limit and the literal text of inexact numbers kept. Throws
 * SyntaxError (JSON.parse's) or JSONDepthError.
 */
export function parseJSON(text: string): unknown {
  const { depth, inexact } = scanJSON(text);
  if (depth > MAX_JSON_DEPTH) {
    JSON.parse(text); // a syntax error before the depth is still a syntax error
    throw new JSONDepthError();
  }
  const v = JSON.parse(text) as unknown;
  return inexact ? parseKeepingLiterals(text) : v;
}

/** The deepest nesting of a parsed value (iterative: safe on any depth). */
export function depthOf(v: unknown, limit = Infinity): number {
  let max = 0;
  const stack: [unknown, number][] = [[v, 1]];
  while (stack.length) {
    const [x, d] = stack.pop()!;
    if (typeof x !== 'object' || x === null) continue;
    if (d > max) { max = d; if (max > limit) return max; }
    for (const k in x as Obj) stack.push([(x as Obj)[k], d + 1]);
  }
  return max;
}

// ---- Go types from the schemas ----

type GoKind =
  | { k: 'struct'; name: string; go: string; props: Record<string, Schema> }
  | { k: 'string' } | { k: 'bool' } | { k: 'bytes' }
  | { k: 'int'; bits: 32 | 64 }
  | { k: 'slice'; items: Schema }
  | { k: 'map'; values: Schema }
  | { k: 'intstr' } | { k: 'quantity' } | { k: 'time'; micro: boolean }
  | { k: 'any' };

const kinds = new WeakMap<Schema, GoKind>();
const ANY: GoKind = { k: 'any' };

function kindOf(s: Schema | undefined): GoKind {
  if (!s) return ANY;
  const hit = kinds.get(s);
  if (hit) return hit;
  let name: string | undefined;
  let cur: Schema | undefined = s;
  for (let i = 0; cur && i < 8; i++) {
    if (typeof cur.$ref === 'string') { name = cur.$ref.slice(REF_PREFIX.length); cur = schemaByName(name); continue; }
    const allOf = cur.allOf as Schema[] | undefined;
    if (Array.isArray(allOf) && allOf.length > 0) { cur = allOf[0]; continue; }
    break;
  }
  let k: GoKind = ANY;
  if (cur) {
    if (name === 'io.k8s.apimachinery.pkg.api.resource.Quantity') k = { k: 'quantity' };
    else if (name === 'io.k8s.apimachinery.pkg.apis.meta.v1.Time') k = { k: 'time', micro: false };
    else if (name === 'io.k8s.apimachinery.pkg.apis.meta.v1.MicroTime') k = { k: 'time', micro: true };
    else if (cur['x-kubernetes-int-or-string'] || cur.format === 'int-or-string') k = { k: 'intstr' };
    else if (cur['x-kubernetes-preserve-unknown-fields']) k = ANY;
    else if (cur.type === 'string') k = cur.format === 'byte' ? { k: 'bytes' } : cur.format === 'date-time' ? { k: 'time', micro: false } : { k: 'string' };
    else if (cur.type === 'boolean') k = { k: 'bool' };
    else if (cur.type === 'integer') k = { k: 'int', bits: cur.format === 'int32' ? 32 : 64 };
    else if (cur.type === 'array' && cur.items) k = { k: 'slice', items: cur.items as Schema };
    else if (cur.type === 'object' && cur.properties && name) {
      const parts = name.split('.');
      k = { k: 'struct', name: parts[parts.length - 1]!, go: `${parts[parts.length - 2]}.${parts[parts.length - 1]}`, props: cur.properties as Record<string, Schema> };
    } else if (cur.type === 'object' && cur.additionalProperties && typeof cur.additionalProperties === 'object') k = { k: 'map', values: cur.additionalProperties as Schema };
  }
  kinds.set(s, k);
  return k;
}

/** Go's reflect type name, as UnmarshalTypeError prints it. */
function goType(k: GoKind): string {
  switch (k.k) {
    case 'struct': return k.go;
    case 'string': return 'string';
    case 'bool': return 'bool';
    case 'bytes': return '[]uint8';
    case 'int': return k.bits === 32 ? 'int32' : 'int64';
    case 'slice': return `[]${goType(kindOf(k.items))}`;
    case 'map': return `map[string]${goType(kindOf(k.values))}`;
    case 'intstr': return 'intstr.IntOrString';
    case 'quantity': return 'resource.Quantity';
    case 'time': return k.micro ? 'v1.MicroTime' : 'v1.Time';
    case 'any': return 'interface {}';
  }
}

// ---- the walk ----

interface Ctx { struct: string; fields: string[]; path: string[]; unknown: string[]; err?: string }

function jsonKind(v: unknown): string {
  return typeof v === 'string' ? 'string' : typeof v === 'number' ? 'number' : typeof v === 'boolean' ? 'bool' : Array.isArray(v) ? 'array' : 'object';
}

function typeError(ctx: Ctx, value: string, type: string): void {
  if (ctx.err) return;
  ctx.err = ctx.struct || ctx.fields.length
    ? `json: cannot unmarshal ${value} into Go struct field ${ctx.struct}.${ctx.fields.join('.')} of type ${type}`
    : `json: cannot unmarshal ${value} into Go value of type ${type}`;
}

const INT_BOUNDS = { 32: [-(2n ** 31n), 2n ** 31n - 1n], 64: [-(2n ** 63n), 2n ** 63n - 1n] } as const;

/** A number into a Go integer: the literal must be an integer in range (strconv.ParseInt). */
function checkInt(ctx: Ctx, v: number, lit: string | undefined, bits: 32 | 64): void {
  const [lo, hi] = INT_BOUNDS[bits];
  if (lit !== undefined) {
    if (!/^-?\d+$/.test(lit) || BigInt(lit) < lo || BigInt(lit) > hi) typeError(ctx, `number ${lit}`, `int${bits}`);
    return;
  }
  if (!Number.isInteger(v) || v < Number(lo) || v >= Number(hi) + 1) typeError(ctx, `number ${goNumber(v)}`, `int${bits}`);
}

/** How Go's json.Marshal writes a float64 (what a YAML or merged number becomes before decoding). */
function goNumber(v: number): string {
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-6 || a >= 1e21)) return v.toExponential().replace(/e([+-])(\d)$/, 'e$10$2');
  return String(v);
}

/** What resource.ParseQuantity takes apart without ErrFormatWrong: sign, digits, fraction, suffix. */
const QUANTITY = /^[+-]?[0-9]*(?:\.[0-9]*)?([eEinumkKMGTP]*[-+]?[0-9]*)$/;
const QUANTITY_SUFFIX = /^(|Ki|Mi|Gi|Ti|Pi|Ei|n|u|m|k|M|G|T|P|E|[eE][+-]?\d+)$/;
export const ERR_QUANTITY_FORMAT = "quantities must match the regular expression '^([+-]?[0-9.]+)([eEinumkKMGTP]*[-+]?[0-9]*)$'";

function checkQuantity(ctx: Ctx, v: unknown, lit: string | undefined): void {
  if (ctx.err) return;
  if (typeof v !== 'string' && typeof v !== 'number') { ctx.err = ERR_QUANTITY_FORMAT; return; }
  const s = typeof v === 'string' ? v.trim() : lit ?? String(v);
  const m = QUANTITY.exec(s);
  if (!s || !m) { ctx.err = ERR_QUANTITY_FORMAT; return; }
  if (!QUANTITY_SUFFIX.test(m[1]!)) ctx.err = "unable to parse quantity's suffix";
}

/** Go's base64.StdEncoding.DecodeString error offset, or -1 when the text decodes. */
export function base64ErrorOffset(s: string): number {
  const valid = (c: string) => /[A-Za-z0-9+/]/.test(c);
  const nl = (c: string | undefined) => c === '\n' || c === '\r';
  let si = 0;
  for (;;) {
    let j = 0;
    for (; j < 4; j++) {
      if (si === s.length) {
        if (j === 0) return -1;
        return si - j;
      }
      const c = s[si++]!;
      if (valid(c)) continue;
      if (nl(c)) { j--; continue; }
      if (c !== '=') return si - 1;
      if (j === 0 || j === 1) return si - 1;
      if (j === 2) {
        while (si < s.length && nl(s[si])) si++;
        if (si === s.length) return s.length;
        if (s[si] !== '=') return si - 1;
        si++;
      }
      while (si < s.length && nl(s[si])) si++;
      if (si < s.length) return si;
      return -1;
    }
  }
}

/** time.Parse(RFC3339 or RFC3339Micro) as Go words its errors; undefined when the text parses. */
export function goTimeError(s: string, micro: boolean): string | undefined {
  const layout = micro ? '2006-01-02T15:04:05.000000Z07:00' : '2006-01-02T15:04:05Z07:00';
  const q = JSON.stringify;
  const cannot = (rest: string, elem: string) => `parsing time ${q(s)} as ${q(layout)}: cannot parse ${q(rest)} as ${q(elem)}`;
  const range = (what: string) => `parsing time ${q(s)}: ${what} out of range`;
  let v = s;
  const num = (n: number, elem: string): number | string => {
    const p = v.slice(0, n);
    if (p.length < n || !/^\d+$/.test(p)) return cannot(v, elem);
    v = v.slice(n);
    return Number(p);
  };
  const lit = (l: string): string | undefined => { if (!v.startsWith(l)) return cannot(v, l); v = v.slice(l.length); return undefined; };
  const year = num(4, '2006'); if (typeof year === 'string') return year;
  let e = lit('-'); if (e) return e;
  const month = num(2, '01'); if (typeof month === 'string') return month;
  if (month < 1 || month > 12) return range('month');
  e = lit('-'); if (e) return e;
  const day = num(2, '02'); if (typeof day === 'string') return day;
  e = lit('T'); if (e) return e;
  const hour = num(2, '15'); if (typeof hour === 'string') return hour;
  if (hour > 23) return range('hour');
  e = lit(':'); if (e) return e;
  const min = num(2, '04'); if (typeof min === 'string') return min;
  if (min > 59) return range('minute');
  e = lit(':'); if (e) return e;
  const sec = num(2, '05'); if (typeof sec === 'string') return sec;
  if (sec > 59) return range('second');
  if (micro) {
    if (!/^[.,]\d{6}/.test(v)) return cannot(v, '.000000');
    v = v.slice(7);
  } else if (/^[.,]\d/.test(v)) v = v.replace(/^[.,]\d+/, '');
  if (v.startsWith('Z')) v = v.slice(1);
  else if (/^[+-]\d\d:\d\d/.test(v)) {
    if (Number(v.slice(1, 3)) > 24) return range('time zone offset hour');
    if (Number(v.slice(4, 6)) > 59) return range('time zone offset minute');
    v = v.slice(6);
  } else return cannot(v, 'Z07:00');
  if (v) return `parsing time ${q(s)}: extra text: ${q(v)}`;
  const dim = [31, (year % 4 === 0 && (year % 100 !== 0 || year % 400 === 0)) ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31][month - 1]!;
  if (day < 1 || day > dim) return range('day');
  return undefined;
}

/**
 * What Go leaves for a null list item or map value: the element type's zero value (a struct
 * `{}`, `""`, 0, false), so the rest of the server never meets a null where a value belongs.
 */
function zeroOf(k: GoKind): unknown {
  switch (k.k) {
    case 'struct': return {};
    case 'string': case 'bytes': return '';
    case 'int': case 'intstr': return 0;
    case 'quantity': return '0';
    case 'bool': return false;
    default: return null;
  }
}

function walk(v: unknown, k: GoKind, ctx: Ctx, lit: string | undefined): void {
  if (ctx.err || v === null) return;
  switch (k.k) {
    case 'any': return;
    case 'string': if (typeof v !== 'string') typeError(ctx, jsonKind(v), 'string'); return;
    case 'bool': if (typeof v !== 'boolean') typeError(ctx, jsonKind(v), 'bool'); return;
    case 'int':
      if (typeof v === 'number') checkInt(ctx, v, lit, k.bits); else typeError(ctx, jsonKind(v), `int${k.bits}`);
      return;
    case 'bytes': {
      if (typeof v !== 'string') { typeError(ctx, jsonKind(v), '[]uint8'); return; }
      const at = base64ErrorOffset(v);
      if (at >= 0) ctx.err = `illegal base64 data at input byte ${at}`;
      return;
    }
    case 'intstr':
      // IntOrString.UnmarshalJSON: a string, else json.Unmarshal into its int32.
      if (typeof v === 'string') return;
      if (typeof v === 'number') checkInt(ctx, v, lit, 32); else typeError(ctx, jsonKind(v), 'int32');
      return;
    case 'quantity': checkQuantity(ctx, v, lit); return;
    case 'time':
      // metav1.Time.UnmarshalJSON: json.Unmarshal into a string, then time.Parse.
      if (typeof v !== 'string') { typeError(ctx, jsonKind(v), 'string'); return; }
      if (!ctx.err) ctx.err = goTimeError(v, k.micro);
      return;
    case 'slice': {
      if (!Array.isArray(v)) { typeError(ctx, jsonKind(v), goType(k)); return; }
      const ik = kindOf(k.items);
      const lits = literals.get(v);
      for (let i = 0; i < v.length && !ctx.err; i++) {
        const x = v[i];
        if (x === null) { v[i] = zeroOf(ik); continue; }
        if (typeof x !== 'object' && ik.k === 'any') continue;
        ctx.path.push(`[${i}]`);
        walk(x, ik, ctx, lits?.get(String(i)));
        ctx.path.pop();
      }
      return;
    }
    case 'map': {
      if (typeof v !== 'object' || Array.isArray(v)) { typeError(ctx, jsonKind(v), goType(k)); return; }
      const vk = kindOf(k.values);
      const lits = literals.get(v);
      for (const key in v as Obj) {
        const x = (v as Obj)[key];
        if (x === null) { (v as Obj)[key] = zeroOf(vk); continue; }
        ctx.path.push(`.${key}`);
        walk(x, vk, ctx, lits?.get(key));
        ctx.path.pop();
        if (ctx.err) return;
      }
      return;
    }
    case 'struct': {
      if (typeof v !== 'object' || Array.isArray(v)) { typeError(ctx, jsonKind(v), k.go); return; }
      const lits = literals.get(v);
      const outer = ctx.struct;
      for (const key in v as Obj) {
        if (!Object.prototype.hasOwnProperty.call(k.props, key)) { ctx.unknown.push(ctx.path.join('') + `.${key}`); continue; }
        const x = (v as Obj)[key];
        // null leaves a Go field at its zero value, which the re-encoded object omits.
        if (x === null) { delete (v as Obj)[key]; continue; }
        ctx.struct = k.name; ctx.fields.push(key); ctx.path.push(`.${key}`);
        walk(x, kindOf(k.props[key]), ctx, lits?.get(key));
        ctx.path.pop(); ctx.fields.pop(); ctx.struct = outer;
        if (ctx.err) return;
      }
    }
  }
}

export interface TypedDecode {
  /** Go's decode error (the first, as Go keeps it), or undefined. */
  error?: string;
  /** Fields the schema does not declare: ['.spec.portz', '.spec.ports[0].nmae']. */
  unknown: string[];
}

const roots = new Map<string, Schema>();

/** Check a parsed object against the schema of a type (`io.k8s.api.apps.v1.Deployment`). */
export function decodeTyped(obj: unknown, typeName: string): TypedDecode {
  if (!schemaByName(typeName)) return { unknown: [] };
  let root = roots.get(typeName);
  if (!root) { root = { $ref: REF_PREFIX + typeName }; roots.set(typeName, root); }
  const ctx: Ctx = { struct: '', fields: [], path: [], unknown: [] };
  walk(obj, kindOf(root), ctx, undefined);
  return { error: ctx.err, unknown: ctx.unknown };
}
