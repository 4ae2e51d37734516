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
/** Close idle TCP connections (CoreDNS: 10 s read timeout). */
const TCP_IDLE_MS = 10_000;

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
  udp.on('message', (msg, rinfo) => handler.handle(msg, false, rinfo.family === 'IPv6', udpReply, rinfo));
  udp.on('error', (e) => log('udp error', { error: String(e) }));
  tcp.on('connection', (sock) => serveTcp(sock, handler));
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
    ready: isReady, synced,
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
        new Promise<void>((r) => { tcp.close(() => r()); for (const s of openTcp.get(tcp) ?? []) s.destroy(); }),
        ...httpServers.map((s) => new Promise<void>((r) => { s.close(() => r()); s.closeAllConnections(); })),
      ]);
    },
  };
  return self;
}

const openTcp = new WeakMap<TcpServer, Set<TcpSocket>>();

/** UDP and TCP on one address and port; for port 0 the port UDP got is taken for TCP too (retried if taken). */
async function bindPair(host: string, port: number): Promise<{ udp: Socket; tcp: TcpServer }> {
  const fam = isIP(host) === 6 ? 'udp6' : 'udp4';
  for (let attempt = 0; ; attempt++) {
    // Replies go to the address a query came from, always an IP: answer the lookup at once instead of
    // node's dns.lookup, which defers every send by a tick.
    const udp = createSocket({ type: fam, lookup: (addr, _opts, cb) => (cb as (e: null, a: string, f: number) => void)(null, addr, fam === 'udp6' ? 6 : 4) });
    await new Promise<void>((res, rej) => { udp.once('error', rej); udp.bind(port, host, () => { udp.off('error', rej); res(); }); });
    const tcp = createTcpServer();
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

/** DNS over TCP: 2-byte length-prefixed messages, several per connection, answers in any order. */
function serveTcp(sock: TcpSocket, handler: DnsHandler): void {
  const server = (sock as unknown as { server?: TcpServer }).server;
  if (server) {
    let set = openTcp.get(server);
    if (!set) openTcp.set(server, (set = new Set()));
    set.add(sock);
    sock.on('close', () => set!.delete(sock));
  }
  sock.setNoDelay(true);
  sock.setTimeout(TCP_IDLE_MS, () => sock.destroy());
  let buf = Buffer.alloc(0);
  const ipv6 = sock.remoteFamily === 'IPv6';
  sock.on('error', () => sock.destroy());
  sock.on('data', (d) => {
    buf = buf.length ? Buffer.concat([buf, d]) : d;
    while (buf.length >= 2) {
      const n = buf.readUInt16BE(0);
      if (buf.length < 2 + n) break;
      const msg = Buffer.from(buf.subarray(2, 2 + n));
      buf = buf.subarray(2 + n);
      handler.handle(msg, true, ipv6, (b) => {
        if (sock.destroyed) return;
        const len = Buffer.allocUnsafe(2);
        len.writeUInt16BE(b.length);
        sock.write(Buffer.concat([len, b]));
      });
    }
  });
}

function waitFor(cond: () => boolean): Promise<void> {
  return new Promise((res) => {
    const t = setInterval(() => { if (cond()) { clearInterval(t); res(); } }, 50);
    t.unref();
  });
}
