/**
 * @module dns/answers
 * The table of compiled answers the hot path serves from, keyed by (question name, type) and packed
 * into one byte arena with an open-addressing index in a typed array: no JavaScript object or string
 * per name (an object, a Buffer view and a key string per name cost ~300 bytes, 4 MB at 10k Services
 * plus the 30 % that do not exist), and a lookup reads the question straight from the query's bytes,
 * so a repeated query allocates nothing but its reply.
 *
 * Invalidation is by generation: every entry belongs to a group (the Service its name is under,
 * PTR, or the zone's fixed names) hashed into one of GROUP_SLOTS counters; a change bumps its
 * group's counter and the entries stamped with an older value stop matching. Groups that share a
 * slot only cost an extra recompute.
 */
import { type Compiled, CLASS_IN, FLAG_QR, FLAG_RD, FLAG_CD, FLAG_TC, TYPE, MIN_UDP_SIZE, MAX_UDP_SIZE } from './wire.js';

const HEADER_LEN = 12;
const OPT_LEN = 11;
const MAX_LABEL = 63;
const MAX_NAME = 255;
/** Generation counters; group names hash into them. */
const GROUP_SLOTS = 1 << 16;
const INITIAL_SLOTS = 1 << 12;
const INITIAL_ARENA = 1 << 16;

// Entry layout in the arena, at its offset:
const E_GEN = 0; // u32: the group's generation when compiled
const E_GROUP = 4; // u16: group slot
const E_QTYPE = 6; // u16
const E_KEYLEN = 8; // u8: wire-form name length (with the root label)
const E_RCODE = 9; // u8
const E_FLAGS = 10; // u16
const E_AN = 12; // u16
const E_NS = 14; // u16
const E_AR = 16; // u16
const E_BODYLEN = 18; // u16
const E_NENDS = 20; // u16: record end offsets kept for truncation (0: always fits in 512 bytes)
const E_KEY = 22; // key bytes, then ends (u16 each), then the body

/** FNV-1a over the lower-cased wire name, then the type. */
function hashStep(h: number, c: number): number {
  return Math.imul(h ^ c, 0x01000193);
}

/** A 16-bit slot for a group name. */
function groupSlot(group: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < group.length; i++) h = hashStep(h, group.charCodeAt(i));
  return (h ^ (h >>> 16)) & (GROUP_SLOTS - 1);
}

export class AnswerTable {
  private arena = Buffer.allocUnsafe(INITIAL_ARENA);
  private used = 0;
  /** Bytes of entries the index still points at (the rest were replaced). */
  private live = 0;
  /** Open addressing, linear probing: arena offset + 1 per slot, 0 when empty. */
  private index = new Int32Array(INITIAL_SLOTS);
  private count = 0;
  private readonly gens = new Uint32Array(GROUP_SLOTS);

  // What the last lookup parsed, for respond() and metrics.
  qtype = 0;
  private qEnd = 0;
  private edns = false;
  private udpSize = MIN_UDP_SIZE;

  constructor(private readonly capacity = 200_000) {}

  get size(): number { return this.count; }
  get arenaBytes(): number { return this.arena.length; }

  /** Stop serving everything compiled for a group. */
  bump(group: string): void {
    const s = groupSlot(group);
    this.gens[s] = (this.gens[s] + 1) >>> 0;
  }

  clear(): void {
    this.index = new Int32Array(INITIAL_SLOTS);
    this.arena = Buffer.allocUnsafe(INITIAL_ARENA);
    this.used = 0;
    this.live = 0;
    this.count = 0;
  }

  /**
   * Find the compiled answer for a query, reading the question from its bytes. Returns the entry's
   * offset, or -1 for anything this table cannot answer alone (not a plain query for one name in
   * class IN, an EDNS version other than 0, odd bytes in a label, no current entry): the caller's
   * full parser handles those.
   */
  lookup(msg: Buffer): number {
    const len = msg.length;
    if (len < HEADER_LEN + 5) return -1;
    // QR clear, opcode 0; one question, no answer or authority records, at most one additional (OPT).
    if ((msg[2] & 0xf8) !== 0 || msg[4] !== 0 || msg[5] !== 1 || msg[6] !== 0 || msg[7] !== 0 || msg[8] !== 0 || msg[9] !== 0 || msg[10] !== 0 || msg[11] > 1) return -1;
    let h = 0x811c9dc5;
    let off = HEADER_LEN;
    for (;;) {
      if (off >= len) return -1;
      const l = msg[off];
      h = hashStep(h, l);
      if (l === 0) { off++; break; }
      if (l > MAX_LABEL || off + 1 + l > len) return -1;
      const end = off + 1 + l;
      for (let i = off + 1; i < end; i++) {
        let c = msg[i];
        if (c >= 65 && c <= 90) c += 32;
        else if (c === 46 || c < 33 || c > 126) return -1;
        h = hashStep(h, c);
      }
      off = end;
      if (off - HEADER_LEN > MAX_NAME) return -1;
    }
    if (off + 4 > len) return -1;
    const qtype = (msg[off] << 8) | msg[off + 1];
    if (((msg[off + 2] << 8) | msg[off + 3]) !== CLASS_IN) return -1;
    const qEnd = off + 4;
    let edns = false;
    let udpSize = MIN_UDP_SIZE;
    if (msg[11] === 1) {
      if (qEnd + OPT_LEN > len || msg[qEnd] !== 0 || msg.readUInt16BE(qEnd + 1) !== TYPE.OPT || msg[qEnd + 6] !== 0) return -1;
      if (qEnd + OPT_LEN + msg.readUInt16BE(qEnd + 9) > len) return -1;
      edns = true;
      const size = msg.readUInt16BE(qEnd + 3);
      udpSize = size < MIN_UDP_SIZE ? MIN_UDP_SIZE : size > MAX_UDP_SIZE ? MAX_UDP_SIZE : size;
    }
    h = hashStep(hashStep(h, qtype >> 8), qtype & 0xff);
    this.qtype = qtype;
    this.qEnd = qEnd;
    this.edns = edns;
    this.udpSize = udpSize;
    const e = this.find(msg, HEADER_LEN, qEnd - 4 - HEADER_LEN, qtype, h, true);
    if (e < 0) return -1;
    const a = this.arena;
    return a.readUInt32LE(e + E_GEN) === this.gens[a.readUInt16LE(e + E_GROUP)] ? e : -1;
  }

  /** The slot index holding (name, qtype), or, with `entry`, the entry offset; -1 (entry) or the free slot's ~index. */
  private find(name: Buffer, at: number, keyLen: number, qtype: number, hash: number, entry: boolean): number {
    const index = this.index;
    const mask = index.length - 1;
    const a = this.arena;
    for (let s = (hash ^ (hash >>> 15)) & mask; ; s = (s + 1) & mask) {
      const v = index[s];
      if (v === 0) return entry ? -1 : ~s;
      const e = v - 1;
      if (a[e + E_KEYLEN] !== keyLen || a.readUInt16LE(e + E_QTYPE) !== qtype) continue;
      let same = true;
      for (let i = 0; i < keyLen; i++) {
        let c = name[at + i];
        if (c >= 65 && c <= 90) c += 32;
        if (c !== a[e + E_KEY + i]) { same = false; break; }
      }
      if (same) return entry ? e : s;
    }
  }

  /** Hash of a lower-case wire-form key and a type, as lookup computes it. */
  private static hashKey(key: Buffer, qtype: number): number {
    let h = 0x811c9dc5;
    for (let i = 0; i < key.length; i++) h = hashStep(h, key[i]);
    return hashStep(hashStep(h, qtype >> 8), qtype & 0xff);
  }

  /** Keep a compiled answer for (key, qtype) in `group`, replacing any older one. */
  put(keyStr: string, qtype: number, c: Compiled, group: string): void {
    const key = Buffer.from(keyStr, 'latin1');
    if (key.length > MAX_NAME + 1 || c.body.length > 0xffff) return;
    if (this.count >= this.capacity) this.clear();
    const nEnds = c.ends ? c.ends.length : 0;
    const size = E_KEY + key.length + 2 * nEnds + c.body.length;
    this.reserve(size);
    if ((this.count + 1) * 2 > this.index.length) this.rehash(this.index.length * 2);
    const hash = AnswerTable.hashKey(key, qtype);
    const e = this.used;
    const a = this.arena;
    const slot = groupSlot(group);
    a.writeUInt32LE(this.gens[slot], e + E_GEN);
    a.writeUInt16LE(slot, e + E_GROUP);
    a.writeUInt16LE(qtype, e + E_QTYPE);
    a[e + E_KEYLEN] = key.length;
    a[e + E_RCODE] = c.rcode;
    a.writeUInt16LE(c.flags, e + E_FLAGS);
    a.writeUInt16LE(c.an, e + E_AN);
    a.writeUInt16LE(c.ns, e + E_NS);
    a.writeUInt16LE(c.ar, e + E_AR);
    a.writeUInt16LE(c.body.length, e + E_BODYLEN);
    a.writeUInt16LE(nEnds, e + E_NENDS);
    key.copy(a, e + E_KEY);
    let p = e + E_KEY + key.length;
    for (let i = 0; i < nEnds; i++, p += 2) a.writeUInt16LE(c.ends![i], p);
    c.body.copy(a, p);
    this.used += size;
    this.live += size;
    const s = this.find(key, 0, key.length, qtype, hash, false);
    if (s < 0) { this.index[~s] = e + 1; this.count++; } else { this.live -= this.entrySize(this.index[s] - 1); this.index[s] = e + 1; }
  }

  private entrySize(e: number): number {
    const a = this.arena;
    return E_KEY + a[e + E_KEYLEN] + 2 * a.readUInt16LE(e + E_NENDS) + a.readUInt16LE(e + E_BODYLEN);
  }

  /** Room for `size` more bytes: compact when most of the arena is replaced entries, else grow. */
  private reserve(size: number): void {
    if (this.used + size <= this.arena.length) return;
    // Half again the live bytes: room for that much churn before the next compaction.
    const cap = Math.max(INITIAL_ARENA, Math.ceil((this.live + size) * 1.5));
    const next = Buffer.allocUnsafe(cap);
    // Copy live entries in index order and re-point the index: replaced entries are dropped.
    let used = 0;
    const index = this.index;
    for (let s = 0; s < index.length; s++) {
      const v = index[s];
      if (v === 0) continue;
      const e = v - 1;
      const n = this.entrySize(e);
      this.arena.copy(next, used, e, e + n);
      index[s] = used + 1;
      used += n;
    }
    this.arena = next;
    this.used = used;
    this.live = used;
  }

  private rehash(slots: number): void {
    const old = this.index;
    const index = new Int32Array(slots);
    const mask = slots - 1;
    const a = this.arena;
    for (let s = 0; s < old.length; s++) {
      const v = old[s];
      if (v === 0) continue;
      const e = v - 1;
      const h = AnswerTable.hashKey(a.subarray(e + E_KEY, e + E_KEY + a[e + E_KEYLEN]), a.readUInt16LE(e + E_QTYPE));
      let t = (h ^ (h >>> 15)) & mask;
      while (index[t] !== 0) t = (t + 1) & mask;
      index[t] = v;
    }
    this.index = index;
  }

  /** rcode of an entry (for metrics). */
  rcode(e: number): number { return this.arena[e + E_RCODE]; }

  /**
   * The reply to the query last passed to lookup() from entry e: its ID, flags and question bytes
   * (the client's spelling), the compiled sections, and OPT when the query had one; cut at a record
   * boundary past `limit` (TCP: 65535), with TC when answer records had to go.
   */
  respond(msg: Buffer, e: number, tcp: boolean): Buffer {
    const a = this.arena;
    const qEnd = this.qEnd;
    const limit = tcp ? 65535 : this.udpSize;
    const qlen = qEnd - HEADER_LEN;
    const optLen = this.edns ? OPT_LEN : 0;
    const keyLen = a[e + E_KEYLEN];
    const nEnds = a.readUInt16LE(e + E_NENDS);
    const bodyAt = e + E_KEY + keyLen + 2 * nEnds;
    const fullLen = a.readUInt16LE(e + E_BODYLEN);
    const rcode = a[e + E_RCODE];
    let an = a.readUInt16LE(e + E_AN), ns = a.readUInt16LE(e + E_NS), ar = a.readUInt16LE(e + E_AR);
    let bodyLen = fullLen;
    let tc = 0;
    if (HEADER_LEN + qlen + bodyLen + optLen > limit && nEnds) {
      const room = limit - HEADER_LEN - qlen - optLen;
      const endsAt = e + E_KEY + keyLen;
      let keep = 0;
      while (keep < nEnds && a.readUInt16LE(endsAt + 2 * keep) <= room) keep++;
      if (keep < an) { tc = FLAG_TC; an = keep; ns = 0; ar = 0; } else if (keep < an + ns) { ns = keep - an; ar = 0; } else { ar = keep - an - ns; }
      bodyLen = keep === 0 ? 0 : a.readUInt16LE(endsAt + 2 * (keep - 1));
    }
    const out = Buffer.allocUnsafe(HEADER_LEN + qlen + bodyLen + optLen);
    out[0] = msg[0];
    out[1] = msg[1];
    const flags = FLAG_QR | (((msg[2] << 8) | msg[3]) & (0x7800 | FLAG_RD | FLAG_CD)) | a.readUInt16LE(e + E_FLAGS) | tc | (rcode & 0xf);
    out[2] = flags >> 8;
    out[3] = flags & 0xff;
    out[4] = 0; out[5] = 1;
    out[6] = an >> 8; out[7] = an & 0xff;
    out[8] = ns >> 8; out[9] = ns & 0xff;
    const arc = ar + (this.edns ? 1 : 0);
    out[10] = arc >> 8; out[11] = arc & 0xff;
    msg.copy(out, HEADER_LEN, HEADER_LEN, qEnd);
    a.copy(out, qEnd, bodyAt, bodyAt + bodyLen);
    if (this.edns) {
      const o = qEnd + bodyLen;
      out[o] = 0;
      out[o + 1] = 0; out[o + 2] = TYPE.OPT;
      out[o + 3] = this.udpSize >> 8; out[o + 4] = this.udpSize & 0xff;
      out[o + 5] = rcode >> 4;
      out[o + 6] = 0; out[o + 7] = 0; out[o + 8] = 0; out[o + 9] = 0; out[o + 10] = 0;
    }
    return out;
  }
}
