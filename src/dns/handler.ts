/**
 * @module dns/handler
 * ServeDNS: one query in, at most one answer out. Names in the cluster zone (and PTR for addresses we
 * know) are answered from the controller's indexes; every answer is compiled to bytes once and kept
 * per (name, type) in the answer table (answers.ts) until a change to the Service behind that name
 * drops it, so a repeated query costs a hash of its name, one probe and a copy, read straight from
 * the packet. Everything else goes to the cache and the forwarder.
 */
import * as dnsPacket from 'dns-packet';
import type { Change, DnsController } from './controller.js';
import { AnswerTable } from './answers.js';
import { ResponseCache, truncated } from './cache/cache.js';
import { ForwardError, type Forwarder } from './forward/forward.js';
import type { DnsMetrics } from './metrics.js';
import { inZone, trimZone } from './parse.js';
import { ZoneRecords, type Answer, type ZoneOptions } from './records.js';
import { isReverse, reverseRecords } from './reverse.js';
import {
  buildResponse, CLASS_IN, errorResponse, FLAG_AA, keyToName, parseQuery, Query, RCODE, type RR, TYPE, Writer,
} from './wire.js';

/** Compiled answers kept at most (names); past it the whole table is dropped and rebuilt on demand. */
const DEFAULT_COMPILED_CAPACITY = 200_000;
const MAX_TCP_SIZE = 65535;
const GROUP_STATIC = '';
const GROUP_REVERSE = '#reverse';

export interface HandlerOptions extends ZoneOptions {
  controller: DnsController;
  forwarder?: Forwarder;
  cache?: ResponseCache;
  metrics?: DnsMetrics;
  /** Send reverse names we do not know upstream (kubeadm: `fallthrough in-addr.arpa ip6.arpa`). */
  reverseFallthrough?: boolean;
  compiledCapacity?: number;
}

export type Reply = (b: Buffer) => void;

export class DnsHandler {
  readonly records: ZoneRecords;
  private readonly ctl: DnsController;
  private readonly zone: string;
  private readonly writer = new Writer();
  private readonly q = new Query();
  /** (question name, qtype) → compiled answer, stamped with its group's generation (answers.ts) */
  private readonly answers: AnswerTable;
  /** Questions being forwarded → the clients waiting for the answer (one upstream query each). */
  private readonly inflight = new Map<string, Waiter[]>();

  constructor(private readonly opts: HandlerOptions) {
    this.ctl = opts.controller;
    this.records = new ZoneRecords(opts.controller, opts);
    this.zone = this.records.zone;
    this.answers = new AnswerTable(opts.compiledCapacity ?? DEFAULT_COMPILED_CAPACITY);
    this.ctl.onChange((c) => this.invalidate(c));
  }

  get compiledNames(): number { return this.answers.size; }

  /**
   * Handle one query; reply(answer, ctx) is called at most once, synchronously for cluster names and
   * cached answers. The reply function and its context are passed apart so the hot path allocates
   * no closure per query. msg must stay untouched until reply is called. Returns false when the
   * packet is dropped (reply is never called), so a TCP connection can count its queries in flight.
   */
  handle<C>(msg: Buffer, tcp: boolean, ipv6: boolean, reply: (b: Buffer, ctx: C) => void, ctx?: C): boolean {
    const start = performance.now();
    // Hot path: a plain query for a name with a current compiled answer, read from the raw bytes.
    const t = this.answers;
    const e = t.lookup(msg);
    if (e >= 0) {
      const out = t.respond(msg, e, tcp);
      this.opts.metrics?.request(tcp, ipv6, t.qtype, t.rcode(e), (performance.now() - start) / 1000);
      reply(out, ctx as C);
      return true;
    }
    const q = this.q;
    let rc: number;
    try {
      rc = parseQuery(msg, q);
    } catch {
      rc = RCODE.FORMERR;
    }
    if (rc < 0) return false; // not even an ID to answer to, or a response: drop
    let out: Buffer | undefined;
    if (rc > 0) out = errorResponse(msg, q, rc, q.questionEnd > 12);
    else if (q.edns && q.ednsVersion > 0) out = errorResponse(msg, q, RCODE.BADVERS, true);
    if (out) {
      this.opts.metrics?.request(tcp, ipv6, q.qtype, out[3] & 0xf, (performance.now() - start) / 1000);
      reply(out, ctx as C);
      return true;
    }
    const m = this.opts.metrics;
    let sent = false; // at most one reply, even when a failure comes after it
    const send = (b: Buffer, qtype: number): void => {
      if (sent) return;
      sent = true;
      m?.request(tcp, ipv6, qtype, b.length >= 4 ? b[3] & 0xf : 0, (performance.now() - start) / 1000);
      reply(b, ctx as C);
    };
    try {
      this.slow(msg, q, tcp, tcp ? MAX_TCP_SIZE : q.udpSize, send);
    } catch (e) {
      if (m) m.panics++;
      console.error(JSON.stringify({ level: 'error', component: 'dns', msg: 'query failed', qname: keyToName(q.key), qtype: q.qtype, error: String((e as Error)?.stack ?? e) }));
      send(errorResponse(msg, q, RCODE.SERVFAIL, true), q.qtype);
    }
    return true;
  }

  private slow(msg: Buffer, q: Query, tcp: boolean, limit: number, send: (b: Buffer, qtype: number) => void): void {
    const name = keyToName(q.key);
    if (q.qclass === CLASS_IN && !q.odd) {
      if (inZone(name, this.zone)) {
        const a = this.records.answer(name, q.qtype);
        return this.finish(msg, q, a, groupOf(name, this.zone), limit, send);
      }
      if (isReverse(name) && q.qtype === TYPE.PTR) {
        const ptr = reverseRecords(this.ctl, this.zone, this.records.ttl, name, this.opts.endpointPodNames);
        if (ptr || !this.opts.forwarder || this.opts.reverseFallthrough === false) {
          const a: Answer = { rcode: RCODE.NOERROR, answer: ptr ?? [], authority: [], additional: [], cacheable: true };
          if (!ptr) { a.rcode = this.ctl.hasSynced() ? RCODE.NXDOMAIN : RCODE.SERVFAIL; a.authority = [this.records.soa(name.endsWith('ip6.arpa') ? 'ip6.arpa' : 'in-addr.arpa')]; a.cacheable = false; }
          return this.finish(msg, q, a, GROUP_REVERSE, limit, send);
        }
      }
    }
    this.forward(msg, q, tcp, limit, send);
  }

  /** Compile an answer, keep it when it may be kept, and send it. */
  private finish(msg: Buffer, q: Query, a: Answer, group: string, limit: number, send: (b: Buffer, qtype: number) => void): void {
    if (a.external && this.opts.forwarder) {
      // An ExternalName outside the zone: CNAME plus whatever the upstream says about its target.
      const qm = Buffer.from(msg.subarray(0, q.questionEnd + (q.edns ? 11 : 0)));
      const snapshot = Object.assign(new Query(), q);
      const ext = a.external;
      const reply = (): void => {
        const c = this.writer.compile(snapshot.key, a.rcode, FLAG_AA, a.answer, a.authority, a.additional);
        send(buildResponse(qm, snapshot, c, limit), snapshot.qtype);
      };
      this.opts.forwarder.lookup(ext.name, ext.qtype).then((resp) => {
        try {
          for (const r of dnsPacket.decode(resp).answers ?? []) {
            const rr = fromPacket(r);
            if (rr) a.answer.push(rr);
          }
        } catch { /* an answer we cannot read adds nothing */ }
        reply();
      }, () => reply()); // upstream silent: the CNAME alone still tells the client where to look
      return;
    }
    const c = this.writer.compile(q.key, a.rcode, a.rcode === RCODE.REFUSED ? 0 : FLAG_AA, a.answer, a.authority, a.additional);
    if (a.cacheable && !a.external && this.ctl.hasSynced()) this.answers.put(q.key, q.qtype, c, group);
    send(buildResponse(msg, q, c, limit), q.qtype);
  }

  private invalidate(c: Change): void {
    // Nothing is kept before the caches have synced, so the initial lists need no bookkeeping.
    if (!this.ctl.hasSynced()) return;
    if (c.all) { this.answers.clear(); return; }
    for (const s of c.services) this.answers.bump(s);
    if (c.reverse) this.answers.bump(GROUP_REVERSE);
  }

  private forward(msg: Buffer, q: Query, tcp: boolean, limit: number, send: (b: Buffer, qtype: number) => void): void {
    const fwd = this.opts.forwarder;
    if (!fwd) return send(errorResponse(msg, q, RCODE.REFUSED, true), q.qtype);
    const cache = this.opts.cache;
    const key = cache ? ResponseCache.key(q) : '';
    if (cache) {
      const hit = cache.serve(key, msg, q, limit);
      if (hit) return send(hit, q.qtype);
    }
    const snapshot = Object.assign(new Query(), q);
    const own = Buffer.from(msg);
    const waiter: Waiter = { msg: own, q: snapshot, limit, send };
    // The same question already on its way upstream (over the same transport): wait for that answer.
    const flight = `${ResponseCache.key(q)}|${tcp ? 't' : 'u'}`;
    const waiting = this.inflight.get(flight);
    if (waiting) { waiting.push(waiter); return; }
    const all = [waiter];
    this.inflight.set(flight, all);
    fwd.query(own, q.questionEnd, tcp).then((resp) => {
      this.inflight.delete(flight);
      try { cache?.store(key, resp); } catch { /* not cacheable */ }
      for (const w of all) {
        let out = w === waiter ? resp : Buffer.from(resp);
        try {
          // The client's ID and its spelling of the question.
          out.writeUInt16BE(w.q.id, 0);
          w.msg.copy(out, 12, 12, w.q.questionEnd);
          if (out.length > w.limit) out = truncated(out, w.msg, w.q);
        } catch {
          out = errorResponse(w.msg, w.q, RCODE.SERVFAIL, true);
        }
        w.send(out, w.q.qtype);
      }
    }, (e) => {
      this.inflight.delete(flight);
      const rc = e instanceof ForwardError && e.code === 'limit' ? RCODE.REFUSED : RCODE.SERVFAIL;
      for (const w of all) w.send(errorResponse(w.msg, w.q, rc, true), w.q.qtype);
    });
  }
}

interface Waiter { msg: Buffer; q: Query; limit: number; send: (b: Buffer, qtype: number) => void }

/** Which cached answers a change can affect: names below a Service belong to that Service. */
function groupOf(name: string, zone: string): string {
  const base = trimZone(name, zone);
  if (!base) return GROUP_STATIC;
  const segs = base.split('.');
  const n = segs.length;
  if (n >= 3 && segs[n - 1] === 'svc') return `${segs[n - 2]}/${segs[n - 3]}`;
  return GROUP_STATIC;
}

function fromPacket(r: dnsPacket.Answer): RR | null {
  const name = r.name.toLowerCase().replace(/\.$/, '');
  const ttl = (r as { ttl?: number }).ttl ?? 0;
  switch (r.type) {
    case 'A': return { name, type: TYPE.A, ttl, data: r.data };
    case 'AAAA': return { name, type: TYPE.AAAA, ttl, data: r.data };
    case 'CNAME': return { name, type: TYPE.CNAME, ttl, data: r.data.toLowerCase().replace(/\.$/, '') };
    default: return null;
  }
}
