/**
 * The packed answer table against the reference path (parseQuery + buildResponse): byte-equal
 * replies for every query shape (EDNS sizes, 0x20 spelling, truncation over UDP, whole over TCP),
 * growth, compaction of replaced entries, group invalidation, and queries it must leave alone.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as dnsPacket from 'dns-packet';
import { AnswerTable } from './answers.js';
import { buildResponse, nameToKey, parseQuery, Query, RCODE, type RR, TYPE, Writer } from './wire.js';

function query(name: string, type: dnsPacket.RecordType, opts: { id?: number; edns?: number; version?: number; flags?: number } = {}): Buffer {
  return dnsPacket.encode({
    type: 'query', id: opts.id ?? 4242, flags: opts.flags ?? dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type, class: 'IN' }],
    additionals: opts.edns ? [{ type: 'OPT', name: '.', udpPayloadSize: opts.edns, flags: 0, ...(opts.version ? { ednsVersion: opts.version } : {}) } as dnsPacket.Answer] : [],
  });
}

const writer = new Writer();
function compile(name: string, rrs: RR[], rcode: number = RCODE.NOERROR) {
  return writer.compile(nameToKey(name), rcode, 0x0400, rrs, [], []);
}
function aRecords(name: string, n: number): RR[] {
  return Array.from({ length: n }, (_, i) => ({ name, type: TYPE.A, ttl: 30, data: `10.244.${i >> 8}.${i & 255}` }));
}

/** What the reference path answers for msg from compiled answer c. */
function reference(msg: Buffer, c: ReturnType<typeof compile>, tcp: boolean): Buffer {
  const q = new Query();
  assert.equal(parseQuery(msg, q), 0);
  return buildResponse(msg, q, c, tcp ? 65535 : q.udpSize);
}

test('replies equal the reference path for every query shape', () => {
  const t = new AnswerTable();
  const cases: [string, number][] = [['myapp.default.svc.cluster.local', 1], ['big.default.svc.cluster.local', 120], ['none.default.svc.cluster.local', 0]];
  for (const [name, n] of cases) t.put(nameToKey(name), TYPE.A, compile(name, aRecords(name, n), n ? RCODE.NOERROR : RCODE.NXDOMAIN), 'default/x');
  for (const [name, n] of cases) {
    const c = compile(name, aRecords(name, n), n ? RCODE.NOERROR : RCODE.NXDOMAIN);
    for (const spelled of [name, name.toUpperCase(), name.replace(/[aeiou]/g, (x) => x.toUpperCase())]) {
      for (const edns of [0, 512, 1232, 4096, 65000]) {
        for (const tcp of [false, true]) {
          const msg = query(spelled, 'A', { id: 7 + edns, edns, flags: edns ? 0 : dnsPacket.RECURSION_DESIRED });
          const e = t.lookup(msg);
          assert.ok(e >= 0, `${spelled} edns ${edns}`);
          const got = t.respond(msg, e, tcp);
          assert.deepEqual(got, reference(msg, c, tcp), `${spelled} edns ${edns} tcp ${tcp}`);
          const d = dnsPacket.decode(got);
          assert.equal(d.questions![0].name, spelled);
          if (n > 1 && !tcp && edns < 1232) assert.ok(d.flag_tc, 'truncated over small UDP');
        }
      }
    }
  }
  assert.equal(t.lookup(query('myapp.default.svc.cluster.local', 'AAAA')), -1, 'other type');
  assert.equal(t.lookup(query('other.default.svc.cluster.local', 'A')), -1, 'other name');
});

test('grows, rehashes and compacts without losing entries', () => {
  const t = new AnswerTable();
  const names = Array.from({ length: 5000 }, (_, i) => `svc-${i}.ns-${i % 7}.svc.cluster.local`);
  for (let round = 0; round < 4; round++) {
    for (const [i, name] of names.entries()) {
      t.put(nameToKey(name), TYPE.A, compile(name, [{ name, type: TYPE.A, ttl: 30, data: `10.96.${round}.${i & 255}` }]), `ns-${i % 7}/svc-${i}`);
    }
  }
  assert.equal(t.size, names.length);
  assert.ok(t.arenaBytes < 4 * 5000 * 80, `arena ${t.arenaBytes} bytes: replaced entries are compacted away`);
  for (const [i, name] of names.entries()) {
    const msg = query(name, 'A');
    const e = t.lookup(msg);
    assert.ok(e >= 0, name);
    const a = dnsPacket.decode(t.respond(msg, e, false)).answers![0] as { data: string };
    assert.equal(a.data, `10.96.3.${i & 255}`);
  }
});

test('a bumped group stops matching; other groups keep theirs; clear drops all', () => {
  const t = new AnswerTable();
  const a = 'a.default.svc.cluster.local', b = 'b.default.svc.cluster.local';
  t.put(nameToKey(a), TYPE.A, compile(a, aRecords(a, 1)), 'default/a');
  t.put(nameToKey(b), TYPE.A, compile(b, aRecords(b, 1)), 'default/b');
  t.bump('default/a');
  assert.equal(t.lookup(query(a, 'A')), -1);
  assert.ok(t.lookup(query(b, 'A')) >= 0);
  t.put(nameToKey(a), TYPE.A, compile(a, aRecords(a, 2)), 'default/a');
  assert.equal(dnsPacket.decode(t.respond(query(a, 'A'), t.lookup(query(a, 'A')), false)).answers!.length, 2);
  t.clear();
  assert.equal(t.lookup(query(b, 'A')), -1);
  assert.equal(t.size, 0);
});

test('leaves to the full parser what it cannot answer alone', () => {
  const t = new AnswerTable();
  const name = 'myapp.default.svc.cluster.local';
  t.put(nameToKey(name), TYPE.A, compile(name, aRecords(name, 1)), 'default/myapp');
  const ok = query(name, 'A');
  assert.ok(t.lookup(ok) >= 0);
  const response = Buffer.from(ok); response[2] |= 0x80;
  const opcode = Buffer.from(ok); opcode[2] |= 0x10;
  const chaos = Buffer.from(ok); chaos[chaos.length - 1] = 3;
  const short = ok.subarray(0, ok.length - 1);
  assert.equal(t.lookup(response), -1, 'QR set');
  assert.equal(t.lookup(opcode), -1, 'opcode');
  assert.equal(t.lookup(chaos), -1, 'class CH');
  assert.equal(t.lookup(short), -1, 'cut short');
  assert.equal(t.lookup(query(name, 'A', { edns: 1232, version: 1 })), -1, 'EDNS version 1 (BADVERS)');
  assert.equal(t.lookup(ok.subarray(0, 11)), -1, 'no header');
  const capped = new AnswerTable(2);
  for (const n of ['a', 'b', 'c']) capped.put(nameToKey(`${n}.x`), TYPE.A, compile(`${n}.x`, aRecords(`${n}.x`, 1)), 'x');
  assert.equal(capped.size, 1, 'over capacity: dropped and rebuilt');
});
