/**
 * @module images/programs/agnhost/grpc
 * `agnhost grpc-health-checking`: the gRPC health protocol (grpc.health.v1.Health/Check) over
 * HTTP/2 cleartext (or TLS with --tls-cert-file), hand-encoded: SERVING for the first
 * --delay-unhealthy-sec seconds (always, when negative), NOT_SERVING after; NOT_FOUND "unknown
 * service" for another service name; Watch is Unimplemented. An HTTP server on --http-port flips
 * the answer with /make-not-serving and /make-serving, which answer the time since start.
 */
import { readFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import { type CommandDef, durationString, fatalf, httpError, logf, send } from './go.js';

export const GRPC_HEALTH: CommandDef = {
  use: 'grpc-health-checking', short: 'Starts a simple grpc health checking endpoint', args: { max: 0 },
  flags: {
    port: { type: 'int', def: '5000', usage: 'Port number.' },
    'http-port': { type: 'int', def: '8080', usage: 'Port number for the /make-serving and /make-not-serving.' },
    'delay-unhealthy-sec': { type: 'int', def: '-1', usage: 'Number of seconds to delay before start reporting NOT_SERVING, negative value indicates never.' },
    service: { type: 'string', def: '', usage: 'Service name to register the health check for.' },
    'tls-cert-file': { type: 'string', def: '', usage: 'File containing an x509 certificate for gRPC TLS. (CA cert, if any, concatenated after server cert)' },
    'tls-private-key-file': { type: 'string', def: '', usage: 'File containing an x509 private key matching --tls-cert-file' },
  },
};

/** grpc.health.v1.HealthCheckResponse.ServingStatus */
export const SERVING = 1, NOT_SERVING = 2;
/** gRPC status codes used here. */
const NOT_FOUND = 5, UNIMPLEMENTED = 12, INTERNAL = 13;

function varint(buf: Buffer, pos: number): [number, number] {
  let v = 0, shift = 0;
  for (;;) {
    if (pos >= buf.length) throw new Error('truncated varint');
    const b = buf[pos++]!;
    v += (b & 0x7f) * 2 ** shift;
    if (!(b & 0x80)) return [v, pos];
    shift += 7;
    if (shift > 63) throw new Error('varint overflow');
  }
}

/** HealthCheckRequest { string service = 1; }; unknown fields skipped. */
export function decodeHealthCheckRequest(msg: Buffer): string {
  let pos = 0, service = '';
  while (pos < msg.length) {
    let key: number;
    [key, pos] = varint(msg, pos);
    const field = Math.floor(key / 8), wire = key & 7;
    if (wire === 0) [, pos] = varint(msg, pos);
    else if (wire === 1) pos += 8;
    else if (wire === 5) pos += 4;
    else if (wire === 2) {
      let len: number;
      [len, pos] = varint(msg, pos);
      if (pos + len > msg.length) throw new Error('truncated field');
      if (field === 1) service = msg.subarray(pos, pos + len).toString();
      pos += len;
    } else throw new Error(`bad wire type ${wire}`);
    if (pos > msg.length) throw new Error('truncated field');
  }
  return service;
}

/** A length-prefixed gRPC message carrying HealthCheckResponse { ServingStatus status = 1; }. */
export function encodeHealthCheckResponse(status: number): Buffer {
  const msg = Buffer.from([0x08, status]);
  const frame = Buffer.alloc(5 + msg.length);
  frame.writeUInt32BE(msg.length, 1);
  msg.copy(frame, 5);
  return frame;
}

const grpcMessage = (s: string) => s.replace(/[^\x20-\x24\x26-\x7e]/g, (c) => [...Buffer.from(c)].map((b) => `%${b.toString(16).toUpperCase().padStart(2, '0')}`).join(''));

export function runGrpcHealthChecking(flags: Record<string, string>): void {
  const started = performance.now();
  const port = Number(flags.port), httpPort = Number(flags['http-port']), delay = Number(flags['delay-unhealthy-sec']);
  const service = flags.service!;
  let forceUnhealthy: boolean | undefined;

  http.createServer((req, res) => {
    req.resume();
    const path = new URL(req.url ?? '/', 'http://localhost').pathname;
    const since = () => durationString((performance.now() - started) * 1e6);
    if (path === '/make-not-serving') { logf('Mark as unhealthy'); forceUnhealthy = true; send(res, 200, since()); }
    else if (path === '/make-serving') { logf('Mark as healthy'); forceUnhealthy = false; send(res, 200, since()); }
    else httpError(res, '404 page not found', 404);
  }).on('error', (e: Error) => fatalf(`listen tcp :${httpPort}: ${e.message}`)).listen(httpPort, () => logf(`Http server starting to listen on :${httpPort}`));

  const onStream = (stream: http2.ServerHttp2Stream, headers: http2.IncomingHttpHeaders) => {
    const status = (code: number, message: string) => {
      stream.respond({ ':status': 200, 'content-type': 'application/grpc', 'grpc-status': String(code), 'grpc-message': grpcMessage(message) }, { endStream: true });
    };
    stream.on('error', () => undefined);
    if (!String(headers['content-type'] ?? '').startsWith('application/grpc')) {
      stream.respond({ ':status': 415, 'content-type': 'text/plain; charset=utf-8' });
      stream.end(`invalid gRPC request content-type ${JSON.stringify(headers['content-type'] ?? '')}`);
      return;
    }
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const path = String(headers[':path'] ?? '');
      const m = /^\/([^/]+)\/([^/]+)$/.exec(path);
      if (!m) { status(UNIMPLEMENTED, `malformed method name: ${JSON.stringify(path)}`); return; }
      if (m[1] !== 'grpc.health.v1.Health') { status(UNIMPLEMENTED, `unknown service ${m[1]}`); return; }
      if (m[2] === 'Watch') { status(UNIMPLEMENTED, 'unimplemented'); return; }
      if (m[2] !== 'Check') { status(UNIMPLEMENTED, `unknown method ${m[2]} for service grpc.health.v1.Health`); return; }
      const body = Buffer.concat(chunks);
      let req: string;
      try {
        if (body.length < 5 || body[0] !== 0 || body.readUInt32BE(1) !== body.length - 5) throw new Error('bad frame');
        req = decodeHealthCheckRequest(body.subarray(5));
      } catch (e) { status(INTERNAL, `grpc: error unmarshalling request: ${(e as Error).message}`); return; }
      logf(`Serving the Check request for health check, started at ${new Date(performance.timeOrigin + started).toISOString()}`);
      if (req !== service) { status(NOT_FOUND, 'unknown service'); return; }
      const secs = (performance.now() - started) / 1000;
      const st = forceUnhealthy === true || (delay >= 0 && secs >= delay) ? NOT_SERVING : SERVING;
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0', 'grpc-message': '' }));
      stream.end(encodeHealthCheckResponse(st));
    });
  };

  const server = flags['tls-cert-file']
    ? http2.createSecureServer({ cert: readFileSync(flags['tls-cert-file']), key: readFileSync(flags['tls-private-key-file']!) })
    : http2.createServer();
  server.on('stream', onStream);
  server.on('error', (e: Error) => fatalf(`Error while starting the listening service listen tcp :${port}: ${e.message}`));
  server.listen(port, () => logf(`gRPC server starting to listen on :${port}`));
}
