/**
 * @module kubelet/probes
 * One probe attempt (httpGet, tcpSocket, exec, grpc) with its timeout. HTTP and TCP
 * probes go from the node to the pod IP like the kubelet's; when the node agent itself is not
 * inside the node's network namespace (tests), they run through `ip netns exec <node> curl`.
 */
import net from 'node:net';
import http from 'node:http';
import http2 from 'node:http2';
import type { Probe } from '../api/types.js';
import { run } from '../net/exec.js';

export interface ProbeResult { ok: boolean; message: string }

export interface ProbeTarget {
  podIP: string;
  /** Resolve a named container port. */
  port(p: number | string | undefined): number;
  /** Run a command in the container (exec probes). */
  exec(cmd: string[], timeoutMs: number): Promise<{ code: number; output: string }>;
  nodeNetns?: string;
}

function httpProbe(url: string, headers: Record<string, string>, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const req = http.get(url, { headers: { 'User-Agent': 'kube-probe/1.32', Accept: '*/*', ...headers }, timeout: timeoutMs }, (res) => {
      res.resume();
      const code = res.statusCode ?? 0;
      resolve(code >= 200 && code < 400 ? { ok: true, message: '' } : { ok: false, message: `HTTP probe failed with statuscode: ${code}` });
    });
    req.on('timeout', () => { req.destroy(); resolve({ ok: false, message: `Get "${url}": context deadline exceeded (Client.Timeout exceeded while awaiting headers)` }); });
    req.on('error', (e) => resolve({ ok: false, message: `Get "${url}": ${e.message.replace(/^connect /, 'dial tcp ').replace(/ECONNREFUSED.*/, 'connect: connection refused')}` }));
  });
}

/** grpc.health.v1 HealthCheckResponse.ServingStatus names. */
const SERVING_STATUS = ['UNKNOWN', 'SERVING', 'NOT_SERVING', 'SERVICE_UNKNOWN'];

function varint(n: number): Buffer {
  const out: number[] = [];
  while (n > 0x7f) { out.push((n & 0x7f) | 0x80); n >>>= 7; }
  out.push(n);
  return Buffer.from(out);
}

/**
 * The gRPC health check the kubelet's grpc probe makes (pkg/probe/grpc): a unary
 * /grpc.health.v1.Health/Check over cleartext HTTP/2, SERVING or not, in upstream's words.
 */
export function grpcProbe(host: string, port: number, service: string, timeoutMs: number): Promise<ProbeResult> {
  const target = `${host}:${port}`;
  const within = `${timeoutMs / 1000}s`;
  return new Promise((resolve) => {
    let done = false;
    const finish = (r: ProbeResult) => { if (done) return; done = true; clearTimeout(timer); client.destroy(); resolve(r); };
    const client = http2.connect(`http://${target}`);
    let connected = false;
    client.on('connect', () => { connected = true; });
    const timer = setTimeout(() => finish({ ok: false, message: connected ? `timeout: health rpc did not complete within ${within}` : `timeout: failed to connect service "${target}" within ${within}: context deadline exceeded` }), timeoutMs);
    client.on('error', (e) => finish({ ok: false, message: `timeout: failed to connect service "${target}" within ${within}: ${e.message}` }));
    const msg = service ? Buffer.concat([Buffer.from([0x0a]), varint(Buffer.byteLength(service)), Buffer.from(service)]) : Buffer.alloc(0);
    const head = Buffer.alloc(5);
    head.writeUInt32BE(msg.length, 1);
    const req = client.request({ ':method': 'POST', ':path': '/grpc.health.v1.Health/Check', 'content-type': 'application/grpc', te: 'trailers', 'user-agent': 'kube-probe/1.32' });
    const chunks: Buffer[] = [];
    let grpcStatus: string | undefined;
    let grpcMessage = '';
    const meta = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) grpcStatus = String(h['grpc-status']);
      if (h['grpc-message'] !== undefined) grpcMessage = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', meta);
    req.on('trailers', meta);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('error', (e) => finish({ ok: false, message: connected ? `error: health rpc probe failed: ${e.message}` : `timeout: failed to connect service "${target}" within ${within}: ${e.message}` }));
    req.on('end', () => {
      if (grpcStatus && grpcStatus !== '0') return finish({ ok: false, message: `error: health rpc probe failed: rpc error: code = ${grpcStatus} desc = ${grpcMessage}` });
      const body = Buffer.concat(chunks).subarray(5);
      // HealthCheckResponse { status = 1 (enum) }: absent means UNKNOWN.
      const status = body[0] === 0x08 ? body[1] ?? 0 : 0;
      if (status === 1) return finish({ ok: true, message: '' });
      finish({ ok: false, message: `service unhealthy (responded with "${SERVING_STATUS[status] ?? String(status)}")` });
    });
    req.end(Buffer.concat([head, msg]));
  });
}

function tcpProbe(host: string, port: number, timeoutMs: number): Promise<ProbeResult> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port, timeout: timeoutMs });
    s.on('connect', () => { s.destroy(); resolve({ ok: true, message: '' }); });
    s.on('timeout', () => { s.destroy(); resolve({ ok: false, message: `dial tcp ${host}:${port}: i/o timeout` }); });
    s.on('error', () => resolve({ ok: false, message: `dial tcp ${host}:${port}: connect: connection refused` }));
  });
}

export async function runProbe(p: Probe, t: ProbeTarget): Promise<ProbeResult> {
  const timeoutMs = (p.timeoutSeconds ?? 1) * 1000;
  if (p.exec) {
    const r = await t.exec(p.exec.command ?? [], timeoutMs);
    return r.code === 0 ? { ok: true, message: '' } : { ok: false, message: r.output.trim() || `command ${JSON.stringify(p.exec.command)} exited with ${r.code}` };
  }
  if (p.httpGet) {
    const host = p.httpGet.host || t.podIP;
    const port = t.port(p.httpGet.port);
    const scheme = (p.httpGet.scheme ?? 'HTTP').toLowerCase();
    const path = p.httpGet.path ?? '/';
    const url = `${scheme}://${host}:${port}${path.startsWith('/') ? path : `/${path}`}`;
    const headers = Object.fromEntries((p.httpGet.httpHeaders ?? []).map((h) => [h.name, h.value]));
    if (t.nodeNetns) {
      const r = await run(['curl', '-sk', '-o', '/dev/null', '-w', '%{http_code}', '-m', String(timeoutMs / 1000), ...Object.entries(headers).flatMap(([k, v]) => ['-H', `${k}: ${v}`]), url], { netns: t.nodeNetns, allowFail: true });
      const code = Number(r.stdout.trim());
      if (code >= 200 && code < 400) return { ok: true, message: '' };
      return { ok: false, message: code ? `HTTP probe failed with statuscode: ${code}` : `Get "${url}": dial tcp ${host}:${port}: connect: connection refused` };
    }
    return httpProbe(url, headers, timeoutMs);
  }
  if (p.grpc && !t.nodeNetns) return grpcProbe(t.podIP, p.grpc.port, p.grpc.service ?? '', timeoutMs);
  const tcp = p.tcpSocket ?? (p.grpc ? { port: p.grpc.port, host: undefined } : undefined);
  if (tcp) {
    const host = tcp.host || t.podIP;
    const port = t.port(tcp.port);
    if (t.nodeNetns) {
      // A connect from inside the node's namespace with what every Debian has (bash's /dev/tcp,
      // coreutils' timeout), not netcat, which is not always installed.
      const r = await run(['timeout', String(Math.max(1, timeoutMs / 1000)), 'bash', '-c', 'exec 3<>"/dev/tcp/$0/$1"', host, String(port)], { netns: t.nodeNetns, allowFail: true });
      return r.code === 0 ? { ok: true, message: '' } : { ok: false, message: `dial tcp ${host}:${port}: connect: connection refused` };
    }
    return tcpProbe(host, port, timeoutMs);
  }
  return { ok: true, message: '' };
}
