/**
 * @module dns/cache
 * Cache for answers from upstream resolvers (CoreDNS plugin/cache): positive answers live for their
 * smallest TTL, negative ones (NXDOMAIN, NODATA) for the SOA's minimum (RFC 2308), each capped; served
 * entries count their TTLs down. Answers are kept as the upstream's bytes with the offsets of their TTL
 * fields, so a hit is a copy plus a few writes.
 */
import { FLAG_TC, MIN_UDP_SIZE, RCODE, TYPE, walkRecords, type Query } from '../wire.js';

export interface CacheOptions {
  /** Longest a positive answer is kept, seconds (kubeadm's Corefile: `cache 30`). */
  successTTL?: number;
  /** Longest a negative answer is kept, seconds. */
  denialTTL?: number;
  /** Entries kept at most per kind; the oldest go first. */
  capacity?: number;
  now?: () => number;
}

export type CacheKind = 'success' | 'denial';

interface Entry {
  buf: Buffer;
  ttlAt: number[];
  ttl: number[];
  stored: number;
  expires: number;
  kind: CacheKind;
}

export const DEFAULT_CACHE_TTL = 30;
const DEFAULT_CAPACITY = 10000;

export class ResponseCache {
  private readonly entries = new Map<string, Entry>();
  private readonly successTTL: number;
  private readonly denialTTL: number;
  private readonly capacity: number;
  private readonly now: () => number;
  hits = { success: 0, denial: 0 };
  misses = 0;

  constructor(opts: CacheOptions = {}) {
    this.successTTL = opts.successTTL ?? DEFAULT_CACHE_TTL;
    this.denialTTL = opts.denialTTL ?? DEFAULT_CACHE_TTL;
    this.capacity = opts.capacity ?? DEFAULT_CAPACITY;
    this.now = opts.now ?? Date.now;
  }

  static key(q: Query): string {
    // DO and CD change what an upstream returns; EDNS decides whether the answer may carry OPT.
    return `${q.key}${q.qtype}|${q.dnssecOk ? 1 : 0}${q.flags & 0x10 ? 1 : 0}${q.edns ? 1 : 0}`;
  }

  get size(): number { return this.entries.size; }

  count(kind: CacheKind): number {
    let n = 0;
    for (const e of this.entries.values()) if (e.kind === kind) n++;
    return n;
  }

  /** A copy of the cached answer for q with the client's ID and question, or undefined. */
  serve(key: string, msg: Buffer, q: Query, limit: number): Buffer | undefined {
    const e = this.entries.get(key);
    const now = this.now();
    if (!e || e.expires <= now) {
      if (e) this.entries.delete(key);
      this.misses++;
      return undefined;
    }
    this.hits[e.kind]++;
    const elapsed = Math.floor((now - e.stored) / 1000);
    if (e.buf.length > limit) return truncated(e.buf, msg, q);
    const out = Buffer.allocUnsafe(e.buf.length);
    e.buf.copy(out);
    out.writeUInt16BE(q.id, 0);
    msg.copy(out, 12, 12, q.questionEnd); // the client's spelling of the name
    for (let i = 0; i < e.ttlAt.length; i++) out.writeUInt32BE(Math.max(0, e.ttl[i] - elapsed), e.ttlAt[i]);
    return out;
  }

  /** Keep an upstream answer (already checked to match the question). */
  store(key: string, resp: Buffer): void {
    const ttl = this.ttlFor(resp);
    if (ttl <= 0) return;
    const recs = walkRecords(resp);
    if (!recs) return;
    const rcode = resp[3] & 0xf;
    const kind: CacheKind = rcode === RCODE.NOERROR && resp.readUInt16BE(6) > 0 ? 'success' : 'denial';
    const now = this.now();
    if (this.entries.size >= this.capacity) {
      const first = this.entries.keys().next().value;
      if (first !== undefined) this.entries.delete(first);
    }
    this.entries.delete(key);
    this.entries.set(key, {
      buf: Buffer.from(resp), ttlAt: recs.map((r) => r.ttlAt), ttl: recs.map((r) => Math.min(r.ttl, ttl)),
      stored: now, expires: now + ttl * 1000, kind,
    });
  }

  /** Seconds an answer may be kept: 0 for failures and truncated answers. */
  ttlFor(resp: Buffer): number {
    if (resp.length < 12 || resp.readUInt16BE(2) & FLAG_TC) return 0;
    const rcode = resp[3] & 0xf;
    if (rcode !== RCODE.NOERROR && rcode !== RCODE.NXDOMAIN) return 0;
    const recs = walkRecords(resp);
    if (!recs) return 0;
    const ancount = resp.readUInt16BE(6);
    if (rcode === RCODE.NOERROR && ancount > 0) {
      let min = Infinity;
      for (const r of recs) if (r.section !== 2) min = Math.min(min, r.ttl);
      return Math.min(min === Infinity ? 0 : min, this.successTTL);
    }
    // Negative: min(SOA TTL, SOA minimum) from the authority section (RFC 2308 section 5).
    for (const r of recs) {
      if (r.section === 1 && r.type === TYPE.SOA && r.rdlen >= 20) {
        const minimum = resp.readUInt32BE(r.rdataAt + r.rdlen - 4);
        return Math.min(r.ttl, minimum, this.denialTTL);
      }
    }
    return 0;
  }

  clear(): void { this.entries.clear(); }
}

/** Header + question (+ OPT) with TC set: the client retries over TCP. */
export function truncated(resp: Buffer, msg: Buffer, q: Query): Buffer {
  const qlen = q.questionEnd - 12;
  const opt = q.edns ? 11 : 0;
  const out = Buffer.alloc(12 + qlen + opt);
  resp.copy(out, 0, 0, 4);
  out.writeUInt16BE(q.id, 0);
  out.writeUInt16BE(resp.readUInt16BE(2) | FLAG_TC, 2);
  out.writeUInt16BE(1, 4);
  out.writeUInt16BE(q.edns ? 1 : 0, 10);
  msg.copy(out, 12, 12, q.questionEnd);
  if (q.edns) {
    const o = 12 + qlen;
    out.writeUInt16BE(TYPE.OPT, o + 1);
    out.writeUInt16BE(Math.max(q.udpSize, MIN_UDP_SIZE), o + 3);
  }
  return out;
}
