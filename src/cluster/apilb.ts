/**
 * @module cluster/apilb
 * `svcplane apiserver-lb`: the load balancer in front of several API servers (`svcplane up
 * --store etcd --apiservers N`), as kind runs haproxy in front of its control-plane nodes. It
 * owns the addresses clients know — the HTTPS port on 127.0.0.1 (kubectl) and the unix socket
 * (node agents, proxies, controllers, the relay) — and passes each connection, bytes as they
 * are (TLS is end to end), to the next API server that accepts it. A backend that refuses or
 * fails is skipped until a health probe (a TCP connect, every second) finds it back, so when an
 * API server dies new connections go to the others at once and clients' retries and watch
 * resumptions land on a live one.
 */
import net from 'node:net';
import { chmodSync, existsSync, unlinkSync } from 'node:fs';

const PROBE_EVERY_MS = 1000;
const CONNECT_TIMEOUT_MS = 1000;

type Target = { port: number; host: string } | { path: string };

interface Backend {
  target: Target;
  label: string;
  healthy: boolean;
}

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'apiserver-lb', msg, ...extra }));
}

function parseHostPort(s: string): { host: string; port: number } {
  const i = s.lastIndexOf(':');
  const port = Number(s.slice(i + 1));
  if (i < 0 || !Number.isInteger(port) || port <= 0 || port > 65535) throw new Error(`invalid address "${s}": use HOST:PORT`);
  return { host: s.slice(0, i), port };
}

function dial(t: Target): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = 'path' in t ? net.connect(t.path) : net.connect(t.port, t.host);
    const timer = setTimeout(() => { s.destroy(); reject(new Error('connect timeout')); }, CONNECT_TIMEOUT_MS);
    s.once('connect', () => { clearTimeout(timer); s.removeAllListeners('error'); resolve(s); });
    s.once('error', (e) => { clearTimeout(timer); reject(e); });
  });
}

/** Round-robin over healthy backends; a failed dial marks the backend down and tries the next. */
export class BackendPool {
  private next = 0;
  constructor(readonly backends: Backend[]) {}

  static of(targets: Target[]): BackendPool {
    return new BackendPool(targets.map((t) => ({ target: t, label: 'path' in t ? t.path : `${t.host}:${t.port}`, healthy: true })));
  }

  async connect(): Promise<net.Socket> {
    const n = this.backends.length;
    // Healthy ones first (in turn), then the others as a last resort.
    const order = [...Array(n).keys()].map((k) => this.backends[(this.next + k) % n]!);
    this.next = (this.next + 1) % n;
    const tries = [...order.filter((b) => b.healthy), ...order.filter((b) => !b.healthy)];
    let last: unknown;
    for (const b of tries) {
      try {
        const s = await dial(b.target);
        if (!b.healthy) { b.healthy = true; log('backend up', { backend: b.label }); }
        return s;
      } catch (e) {
        last = e;
        if (b.healthy) { b.healthy = false; log('backend down', { backend: b.label, error: (e as Error).message }); }
      }
    }
    throw new Error(`no API server accepts connections: ${(last as Error)?.message ?? 'no backends'}`);
  }

  probe(): void {
    for (const b of this.backends) {
      void dial(b.target).then((s) => {
        s.destroy();
        if (!b.healthy) { b.healthy = true; log('backend up', { backend: b.label }); }
      }, (e: Error) => {
        if (b.healthy) { b.healthy = false; log('backend down', { backend: b.label, error: e.message }); }
      });
    }
  }
}

function relayTo(pool: BackendPool) {
  return (client: net.Socket) => {
    client.pause();
    client.on('error', () => client.destroy());
    pool.connect().then((up) => {
      up.on('error', () => { up.destroy(); client.destroy(); });
      client.on('close', () => up.destroy());
      up.on('close', () => client.destroy());
      client.pipe(up).pipe(client);
      client.resume();
    }, () => client.destroy());
  };
}

export interface ApiLbOptions {
  /** HOST:PORT for HTTPS clients. */
  listen: string;
  /** Unix socket for local components. */
  socket: string;
  /** Unix socket passed to the HTTPS backends (the in-cluster relay's way in: TLS and authentication end-to-end). */
  secureSocket?: string;
  backends: string[];
  backendSockets: string[];
}

export async function runApiLb(o: ApiLbOptions): Promise<void> {
  const tcpPool = BackendPool.of(o.backends.map(parseHostPort));
  const sockPool = BackendPool.of(o.backendSockets.map((path) => ({ path })));
  const { host, port } = parseHostPort(o.listen);
  const tcp = net.createServer({ noDelay: true }, relayTo(tcpPool));
  await new Promise<void>((resolve, reject) => { tcp.once('error', reject); tcp.listen(port, host, resolve); });
  if (existsSync(o.socket)) unlinkSync(o.socket);
  const unix = net.createServer(relayTo(sockPool));
  await new Promise<void>((resolve, reject) => { unix.once('error', reject); unix.listen(o.socket, resolve); });
  chmodSync(o.socket, 0o600);
  if (o.secureSocket) {
    const secureSocket = o.secureSocket;
    if (existsSync(secureSocket)) unlinkSync(secureSocket);
    const secure = net.createServer(relayTo(tcpPool));
    await new Promise<void>((resolve, reject) => { secure.once('error', reject); secure.listen(secureSocket, resolve); });
    chmodSync(secureSocket, 0o600);
  }
  setInterval(() => { tcpPool.probe(); sockPool.probe(); }, PROBE_EVERY_MS).unref();
  log('listening', { listen: o.listen, socket: o.socket, backends: o.backends, backendSockets: o.backendSockets });
  const stop = () => { for (const s of [o.socket, o.secureSocket]) { try { if (s) unlinkSync(s); } catch { /* gone */ } } process.exit(0); };
  process.once('SIGTERM', stop);
  process.once('SIGINT', stop);
  await new Promise(() => { /* forever */ });
}
