/**
 * The grpc probe against a health server on loopback: SERVING passes, NOT_SERVING and an unknown
 * service fail with the kubelet's words, a closed port fails to connect, a silent server times out.
 */
import assert from 'node:assert/strict';
import http2 from 'node:http2';
import net from 'node:net';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { grpcProbe } from './probes.js';

let server: http2.Http2Server;
let port = 0;
let silent: net.Server;
let silentPort = 0;

/** grpc.health.v1.Health/Check answering by service name: "" and "web" SERVING, "db" NOT_SERVING, others NOT_FOUND. */
before(async () => {
  server = http2.createServer();
  server.on('stream', (stream, headers) => {
    const chunks: Buffer[] = [];
    stream.on('data', (c: Buffer) => chunks.push(c));
    stream.on('end', () => {
      const msg = Buffer.concat(chunks).subarray(5);
      const service = msg.length ? msg.subarray(2, 2 + msg[1]!).toString() : '';
      assert.equal(headers[':path'], '/grpc.health.v1.Health/Check');
      stream.respond({ ':status': 200, 'content-type': 'application/grpc' }, { waitForTrailers: true });
      if (service === 'web' || service === '' || service === 'db') {
        const body = Buffer.from([0x08, service === 'db' ? 2 : 1]);
        const head = Buffer.alloc(5);
        head.writeUInt32BE(body.length, 1);
        stream.write(Buffer.concat([head, body]));
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '0' }));
      } else {
        stream.on('wantTrailers', () => stream.sendTrailers({ 'grpc-status': '5', 'grpc-message': 'unknown service' }));
      }
      stream.end();
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  port = (server.address() as AddressInfo).port;
  silent = net.createServer(() => undefined); // accepts, never speaks HTTP/2
  await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
  silentPort = (silent.address() as AddressInfo).port;
});
after(() => { server.close(); silent.close(); });

describe('grpc probe', () => {
  it('SERVING passes; NOT_SERVING and an unknown service fail as the kubelet words them', async () => {
    assert.deepEqual(await grpcProbe('127.0.0.1', port, '', 1000), { ok: true, message: '' });
    assert.deepEqual(await grpcProbe('127.0.0.1', port, 'web', 1000), { ok: true, message: '' });
    assert.deepEqual(await grpcProbe('127.0.0.1', port, 'db', 1000), { ok: false, message: 'service unhealthy (responded with "NOT_SERVING")' });
    assert.deepEqual(await grpcProbe('127.0.0.1', port, 'other', 1000), { ok: false, message: 'error: health rpc probe failed: rpc error: code = 5 desc = unknown service' });
  });
  it('a closed port and a server that never answers fail within the timeout', async () => {
    const closed = net.createServer();
    await new Promise<void>((r) => closed.listen(0, '127.0.0.1', r));
    const closedPort = (closed.address() as AddressInfo).port;
    await new Promise<void>((r) => closed.close(() => r()));
    const refused = await grpcProbe('127.0.0.1', closedPort, '', 1000);
    assert.equal(refused.ok, false);
    assert.match(refused.message, new RegExp(`^timeout: failed to connect service "127\\.0\\.0\\.1:${closedPort}" within 1s: .*ECONNREFUSED`));
    const t0 = Date.now();
    const hung = await grpcProbe('127.0.0.1', silentPort, '', 300);
    assert.equal(hung.ok, false);
    assert.match(hung.message, /^timeout: /);
    assert.ok(Date.now() - t0 < 3000);
  });
});
