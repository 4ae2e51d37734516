/**
 * @module apiserver/protobuf
 * Request bodies in Kubernetes' protobuf encoding, which stock kubectl uses for imperative
 * commands (`create deployment`, `create service …`, `create configmap/secret/namespace/
 * serviceaccount`, `expose`, `run`) and does not retry as JSON. The envelope is the magic
 * `k8s\0` followed by a runtime.Unknown {typeMeta, raw, contentEncoding, contentType}; `raw`
 * is the object in protobuf. The wire format is read with @bufbuild/protobuf's BinaryReader
 * (conformance-tested; varints end after 10 bytes) and turned into the JSON object the rest of
 * the server handles by the field tables in protobuf-messages.ts, generated from upstream's
 * generated.proto and Go struct tags for every kind served. Unknown fields are skipped, as
 * upstream's generated decoders do.
 *
 * Every malformed body is a 400 at once, worded as upstream's decoder words it: a varint past
 * 10 bytes ("proto: integer overflow"), a length past the end ("unexpected EOF"), a wire type a
 * field cannot have, an illegal tag, unbalanced groups, nesting past MAX_DEPTH. The work is one
 * pass over the bytes with no BigInt accumulation. Integers are checked where Go would
 * silently truncate or JSON would lose precision: an int32 field outside int32 and an int64
 * field outside ±(2^53-1) are rejected.
 */
import { BinaryReader, WireType } from '@bufbuild/protobuf/wire';
import { HttpError } from './errors.js';
import { KINDS, MESSAGES, type FieldRow } from './protobuf-messages.js';

/** Messages (and groups, and JSON inside RawExtension) nested deeper than this are rejected. */
export const MAX_DEPTH = 100;

export const PROTOBUF_MAGIC = Buffer.from('k8s\0', 'latin1');

/** A reason worded like the Go decoder's error, becomes the tail of a 400 message. */
class DecodeError extends Error {}

interface Field { json: string; goName: string; type: string; mode: '' | 'rep' | 'map'; keep: boolean; inline: boolean }
type Table = Map<number, Field>;

/** Messages with a JSON form of their own, and the envelope, beside the generated tables. */
const LOCAL: Record<string, Record<number, FieldRow>> = {
  'runtime.Unknown': { 1: ['typeMeta', 'runtime.TypeMeta', '', ''], 2: ['raw', 'buffer', '', ''], 3: ['contentEncoding', 'string', '', ''], 4: ['contentType', 'string', '', ''] },
  'runtime.TypeMeta': { 1: ['apiVersion', 'string', '', ''], 2: ['kind', 'string', '', ''] },
  'meta.Timestamp': { 1: ['seconds', 'int64', '', 'keep'], 2: ['nanos', 'int32', '', 'keep'] },
  'resource.Quantity': { 1: ['string', 'string', '', 'keep'] },
  'intstr.IntOrString': { 1: ['type', 'int64', '', 'keep'], 2: ['intVal', 'int32', '', 'keep'], 3: ['strVal', 'string', '', 'keep'] },
  'runtime.RawExtension': { 1: ['raw', 'buffer', '', ''] },
  map: { 1: ['key', 'string', '', 'keep'] },
};
const SPECIAL_MESSAGE: Record<string, string> = { time: 'meta.Timestamp', microtime: 'meta.Timestamp', quantity: 'resource.Quantity', intstr: 'intstr.IntOrString', raw: 'runtime.RawExtension' };
const VARINT_TYPES = new Set(['int32', 'int64', 'bool']);

const tables = new Map<string, Table>();
function table(name: string): Table {
  let t = tables.get(name);
  if (t) return t;
  const rows = MESSAGES[name] ?? LOCAL[name];
  if (!rows) throw new Error(`no protobuf table for ${name}`);
  t = new Map();
  for (const [num, [json, type, mode, flags]] of Object.entries(rows)) {
    const inline = flags.includes('inline');
    const base = inline ? type.slice(type.indexOf('.') + 1) : json;
    t.set(Number(num), { json, goName: base.charAt(0).toUpperCase() + base.slice(1), type, mode, keep: flags.includes('keep'), inline });
  }
  tables.set(name, t);
  return t;
}
/** A map entry's table: key 1 (string), value 2 of the map's type. */
const entryTables = new Map<string, Table>();
function entryTable(valueType: string): Table {
  let t = entryTables.get(valueType);
  if (!t) {
    t = new Map(table('map'));
    t.set(2, { json: 'value', goName: 'Value', type: valueType, mode: '', keep: true, inline: false });
    entryTables.set(valueType, t);
  }
  return t;
}

const messageName = (name: string) => name.slice(name.indexOf('.') + 1);

const EOF = () => new DecodeError('unexpected EOF');

/**
 * One reader over the whole body (BinaryReader keeps its buffer private, so the bytes are kept
 * beside it). Nested messages are ranges of it, each read up to its own end: no reader, view
 * or copy per message.
 */
class Wire {
  readonly r: BinaryReader;
  constructor(readonly buf: Buffer) { this.r = new BinaryReader(buf); }

  /**
   * Did the varint that started at `start` (BinaryReader's uint32 keeps its low 32 bits) have
   * nothing above them? Padded encodings (0x80 … 0x00) of a small value do, as Go accepts.
   */
  fits32(start: number): boolean {
    const used = this.r.pos - start;
    if (used < 5) return true;
    if (this.buf[start + 4]! & 0x70) return false;
    for (let i = start + 5; i < this.r.pos; i++) if (this.buf[i]! & 0x7f) return false;
    return true;
  }

  /** A tag, as upstream's loop checks it: at most a uint32, field number ≥ 1, no end group. */
  tag(msg: string): [number, number] {
    const start = this.r.pos;
    const v = this.r.uint32();
    const fieldNo = v >>> 3;
    const wt = v & 7;
    if (!this.fits32(start) || fieldNo <= 0) throw new DecodeError(`proto: ${messageName(msg)}: illegal tag ${fieldNo} (wire type ${wt})`);
    if (wt === WireType.EndGroup) throw new DecodeError(`proto: ${messageName(msg)}: wiretype end group for non-group`);
    return [fieldNo, wt];
  }

  /**
   * Read a length prefix and return where its bytes end (the reader is at their start). A
   * length that is negative or runs past `end` is rejected before anything is read.
   */
  enter(end: number): number {
    const start = this.r.pos;
    const n = this.r.uint32();
    if (!this.fits32(start)) {
      // Over 32 bits: either negative (bit 63 set, 10 bytes) or past any body we accept.
      throw new DecodeError(this.r.pos - start === 10 && (this.buf[this.r.pos - 1]! & 1) ? 'proto: negative length found during unmarshaling' : 'unexpected EOF');
    }
    if (this.r.pos + n > end) throw EOF();
    return this.r.pos + n;
  }

  /** The next string, checked against `end`, then read by BinaryReader (its ASCII fast path; invalid UTF-8 becomes U+FFFD as Go's JSON writes it). */
  string(end: number): string {
    const at = this.r.pos;
    this.enter(end);
    this.r.pos = at;
    return this.r.string();
  }

  /** The next length-delimited bytes. */
  bytes(end: number): Buffer {
    const to = this.enter(end);
    const from = this.r.pos;
    this.r.pos = to;
    return this.buf.subarray(from, to);
  }

  /** A varint as a JS number, exactly, or a 400. */
  int(type: 'int32' | 'int64', name: string): number {
    const b = this.buf[this.r.pos];
    if (b !== undefined && b < 0x80) { this.r.pos++; return b; }
    const v = this.r.int64() as bigint;
    if (type === 'int32') {
      if (v < -2147483648n || v > 2147483647n) throw new DecodeError(`proto: value ${v} of int32 field ${name} is out of range`);
    } else if (v < -9007199254740991n || v > 9007199254740991n) {
      throw new DecodeError(`proto: value ${v} of int64 field ${name} is beyond ±(2^53-1), the integers this server keeps exactly`);
    }
    return Number(v);
  }

  /** Step over a field of an unknown number; groups are walked with a counter, not recursion. */
  skip(wt: number, msg: string, end: number, depth: number): void {
    const r = this.r;
    switch (wt) {
      case WireType.Varint: r.uint32(); break; // reads (and caps) the whole varint
      case WireType.Bit64: r.pos += 8; break;
      case WireType.Bit32: r.pos += 4; break;
      case WireType.LengthDelimited: r.pos = this.enter(end); break;
      case WireType.StartGroup: {
        let open = 1;
        while (open > 0) {
          if (depth + open > MAX_DEPTH) throw new DecodeError(`proto: exceeded maximum recursion depth (${MAX_DEPTH})`);
          if (r.pos >= end) throw EOF();
          const start = r.pos;
          const v = r.uint32();
          if (!this.fits32(start) || (v >>> 3) <= 0) throw new DecodeError(`proto: ${messageName(msg)}: illegal tag ${v >>> 3} (wire type ${v & 7})`);
          const w = v & 7;
          if (w === WireType.StartGroup) open++;
          else if (w === WireType.EndGroup) open--;
          else this.skip(w, msg, end, depth);
        }
        break;
      }
      default: throw new DecodeError(`proto: illegal wireType ${wt}`);
    }
    if (r.pos > end) throw EOF();
  }
}

const OMIT = Symbol('omit');

/** Set a key on a JSON object, `__proto__` included as a plain key. */
function put(o: Record<string, unknown>, k: string, v: unknown): void {
  if (k === '__proto__') Object.defineProperty(o, k, { value: v, enumerable: true, writable: true, configurable: true });
  else o[k] = v;
}

function wrongWire(wt: number, f: Field): DecodeError {
  return new DecodeError(`proto: wrong wireType = ${wt} for field ${f.goName}`);
}

/** One value of field f (wire type wt already read) of a message ending at `end`. OMIT: a zero Go's JSON encoder leaves out. */
function value(w: Wire, f: Field, wt: number, end: number, depth: number, into?: unknown): unknown {
  const t = f.type;
  if (VARINT_TYPES.has(t)) {
    if (wt !== WireType.Varint) throw wrongWire(wt, f);
    if (t === 'bool') { const v = w.r.bool(); return !v && !f.keep ? OMIT : v; }
    const v = w.int(t as 'int32' | 'int64', f.goName);
    return v === 0 && !f.keep ? OMIT : v;
  }
  if (wt !== WireType.LengthDelimited) throw wrongWire(wt, f);
  switch (t) {
    case 'string': {
      const s = w.string(end);
      return s === '' && !f.keep && f.mode !== 'rep' ? OMIT : s;
    }
    case 'bytes': { const b = w.bytes(end); return b.length === 0 && !f.keep && f.mode !== 'rep' ? OMIT : b.toString('base64'); }
    case 'buffer': return w.bytes(end);
  }
  const to = w.enter(end);
  const special = SPECIAL_MESSAGE[t];
  if (special) {
    // A zero metav1.Time is written as an empty message; its JSON is null.
    if ((t === 'time' || t === 'microtime' || t === 'raw') && to === w.r.pos) return null;
    const m = message(special, w, to, depth + 1);
    switch (t) {
      case 'time': case 'microtime': return timestamp(m, t === 'microtime');
      case 'quantity': return m.string ?? '';
      case 'intstr': return m.type === 1 ? (m.strVal ?? '') : (m.intVal ?? 0);
      case 'raw': return rawJSON(m.raw as Buffer | undefined, depth);
    }
  }
  if (f.inline) { message(t, w, to, depth + 1, into as Record<string, unknown>); return OMIT; }
  const target = f.mode === '' && into && typeof into === 'object' && !Array.isArray(into) ? into as Record<string, unknown> : undefined;
  return message(t, w, to, depth + 1, target);
}

/** metav1.Time: RFC 3339 in seconds; MicroTime: with microseconds. */
function timestamp(m: Record<string, unknown>, micro: boolean): string {
  let s = (m.seconds as number | undefined) ?? 0;
  let ns = (m.nanos as number | undefined) ?? 0;
  s += Math.floor(ns / 1e9);
  ns = ((ns % 1e9) + 1e9) % 1e9;
  // Years 1 to 9999, what RFC 3339 can write.
  if (s < -62135596800 || s > 253402300799) throw new DecodeError(`proto: timestamp ${s}s is outside the years 0001-9999`);
  const iso = new Date(s * 1000).toISOString().slice(0, 19);
  return micro ? `${iso}.${String(Math.floor(ns / 1000)).padStart(6, '0')}Z` : `${iso}Z`;
}

/** runtime.RawExtension / FieldsV1: the bytes are JSON; their nesting counts toward MAX_DEPTH. */
function rawJSON(raw: Buffer | undefined, depth: number): unknown {
  if (!raw || raw.length === 0) return null;
  let nest = depth;
  let inString = false;
  for (let i = 0; i < raw.length; i++) {
    const c = raw[i]!;
    if (inString) { if (c === 0x5c) i++; else if (c === 0x22) inString = false; }
    else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) { if (++nest > MAX_DEPTH) throw new DecodeError(`exceeded maximum nesting depth (${MAX_DEPTH}) in embedded JSON`); }
    else if (c === 0x7d || c === 0x5d) nest--;
  }
  try { return JSON.parse(raw.toString('utf8')); } catch (e) { throw new DecodeError(`embedded JSON: ${(e as Error).message}`); }
}

/** Decode the message of table `name` from the reader's position to `end` into `out` (a second occurrence of a singular message merges, as in Go). */
function message(name: string, w: Wire, end: number, depth: number, out: Record<string, unknown> = {}, t: Table = table(name)): Record<string, unknown> {
  if (depth > MAX_DEPTH) throw new DecodeError(`proto: exceeded maximum recursion depth (${MAX_DEPTH})`);
  const r = w.r;
  while (r.pos < end) {
    const [num, wt] = w.tag(name);
    const f = t.get(num);
    if (!f) w.skip(wt, name, end, depth);
    else if (f.mode === 'map') {
      if (wt !== WireType.LengthDelimited) throw wrongWire(wt, f);
      let e: Record<string, unknown>;
      const to = w.enter(end);
      // labels, annotations, data: the entry {1: key, 2: value} read here, the rest through the table.
      if (f.type === 'string' && r.pos + 1 < to && w.buf[r.pos] === 0x0a) {
        r.pos++;
        const key = w.string(to);
        e = r.pos < to && w.buf[r.pos] === 0x12 ? (r.pos++, { key, value: w.string(to) }) : { key };
        if (r.pos < to) message(`${name}.${f.json}Entry`, w, to, depth + 1, e, entryTable(f.type));
      } else e = message(`${name}.${f.json}Entry`, w, to, depth + 1, {}, entryTable(f.type));
      let v = e.value;
      // A missing value is the zero value of its type.
      if (v === undefined) v = f.type === 'string' || f.type === 'bytes' ? '' : f.type === 'quantity' ? '0' : VARINT_TYPES.has(f.type) ? (f.type === 'bool' ? false : 0) : {};
      const m = (out[f.json] ??= {}) as Record<string, unknown>;
      put(m, (e.key as string | undefined) ?? '', v);
    } else if (f.mode === 'rep') {
      const list = (out[f.json] ??= []) as unknown[];
      if (wt === WireType.LengthDelimited && VARINT_TYPES.has(f.type)) {
        // Packed repeated varints, which Go's decoder accepts as well.
        const to = w.enter(end);
        const each = { ...f, keep: true };
        while (r.pos < to) list.push(value(w, each, WireType.Varint, to, depth));
        if (r.pos > to) throw EOF();
      } else {
        const v = value(w, f, wt, end, depth);
        if (v !== OMIT) list.push(v);
      }
    } else {
      const v = value(w, f, wt, end, depth, f.inline ? out : out[f.json]);
      if (v !== OMIT) put(out, f.json, v);
      else if (!f.inline && Object.hasOwn(out, f.json)) delete out[f.json]; // a later zero overrides an earlier value, as in Go
    }
    // A varint or fixed value that ran over the end of this message.
    if (r.pos > end) throw EOF();
  }
  return out;
}

/** Wire-level failures of BinaryReader, in the Go decoder's words. */
function reason(e: unknown): string {
  if (e instanceof DecodeError) return e.message;
  if (e instanceof RangeError && /premature EOF|outside the bounds/.test(e.message)) return 'unexpected EOF';
  if (e instanceof Error && /invalid varint/.test(e.message)) return 'proto: integer overflow';
  throw e;
}

/** Decode one message of the tables (`core.PodSpec`, …) on its own; a malformed one is a 400. */
export function decodeMessage(name: string, buf: Buffer): Record<string, unknown> {
  try { return message(name, new Wire(buf), buf.length, 0); } catch (e) { throw new HttpError(400, 'BadRequest', `malformed ${name}: ${reason(e)}`); }
}

function summary(buf: Buffer): string {
  return buf.length > 30 ? `${buf.subarray(0, 30).toString('hex')} ...` : buf.toString('hex');
}

/** Decode a `application/vnd.kubernetes.protobuf` request body into a JSON object. */
export function decodeProtobufObject(buf: Buffer): Record<string, unknown> {
  if (buf.length < 4 || !buf.subarray(0, 4).equals(PROTOBUF_MAGIC)) {
    throw new HttpError(400, 'BadRequest', `the object provided is unrecognized: provided data does not appear to be a protobuf message, expected prefix [107 56 115 0] (${summary(buf)})`);
  }
  if (buf.length === 4) throw new HttpError(400, 'BadRequest', 'the object provided is unrecognized: empty body');
  let env: Record<string, any>;
  try { const b = buf.subarray(4); env = message('runtime.Unknown', new Wire(b), b.length, 0); } catch (e) {
    throw new HttpError(400, 'BadRequest', `the object provided is unrecognized: ${reason(e)} (${summary(buf)})`);
  }
  const kind: string = env.typeMeta?.kind ?? '';
  const apiVersion: string = env.typeMeta?.apiVersion ?? '';
  if (!kind) throw new HttpError(400, 'BadRequest', `Object 'Kind' is missing in 'runtime.TypeMeta{APIVersion:"${apiVersion}", Kind:""}'`);
  const schema = KINDS[`${apiVersion}/${kind}`];
  if (!schema) {
    throw new HttpError(415, 'UnsupportedMediaType', `protobuf request bodies for ${apiVersion ? `${apiVersion}, ` : ''}Kind=${kind} are not supported; send JSON or YAML (kubectl apply -f)`);
  }
  if (env.contentEncoding) throw new HttpError(400, 'BadRequest', `${kind} in version "${apiVersion}" cannot be handled as a ${kind}: content encoding ${JSON.stringify(env.contentEncoding)} is not supported`);
  try {
    const raw: Buffer = env.raw ?? Buffer.alloc(0);
    const obj = message(schema, new Wire(raw), raw.length, 0);
    return { apiVersion, kind, ...obj };
  } catch (e) {
    throw new HttpError(400, 'BadRequest', `${kind} in version "${apiVersion.includes('/') ? apiVersion.split('/')[1] : apiVersion}" cannot be handled as a ${kind}: ${reason(e)}`);
  }
}
