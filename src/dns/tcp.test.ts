/**
 * DNS over TCP under abuse, against the server in a process of its own (testserver.ts): answers
 * nobody reads (memory must stay flat, the connection is closed after the write timeout), slowloris
 * connections (closed after the read timeout even when they trickle bytes), the connection cap
 * (the least recently active connection makes room), the per-connection cap on queries in flight
 * (a slow upstream sees no more than the cap), message length limits and the idle timeout. Valid
 * queries over UDP and fresh TCP connections are answered throughout.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { connect, type Socket } from 'node:net';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { decode, encodeQuery, frame, listenPair, readFramed, spawnServer, tcpAsk, udpAsk, type ServerProcess } from './testdata.js';

const NAME = 'myapp.default.svc.cluster.local';
/** CoreDNS's default read timeout for DNS over TCP (core/dnsserver/server.go). */
const COREDNS_READ_TIMEOUT_MS = 3000;

let nextId = 1;
const query = (): Buffer => encodeQuery(NAME, 'A', { id: (nextId = (nextId + 1) & 0xffff) });
function isMyapp(raw: Buffer | null): boolean {
  if (!raw) return false;
  const r = decode(raw);
  return r.rcode === 'NOERROR' && r.answers?.length === 1 && (r.answers[0] as { data: string }).data === '10.96.3.215';
}

/** Ask over UDP and over a fresh TCP connection every `everyMs` until stop(); every answer must be right. */
function keepAsking(port: number, everyMs = 100): { stop: () => Promise<{ asked: number; wrong: string[] }> } {
  let running = true;
  let asked = 0;
  const wrong: string[] = [];
  const loop = (async () => {
    while (running) {
      const [u, t] = await Promise.all([udpAsk(port, query()), tcpAsk(port, query())]);
      asked++;
      if (!isMyapp(u)) wrong.push(`udp #${asked}: ${u ? decode(u).rcode : 'no answer'}`);
      if (!isMyapp(t)) wrong.push(`tcp #${asked}: ${t ? decode(t).rcode : 'no answer'}`);
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return { async stop() { running = false; await loop; return { asked, wrong }; } };
}

/** Resolves when `p` does; rejects with `what` after ms. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t!: NodeJS.Timeout;
  return Promise.race([p, new Promise<never>((_, rej) => { t = setTimeout(() => rej(new Error(`${what}: not within ${ms} ms`)), ms); })]).finally(() => clearTimeout(t));
}

async function open(port: number): Promise<Socket> {
  const s = connect(port, '127.0.0.1');
  s.on('error', () => {});
  await once(s, 'connect');
  return s;
}

function closed(s: Socket): Promise<number> {
  return s.destroyed ? Promise.resolve(Date.now()) : new Promise((r) => s.once('close', () => r(Date.now())));
}

test('200k pipelined queries whose answers are never read: server memory stays flat, the connection is closed after the write timeout', async (t) => {
  const WRITE_TIMEOUT = 2000;
  const srv = await spawnServer({ tcp: { writeTimeoutMs: WRITE_TIMEOUT } });
  t.after(() => srv.stop());
  assert.ok(isMyapp(await udpAsk(srv.port, query())) && isMyapp(await tcpAsk(srv.port, query())), 'answers before the flood');
  await srv.stats(true);
  srv.resetPeak();
  const base = (await srv.stats()).rss;

  // 200k queries (cluster names: answered at once, from the answer table), ~10 MB, in one write.
  const N = 200_000;
  const templates = [encodeQuery(NAME, 'A'), encodeQuery('svc-nginx.dev.svc.cluster.local', 'A'), encodeQuery('nope.default.svc.cluster.local', 'A')].map(frame);
  const flood = Buffer.allocUnsafe(N * Math.max(...templates.map((q) => q.length)));
  let off = 0;
  for (let i = 0; i < N; i++) {
    const q = templates[i % 3];
    q.copy(flood, off);
    flood.writeUInt16BE(i & 0xffff, off + 2);
    off += q.length;
  }
  const sock = await open(srv.port);
  sock.pause(); // never read an answer
  const gone = closed(sock);
  const asking = keepAsking(srv.port);
  const sentAt = Date.now();
  const drained = new Promise<string>((r) => { if (sock.write(flood.subarray(0, off))) r('drained'); else sock.once('drain', () => r('drained')); });
  // Either the server read everything (our bytes all left: it kept every answer it could not send),
  // or it stopped reading and closed the connection.
  const first = await within(Promise.race([drained, gone.then(() => 'closed')]), 30_000, 'the flood neither read nor closed');
  const { asked, wrong } = await asking.stop();
  assert.ok(isMyapp(await udpAsk(srv.port, query())), 'answering after the flood');
  const peak = (await srv.stats()).hwm;
  t.diagnostic(`server peak RSS ${((peak - base) / 1024).toFixed(1)} MB over the ${(base / 1024).toFixed(1)} MB before the flood; the flood ended: ${first}`);
  assert.deepEqual(wrong, [], 'every query on other connections answered during the flood');
  assert.ok(asked >= 1);
  assert.ok(peak - base < 16 * 1024, `server peak RSS grew by ${((peak - base) / 1024).toFixed(1)} MB during the flood`);
  assert.equal(first, 'closed', 'the server stopped reading the answers nobody reads');
  const closedAt = await gone;
  assert.ok(closedAt - sentAt < WRITE_TIMEOUT + 4000, `closed ${closedAt - sentAt} ms after the flood started`);
  assert.equal((await srv.stats()).tcpConnections, 0);
});

test('slowloris: 500 connections that send a byte and stall, or trickle bytes, are closed at the read timeout; queries are answered throughout', async (t) => {
  const srv = await spawnServer(); // the defaults
  t.after(() => srv.stop());
  const asking = keepAsking(srv.port);
  const conns: { firstByte: number; closed: Promise<number> }[] = [];
  const trickles: NodeJS.Timeout[] = [];
  t.after(() => trickles.forEach(clearInterval));
  await Promise.all(Array.from({ length: 500 }, async (_, i) => {
    // The server's read timeout runs from when it accepts the connection, after this.
    const firstByte = Date.now();
    const s = await open(srv.port);
    const c = closed(s);
    s.write(Buffer.from([0])); // the first byte of a length
    if (i % 2) {
      // the rest of a 64-byte length, then a byte every 400 ms: never a whole message
      s.write(Buffer.from([64]));
      const iv = setInterval(() => { if (!s.destroyed) s.write(Buffer.from([i & 0xff])); }, 400);
      trickles.push(iv);
      void c.then(() => clearInterval(iv));
    }
    conns.push({ firstByte, closed: c });
  }));
  const closedAt = await within(Promise.all(conns.map((c) => c.closed)), COREDNS_READ_TIMEOUT_MS + 5000, 'all 500 closed by the server');
  const { asked, wrong } = await asking.stop();
  const lifetimes = conns.map((c, i) => closedAt[i] - c.firstByte);
  assert.ok(Math.min(...lifetimes) >= COREDNS_READ_TIMEOUT_MS - 50, `closed before the read timeout: ${Math.min(...lifetimes)} ms`);
  assert.ok(Math.max(...lifetimes) <= COREDNS_READ_TIMEOUT_MS + 2500, `closed ${Math.max(...lifetimes)} ms after the first byte`);
  assert.deepEqual(wrong, []);
  assert.ok(asked >= 5, `${asked} rounds of queries during the attack`);
  assert.equal((await srv.stats()).tcpConnections, 0);
});

test('connection cap: a new connection closes the least recently active one; the server never holds more', async (t) => {
  const CAP = 50;
  const srv = await spawnServer({ tcp: { maxConnections: CAP, readTimeoutMs: 60_000, idleTimeoutMs: 60_000 } });
  t.after(() => srv.stop());
  const socks: Socket[] = [];
  for (let i = 0; i < CAP; i++) socks.push(await open(srv.port));
  // The server has accepted them all (a loaded server may still be catching up)...
  while ((await srv.stats()).tcpConnections < CAP) await new Promise((r) => setTimeout(r, 20));
  // ...before connection 0 is used: its query makes it the most recently active.
  const answers: Buffer[] = [];
  socks[0].on('data', (d) => answers.push(d));
  socks[0].write(frame(query()));
  while (!answers.length) await once(socks[0], 'data');
  const closes = socks.map(closed);
  for (let i = 0; i < 20; i++) socks.push(await open(srv.port));
  // The 20 oldest idle connections (1..20) made room, the one in use stayed.
  await within(Promise.all(closes.slice(1, 21)), 5000, 'connections 1..20 closed');
  assert.equal((await srv.stats()).tcpConnections, CAP);
  assert.deepEqual(socks.map((s) => s.destroyed).slice(0, 22), [false, ...Array(20).fill(true), false]);
  assert.ok(isMyapp(await tcpAsk(srv.port, query())), 'a new client is answered at the cap');
  socks[0].write(frame(query()));
  await within(once(socks[0], 'data'), 2000, 'connection 0 still answered');
  assert.ok((await srv.stats()).tcpConnections <= CAP);
  for (const s of socks) s.destroy();
});

test('queries in flight per connection are capped: a slow upstream never sees more than the cap from one connection', async (t) => {
  const CAP = 16, N = 400, DELAY = 40;
  let outstanding = 0, most = 0, seen = 0;
  const answer = (q: Buffer): Buffer => {
    const p = dnsPacket.decode(q);
    return dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: p.questions, answers: [{ type: 'A', name: p.questions![0].name, ttl: 60, data: '192.0.2.7' }] });
  };
  const slow = (q: Buffer, send: (b: Buffer) => void): void => {
    seen++;
    most = Math.max(most, ++outstanding);
    setTimeout(() => { outstanding--; send(answer(q)); }, DELAY);
  };
  const { udp, tcp, port } = await listenPair();
  udp.on('message', (m, ri) => slow(m, (b) => udp.send(b, ri.port, ri.address)));
  tcp.on('connection', (s) => {
    s.on('error', () => {});
    readFramed(s, (q) => slow(q, (b) => { if (!s.destroyed) s.write(frame(b)); }));
  });
  t.after(() => { udp.close(); tcp.close(); });
  const srv = await spawnServer({ upstreams: [`127.0.0.1:${port}`], cacheTTL: 0, tcp: { maxInflight: CAP } });
  t.after(() => srv.stop());

  const sock = await open(srv.port);
  const got = new Map<number, string>();
  readFramed(sock, (m) => {
    const r = decode(m);
    got.set(r.id!, `${r.rcode} ${(r.answers?.[0] as { data?: string } | undefined)?.data}`);
  });
  const all = Buffer.concat(Array.from({ length: N }, (_, i) => frame(encodeQuery(`q${i}.example.com`, 'A', { id: i }))));
  sock.write(all);
  await within((async () => { while (got.size < N) await once(sock, 'data'); })(), 30_000, `${N} forwarded answers`);
  sock.destroy();
  assert.equal(seen, N, 'each question went upstream once');
  assert.deepEqual(new Set(got.values()), new Set(['NOERROR 192.0.2.7']));
  assert.ok(most <= CAP, `${most} queries from one connection were in flight upstream at once`);
});

test('message lengths: a query up to the cap is answered; longer, or zero, closes the connection at once', async (t) => {
  const srv: ServerProcess = await spawnServer({ tcp: { maxMessageBytes: 1024 } });
  t.after(() => srv.stop());
  // EDNS padding (option 12) brings a valid query to exactly the cap.
  const padded = (size: number): Buffer => {
    const q = encodeQuery(NAME, 'A', { id: 9, edns: { udpPayloadSize: 1232 } });
    const pad = size - q.length - 4;
    const opt = Buffer.alloc(4 + pad);
    opt.writeUInt16BE(12, 0);
    opt.writeUInt16BE(pad, 2);
    const out = Buffer.concat([q, opt]);
    out.writeUInt16BE(4 + pad, q.length - 2); // OPT RDLENGTH
    return out;
  };
  const ok = decode((await tcpAsk(srv.port, padded(1024)))!);
  assert.equal(ok.rcode, 'NOERROR');
  assert.equal((ok.answers?.[0] as { data: string }).data, '10.96.3.215');
  for (const bad of [frame(padded(1025)).subarray(0, 100), Buffer.from([0, 0])]) {
    const s = await open(srv.port);
    const start = Date.now();
    s.write(bad);
    const at = await within(closed(s), 2000, `closed after ${bad.readUInt16BE(0)}-byte length`);
    assert.ok(at - start < 1000);
  }
});

test('idle timeout: a connection quiet after its answer is closed after the idle timeout, not before', async (t) => {
  const IDLE = 800;
  const srv = await spawnServer({ tcp: { idleTimeoutMs: IDLE } });
  t.after(() => srv.stop());
  const s = await open(srv.port);
  const c = closed(s);
  s.write(frame(query()));
  await once(s, 'data');
  const answered = Date.now();
  const at = await within(c, IDLE + 3000, 'idle connection closed');
  assert.ok(at - answered >= IDLE - 50 && at - answered <= IDLE + 1500, `closed ${at - answered} ms after the answer`);
});

test('a client that shuts its side after its queries still gets every answer, a forwarded one included, then the server closes', async (t) => {
  const { udp, tcp, port } = await listenPair();
  const answer = (q: Buffer): Buffer => {
    const p = dnsPacket.decode(q);
    return dnsPacket.encode({ type: 'response', id: p.id, flags: dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE, questions: p.questions, answers: [{ type: 'A', name: p.questions![0].name, ttl: 60, data: '192.0.2.9' }] });
  };
  udp.on('message', (m, ri) => setTimeout(() => udp.send(answer(m), ri.port, ri.address), 100));
  tcp.on('connection', (s) => {
    s.on('error', () => {});
    s.on('data', (d) => setTimeout(() => { if (!s.destroyed) s.end(frame(answer(d.subarray(2)))); }, 100));
  });
  t.after(() => { udp.close(); tcp.close(); });
  const srv = await spawnServer({ upstreams: [`127.0.0.1:${port}`] });
  t.after(() => srv.stop());
  const s = await open(srv.port);
  const chunks: Buffer[] = [];
  s.on('data', (d) => chunks.push(d));
  const c = closed(s);
  s.end(Buffer.concat([frame(encodeQuery('www.example.com', 'A', { id: 1 })), frame(encodeQuery(NAME, 'A', { id: 2 }))]));
  await within(c, 5000, 'the server closes after the last answer');
  let buf = Buffer.concat(chunks);
  const got: string[] = [];
  while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
    const r = decode(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    got.push(`${r.id} ${(r.answers?.[0] as { data?: string })?.data}`);
    buf = buf.subarray(2 + buf.readUInt16BE(0));
  }
  assert.deepEqual(got, ['2 10.96.3.215', '1 192.0.2.9']);
});
