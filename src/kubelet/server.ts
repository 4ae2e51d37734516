/**
 * @module kubelet/server
 * The node agent's API on its unix socket (and /healthz, /metrics on an optional TCP port), at
 * the real kubelet's paths so the API server can proxy pods/<p>/log|exec to it:
 *   GET /containerLogs/{ns}/{pod}/{container}?follow=&tailLines=&previous=&limitBytes=
 *   GET /exec/{ns}/{pod}/{container}?command=…&stdin=&stdout=&stderr=&tty=   (WebSocket)
 *   GET /attach/{ns}/{pod}/{container}?stdin=&stdout=&stderr=&tty=             (WebSocket, attach.ts)
 *   GET /healthz, /metrics, /pods
 */
import { spawn } from 'node:child_process';
import { chmodSync, closeSync, existsSync, mkdirSync, openSync, readSync, statSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { dirname } from 'node:path';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { NodeRuntime as PodRuntime } from './node-runtime.js';
import { handleAttach } from './attach.js';
import { CriRuntime } from './cri-runtime.js';
import { decodeCriLog, type CriLogOptions } from './crilog.js';
import { CH_CLOSE, CH_ERROR, CH_RESIZE, CH_STDERR, CH_STDIN, CH_STDOUT, errorStatus, exitStatus, frame, shellQuote, SUBPROTOCOLS } from './exec-protocol.js';
import { metricsText, metrics } from './metrics.js';
import { handlePortForward, PORT_FORWARD_SUBPROTOCOL } from './portforward.js';

export const LOG_POLL_MS = 200;
/** How long a tty exec waits for kubectl's first resize message before starting. */
const TTY_RESIZE_WAIT_MS = 150;
const PORT_FORWARD_TOKEN = 'svcplane-spdy-portforward';

export interface KubeletServer {
  close(): Promise<void>;
}

function text(res: http.ServerResponse, code: number, body: string): void {
  res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' });
  res.end(body);
}

function resolveTarget(rt: PodRuntime, ns: string, pod: string, container: string | undefined): { uid: string; container: string } | string {
  const found = rt.findPod(ns, pod);
  if (!found) return `pod "${pod}" in namespace "${ns}" not found on this node`;
  const names = rt.containerNames(found.uid);
  const c = container || names[0];
  if (!c || !names.includes(c)) return `container ${c} is not valid for pod ${pod}`;
  return { uid: found.uid, container: c };
}

function readFrom(file: string, pos: number): { data: Buffer; pos: number } {
  const size = statSync(file).size;
  if (size <= pos) return { data: Buffer.alloc(0), pos: size < pos ? 0 : pos };
  const fd = openSync(file, 'r');
  try {
    const buf = Buffer.alloc(size - pos);
    const n = readSync(fd, buf, 0, buf.length, pos);
    return { data: buf.subarray(0, n), pos: pos + n };
  } finally {
    closeSync(fd);
  }
}

function tailLines(data: Buffer, n: number): Buffer {
  if (n < 0) return data;
  let end = data.length;
  if (end && data[end - 1] === 10) end--;
  let count = 0;
  for (let i = end - 1; i >= 0; i--) {
    if (data[i] === 10 && ++count === n) return data.subarray(i + 1);
  }
  return n === 0 ? Buffer.alloc(0) : data;
}

function serveLogs(rt: PodRuntime, req: http.IncomingMessage, res: http.ServerResponse, ns: string, pod: string, container: string | undefined, q: URLSearchParams): void {
  const t = resolveTarget(rt, ns, pod, container);
  if (typeof t === 'string') return text(res, 404, t);
  const previous = q.get('previous') === 'true' || q.get('previous') === '1';
  const follow = (q.get('follow') === 'true' || q.get('follow') === '1') && !previous;
  const file = rt.logFile(t.uid, t.container, previous);
  if (!file) {
    if (previous) return text(res, 400, `previous terminated container "${t.container}" in pod "${pod}" not found`);
    return text(res, 400, `container "${t.container}" in pod "${pod}" is waiting to start: ContainerCreating`);
  }
  // containerd writes the CRI log format; process pods' files hold the output as printed.
  const cri = rt instanceof CriRuntime;
  if (cri && !existsSync(file)) return text(res, 400, `container "${t.container}" in pod "${pod}" is waiting to start: ContainerCreating`);
  const sinceS = Number(q.get('sinceSeconds') ?? 0);
  const sinceT = q.get('sinceTime');
  const logOpts: CriLogOptions = {
    timestamps: q.get('timestamps') === 'true' || q.get('timestamps') === '1',
    sinceMs: sinceS > 0 ? Date.now() - sinceS * 1000 : sinceT ? Date.parse(sinceT) : undefined,
  };
  const partial: { partial?: Buffer[] } = {};
  const decode = (r: { data: Buffer; pos: number }) => {
    if (!cri) return r;
    const d = decodeCriLog(r.data, logOpts, partial);
    return { data: d.out, pos: r.pos - (r.data.length - d.consumed) };
  };
  let { data, pos } = decode(readFrom(file, 0));
  const tail = q.get('tailLines');
  if (tail !== null && tail !== '') data = tailLines(data, Number(tail));
  const limit = Number(q.get('limitBytes') ?? 0);
  if (limit > 0) data = data.subarray(0, limit);
  res.writeHead(200, { 'Content-Type': 'text/plain', 'Transfer-Encoding': 'chunked' });
  res.write(data);
  if (!follow) { res.end(); return; }
  // Follow: stream what the container appends until it stops (a new instance logs elsewhere).
  let closed = false;
  req.on('close', () => { closed = true; });
  const timer = setInterval(() => {
    if (closed) { clearInterval(timer); return; }
    try {
      const r = decode(readFrom(file, pos));
      pos = r.pos;
      if (r.data.length) res.write(r.data);
      if (rt.logFile(t.uid, t.container) !== file || !rt.containerProcess(t.uid, t.container)) {
        const last = decode(readFrom(file, pos));
        if (last.data.length) res.write(last.data);
        clearInterval(timer);
        res.end();
      }
    } catch {
      clearInterval(timer);
      res.end();
    }
  }, LOG_POLL_MS);
}

function handleExec(rt: PodRuntime, ws: WebSocket, ns: string, pod: string, container: string | undefined, q: URLSearchParams): void {
  const send = (ch: number, d: Buffer | string) => { if (ws.readyState === ws.OPEN) ws.send(frame(ch, d)); };
  const finish = (status: string) => {
    send(CH_ERROR, status);
    ws.close(1000);
  };
  const t = resolveTarget(rt, ns, pod, container);
  if (typeof t === 'string') return finish(errorStatus(t));
  const command = q.getAll('command');
  if (!command.length) return finish(errorStatus('you must specify at least 1 command'));
  const tty = q.get('tty') === '1' || q.get('tty') === 'true';
  // On containerd the runtime execs (CRI Exec, streamed like attach): the command runs as the
  // container's process does, not as a process of the node entering its namespaces.
  if (rt instanceof CriRuntime) {
    metrics.execs.inc();
    return handleAttach({ attach: (uid, c, want) => rt.exec(uid, c, command, tty, want) }, ws, t, q);
  }
  const wantStdin = q.get('stdin') === '1' || q.get('stdin') === 'true';
  let size: { Width: number; Height: number } | undefined;
  let child: ReturnType<typeof spawn> | undefined;
  const pendingStdin: Buffer[] = [];
  let stdinClosed = false;
  metrics.execs.inc();

  ws.on('message', (m: Buffer, isBinary: boolean) => {
    const buf = isBinary ? m : Buffer.from(m);
    if (!buf.length) return;
    const ch = buf[0]!;
    const body = buf.subarray(1);
    if (ch === CH_STDIN) {
      if (child?.stdin) child.stdin.write(body); else pendingStdin.push(body);
    } else if (ch === CH_RESIZE) {
      try { size = JSON.parse(body.toString()) as { Width: number; Height: number }; } catch { /* ignore */ }
    } else if (ch === CH_CLOSE && body[0] === CH_STDIN) {
      stdinClosed = true;
      child?.stdin?.end();
    }
  });
  ws.on('close', () => { if (child && child.exitCode === null) child.kill('SIGKILL'); });

  const start = async () => {
    await rt.waitContainerSetUp(t.uid, t.container);
    if (ws.readyState !== ws.OPEN) return;
    let cmd = command;
    if (tty) {
      // A pseudo-terminal from util-linux script(1); the first resize sets its size.
      const sz = size ? `stty cols ${size.Width} rows ${size.Height} 2>/dev/null; ` : '';
      cmd = ['script', '-q', '-e', '-c', `${sz}exec ${shellQuote(command)}`, '/dev/null'];
    }
    const ex = rt.execArgv(t.uid, t.container, cmd);
    if (!ex) return finish(errorStatus(`container ${t.container} is not running`));
    child = spawn(ex.argv[0]!, ex.argv.slice(1), { env: { ...ex.env, ...(tty ? { TERM: 'xterm' } : {}) }, stdio: ['pipe', 'pipe', 'pipe'] });
    child.stdout!.on('data', (d: Buffer) => send(CH_STDOUT, tty ? d : d));
    child.stderr!.on('data', (d: Buffer) => send(tty ? CH_STDOUT : CH_STDERR, d));
    child.stdin!.on('error', () => undefined);
    for (const b of pendingStdin) child.stdin!.write(b);
    if (!wantStdin || stdinClosed) child.stdin!.end();
    child.on('error', (e) => finish(errorStatus(e.message)));
    child.on('close', (code, sig) => {
      let c = code ?? (sig ? 128 + 9 : 1);
      // nsenter reports a missing command as 127 (sh) or its own error (1) on stderr
      finish(exitStatus(c, command));
      c = 0;
    });
  };
  if (tty) setTimeout(() => void start(), TTY_RESIZE_WAIT_MS); else void start();
}

export async function startServer(rt: PodRuntime, socketPath: string | undefined, healthzPort: number | undefined, health: () => boolean): Promise<KubeletServer> {
  const wss = new WebSocketServer({
    noServer: true,
    handleProtocols: (protocols) => [...SUBPROTOCOLS, PORT_FORWARD_TOKEN].find((p) => protocols.has(p)) ?? false,
  });
  // "SPDY/3.1+portforward.k8s.io" is not an RFC 6455 token ('/'), which ws refuses to parse: the
  // request header is rewritten to a placeholder and the answer back to the name kubectl expects.
  wss.on('headers', (headers) => {
    for (let i = 0; i < headers.length; i++) {
      if (headers[i] === `Sec-WebSocket-Protocol: ${PORT_FORWARD_TOKEN}`) headers[i] = `Sec-WebSocket-Protocol: ${PORT_FORWARD_SUBPROTOCOL}`;
    }
  });
  const route = (req: http.IncomingMessage) => {
    const url = new URL(req.url ?? '/', 'http://kubelet');
    const parts = url.pathname.split('/').filter(Boolean).map(decodeURIComponent);
    return { url, parts };
  };
  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const { url, parts } = route(req);
    if (url.pathname === '/healthz') return text(res, health() ? 200 : 500, health() ? 'ok' : 'not ready');
    if (url.pathname === '/metrics') {
      void metricsText().then((t) => { res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4' }); res.end(t); });
      return;
    }
    if (parts[0] === 'containerLogs' && parts.length >= 3) return serveLogs(rt, req, res, parts[1]!, parts[2]!, parts[3], url.searchParams);
    if (parts[0] === 'pods' && parts.length === 1) {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'PodList', apiVersion: 'v1', items: rt.uids().map((u) => rt.pod(u)).filter(Boolean) }));
      return;
    }
    if (parts[0] === 'exec' || parts[0] === 'portForward' || parts[0] === 'attach') return text(res, 400, 'Upgrade request required');
    text(res, 404, '404 page not found');
  };
  const upgrade = (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
    const { url, parts } = route(req);
    if (parts[0] === 'exec' && parts.length >= 3) {
      wss.handleUpgrade(req, socket, head, (ws) => handleExec(rt, ws, parts[1]!, parts[2]!, parts[3], url.searchParams));
      return;
    }
    if (parts[0] === 'attach' && parts.length >= 3) {
      wss.handleUpgrade(req, socket, head, (ws) => handleAttach(rt instanceof CriRuntime ? rt : undefined, ws, resolveTarget(rt, parts[1]!, parts[2]!, parts[3]), url.searchParams));
      return;
    }
    if (parts[0] === 'portForward' && parts.length >= 3) {
      const proto = req.headers['sec-websocket-protocol'];
      if (typeof proto === 'string') {
        req.headers['sec-websocket-protocol'] = proto.split(',').map((p) => p.trim()).map((p) => (p === PORT_FORWARD_SUBPROTOCOL ? PORT_FORWARD_TOKEN : p)).filter((p) => !p.includes('/')).join(', ');
      }
      wss.handleUpgrade(req, socket, head, (ws) => handlePortForward(rt, ws, parts[1]!, parts[2]!));
      return;
    }
    socket.end('HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n');
  };
  const servers: http.Server[] = [];
  if (socketPath) {
    mkdirSync(dirname(socketPath), { recursive: true });
    if (existsSync(socketPath)) unlinkSync(socketPath);
    const s = http.createServer(handler);
    s.on('upgrade', upgrade);
    await new Promise<void>((r, j) => { s.once('error', j); s.listen(socketPath, () => r()); });
    // exec, attach and logs of every pod on the node: root only.
    chmodSync(socketPath, 0o600);
    servers.push(s);
  }
  if (healthzPort) {
    const s = http.createServer(handler);
    s.on('upgrade', upgrade);
    await new Promise<void>((r) => { s.once('error', () => r()); s.listen(healthzPort, '127.0.0.1', () => r()); });
    servers.push(s);
  }
  return {
    async close() {
      for (const c of wss.clients) c.terminate();
      await Promise.all(servers.map((s) => new Promise<void>((r) => { s.closeAllConnections(); s.close(() => r()); })));
    },
  };
}
