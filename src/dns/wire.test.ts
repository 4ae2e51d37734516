/**
 * Packet-level behaviour: EDNS0 (echo, size clamp, BADVERS), truncation over UDP and whole answers
 * over TCP, 0x20 case preservation, and malformed input (FORMERR or silence, never a crash).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { DnsHandler } from './handler.js';
import { askRaw, decode, encodeQuery, service, slice, testIndex } from './testdata.js';

function handler(): DnsHandler {
  const idx = testIndex();
  // A headless Service with 60 ready endpoints: 60 A records do not fit 512 bytes.
  idx.upsertService(service('dev', 'big', 'None', [{ name: 'web', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'big', 'big-1', Array.from({ length: 60 }, (_, i) => ({ ip: `10.244.3.${i + 1}` })), [{ name: 'web', port: 80 }]));
  return new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: idx });
}

const opt = (p: dnsPacket.DecodedPacket): any => p.additionals?.find((r) => r.type === 'OPT');

test('EDNS0: the OPT record is echoed with the client buffer size (clamped to 512..4096); none without EDNS', async () => {
  const h = handler();
  for (const [asked, echoed] of [[1232, 1232], [100, 512], [65000, 4096]]) {
    const r = decode((await askRaw(h, encodeQuery('myapp.default.svc.cluster.local', 'A', { edns: { udpPayloadSize: asked } })))!);
    assert.equal(r.rcode, 'NOERROR');
    assert.equal(opt(r)?.udpPayloadSize, echoed);
    assert.equal(r.additionals?.length, 1);
  }
  const plain = decode((await askRaw(h, encodeQuery('myapp.default.svc.cluster.local', 'A')))!);
  assert.equal(opt(plain), undefined);
  // negative answers carry OPT too
  const nx = decode((await askRaw(h, encodeQuery('nope.default.svc.cluster.local', 'A', { edns: {} })))!);
  assert.equal(nx.rcode, 'NXDOMAIN');
  assert.ok(opt(nx));
});

test('EDNS0 version > 0 is answered BADVERS (extended rcode 16) with OPT version 0', async () => {
  const h = handler();
  const raw = (await askRaw(h, encodeQuery('myapp.default.svc.cluster.local', 'A', { edns: { version: 1 } })))!;
  const r = decode(raw);
  assert.equal(raw[3] & 0xf, 0, 'low rcode bits');
  const o = opt(r);
  assert.ok(o, 'OPT present');
  // extended rcode = OPT TTL high byte: 16 >> 4 = 1
  const optAt = raw.length - 11;
  assert.equal(raw.readUInt16BE(optAt + 1), 41);
  assert.equal(raw[optAt + 5], 1);
  assert.equal(raw[optAt + 6], 0);
  assert.equal(r.answers?.length, 0);
});

test('UDP answers over 512 bytes (no EDNS) are cut at a record boundary with TC; TCP and EDNS get them whole', async () => {
  const h = handler();
  const udp = (await askRaw(h, encodeQuery('big.dev.svc.cluster.local', 'A')))!;
  assert.ok(udp.length <= 512, `${udp.length} bytes`);
  const r = decode(udp);
  assert.ok(r.flags! & dnsPacket.TRUNCATED_RESPONSE, 'TC set');
  assert.ok(r.answers!.length > 0 && r.answers!.length < 60);
  const tcp = decode((await askRaw(h, encodeQuery('big.dev.svc.cluster.local', 'A'), true))!);
  assert.equal(tcp.answers?.length, 60);
  assert.equal(tcp.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
  const edns = decode((await askRaw(h, encodeQuery('big.dev.svc.cluster.local', 'A', { edns: { udpPayloadSize: 4096 } })))!);
  assert.equal(edns.answers?.length, 60);
  assert.equal(edns.flags! & dnsPacket.TRUNCATED_RESPONSE, 0);
  // SRV with additional A records: answers fit, additional records are dropped without TC
  const srv = await askRaw(h, encodeQuery('_web._tcp.big.dev.svc.cluster.local', 'SRV'));
  assert.ok(srv!.length <= 512);
  assert.ok(decode(srv!).flags! & dnsPacket.TRUNCATED_RESPONSE);
});

test('0x20: the question and owner names keep the client spelling, also from compiled answers', async () => {
  const h = handler();
  for (const name of ['myapp.default.svc.cluster.local', 'MyApP.DeFaulT.sVc.CLUSTER.local', 'MYAPP.DEFAULT.SVC.CLUSTER.LOCAL']) {
    const r = decode((await askRaw(h, encodeQuery(name, 'A', { id: 777 })))!);
    assert.equal(r.id, 777);
    assert.equal(r.questions?.[0].name, name);
    assert.equal(r.answers?.[0].name, name);
    assert.equal((r.answers?.[0] as any).data, '10.96.3.215');
  }
  const nx = decode((await askRaw(h, encodeQuery('Nope.Default.Svc.Cluster.Local', 'A')))!);
  assert.equal(nx.questions?.[0].name, 'Nope.Default.Svc.Cluster.Local');
  assert.equal(nx.authorities?.[0].name, 'Cluster.Local', 'SOA owner points into the question');
});

test('flags: ID echoed, RD copied, AA set for cluster answers, RA not set', async () => {
  const h = handler();
  const r = decode((await askRaw(h, encodeQuery('myapp.default.svc.cluster.local', 'A', { id: 9, rd: false })))!);
  assert.equal(r.id, 9);
  assert.equal(r.flags! & dnsPacket.RECURSION_DESIRED, 0);
  assert.ok(r.flags! & dnsPacket.AUTHORITATIVE_ANSWER);
  assert.equal(r.flags! & dnsPacket.RECURSION_AVAILABLE, 0);
});

function header(id: number, flags: number, qd: number, an = 0, ns = 0, ar = 0): Buffer {
  const b = Buffer.alloc(12);
  b.writeUInt16BE(id, 0); b.writeUInt16BE(flags, 2); b.writeUInt16BE(qd, 4); b.writeUInt16BE(an, 6); b.writeUInt16BE(ns, 8); b.writeUInt16BE(ar, 10);
  return b;
}

test('malformed queries: FORMERR, NOTIMP, or silence', async () => {
  const h = handler();
  const good = encodeQuery('myapp.default.svc.cluster.local', 'A', { id: 5 });
  const rcodeOf = async (b: Buffer): Promise<number | null> => { const r = await askRaw(h, b, false, 200); return r ? r[3] & 0xf : null; };
  assert.equal(await rcodeOf(Buffer.from([1, 2, 3])), null, 'shorter than a header: dropped');
  assert.equal(await rcodeOf(header(1, 0x8000, 1)), null, 'a response: dropped');
  assert.equal(await rcodeOf(header(1, 0, 0)), 1, 'no question: FORMERR');
  assert.equal(await rcodeOf(Buffer.concat([header(1, 0, 2), good.subarray(12), good.subarray(12)])), 1, 'two questions: FORMERR');
  assert.equal(await rcodeOf(good.subarray(0, good.length - 3)), 1, 'cut question: FORMERR');
  assert.equal(await rcodeOf(Buffer.concat([header(1, 0, 1), Buffer.from([70, 97])])), 1, 'label longer than the packet: FORMERR');
  assert.equal(await rcodeOf(Buffer.concat([header(1, 0, 1, 0, 0, 1), good.subarray(12), Buffer.from([0, 0, 1])])), 1, 'broken OPT: FORMERR');
  const notify = Buffer.from(good); notify.writeUInt16BE(4 << 11, 2);
  assert.equal(await rcodeOf(notify), 4, 'NOTIFY: NOTIMP');
  // FORMERR keeps the ID
  const fe = (await askRaw(h, header(0xbeef, 0, 0)))!;
  assert.equal(fe.readUInt16BE(0), 0xbeef);
  assert.ok(decode(fe));
});

test('garbage never crashes the handler and every reply decodes', async () => {
  const h = handler();
  const good = encodeQuery('_web._tcp.svc-nginx.dev.svc.cluster.local', 'SRV', { edns: {} });
  let seed = 12345;
  const rnd = (n: number): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed % n; };
  let replies = 0;
  for (let i = 0; i < 3000; i++) {
    let b: Buffer;
    if (i % 2) { b = Buffer.alloc(rnd(80)); for (let j = 0; j < b.length; j++) b[j] = rnd(256); } else {
      b = Buffer.from(good);
      for (let k = 0; k < 1 + rnd(4); k++) b[rnd(b.length)] = rnd(256);
      b[2] &= 0x7f; // keep it a query so it gets far into the parser
    }
    const r = await askRaw(h, b, false, 1);
    if (r) { replies++; assert.doesNotThrow(() => decode(r), `reply to ${b.toString('hex')}`); }
  }
  assert.ok(replies > 100);
});

test('an answer over 64 KB (thousands of endpoints) is cut with TC, not failed', async () => {
  const idx = testIndex();
  idx.upsertService(service('dev', 'huge', 'None', [{ name: 'web', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'huge', 'huge-1', Array.from({ length: 5000 }, (_, i) => ({ ip: `10.245.${i >> 8}.${i & 255}` })), [{ name: 'web', port: 80 }]));
  const h = new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: idx });
  const raw = (await askRaw(h, encodeQuery('huge.dev.svc.cluster.local', 'A'), true))!;
  const r = decode(raw);
  assert.equal(r.rcode, 'NOERROR');
  assert.ok(r.flags! & dnsPacket.TRUNCATED_RESPONSE);
  assert.ok(r.answers!.length > 3000 && r.answers!.length < 5000, `${r.answers!.length} answers`);
  assert.ok(raw.length <= 65535);
});

test('messageEnd: a message whose every section parses, names with earlier pointers only; -1 otherwise', async () => {
  const { messageEnd } = await import('./wire.js');
  const ok = dnsPacket.encode({ type: 'response', id: 1, questions: [{ name: 'a.example.com', type: 'A', class: 'IN' }], answers: [{ type: 'A', name: 'a.example.com', ttl: 60, data: '192.0.2.1' }] });
  assert.equal(messageEnd(ok), ok.length);
  assert.equal(messageEnd(Buffer.concat([ok, Buffer.from('trailing')])), ok.length, 'bytes past the last record are not part of it');
  const withAnswer = (name: number[]): Buffer => {
    const h = Buffer.from(ok.subarray(0, 31)); // header and question (a.example.com A IN)
    return Buffer.concat([h, Buffer.from([...name, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 192, 0, 2, 1])]);
  };
  const back = withAnswer([0xc0, 12]);
  assert.equal(messageEnd(back), back.length, 'a pointer back at the question');
  assert.equal(messageEnd(withAnswer([0xc0, 31])), -1, 'a pointer at itself');
  assert.equal(messageEnd(withAnswer([1, 0x61, 0xc0, 31])), -1, 'a loop through a label');
  assert.equal(messageEnd(withAnswer([0xc0, 200])), -1, 'a pointer forward');
  assert.equal(messageEnd(withAnswer([0x40, 1])), -1, 'a reserved label type');
  const counts = Buffer.from(ok);
  counts.writeUInt16BE(2, 6);
  assert.equal(messageEnd(counts), -1, 'more answers counted than present');
  const cut = ok.subarray(0, ok.length - 1);
  assert.equal(messageEnd(cut), -1, 'record data past the end');
  const long = Buffer.concat([Buffer.from(ok.subarray(0, 12)), ...Array.from({ length: 4 }, () => Buffer.from([63, ...Buffer.alloc(63, 0x62)])), Buffer.from([0, 0, 1, 0, 1])]);
  long.writeUInt16BE(0, 6);
  assert.equal(messageEnd(long), -1, 'a name over 255 bytes');
});
