/**
 * @module dns/wire
 * The DNS wire format on the hot path: parse a query's header, question and OPT record in place
 * (no objects per query), and encode answer sections once into a reusable "compiled" body that
 * any later query for the same name and type can be answered from by copying bytes.
 *
 * Why not dns-packet here: it decodes every query into fresh objects and encodes names without
 * compression. The compiled body points owner names at the question (offset 12), so answers carry
 * the client's spelling of the name (0x20 case randomisation survives) and stay small.
 * dns-packet remains the reference codec: tests decode every answer with it, and the forwarder
 * builds its own queries with it.
 */

export const TYPE = {
  A: 1, NS: 2, CNAME: 5, SOA: 6, PTR: 12, MX: 15, TXT: 16, AAAA: 28, SRV: 33, OPT: 41,
  IXFR: 251, AXFR: 252, ANY: 255,
} as const;

export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const;

export const CLASS_IN = 1;
const HEADER_LEN = 12;
export const FLAG_QR = 0x8000;
export const FLAG_AA = 0x0400;
export const FLAG_TC = 0x0200;
export const FLAG_RD = 0x0100;
export const FLAG_RA = 0x0080;
export const FLAG_CD = 0x0010;
/** Without EDNS0 a UDP answer must fit 512 bytes (RFC 1035 4.2.1). */
export const MIN_UDP_SIZE = 512;
/** The largest UDP payload we advertise and send (the DNS flag day 2020 value is 1232; we echo up to 4096 like CoreDNS). */
export const MAX_UDP_SIZE = 4096;
const OPT_LEN = 11;
const MAX_LABEL = 63;
const MAX_NAME = 255;

/** One parsed query. Reused between queries: parseQuery overwrites every field. */
export class Query {
  id = 0;
  flags = 0;
  opcode = 0;
  /** Lower-cased question name in wire form, latin1 (the cache key). */
  key = '';
  /** True when a label holds bytes that cannot be part of a name we serve (dots, non-ASCII…). */
  odd = false;
  /** Offset just past the question (name + type + class). */
  questionEnd = 0;
  qtype = 0;
  qclass = 0;
  edns = false;
  ednsVersion = 0;
  udpSize = MIN_UDP_SIZE;
  dnssecOk = false;
}

/**
 * Parse the header, the single question and an optional OPT record. Returns 0 when the query can be
 * answered, an rcode (FORMERR, NOTIMP) to answer with, or -1 when the packet must be dropped
 * (too short to carry an ID, or a response).
 */
export function parseQuery(buf: Buffer, q: Query): number {
  if (buf.length < HEADER_LEN) return -1;
  q.id = buf.readUInt16BE(0);
  q.flags = buf.readUInt16BE(2);
  q.edns = false;
  q.ednsVersion = 0;
  q.udpSize = MIN_UDP_SIZE;
  q.dnssecOk = false;
  q.key = '';
  q.odd = false;
  q.questionEnd = HEADER_LEN;
  if (q.flags & FLAG_QR) return -1; // never answer answers: that is how reflection loops start
  q.opcode = (q.flags >> 11) & 0xf;
  const qd = buf.readUInt16BE(4), an = buf.readUInt16BE(6), ns = buf.readUInt16BE(8), ar = buf.readUInt16BE(10);
  if (q.opcode !== 0) return RCODE.NOTIMP;
  if (qd !== 1 || an !== 0 || ns !== 0 || ar > 1) return RCODE.FORMERR;
  // Question name: labels only (a pointer in a question is legal but never sent by real clients).
  let off = HEADER_LEN;
  let upper = false;
  let odd = false;
  for (;;) {
    if (off >= buf.length) return RCODE.FORMERR;
    const len = buf[off];
    if (len === 0) { off++; break; }
    if (len > MAX_LABEL) return RCODE.FORMERR;
    if (off + 1 + len > buf.length) return RCODE.FORMERR;
    for (let i = off + 1; i <= off + len; i++) {
      const c = buf[i];
      if (c >= 65 && c <= 90) upper = true;
      else if (c === 46 || c < 33 || c > 126) odd = true;
    }
    off += 1 + len;
    if (off - HEADER_LEN > MAX_NAME) return RCODE.FORMERR;
  }
  if (off + 4 > buf.length) return RCODE.FORMERR;
  const raw = buf.toString('latin1', HEADER_LEN, off);
  q.key = upper ? raw.toLowerCase() : raw;
  q.odd = odd;
  q.qtype = buf.readUInt16BE(off);
  q.qclass = buf.readUInt16BE(off + 2);
  off += 4;
  q.questionEnd = off;
  if (ar === 1) {
    // The one additional record a query may carry is OPT at the root.
    if (off + OPT_LEN > buf.length || buf[off] !== 0 || buf.readUInt16BE(off + 1) !== TYPE.OPT) return RCODE.FORMERR;
    const rdlen = buf.readUInt16BE(off + 9);
    if (off + OPT_LEN + rdlen > buf.length) return RCODE.FORMERR;
    q.edns = true;
    const size = buf.readUInt16BE(off + 3);
    q.udpSize = size < MIN_UDP_SIZE ? MIN_UDP_SIZE : size > MAX_UDP_SIZE ? MAX_UDP_SIZE : size;
    q.ednsVersion = buf[off + 6];
    q.dnssecOk = (buf[off + 7] & 0x80) !== 0;
  }
  return 0;
}

/** Dotted, lower-case name (no trailing dot; '' for the root) from a question key. */
export function keyToName(key: string): string {
  let out = '';
  let i = 0;
  while (i < key.length) {
    const len = key.charCodeAt(i);
    if (len === 0) break;
    if (out) out += '.';
    out += key.slice(i + 1, i + 1 + len);
    i += 1 + len;
  }
  return out;
}

/** Wire-form key of a dotted name (lower-cased), the inverse of keyToName. */
export function nameToKey(name: string): string {
  let out = '';
  for (const l of name ? name.toLowerCase().split('.') : []) out += String.fromCharCode(l.length) + l;
  return out + '\0';
}

// ---------- records ----------

export interface SrvData { priority: number; weight: number; port: number; target: string }
export interface SoaData { mname: string; rname: string; serial: number; refresh: number; retry: number; expire: number; minimum: number }

/** A resource record as the record builders produce it: names are dotted, lower-case, no trailing dot. */
export type RR =
  | { name: string; type: typeof TYPE.A | typeof TYPE.AAAA | typeof TYPE.CNAME | typeof TYPE.PTR | typeof TYPE.NS; ttl: number; data: string }
  | { name: string; type: typeof TYPE.TXT; ttl: number; data: string[] }
  | { name: string; type: typeof TYPE.SRV; ttl: number; data: SrvData }
  | { name: string; type: typeof TYPE.SOA; ttl: number; data: SoaData };

/** Encoded answer, authority and additional sections for one (name, type), ready to follow any question. */
export interface Compiled {
  rcode: number;
  /** Header flag bits besides QR/opcode/RD/CD (AA, RA). */
  flags: number;
  an: number;
  ns: number;
  ar: number;
  body: Buffer;
  /** End offset (within body) of each record, for truncation at record boundaries; null when the answer always fits 512 bytes. */
  ends: number[] | null;
}

/** Encodes records with name compression into a scratch buffer; one per server. */
export class Writer {
  /** Room for the largest message minus a question and an OPT record. */
  private buf = Buffer.allocUnsafe(65535 - 4 - 11);
  private off = 0;
  private names = new Map<string, number>();

  /** Start a message whose question name is `key` (wire form, lower-case) at offset 12. */
  begin(key: string): void {
    this.names.clear();
    // Register the question name and each of its suffixes so answers can point into it.
    let i = 0;
    let rest = keyToName(key);
    while (rest) {
      this.names.set(rest, HEADER_LEN + i);
      const dot = rest.indexOf('.');
      i += 1 + (dot < 0 ? rest.length : dot);
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
    this.off = HEADER_LEN + key.length + 4;
  }

  get offset(): number { return this.off; }

  private ensure(n: number): void {
    if (this.off + n > this.buf.length) throw new RangeError('DNS message over 65535 bytes');
  }

  name(name: string, compress: boolean): void {
    let rest = name.toLowerCase();
    for (;;) {
      if (!rest) { this.ensure(1); this.buf[this.off++] = 0; return; }
      const ptr = this.names.get(rest);
      if (compress && ptr !== undefined) { this.ensure(2); this.buf.writeUInt16BE(0xc000 | ptr, this.off); this.off += 2; return; }
      if (ptr === undefined && this.off < 0x3fff) this.names.set(rest, this.off);
      const dot = rest.indexOf('.');
      const label = dot < 0 ? rest : rest.slice(0, dot);
      if (label.length > MAX_LABEL || label.length === 0) throw new Error(`invalid label in ${name}`);
      this.ensure(1 + label.length);
      this.buf[this.off++] = label.length;
      this.off += this.buf.write(label, this.off, 'latin1');
      rest = dot < 0 ? '' : rest.slice(dot + 1);
    }
  }

  rr(r: RR): void {
    this.name(r.name, true);
    this.ensure(10);
    this.buf.writeUInt16BE(r.type, this.off);
    this.buf.writeUInt16BE(CLASS_IN, this.off + 2);
    this.buf.writeUInt32BE(r.ttl >>> 0, this.off + 4);
    const lenAt = this.off + 8;
    this.off += 10;
    const start = this.off;
    switch (r.type) {
      case TYPE.A: this.ensure(4); writeIPv4(r.data, this.buf, this.off); this.off += 4; break;
      case TYPE.AAAA: this.ensure(16); writeIPv6(r.data, this.buf, this.off); this.off += 16; break;
      case TYPE.CNAME: case TYPE.PTR: case TYPE.NS: this.name(r.data, true); break;
      case TYPE.TXT:
        for (const s of r.data) {
          const b = Buffer.from(s, 'utf8');
          this.ensure(1 + b.length);
          this.buf[this.off++] = b.length;
          b.copy(this.buf, this.off);
          this.off += b.length;
        }
        break;
      case TYPE.SRV:
        this.ensure(6);
        this.buf.writeUInt16BE(r.data.priority, this.off);
        this.buf.writeUInt16BE(r.data.weight, this.off + 2);
        this.buf.writeUInt16BE(r.data.port, this.off + 4);
        this.off += 6;
        this.name(r.data.target, false); // RFC 2782: the target is never compressed
        break;
      case TYPE.SOA:
        this.name(r.data.mname, true);
        this.name(r.data.rname, true);
        this.ensure(20);
        this.buf.writeUInt32BE(r.data.serial >>> 0, this.off);
        this.buf.writeUInt32BE(r.data.refresh, this.off + 4);
        this.buf.writeUInt32BE(r.data.retry, this.off + 8);
        this.buf.writeUInt32BE(r.data.expire, this.off + 12);
        this.buf.writeUInt32BE(r.data.minimum, this.off + 16);
        this.off += 20;
        break;
    }
    this.buf.writeUInt16BE(this.off - start, lenAt);
  }

  /** Encode the three sections after a question `key`; the result is independent of the writer. */
  compile(key: string, rcode: number, flags: number, answer: RR[], authority: RR[], additional: RR[]): Compiled {
    this.begin(key);
    const base = this.off;
    const ends: number[] = [];
    const counts = [0, 0, 0];
    let full = false;
    // Stop before a DNS message's 64 KB limit (thousands of endpoints): what fits is sent with TC.
    const sections = [answer, authority, additional];
    for (let s = 0; s < 3 && !full; s++) {
      for (const r of sections[s]) {
        const before = this.off;
        try { this.rr(r); } catch (e) {
          if (!(e instanceof RangeError)) throw e;
          this.off = before;
          full = true;
          break;
        }
        counts[s]++;
        ends.push(this.off - base);
      }
    }
    const body = Buffer.allocUnsafe(this.off - base);
    this.buf.copy(body, 0, base, this.off);
    const fits = HEADER_LEN + key.length + 4 + body.length + OPT_LEN <= MIN_UDP_SIZE;
    return { rcode, flags: full ? flags | FLAG_TC : flags, an: counts[0], ns: counts[1], ar: counts[2], body, ends: fits ? null : ends };
  }
}

export function writeIPv4(ip: string, buf: Buffer, off: number): void {
  let part = 0, n = 0;
  for (let i = 0; i < ip.length; i++) {
    const c = ip.charCodeAt(i);
    if (c === 46) { buf[off + n++] = part; part = 0; } else part = part * 10 + (c - 48);
  }
  buf[off + n] = part;
}

export function writeIPv6(ip: string, buf: Buffer, off: number): void {
  const words = expandIPv6(ip);
  for (let i = 0; i < 8; i++) buf.writeUInt16BE(words[i], off + 2 * i);
}

/** The eight 16-bit words of an IPv6 address (with :: and an embedded IPv4 tail). */
export function expandIPv6(ip: string): number[] {
  let s = ip;
  const tail: number[] = [];
  const v4 = s.match(/(\d+)\.(\d+)\.(\d+)\.(\d+)$/);
  if (v4) {
    tail.push((+v4[1] << 8) | +v4[2], (+v4[3] << 8) | +v4[4]);
    s = s.slice(0, s.length - v4[0].length);
    if (s.endsWith(':') && !s.endsWith('::')) s = s.slice(0, -1);
  }
  const [head, rest] = s.includes('::') ? s.split('::') : [s, undefined];
  const h = head ? head.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : [];
  const r = rest !== undefined ? rest.split(':').filter((x) => x !== '').map((x) => parseInt(x, 16)) : [];
  const fill = 8 - h.length - r.length - tail.length;
  return [...h, ...(rest !== undefined ? new Array(Math.max(0, fill)).fill(0) : []), ...r, ...tail];
}

// ---------- responses ----------

/**
 * Assemble an answer: header, the client's own question bytes (its spelling of the name), the compiled
 * sections and, when the query had EDNS0, an OPT record. Over `limit` bytes the answer is cut at a record
 * boundary; TC is set when answer records had to go (as miekg/dns Msg.Truncate does).
 */
export function buildResponse(msg: Buffer, q: Query, c: Compiled, limit: number): Buffer {
  const qlen = q.questionEnd - HEADER_LEN;
  const optLen = q.edns ? OPT_LEN : 0;
  let bodyLen = c.body.length;
  let an = c.an, ns = c.ns, ar = c.ar;
  let tc = 0;
  if (HEADER_LEN + qlen + bodyLen + optLen > limit && c.ends) {
    const room = limit - HEADER_LEN - qlen - optLen;
    let keep = 0;
    const ends = c.ends;
    while (keep < ends.length && ends[keep] <= room) keep++;
    if (keep < c.an) { tc = FLAG_TC; an = keep; ns = 0; ar = 0; } else if (keep < c.an + c.ns) { ns = keep - c.an; ar = 0; } else { ar = keep - c.an - c.ns; }
    bodyLen = keep === 0 ? 0 : ends[keep - 1];
  }
  const out = Buffer.allocUnsafe(HEADER_LEN + qlen + bodyLen + optLen);
  writeHeader(out, q, c.flags | tc, c.rcode, an, ns, ar + (q.edns ? 1 : 0));
  msg.copy(out, HEADER_LEN, HEADER_LEN, q.questionEnd);
  c.body.copy(out, HEADER_LEN + qlen, 0, bodyLen);
  if (q.edns) writeOpt(out, HEADER_LEN + qlen + bodyLen, q.udpSize, c.rcode);
  return out;
}

function writeHeader(out: Buffer, q: Query, flags: number, rcode: number, an: number, ns: number, ar: number): void {
  out.writeUInt16BE(q.id, 0);
  // Copy opcode, RD and CD from the query (miekg/dns SetReply), set QR, low 4 bits of the rcode.
  out.writeUInt16BE(FLAG_QR | (q.flags & (0x7800 | FLAG_RD | FLAG_CD)) | flags | (rcode & 0xf), 2);
  out.writeUInt16BE(q.questionEnd > HEADER_LEN ? 1 : 0, 4);
  out.writeUInt16BE(an, 6);
  out.writeUInt16BE(ns, 8);
  out.writeUInt16BE(ar, 10);
}

function writeOpt(out: Buffer, off: number, size: number, rcode: number): void {
  out[off] = 0;
  out.writeUInt16BE(TYPE.OPT, off + 1);
  out.writeUInt16BE(size, off + 3);
  out[off + 5] = rcode >> 4; // extended rcode: BADVERS (16) lives here
  out[off + 6] = 0; // version
  out.writeUInt16BE(0, off + 7); // no DO: we do not sign
  out.writeUInt16BE(0, off + 9);
}

/**
 * An answer with no records (FORMERR, NOTIMP, REFUSED, SERVFAIL, BADVERS). The question is echoed
 * when it parsed; OPT is echoed when the query had one.
 */
export function errorResponse(msg: Buffer, q: Query, rcode: number, parsed: boolean): Buffer {
  const qlen = parsed ? q.questionEnd - HEADER_LEN : 0;
  const edns = parsed && q.edns;
  const out = Buffer.allocUnsafe(HEADER_LEN + qlen + (edns ? OPT_LEN : 0));
  const save = q.questionEnd;
  if (!parsed) q.questionEnd = HEADER_LEN;
  writeHeader(out, q, 0, rcode, 0, 0, edns ? 1 : 0);
  q.questionEnd = save;
  if (qlen) msg.copy(out, HEADER_LEN, HEADER_LEN, HEADER_LEN + qlen);
  if (edns) writeOpt(out, HEADER_LEN + qlen, q.udpSize, rcode);
  return out;
}

/** Skip a (possibly compressed) name starting at off; returns the offset after it, or -1. */
export function skipName(buf: Buffer, off: number): number {
  for (;;) {
    if (off >= buf.length) return -1;
    const len = buf[off];
    if (len === 0) return off + 1;
    if ((len & 0xc0) === 0xc0) return off + 2 <= buf.length ? off + 2 : -1;
    if (len > MAX_LABEL) return -1;
    off += 1 + len;
  }
}

/**
 * Check a name at off the way a decoder that follows it would: labels of at most 63 bytes, at most
 * 255 bytes in all, compression pointers only to earlier bytes (so no loops) and only to names that
 * check too. Returns the offset after the name where it lies, or -1.
 */
function checkName(buf: Buffer, off: number): number {
  let end = -1;
  let total = 0;
  for (let at = off, jumps = 0; ;) {
    if (at >= buf.length) return -1;
    const len = buf[at];
    if (len === 0) return end < 0 ? at + 1 : end;
    if ((len & 0xc0) === 0xc0) {
      if (at + 2 > buf.length) return -1;
      const to = buf.readUInt16BE(at) & 0x3fff;
      if (to >= at || ++jumps > 127) return -1;
      if (end < 0) end = at + 2;
      at = to;
      continue;
    }
    if (len > MAX_LABEL) return -1; // the 01 and 10 label types are not in use
    total += 1 + len;
    if (total + 1 > MAX_NAME || at + 1 + len > buf.length) return -1;
    at += 1 + len;
  }
}

/**
 * The length of the DNS message at the start of buf when every section parses (header counts met,
 * names checked by checkName, record data within the message), else -1. Bytes past it are not
 * part of the message. Upstream answers are checked with it before they are relayed or cached, as
 * CoreDNS's forward plugin unpacks them (a reply it cannot unpack is an error, not an answer).
 */
export function messageEnd(buf: Buffer): number {
  if (buf.length < HEADER_LEN) return -1;
  let off = HEADER_LEN;
  for (let i = buf.readUInt16BE(4); i > 0; i--) {
    off = checkName(buf, off);
    if (off < 0 || off + 4 > buf.length) return -1;
    off += 4;
  }
  for (let i = buf.readUInt16BE(6) + buf.readUInt16BE(8) + buf.readUInt16BE(10); i > 0; i--) {
    off = checkName(buf, off);
    if (off < 0 || off + 10 > buf.length) return -1;
    off += 10 + buf.readUInt16BE(off + 8);
    if (off > buf.length) return -1;
  }
  return off;
}

/** Where each record's TTL sits in a message, with its type and value (OPT excluded). */
export interface RecordInfo { section: 0 | 1 | 2; type: number; ttlAt: number; ttl: number; rdataAt: number; rdlen: number }

/** Walk every record of a message; null when it does not parse. */
export function walkRecords(buf: Buffer): RecordInfo[] | null {
  if (buf.length < HEADER_LEN) return null;
  const qd = buf.readUInt16BE(4);
  const counts = [buf.readUInt16BE(6), buf.readUInt16BE(8), buf.readUInt16BE(10)];
  let off = HEADER_LEN;
  for (let i = 0; i < qd; i++) { off = skipName(buf, off); if (off < 0 || off + 4 > buf.length) return null; off += 4; }
  const out: RecordInfo[] = [];
  for (let s = 0; s < 3; s++) {
    for (let i = 0; i < counts[s]; i++) {
      off = skipName(buf, off);
      if (off < 0 || off + 10 > buf.length) return null;
      const type = buf.readUInt16BE(off);
      const rdlen = buf.readUInt16BE(off + 8);
      if (off + 10 + rdlen > buf.length) return null;
      if (type !== TYPE.OPT) out.push({ section: s as 0 | 1 | 2, type, ttlAt: off + 4, ttl: buf.readUInt32BE(off + 4), rdataAt: off + 10, rdlen });
      off += 10 + rdlen;
    }
  }
  return out;
}
