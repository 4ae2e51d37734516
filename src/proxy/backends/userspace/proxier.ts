/**
 * @module proxy/backends/userspace/proxier
 * A TCP + UDP L4 proxy in the proxy process. Per service port, one listener for cluster traffic
 * (reached through the REDIRECT table from the ClusterIP) and, when the Service is external,
 * one for external traffic (externalIPs / LB IPs through REDIRECT, and the NodePort bound
 * directly), because the two may use different endpoints (traffic policy Local).
 *
 * Why a userspace mode at all: it can do what the kernel modes cannot — try the next backend
 * when one refuses a connection — and it offers the IPVS scheduler set (rr, wrr, lc, wlc, sh,
 * dh, sed, nq) on kernels without IPVS. Bytes move with socket.pipe (no JS-level copies beyond
 * libuv's buffers); the kernel cannot splice between sockets for us from Node.
 */
import dgram from 'node:dgram';
import net from 'node:net';
import { nftApply, nftDeleteTable } from '../../../net/nft.js';
import { clusterEndpoints, externalEndpoints } from '../../topology.js';
import type { BackendOptions, Protocol, Provider, ProxyEndpoint, ServicePort, SyncRequest, SyncStats, TrafficCounters } from '../../types.js';
import { redirectElements, redirectTable, USERSPACE_TABLE } from './redirect.js';
import { newScheduler, type BackendState, type Scheduler } from './schedulers.js';

/** A UDP "connection" (client addr:port → backend socket) is forgotten after this idle time. */
export const UDP_IDLE_MS = 30_000;
/** How many backends one TCP connection may try before the client is reset. */
export const MAX_TCP_ATTEMPTS = 3;
const CONNECT_TIMEOUT_MS = 3000;

interface Backend extends BackendState { connections: number; bytes: number }

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ time: new Date().toISOString(), component: 'proxy', mode: 'userspace', msg, ...extra }));
}

/** One listening socket and its backend set; backends are replaced in place on sync. */
class Listener {
  backends: Backend[] = [];
  scheduler: Scheduler;
  schedName: string;
  affinityMs = 0;
  readonly affinity = new Map<string, { ip: string; port: number; until: number }>();
  tcp?: net.Server;
  udp?: dgram.Socket;
  /** Same port on 127.0.0.1: where the nat-output redirect sends the node's own datagrams. */
  udpLoopback?: dgram.Socket;
  port = 0;
  private readonly sessions = new Map<string, { sock: dgram.Socket; b: Backend; last: number; queue: Buffer[] | undefined }>();
  private reaper?: NodeJS.Timeout;

  constructor(readonly key: string, readonly protocol: Protocol, schedName: string, readonly vip: string, private readonly totals: Map<string, { connections: number; bytes: number }>) {
    this.schedName = schedName;
    this.scheduler = newScheduler(schedName);
  }

  setScheduler(name: string): void {
    if (name !== this.schedName) { this.schedName = name; this.scheduler = newScheduler(name); }
  }

  setBackends(eps: ProxyEndpoint[], weights: Record<string, number> | undefined): void {
    const old = new Map(this.backends.map((b) => [`${b.ip}:${b.port}`, b]));
    this.backends = eps.map((e) => {
      const b = old.get(`${e.ip}:${e.port}`) ?? { ip: e.ip, port: e.port, weight: 1, active: 0, connections: 0, bytes: 0 };
      b.weight = weights?.[e.ip] ?? 1;
      return b;
    });
  }

  private choose(client: string, exclude: Set<number>): number {
    if (this.affinityMs) {
      const a = this.affinity.get(client);
      if (a && a.until > Date.now()) {
        const i = this.backends.findIndex((b) => b.ip === a.ip && b.port === a.port);
        if (i >= 0 && !exclude.has(i)) return i;
      }
    }
    return this.scheduler.pick(this.backends, client, exclude, this.vip);
  }

  private remember(client: string, b: Backend): void {
    if (this.affinityMs) this.affinity.set(client, { ip: b.ip, port: b.port, until: Date.now() + this.affinityMs });
  }

  private account(b: Backend, bytes: number, conns: number): void {
    b.bytes += bytes; b.connections += conns;
    const k = `${b.ip}:${b.port}/${this.protocol}`;
    const t = this.totals.get(k) ?? { connections: 0, bytes: 0 };
    t.bytes += bytes; t.connections += conns;
    this.totals.set(k, t);
  }

  async open(port: number): Promise<void> {
    if (this.protocol === 'udp') return this.openUDP(port);
    const server = net.createServer({ allowHalfOpen: true, pauseOnConnect: true }, (c) => this.onTCP(c));
    await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, '0.0.0.0', () => { server.off('error', reject); resolve(); }); });
    server.on('error', (e) => log('listener error', { key: this.key, error: String(e) }));
    this.tcp = server;
    this.port = (server.address() as net.AddressInfo).port;
  }

  private onTCP(client: net.Socket): void {
    const from = client.remoteAddress ?? '';
    client.on('error', () => { /* reset by peer: the upstream side cleans up */ });
    const tried = new Set<number>();
    const attempt = () => {
      const i = tried.size >= MAX_TCP_ATTEMPTS ? -1 : this.choose(from, tried);
      if (i < 0) { client.resetAndDestroy(); return; }
      tried.add(i);
      const b = this.backends[i]!;
      const up = net.connect({ host: b.ip, port: b.port, allowHalfOpen: true, timeout: CONNECT_TIMEOUT_MS });
      let connected = false;
      const fail = (e: Error) => {
        up.destroy();
        if (connected || client.destroyed) { client.destroy(); return; }
        log('backend refused, trying the next', { key: this.key, backend: `${b.ip}:${b.port}`, error: (e as NodeJS.ErrnoException).code ?? String(e) });
        attempt();
      };
      up.once('timeout', () => { if (!connected) fail(new Error('connect timeout')); });
      up.once('error', fail);
      up.once('connect', () => {
        connected = true;
        up.setTimeout(0);
        up.off('error', fail);
        up.on('error', () => client.destroy());
        client.on('error', () => up.destroy());
        b.active++;
        this.remember(from, b);
        up.setNoDelay(true);
        client.setNoDelay(true);
        client.pipe(up);
        up.pipe(client);
        client.resume();
        up.once('close', () => { b.active--; this.account(b, up.bytesRead + up.bytesWritten, 1); client.destroy(); });
        client.once('close', () => up.destroy());
      });
    };
    attempt();
  }

  private async openUDP(port: number): Promise<void> {
    // A reply must leave from the address the datagram was redirected to, or conntrack does not
    // undo the redirect and the client drops it. REDIRECT in nat-output (the node's own traffic)
    // goes to 127.0.0.1, which a 0.0.0.0 socket would answer from the node's address: a second
    // socket on 127.0.0.1 (SO_REUSEADDR, same port) receives those and answers from there.
    const bind = (sock: dgram.Socket, p: number, addr: string) => new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(p, addr, () => { sock.off('error', reject); resolve(); }); });
    const sock = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await bind(sock, port, '0.0.0.0');
    this.port = sock.address().port;
    const lo = dgram.createSocket({ type: 'udp4', reuseAddr: true });
    await bind(lo, this.port, '127.0.0.1').catch((e) => log('no 127.0.0.1 UDP socket (the node\'s own UDP traffic to Services will not be answered)', { key: this.key, error: String(e) }));
    for (const s of [sock, lo]) {
      s.on('error', (e) => log('listener error', { key: this.key, error: String(e) }));
      s.on('message', (msg, rinfo) => this.onUDP(msg, rinfo, s));
    }
    this.udp = sock;
    this.udpLoopback = lo;
    this.reaper = setInterval(() => {
      const now = Date.now();
      for (const [k, s] of this.sessions) if (now - s.last > UDP_IDLE_MS) { s.sock.close(); s.b.active--; this.sessions.delete(k); }
    }, UDP_IDLE_MS / 2);
    this.reaper.unref();
  }

  private onUDP(msg: Buffer, rinfo: dgram.RemoteInfo, via: dgram.Socket): void {
    const tried = new Set<number>();
    const k = `${via === this.udp ? '' : 'lo|'}${rinfo.address}:${rinfo.port}`;
    let s = this.sessions.get(k);
    if (!s || !this.backends.includes(s.b)) {
      if (s) { s.sock.close(); s.b.active--; this.sessions.delete(k); }
      const i = this.choose(rinfo.address, tried);
      if (i < 0) return;
      tried.add(i);
      const b = this.backends[i]!;
      const sock = dgram.createSocket('udp4');
      const sess = { sock, b, last: Date.now(), queue: [] as Buffer[] | undefined };
      s = sess;
      b.active++;
      this.account(b, 0, 1);
      this.remember(rinfo.address, b);
      this.sessions.set(k, sess);
      sock.on('message', (reply) => { sess.last = Date.now(); this.account(b, reply.length, 0); via.send(reply, rinfo.port, rinfo.address); });
      // A connected UDP socket learns of ICMP port-unreachable as ECONNREFUSED: forget the
      // session so the client's next datagram picks another backend.
      sock.on('error', () => { if (this.sessions.get(k) === sess) { this.sessions.delete(k); b.active--; } sock.close(); });
      // connect() is asynchronous: datagrams that arrive before it completes wait in a queue.
      sock.connect(b.port, b.ip, () => { for (const m of sess.queue ?? []) sock.send(m); sess.queue = undefined; });
    }
    s.last = Date.now();
    this.account(s.b, msg.length, 0);
    if (s.queue) s.queue.push(msg); else s.sock.send(msg);
  }

  close(): void {
    this.tcp?.close();
    this.udp?.close();
    try { this.udpLoopback?.close(); } catch { /* never bound */ }
    if (this.reaper) clearInterval(this.reaper);
    for (const s of this.sessions.values()) s.sock.close();
    this.sessions.clear();
  }
}

interface PortState { cluster?: Listener; external?: Listener; nodePort?: Listener; nodePortNumber?: number; fp: string }

export class UserspaceProxier implements Provider {
  readonly mode = 'userspace';
  private readonly state = new Map<string, PortState>();
  private readonly totals = new Map<string, { connections: number; bytes: number }>();
  private tableReady = false;

  constructor(readonly o: BackendOptions) {}

  private async listener(cur: Listener | undefined, sp: ServicePort, eps: ProxyEndpoint[], vip: string, port = 0): Promise<Listener | undefined> {
    if (!eps.length && port !== 0) { cur?.close(); return undefined; } // NodePort with no endpoints: refuse (closed port)
    const l = cur ?? new Listener(sp.key, sp.protocol, sp.scheduler ?? this.o.scheduler, vip, this.totals);
    l.setScheduler(sp.scheduler ?? this.o.scheduler);
    l.setBackends(eps, sp.weights);
    l.affinityMs = (sp.affinityTimeout ?? 0) * 1000;
    if (!cur) await l.open(port);
    return l;
  }

  async sync(req: SyncRequest): Promise<SyncStats> {
    const t0 = performance.now();
    // Listeners open in this process's network namespace, so the rules must be there too.
    if (this.o.netns) throw new Error('userspace mode listens in its own process: run the proxy inside the node namespace (netns option unsupported)');
    const full = !this.tableReady;
    if (full) { await nftDeleteTable('ip', USERSPACE_TABLE); await nftApply(redirectTable()); this.tableReady = true; }
    const want = new Map(req.ports.map((p) => [p.key, p]));
    let written = 0;
    for (const [k, st] of this.state) if (!want.has(k)) { st.cluster?.close(); st.external?.close(); st.nodePort?.close(); this.state.delete(k); written++; }
    const vips = new Map<string, number>();
    const noEndpoints: string[] = [];
    for (const sp of req.ports) {
      if (sp.protocol === 'sctp') continue;
      const st: PortState = this.state.get(sp.key) ?? { fp: '' };
      const cl = clusterEndpoints(sp, this.o.nodeName);
      const ex = externalEndpoints(sp, this.o.nodeName);
      const fp = JSON.stringify([sp, cl, ex]);
      if (st.fp !== fp) {
        written++;
        st.cluster = sp.clusterIP ? await this.listener(st.cluster, sp, cl, sp.clusterIP) : (st.cluster?.close(), undefined);
        const extIPs = [...sp.externalIPs, ...sp.loadBalancerIPs];
        st.external = extIPs.length ? await this.listener(st.external, sp, ex, extIPs[0]!) : (st.external?.close(), undefined);
        if (st.nodePortNumber !== sp.nodePort) { st.nodePort?.close(); st.nodePort = undefined; }
        st.nodePortNumber = sp.nodePort;
        if (sp.nodePort !== undefined) {
          try { st.nodePort = await this.listener(st.nodePort, sp, ex, this.o.nodeIP, sp.nodePort); } catch (e) { log('cannot bind NodePort', { key: sp.key, nodePort: sp.nodePort, error: String(e) }); }
        }
        st.fp = fp;
        this.state.set(sp.key, st);
      }
      if (sp.clusterIP) { const k = `${sp.clusterIP} . ${sp.protocol} . ${sp.port}`; if (cl.length) vips.set(k, st.cluster!.port); else noEndpoints.push(k); }
      for (const ip of [...sp.externalIPs, ...sp.loadBalancerIPs]) {
        const k = `${ip} . ${sp.protocol} . ${sp.port}`;
        if (ex.length) vips.set(k, st.external!.port); else if (!sp.externalLocal) noEndpoints.push(k);
      }
    }
    await nftApply(redirectElements(vips, noEndpoints), this.o.netns);
    return { full, chainsWritten: written, elements: vips.size + noEndpoints.length, durationMs: performance.now() - t0 };
  }

  async counters(): Promise<TrafficCounters> {
    const out: TrafficCounters = { services: new Map(), endpoints: new Map(this.totals) };
    for (const [k, st] of this.state) {
      let connections = 0, bytes = 0;
      for (const l of [st.cluster, st.external, st.nodePort]) for (const b of l?.backends ?? []) { connections += b.connections; bytes += b.bytes; }
      out.services.set(k, { connections, bytes });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    for (const st of this.state.values()) { st.cluster?.close(); st.external?.close(); st.nodePort?.close(); }
    this.state.clear();
    await nftDeleteTable('ip', USERSPACE_TABLE, this.o.netns);
    this.tableReady = false;
  }
}
