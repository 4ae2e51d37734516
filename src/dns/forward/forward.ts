/**
 * @module dns/forward
 * Relay queries for names outside the cluster zone to upstream resolvers (CoreDNS plugin/forward):
 * one UDP socket per address family with random query IDs, upstreams tried in turn (starting at a
 * random one) until an overall deadline, TCP when the client asked over TCP or UDP came back
 * truncated, a cap on queries in flight (over it: REFUSED, like max_concurrent), and answers checked
 * against the question before they are believed.
 */
import { createSocket, type Socket } from 'node:dgram';
import { connect } from 'node:net';
import { isIP } from 'node:net';
import * as dnsPacket from 'dns-packet';
import { FLAG_TC, messageEnd, skipName } from '../wire.js';
import type { Upstream } from './resolv.js';

/** SERVFAIL after this long without an answer (CoreDNS waits up to 5 s; clients retry after 5 s too, so answer first). */
export const DEFAULT_FORWARD_TIMEOUT_MS = 2000;
/** kubeadm's Corefile sets `max_concurrent 1000`. */
export const DEFAULT_MAX_CONCURRENT = 1000;
const MAX_ATTEMPT_MS = 1000;

export class ForwardError extends Error {
  constructor(readonly code: 'timeout' | 'limit' | 'no-upstream', message: string) {
    super(message);
    this.name = 'ForwardError';
  }
}

export interface ForwardOptions {
  upstreams: Upstream[];
  timeoutMs?: number;
  maxConcurrent?: number;
}

export interface ForwardStats {
  requests: Map<string, number>;
  /** "to|rcode" → count */
  responses: Map<string, number>;
  /** seconds, per upstream */
  durations: { to: string; seconds: number }[];
  rejects: number;
}

interface Pending {
  upstream: Upstream;
  question: Buffer;
  resolve: (b: Buffer | null) => void;
}

export class Forwarder {
  readonly upstreams: Upstream[];
  private readonly timeoutMs: number;
  private readonly maxConcurrent: number;
  private inflight = 0;
  private readonly pending = new Map<number, Pending>();
  private sockets: { 4?: Socket; 6?: Socket } = {};
  private closed = false;
  /** Observer for metrics: called once per upstream exchange. */
  onExchange?: (to: string, rcode: number | null, seconds: number) => void;
  onReject?: () => void;

  constructor(opts: ForwardOptions) {
    this.upstreams = opts.upstreams;
    this.timeoutMs = opts.timeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS;
    this.maxConcurrent = opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT;
  }

  get inFlight(): number { return this.inflight; }

  /**
   * Send a client's query upstream; resolves with the upstream's answer carrying the client's ID.
   * `questionEnd` bounds the question in msg (checked against the answer).
   */
  async query(msg: Buffer, questionEnd: number, tcp: boolean): Promise<Buffer> {
    if (!this.upstreams.length) throw new ForwardError('no-upstream', 'no upstream resolvers configured');
    if (this.maxConcurrent > 0 && this.inflight >= this.maxConcurrent) {
      this.onReject?.();
      throw new ForwardError('limit', `more than ${this.maxConcurrent} queries in flight`);
    }
    this.inflight++;
    try {
      const deadline = Date.now() + this.timeoutMs;
      const n = this.upstreams.length;
      const attemptMs = Math.min(MAX_ATTEMPT_MS, Math.floor(this.timeoutMs / Math.max(2, n)));
      let i = Math.floor(Math.random() * n);
      const clientId = msg.readUInt16BE(0);
      const question = msg.subarray(12, questionEnd);
      for (;;) {
        const left = deadline - Date.now();
        if (left <= 0 || this.closed) break;
        const up = this.upstreams[i++ % n];
        const to = `${up.host}:${up.port}`;
        const start = performance.now();
        let resp: Buffer | null = null;
        try {
          resp = tcp ? await this.tcpExchange(up, msg, question, left) : await this.udpExchange(up, msg, question, Math.min(attemptMs, left));
          if (resp && !tcp && resp.readUInt16BE(2) & FLAG_TC) {
            // Truncated over UDP: ask the same upstream over TCP for the whole answer.
            const full = await this.tcpExchange(up, msg, question, Math.max(1, deadline - Date.now())).catch(() => null);
            if (full) resp = full;
          }
        } catch {
          resp = null;
        }
        this.onExchange?.(to, resp ? resp[3] & 0xf : null, (performance.now() - start) / 1000);
        if (resp) {
          resp.writeUInt16BE(clientId, 0);
          return resp;
        }
      }
      throw new ForwardError('timeout', `no answer from ${this.upstreams.map((u) => `${u.host}:${u.port}`).join(', ')} within ${this.timeoutMs}ms`);
    } finally {
      this.inflight--;
    }
  }

  /** Resolve name/type upstream with a query of our own (ExternalName targets). */
  async lookup(name: string, qtype: number): Promise<Buffer> {
    const q = dnsPacket.encode({
      type: 'query', id: 0, flags: dnsPacket.RECURSION_DESIRED,
      questions: [{ name, type: typeName(qtype), class: 'IN' }],
    });
    return this.query(q, skipName(q, 12) + 4, false);
  }

  private socket(fam: 4 | 6): Socket {
    let s = this.sockets[fam];
    if (s) return s;
    // Upstreams are IP addresses: skip dns.lookup, which defers every send by a tick.
    s = createSocket({ type: fam === 4 ? 'udp4' : 'udp6', lookup: (addr, _o, cb) => (cb as (e: null, a: string, f: number) => void)(null, addr, fam) });
    s.on('message', (m, rinfo) => this.onMessage(m, rinfo.address, rinfo.port));
    s.on('error', () => { /* ICMP errors and the like: the attempt times out */ });
    s.bind(0, fam === 4 ? '0.0.0.0' : '::');
    s.unref();
    this.sockets[fam] = s;
    return s;
  }

  private onMessage(m: Buffer, addr: string, port: number): void {
    if (m.length < 12) return;
    const p = this.pending.get(m.readUInt16BE(0));
    if (!p || p.upstream.port !== port || p.upstream.host !== addr) return;
    // The answer must repeat our question (name case-insensitively), or it is not ours.
    if (m.length < 12 + p.question.length || !sameQuestion(m.subarray(12, 12 + p.question.length), p.question)) return;
    if (!(m[2] & 0x80)) return;
    // A reply that does not parse is no answer (CoreDNS: an unpack error; the attempt times out or the next upstream is asked).
    const end = messageEnd(m);
    if (end < 0) return;
    p.resolve(Buffer.from(m.subarray(0, end)));
  }

  private udpExchange(up: Upstream, msg: Buffer, question: Buffer, ms: number): Promise<Buffer | null> {
    const fam = isIP(up.host) === 6 ? 6 : 4;
    const sock = this.socket(fam);
    let id = (Math.random() * 0x10000) | 0;
    for (let tries = 0; this.pending.has(id) && tries < 100; tries++) id = (Math.random() * 0x10000) | 0;
    const out = Buffer.from(msg);
    out.writeUInt16BE(id, 0);
    return new Promise((resolve) => {
      const timer = setTimeout(() => { this.pending.delete(id); resolve(null); }, ms);
      this.pending.set(id, {
        upstream: up, question,
        resolve: (b) => { clearTimeout(timer); this.pending.delete(id); resolve(b); },
      });
      sock.send(out, up.port, up.host, (err) => { if (err) { clearTimeout(timer); this.pending.delete(id); resolve(null); } });
    });
  }

  private tcpExchange(up: Upstream, msg: Buffer, question: Buffer, ms: number): Promise<Buffer | null> {
    return new Promise((resolve) => {
      const sock = connect({ host: up.host, port: up.port });
      let buf = Buffer.alloc(0);
      const done = (b: Buffer | null): void => { clearTimeout(timer); sock.destroy(); resolve(b); };
      const timer = setTimeout(() => done(null), ms);
      sock.on('error', () => done(null));
      sock.on('connect', () => {
        const len = Buffer.allocUnsafe(2);
        len.writeUInt16BE(msg.length);
        sock.write(Buffer.concat([len, msg]));
      });
      sock.on('data', (d) => {
        buf = Buffer.concat([buf, d]);
        if (buf.length < 2) return;
        const n = buf.readUInt16BE(0);
        if (buf.length < 2 + n) return;
        const m = Buffer.from(buf.subarray(2, 2 + n));
        if (m.length < 12 + question.length || !sameQuestion(m.subarray(12, 12 + question.length), question) || !(m[2] & 0x80)) return done(null);
        const end = messageEnd(m);
        done(end < 0 ? null : m.subarray(0, end));
      });
      sock.on('close', () => done(null));
    });
  }

  close(): void {
    this.closed = true;
    for (const s of Object.values(this.sockets)) s?.close();
    this.sockets = {};
    for (const p of this.pending.values()) p.resolve(null);
    this.pending.clear();
  }
}

function sameQuestion(a: Buffer, b: Buffer): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) {
    let x = a[i], y = b[i];
    if (x >= 65 && x <= 90) x += 32;
    if (y >= 65 && y <= 90) y += 32;
    if (x !== y) return false;
  }
  return true;
}

const TYPE_NAMES: Record<number, dnsPacket.RecordType> = { 1: 'A', 28: 'AAAA', 5: 'CNAME', 16: 'TXT', 33: 'SRV', 15: 'MX', 12: 'PTR', 2: 'NS', 6: 'SOA' };
function typeName(t: number): dnsPacket.RecordType {
  return TYPE_NAMES[t] ?? 'A';
}
