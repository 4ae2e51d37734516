/**
 * Forwarding against a real upstream on loopback (a small dns-packet server over UDP and TCP):
 * relaying, 0x20, caching (positive and negative, TTLs counting down), TCP and TC retry,
 * failover, a dead upstream answered SERVFAIL fast, the concurrency cap, ExternalName targets and
 * reverse names falling through, upstream answers that do not parse.
 */
import assert from 'node:assert/strict';
import { createSocket, type Socket } from 'node:dgram';
import { createServer, type Server } from 'node:net';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { ResponseCache } from '../cache/cache.js';
import { DnsHandler } from '../handler.js';
import { askRaw, decode, encodeQuery, lines, testIndex } from '../testdata.js';
import { Forwarder } from './forward.js';
import { DnsMetrics } from '../metrics.js';

interface Upstream { port: number; queries: { name: string; type: string; tcp: boolean }[]; delayMs: number; close(): Promise<void> }

/** A resolver for example.com: A for www/my.database, NXDOMAIN otherwise; big.example.com truncates over UDP. */
function answer(q: dnsPacket.DecodedPacket, tcp: boolean): Buffer {
  const question = q.questions![0];
  const name = question.name.toLowerCase();
  const known: Record<string, string> = { 'www.example.com': '192.0.2.10', 'my.database.example.com': '192.0.2.20' };
  const soa = { name: 'example.com', type: 'SOA', ttl: 60, class: 'IN', data: { mname: 'ns.example.com', rname: 'hostmaster.example.com', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 10 } };
  let answers: any[] = [];
  let rcode = 'NXDOMAIN';
  let flags = dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE;
  if (known[name] && question.type === 'A') { answers = [{ name: question.name, type: 'A', ttl: 120, class: 'IN', data: known[name] }]; rcode = 'NOERROR'; }
  if (name === 'big.example.com') {
    rcode = 'NOERROR';
    if (tcp) answers = Array.from({ length: 100 }, (_, i) => ({ name: question.name, type: 'A', ttl: 120, class: 'IN', data: `198.51.100.${i}` }));
    else flags |= dnsPacket.TRUNCATED_RESPONSE;
  }
  // dns-packet takes the rcode from the low bits of flags
  if (rcode === 'NXDOMAIN') flags |= 3;
  return dnsPacket.encode({ type: 'response', id: q.id, flags, questions: q.questions, answers, authorities: answers.length || rcode === 'NOERROR' ? [] : [soa] } as any);
}

/** `mangle` rewrites every answer before it is sent. */
async function startUpstream(opts: { silent?: boolean; mangle?: (a: Buffer) => Buffer } = {}): Promise<Upstream> {
  const mangle = opts.mangle ?? ((a: Buffer) => a);
  const u: Upstream = { port: 0, queries: [], delayMs: 0, close: async () => {} };
  const udp: Socket = createSocket('udp4');
  udp.on('message', (m, r) => {
    const q = decode(m);
    u.queries.push({ name: q.questions![0].name, type: q.questions![0].type, tcp: false });
    if (opts.silent) return;
    setTimeout(() => udp.send(mangle(answer(q, false)), r.port, r.address), u.delayMs);
  });
  await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
  u.port = udp.address().port;
  const tcp: Server = createServer((s) => {
    s.on('error', () => {});
    s.on('data', (d) => {
      const q = decode(d.subarray(2));
      u.queries.push({ name: q.questions![0].name, type: q.questions![0].type, tcp: true });
      const a = mangle(answer(q, true));
      const len = Buffer.alloc(2); len.writeUInt16BE(a.length);
      s.end(Buffer.concat([len, a]));
    });
  });
  await new Promise<void>((r) => tcp.listen(u.port, '127.0.0.1', () => r()));
  u.close = () => new Promise<void>((r) => { udp.close(); tcp.close(() => r()); });
  return u;
}

function setup(upstreamPorts: number[], opts: { now?: () => number; timeoutMs?: number; maxConcurrent?: number } = {}) {
  const forwarder = new Forwarder({ upstreams: upstreamPorts.map((port) => ({ host: '127.0.0.1', port })), timeoutMs: opts.timeoutMs, maxConcurrent: opts.maxConcurrent });
  const cache = new ResponseCache({ now: opts.now });
  const handler = new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: testIndex(), forwarder, cache });
  return { forwarder, cache, handler };
}

test('relays other names upstream: answer, client ID, client spelling, RA from upstream; then cached with TTL counting down', async (t) => {
  const up = await startUpstream();
  let now = 1_000_000;
  const { handler, forwarder, cache } = setup([up.port], { now: () => now });
  t.after(async () => { forwarder.close(); await up.close(); });
  const r = decode((await askRaw(handler, encodeQuery('WWW.Example.com', 'A', { id: 31 })))!);
  assert.equal(r.id, 31);
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.questions?.[0].name, 'WWW.Example.com');
  assert.deepEqual(lines(r.answers), ['WWW.Example.com 30 A 192.0.2.10'].map((s) => s.replace(' 30 ', ' 120 ')));
  assert.ok(r.flags! & dnsPacket.RECURSION_AVAILABLE);
  assert.equal(up.queries.length, 1);

  now += 7000;
  const c = decode((await askRaw(handler, encodeQuery('www.example.com', 'A', { id: 32 })))!);
  assert.equal(c.id, 32);
  assert.equal(c.questions?.[0].name, 'www.example.com');
  // capped at 30 s by the cache, 7 s elapsed
  assert.deepEqual(lines(c.answers), ['WWW.Example.com 23 A 192.0.2.10']);
  assert.equal(up.queries.length, 1, 'served from the cache');
  assert.equal(cache.hits.success, 1);

  now += 30_000;
  await askRaw(handler, encodeQuery('www.example.com', 'A'));
  assert.equal(up.queries.length, 2, 'expired entries are fetched again');
});

test('negative answers are cached for the SOA minimum', async (t) => {
  const up = await startUpstream();
  let now = 5_000_000;
  const { handler, forwarder, cache } = setup([up.port], { now: () => now });
  t.after(async () => { forwarder.close(); await up.close(); });
  const r = decode((await askRaw(handler, encodeQuery('nothing.example.com', 'A')))!);
  assert.equal(r.rcode, 'NXDOMAIN');
  assert.equal(r.authorities?.[0].type, 'SOA');
  await askRaw(handler, encodeQuery('nothing.example.com', 'A'));
  assert.equal(up.queries.length, 1);
  assert.equal(cache.hits.denial, 1);
  now += 11_000; // minimum 10
  await askRaw(handler, encodeQuery('nothing.example.com', 'A'));
  assert.equal(up.queries.length, 2);
});

test('TCP clients are forwarded over TCP; UDP answers truncated upstream are fetched again over TCP', async (t) => {
  const up = await startUpstream();
  const { handler, forwarder } = setup([up.port]);
  t.after(async () => { forwarder.close(); await up.close(); });
  const tcp = decode((await askRaw(handler, encodeQuery('big.example.com', 'A'), true))!);
  assert.equal(tcp.answers?.length, 100);
  assert.deepEqual(up.queries.map((q) => q.tcp), [true]);
  // over UDP the client gets TC (the full answer does not fit 512 bytes) and the upstream saw UDP then TCP
  const udp = (await askRaw(handler, encodeQuery('big.example.com', 'A', { id: 2 })))!;
  assert.ok(udp.length <= 512);
  assert.ok(decode(udp).flags! & dnsPacket.TRUNCATED_RESPONSE);
});

test('a dead upstream is answered SERVFAIL within the 2 s deadline; a live second upstream takes over', async (t) => {
  const dead = await startUpstream({ silent: true });
  const live = await startUpstream();
  t.after(async () => { await dead.close(); await live.close(); });
  const one = setup([dead.port]);
  t.after(() => one.forwarder.close());
  const start = Date.now();
  const r = decode((await askRaw(one.handler, encodeQuery('www.example.com', 'A', { id: 77 }), false, 5000))!);
  const took = Date.now() - start;
  assert.equal(r.rcode, 'SERVFAIL');
  assert.equal(r.id, 77);
  assert.ok(took >= 1900 && took < 2600, `took ${took} ms`);
  assert.ok(dead.queries.length >= 2, 'retried within the deadline');

  const two = setup([dead.port, live.port]);
  t.after(() => two.forwarder.close());
  const ok = decode((await askRaw(two.handler, encodeQuery('www.example.com', 'A'), false, 5000))!);
  assert.equal(ok.rcode, 'NOERROR');
});

test('over max_concurrent queries in flight: REFUSED', async (t) => {
  const up = await startUpstream();
  up.delayMs = 300;
  const { handler, forwarder } = setup([up.port], { maxConcurrent: 1 });
  t.after(async () => { forwarder.close(); await up.close(); });
  const [a, b] = await Promise.all([
    askRaw(handler, encodeQuery('www.example.com', 'A')),
    askRaw(handler, encodeQuery('my.database.example.com', 'A')),
  ]);
  assert.equal(decode(a!).rcode, 'NOERROR');
  assert.equal(decode(b!).rcode, 'REFUSED');
});

test('ExternalName outside the zone: CNAME plus the upstream records of the target', async (t) => {
  const up = await startUpstream();
  const { handler, forwarder } = setup([up.port]);
  t.after(async () => { forwarder.close(); await up.close(); });
  const r = decode((await askRaw(handler, encodeQuery('ext.default.svc.cluster.local', 'A')))!);
  assert.equal(r.rcode, 'NOERROR');
  assert.ok(r.flags! & dnsPacket.AUTHORITATIVE_ANSWER);
  assert.deepEqual(lines(r.answers), ['ext.default.svc.cluster.local 30 CNAME my.database.example.com', 'my.database.example.com 120 A 192.0.2.20']);
});

test('reverse names we do not know fall through upstream; ours are answered here', async (t) => {
  const up = await startUpstream();
  const { handler, forwarder } = setup([up.port]);
  t.after(async () => { forwarder.close(); await up.close(); });
  const r = decode((await askRaw(handler, encodeQuery('9.9.9.10.in-addr.arpa', 'PTR')))!);
  assert.equal(r.rcode, 'NXDOMAIN');
  assert.deepEqual(up.queries.map((q) => q.name), ['9.9.9.10.in-addr.arpa']);
  const ours = decode((await askRaw(handler, encodeQuery('215.3.96.10.in-addr.arpa', 'PTR')))!);
  assert.deepEqual(lines(ours.answers), ['215.3.96.10.in-addr.arpa 30 PTR myapp.default.svc.cluster.local']);
  assert.equal(up.queries.length, 1);
});

test('forward and cache metrics under CoreDNS names', async (t) => {
  const up = await startUpstream();
  const dead = await startUpstream({ silent: true });
  const forwarder = new Forwarder({ upstreams: [{ host: '127.0.0.1', port: up.port }] });
  const cache = new ResponseCache();
  const metrics = new DnsMetrics('dns://:53', { cache, forwarder, processMetrics: false });
  const handler = new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: testIndex(), forwarder, cache, metrics });
  t.after(async () => { forwarder.close(); await up.close(); await dead.close(); });
  await askRaw(handler, encodeQuery('www.example.com', 'A'));
  await askRaw(handler, encodeQuery('www.example.com', 'A'));
  await askRaw(handler, encodeQuery('nothing.example.com', 'A'));
  const text = await metrics.text();
  const to = `127.0.0.1:${up.port}`;
  assert.match(text, new RegExp(`coredns_forward_requests_total\\{to="${to}"\\} 2`));
  assert.match(text, new RegExp(`coredns_forward_responses_total\\{to="${to}",rcode="NOERROR"\\} 1`));
  assert.match(text, new RegExp(`coredns_forward_responses_total\\{to="${to}",rcode="NXDOMAIN"\\} 1`));
  assert.match(text, new RegExp(`coredns_proxy_request_duration_seconds_count\\{proxy_name="forward",to="${to}",rcode="NOERROR"\\} 1`));
  assert.match(text, /coredns_cache_hits_total\{server="dns:\/\/:53",type="success",zones="\.",view=""\} 1/);
  assert.match(text, /coredns_cache_misses_total\{server="dns:\/\/:53",zones="\.",view=""\} 2/);
  assert.match(text, /coredns_cache_entries\{server="dns:\/\/:53",type="denial",zones="\.",view=""\} 1/);
  assert.match(text, /coredns_dns_responses_total\{server="dns:\/\/:53",zone="\.",view="",rcode="NOERROR",plugin=""\} 2/);
});

test('identical questions in flight share one upstream query; each client gets its own ID and spelling', async (t) => {
  const up = await startUpstream();
  up.delayMs = 100;
  const { handler, forwarder } = setup([up.port]);
  t.after(async () => { forwarder.close(); await up.close(); });
  const [a, b] = await Promise.all([
    askRaw(handler, encodeQuery('www.example.com', 'A', { id: 1 })),
    askRaw(handler, encodeQuery('WWW.EXAMPLE.COM', 'A', { id: 2 })),
  ]);
  assert.equal(up.queries.length, 1);
  const da = decode(a!), db = decode(b!);
  assert.deepEqual([da.id, da.questions?.[0].name, (da.answers?.[0] as any).data], [1, 'www.example.com', '192.0.2.10']);
  assert.deepEqual([db.id, db.questions?.[0].name, (db.answers?.[0] as any).data], [2, 'WWW.EXAMPLE.COM', '192.0.2.10']);
});

test('an upstream answer that does not parse is no answer (SERVFAIL, as CoreDNS fails to unpack it); bytes past the last record are not relayed', async (t) => {
  const counts = await startUpstream({ mangle: (a) => { const b = Buffer.from(a); b.writeUInt16BE(b.readUInt16BE(6) + 5, 6); return b; } });
  const loop = await startUpstream({ mangle: (a) => Buffer.concat([a.subarray(0, 6), Buffer.from([0, 1, 0, 0, 0, 0]), a.subarray(12, 33), Buffer.from([0xc0, 33, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 1, 2, 3, 4])]) });
  const tail = await startUpstream({ mangle: (a) => Buffer.concat([a, Buffer.from('junk after the records')]) });
  t.after(async () => { await counts.close(); await loop.close(); await tail.close(); });
  for (const up of [counts, loop]) {
    const { handler, forwarder } = setup([up.port], { timeoutMs: 600 });
    t.after(() => forwarder.close());
    for (const tcp of [false, true]) {
      const raw = (await askRaw(handler, encodeQuery('www.example.com', 'A', { id: 5 }), tcp, 3000))!;
      const r = decode(raw);
      assert.equal(r.rcode, 'SERVFAIL', `${tcp ? 'TCP' : 'UDP'}: ${raw.toString('hex')}`);
      assert.equal(r.answers?.length, 0);
    }
    assert.ok(up.queries.length >= 2, 'the upstream was asked');
  }
  const { handler, forwarder } = setup([tail.port]);
  t.after(() => forwarder.close());
  const raw = (await askRaw(handler, encodeQuery('www.example.com', 'A', { id: 6 })))!;
  assert.deepEqual(lines(decode(raw).answers), ['www.example.com 120 A 192.0.2.10']);
  assert.ok(!raw.includes('junk'), 'relayed without the trailing bytes');
});
