/**
 * @module dns/server
 * The DNS server process: UDP and TCP listeners on one address, the handler behind them, and the
 * HTTP endpoints CoreDNS exposes (/health :8080, /ready :8181, /metrics :9153). `startDnsServer`
 * is the programmatic entry point; `svcplane dns` (cli.ts) wraps it.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { createServer as createHttpServer, type Server as HttpServer } from 'node:http';
import { createServer as createTcpServer, isIP, type Server as TcpServer, type Socket as TcpSocket } from 'node:net';
import { networkInterfaces } from 'node:os';
import type { Client } from '../client/rest.js';
import { ResponseCache } from './cache/cache.js';
import { DnsIndex, KubeDnsController, type DnsController } from './controller.js';
import { DEFAULT_FORWARD_TIMEOUT_MS, DEFAULT_MAX_CONCURRENT, Forwarder } from './forward/forward.js';
import { parseUpstreams, resolvConfUpstreams, type Upstream } from './forward/resolv.js';
import { DnsHandler } from './handler.js';
import { DnsMetrics } from './metrics.js';

export const DEFAULT_LISTEN = '0.0.0.0:53';
export const DEFAULT_ZONE = 'cluster.local';
export const DEFAULT_TTL = 30;
export const DEFAULT_HEALTH = ':8080';
export const DEFAULT_READY = ':8181';
export const DEFAULT_METRICS = ':9153';
/** Bursts (dnsperf, a pod restart storm) must not overflow the default ~200 KB socket buffer. */
const UDP_RECV_BUFFER = 4 << 20;

/**
 * Limits on DNS over TCP. The timeouts are CoreDNS's (core/dnsserver/server.go sets miekg/dns's
 * Server ReadTimeout 3 s, WriteTimeout 5 s, IdleTimeout 10 s; miekg/dns alone defaults to 2, 2, 8 s).
 * miekg/dns reads one message per connection at a time and writes its answer before reading the
 * next, so a client that does not read its answers stops being read; here queries are answered
 * concurrently (RFC 7766 6.2.1.1) up to `maxInflight`, and the socket is not read while answers
 * are waiting to be sent.
 */
export interface TcpLimits {
  /** The first message must arrive within this long of the connection, and every message within this long of its first byte. */
  readTimeoutMs?: number;
  /** A connection without a query for this long after its last one is closed. */
  idleTimeoutMs?: number;
  /** A connection whose answers were not read (or that made no progress) for this long while it was not being read is closed. */
  writeTimeoutMs?: number;
  /** Open connections at most; one more closes the least recently active (RFC 7766 6.2.3 lets servers close idle connections). */
  maxConnections?: number;
  /** Queries of one connection being answered at once (forwarded ones wait for the upstream); at the cap the connection is not read. */
  maxInflight?: number;
  /** Longest query accepted: a query carries one question and an OPT record; a longer (or zero) length closes the connection. */
  maxMessageBytes?: number;
}

export const DEFAULT_TCP_LIMITS: Required<TcpLimits> = {
  readTimeoutMs: 3000, idleTimeoutMs: 10_000, writeTimeoutMs: 5000, maxConnections: 1000, maxInflight: 64, maxMessageBytes: 4096,
};

export interface DnsServerOptions {
  /** host:port for DNS over UDP and TCP; port 0 picks a free one (the same for both when it can). */
  listen?: string;
  zone?: string;
  ttl?: number;
  /** ip[:port] list; default: the nameservers in /etc/resolv.conf. [] disables forwarding (REFUSED). */
  upstreams?: string[] | Upstream[];
  forwardTimeoutMs?: number;
  maxConcurrent?: number;
  /** Cap for cached upstream answers, seconds (0 disables the cache). */
  cacheTTL?: number;
  /** host:port for /health, /ready, /metrics; '' turns one off. Equal addresses share one server. */
  health?: string;
  ready?: string;
  metrics?: string;
  /** Where Services come from: an API client (Services, EndpointSlices and Namespaces are listed and watched), or a controller you feed yourself. */
  client?: Client;
  controller?: DnsController;
  endpointPodNames?: boolean;
  pods?: 'insecure' | 'disabled';
  /** Serve queries only once the first lists are in (default: serve at once, SERVFAIL for cluster names until then). */
  waitForSync?: boolean;
  /** DNS over TCP timeouts and caps (DEFAULT_TCP_LIMITS for those left out). */
  tcp?: TcpLimits;
  log?: (msg: string, fields?: Record<string, unknown>) => void;
}

export interface DnsServer {
  /** Bound DNS address and ports. */
  address: string;
  udpPort: number;
  tcpPort: number;
  /** Bound HTTP ports by role ('health', 'ready', 'metrics'), 0 when off. */
  httpPorts: { health: number; ready: number; metrics: number };
  handler: DnsHandler;
  controller: DnsController;
  metrics: DnsMetrics;
  forwarder?: Forwarder;
  ready(): boolean;
  /** Open DNS over TCP connections. */
  tcpConnections(): number;
  /** Resolves once the first lists are in (at once for a given controller that has). */
  synced: Promise<void>;
  /**
   * Shut down gracefully (CoreDNS `health { lameduck }`): /ready turns 503 at once so the endpoint
   * leaves the kube-dns Service, queries are still answered for `ms`, then everything closes.
   */
  lameduck(ms: number): Promise<void>;
  close(): Promise<void>;
}

export function parseHostPort(s: string, defPort: number): { host: string; port: number } {
  const v6 = s.match(/^\[([^\]]*)\](?::(\d+))?$/);
  if (v6) return { host: v6[1] || '::', port: v6[2] ? +v6[2] : defPort };
  if (isIP(s) === 6) return { host: s, port: defPort };
  const i = s.lastIndexOf(':');
  if (i < 0) return /^\d+$/.test(s) ? { host: '0.0.0.0', port: +s } : { host: s, port: defPort };
  const host = s.slice(0, i) || '0.0.0.0';
  const port = +s.slice(i + 1);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`invalid address "${s}": bad port`);
  return { host, port };
}

function defaultLog(msg: string, fields: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ ts: new Date().toISOString(), level: 'info', component: 'dns', msg, ...fields }));
}

function localIPs(listenHost: string): string[] {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return [listenHost];
  const out: string[] = [];
  for (const addrs of Object.values(networkInterfaces())) {
    for (const a of addrs ?? []) if (!a.internal && a.family === 'IPv4') out.push(a.address);
  }
  return out.length ? out : ['127.0.0.1'];
}

export async function startDnsServer(opts: DnsServerOptions = {}): Promise<DnsServer> {
  const log = opts.log ?? defaultLog;
  const listen = parseHostPort(opts.listen ?? DEFAULT_LISTEN, 53);
  const zone = (opts.zone ?? DEFAULT_ZONE).toLowerCase().replace(/\.$/, '');
  const ttl = opts.ttl ?? DEFAULT_TTL;

  let upstreams: Upstream[];
  if (opts.upstreams === undefined) upstreams = resolvConfUpstreams();
  else if (opts.upstreams.length && typeof opts.upstreams[0] === 'object') upstreams = opts.upstreams as Upstream[];
  else upstreams = parseUpstreams(opts.upstreams as string[]);
  // Never forward to ourselves: that is a loop (CoreDNS's loop plugin stops the server instead).
  upstreams = upstreams.filter((u) => !(u.port === listen.port && (u.host === listen.host || (listen.host === '0.0.0.0' && u.host.startsWith('127.')))));

  const forwarder = upstreams.length
    ? new Forwarder({ upstreams, timeoutMs: opts.forwardTimeoutMs ?? DEFAULT_FORWARD_TIMEOUT_MS, maxConcurrent: opts.maxConcurrent ?? DEFAULT_MAX_CONCURRENT })
    : undefined;
  const cacheTTL = opts.cacheTTL ?? 30;
  const cache = forwarder && cacheTTL > 0 ? new ResponseCache({ successTTL: cacheTTL, denialTTL: cacheTTL }) : undefined;

  let kube: KubeDnsController | undefined;
  let controller: DnsController;
  let synced: Promise<void>;
  if (opts.controller) {
    controller = opts.controller;
    synced = controller.hasSynced() ? Promise.resolve() : waitFor(() => controller.hasSynced());
  } else if (opts.client) {
    kube = new KubeDnsController(opts.client, new DnsIndex(undefined, !!opts.endpointPodNames), { log });
    controller = kube.index;
    synced = kube.start();
  } else {
    throw new Error('startDnsServer: give a client (Kubernetes API) or a controller');
  }

  const { udp, tcp } = await bindPair(listen.host, listen.port);
  const udpPort = udp.address().port;
  const tcpPort = (tcp.address() as { port: number }).port;
  const server = `dns://${listen.host.includes(':') ? `[${listen.host}]` : listen.host}:${udpPort}`;
  const metrics = new DnsMetrics(server, { cache, forwarder, ready: () => controller.hasSynced() });
  const handler = new DnsHandler({
    zone, ttl, controller, forwarder, cache, metrics,
    endpointPodNames: opts.endpointPodNames, pods: opts.pods ?? 'insecure',
    localIPs: () => localIPs(listen.host), reverseFallthrough: true,
  });

  if (opts.waitForSync) await synced;

  const udpReply = (b: Buffer, rinfo: RemoteInfo): void => {
    try { udp.send(b, rinfo.port, rinfo.address); } catch { /* socket closed while a forwarded answer was on its way */ }
  };
  const panic = (e: unknown): void => {
    // CoreDNS recovers a panicking query the same way: count it, log it, keep serving.
    metrics.panics++;
    log('query failed', { error: String((e as Error)?.stack ?? e) });
  };
  udp.on('message', (msg, rinfo) => {
    try { handler.handle(msg, false, rinfo.family === 'IPv6', udpReply, rinfo); } catch (e) { panic(e); }
  });
  udp.on('error', (e) => log('udp error', { error: String(e) }));
  const tcpConns = new TcpConnections(handler, { ...DEFAULT_TCP_LIMITS, ...definedOnly(opts.tcp ?? {}) }, panic);
  tcp.on('connection', (sock) => tcpConns.add(sock));
  tcp.on('error', (e) => log('tcp error', { error: String(e) }));
  try { udp.setRecvBufferSize(UDP_RECV_BUFFER); } catch { /* capped by net.core.rmem_max */ }

  // HTTP endpoints; roles on the same address share one server.
  const roles: { role: 'health' | 'ready' | 'metrics'; addr: string }[] = [
    { role: 'health', addr: opts.health ?? DEFAULT_HEALTH },
    { role: 'ready', addr: opts.ready ?? DEFAULT_READY },
    { role: 'metrics', addr: opts.metrics ?? DEFAULT_METRICS },
  ];
  const httpServers: HttpServer[] = [];
  const httpPorts = { health: 0, ready: 0, metrics: 0 };
  const byAddr = new Map<string, ('health' | 'ready' | 'metrics')[]>();
  for (const r of roles) if (r.addr) byAddr.set(r.addr, [...(byAddr.get(r.addr) ?? []), r.role]);
  let stopping = false;
  let closed = false;
  const isReady = (): boolean => !stopping && controller.hasSynced();
  for (const [addr, rs] of byAddr) {
    const hp = parseHostPort(addr, 0);
    const srv = createHttpServer((req, res) => {
      const path = (req.url ?? '/').split('?')[0];
      if (rs.includes('health') && (path === '/health' || path === '/healthz')) { res.end('OK'); return; }
      if (rs.includes('ready') && path === '/ready') {
        if (isReady()) res.end('OK'); else { res.statusCode = 503; res.end('kubernetes'); }
        return;
      }
      if (rs.includes('metrics') && path === '/metrics') {
        metrics.text().then((t) => { res.setHeader('Content-Type', metrics.contentType); res.end(t); }, (e) => { res.statusCode = 500; res.end(String(e)); });
        return;
      }
      res.statusCode = 404;
      res.end('404 page not found\n');
    });
    await new Promise<void>((res, rej) => { srv.once('error', rej); srv.listen(hp.port, hp.host, () => { srv.off('error', rej); res(); }); });
    const port = (srv.address() as { port: number }).port;
    for (const r of rs) httpPorts[r] = port;
    httpServers.push(srv);
  }

  synced.then(() => log('ready', { zone, listen: `${listen.host}:${udpPort}` }), (e) => log('sync failed', { error: String(e) }));
  log('listening', { listen: `${listen.host}:${udpPort}`, zone, ttl, upstreams: upstreams.map((u) => `${u.host}:${u.port}`), http: httpPorts });

  const self: DnsServer = {
    address: listen.host, udpPort, tcpPort, httpPorts, handler, controller, metrics, forwarder,
    ready: isReady, synced, tcpConnections: () => tcpConns.size,
    async lameduck(ms: number) {
      stopping = true;
      log('shutting down', { lameduckMs: ms });
      await new Promise((r) => setTimeout(r, ms));
      await self.close();
    },
    async close() {
      if (closed) return;
      closed = true;
      kube?.stop();
      forwarder?.close();
      await Promise.all([
        new Promise<void>((r) => udp.close(() => r())),
        new Promise<void>((r) => { tcp.close(() => r()); tcpConns.closeAll(); }),
        ...httpServers.map((s) => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); })),
      ]);
    },
  };
  return self;
}

/** UDP and TCP on one address and port; for port 0 the port UDP got is taken for TCP too (retried if taken). */
async function bindPair(host: string, port: number): Promise<{ udp: Socket; tcp: TcpServer }> {
  const fam = isIP(host) === 6 ? 'udp6' : 'udp4';
  for (let attempt = 0; ; attempt++) {
    // Replies go to the address a query came from, always an IP: answer the lookup at once instead of
    // node's dns.lookup, which defers every send by a tick.
    const udp = createSocket({ type: fam, lookup: (addr, _opts, cb) => (cb as (e: null, a: string, f: number) => void)(null, addr, fam === 'udp6' ? 6 : 4) });
    await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(port, host, () => { udp.off('error', rej); res(); }); });
    // Half-open: a client may send its queries and shut its side; the answers still go out.
    const tcp = createTcpServer({ allowHalfOpen: true });
    try {
      await listenTcp(tcp, udp.address().port, host);
      return { udp, tcp };
    } catch (e) {
      const got = udp.address().port;
      udp.close();
      if (port !== 0 || attempt >= 5) throw new Error(`listen tcp ${host}:${got}: ${(e as Error).message}`);
    }
  }
}

function listenTcp(tcp: TcpServer, port: number, host: string): Promise<void> {
  return new Promise((res, rej) => {
    tcp.once('error', rej);
    tcp.listen(port, host, () => { tcp.off('error', rej); res(); });
  });
}

function definedOnly<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** One DNS over TCP connection: 2-byte length-prefixed messages, several per connection, answers in any order. */
class TcpConn {
  /** Bytes received and not yet taken as messages: whole chunks, of which the first `skip` bytes are used. */
  parts: Buffer[] = [];
  skip = 0;
  have = 0;
  /** Length of the message being read; -1 while its 2-byte length is. */
  need = -1;
  /** A message has begun arriving (its read timeout runs). */
  mid = false;
  /** Queries handed to the handler and not answered yet. */
  inflight = 0;
  /** Last time a query arrived or an answer left (performance.now()): the cap closes the least recent. */
  active: number;
  /** Reading must have progressed by then (read or idle timeout). */
  deadline: number;
  /** Since when this side has not read (answers not taken, or the in-flight cap); 0 while reading. */
  pausedAt = 0;
  /** The client shut its side: close ours after the last answer. */
  ended = false;
  constructor(readonly sock: TcpSocket, readonly ipv6: boolean, now: number, readTimeoutMs: number) {
    this.active = now;
    // miekg/dns: the first read uses the read timeout, later ones the idle timeout.
    this.deadline = now + readTimeoutMs;
  }
}

/**
 * The DNS over TCP connections of one listener and their limits (TcpLimits): deadlines are checked
 * by one sweep timer rather than a timer per connection and per message.
 */
class TcpConnections {
  private readonly conns = new Set<TcpConn>();
  private sweeper: NodeJS.Timeout | undefined;
  private readonly tick: number;
  private readonly reply = (b: Buffer, c: TcpConn): void => this.answer(c, b);

  constructor(private readonly handler: DnsHandler, private readonly lim: Required<TcpLimits>, private readonly panic: (e: unknown) => void) {
    this.tick = Math.max(10, Math.min(250, Math.min(lim.readTimeoutMs, lim.idleTimeoutMs, lim.writeTimeoutMs) / 4));
  }

  get size(): number { return this.conns.size; }

  add(sock: TcpSocket): void {
    const now = performance.now();
    if (this.conns.size >= this.lim.maxConnections) this.evict();
    const c = new TcpConn(sock, sock.remoteFamily === 'IPv6', now, this.lim.readTimeoutMs);
    this.conns.add(c);
    sock.setNoDelay(true);
    sock.on('data', (d: Buffer) => { c.parts.push(d); c.have += d.length; this.process(c); });
    sock.on('drain', () => this.resume(c));
    sock.on('end', () => { c.ended = true; if (c.inflight === 0) sock.end(); });
    sock.on('error', () => this.drop(c));
    sock.on('close', () => this.forget(c));
    if (!this.sweeper) this.sweeper = setInterval(this.sweep, this.tick).unref();
  }

  closeAll(): void {
    for (const c of this.conns) c.sock.destroy();
    this.conns.clear();
    clearInterval(this.sweeper);
    this.sweeper = undefined;
  }

  private forget(c: TcpConn): void {
    this.conns.delete(c);
    if (!this.conns.size) { clearInterval(this.sweeper); this.sweeper = undefined; }
  }

  private drop(c: TcpConn): void {
    c.sock.destroy();
    this.forget(c);
  }

  /** At the cap: close the connection that has been quiet longest (a stalled or idle one, not one in use). */
  private evict(): void {
    let old: TcpConn | undefined;
    for (const c of this.conns) if (!old || c.active < old.active) old = c;
    if (old) this.drop(old);
  }

  private readonly sweep = (): void => {
    const now = performance.now();
    for (const c of this.conns) {
      if (c.pausedAt ? now - c.pausedAt > this.lim.writeTimeoutMs : now > c.deadline) this.drop(c);
    }
  };

  /** Hand whole messages to the handler until the connection must wait (in-flight cap, answers not read). */
  private process(c: TcpConn): void {
    const lim = this.lim;
    const now = performance.now();
    let took = false;
    while (!c.pausedAt) {
      if (c.need < 0) {
        if (c.have < 2) break;
        c.need = (this.byte(c) << 8) | this.byte(c);
        // miekg/dns closes on a zero length; no query needs more than maxMessageBytes.
        if (c.need === 0 || c.need > lim.maxMessageBytes) { this.drop(c); return; }
      }
      if (c.have < c.need) break;
      const msg = this.take(c, c.need);
      c.need = -1;
      took = true;
      c.active = now;
      c.inflight++;
      let replies: boolean;
      try {
        replies = this.handler.handle(msg, true, c.ipv6, this.reply, c);
      } catch (e) {
        this.panic(e);
        this.drop(c);
        return;
      }
      if (!replies) c.inflight--;
      if (c.sock.destroyed) return;
      if (c.inflight >= lim.maxInflight || c.sock.writableNeedDrain) {
        c.pausedAt = now;
        c.sock.pause();
      }
    }
    // A message that has begun must be whole within the read timeout; trickling bytes does not extend it.
    const mid = c.have > 0 || c.need >= 0;
    if (took) c.deadline = now + (mid ? lim.readTimeoutMs : lim.idleTimeoutMs);
    else if (mid && !c.mid) c.deadline = Math.min(c.deadline, now + lim.readTimeoutMs);
    c.mid = mid;
  }

  private resume(c: TcpConn): void {
    if (!c.pausedAt || c.sock.destroyed || c.inflight >= this.lim.maxInflight || c.sock.writableNeedDrain) return;
    c.pausedAt = 0;
    c.deadline = performance.now() + (c.mid ? this.lim.readTimeoutMs : this.lim.idleTimeoutMs);
    this.process(c);
    if (!c.pausedAt && !c.sock.destroyed) c.sock.resume();
  }

  private answer(c: TcpConn, b: Buffer): void {
    c.inflight--;
    const s = c.sock;
    if (s.destroyed || !s.writable || b.length > 0xffff) return;
    const out = Buffer.allocUnsafe(2 + b.length);
    out.writeUInt16BE(b.length, 0);
    b.copy(out, 2);
    s.write(out);
    c.active = performance.now();
    if (c.ended && c.inflight === 0) s.end();
    else if (c.pausedAt) this.resume(c);
  }

  private byte(c: TcpConn): number {
    const p = c.parts[0];
    const b = p[c.skip++];
    if (c.skip === p.length) { c.parts.shift(); c.skip = 0; }
    c.have--;
    return b;
  }

  /** The next n bytes as a buffer of their own (the handler may keep it while the query is forwarded). */
  private take(c: TcpConn, n: number): Buffer {
    const out = Buffer.allocUnsafe(n);
    for (let o = 0; o < n;) {
      const p = c.parts[0];
      const k = Math.min(n - o, p.length - c.skip);
      p.copy(out, o, c.skip, c.skip + k);
      o += k;
      c.skip += k;
      if (c.skip === p.length) { c.parts.shift(); c.skip = 0; }
    }
    c.have -= n;
    return out;
  }
}

function waitFor(cond: () => boolean): Promise<void> {
  return new Promise((res) => {
    const t = setInterval(() => { if (cond()) { clearInterval(t); res(); } }, 50);
    t.unref();
  });
}
