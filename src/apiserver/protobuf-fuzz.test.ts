/**
 * The protobuf decoder under hostile input, bounded in count and time: kubectl's own bodies cut
 * at every length, random and mutated bodies, every wire type in every field of every table,
 * overlong varints, huge lengths and deep nesting. Each body either decodes to an object or is
 * a 400 (415 for a kind without a table), each within MAX_MS. Then over HTTP: the 200 KB varint
 * body that used to hold the event loop for minutes is a quick 400 while /healthz answers.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WireType } from '@bufbuild/protobuf/wire';
import { MemoryStore } from '../store/memory.js';
import { HttpError } from './errors.js';
import { decodeMessage, decodeProtobufObject, MAX_DEPTH, PROTOBUF_MAGIC } from './protobuf.js';
import { MESSAGES } from './protobuf-messages.js';
import { startApiServer, type ApiServer } from './server.js';
import { httpsConn, request, type Conn } from './testing.js';
import { prng } from '../../test/lib/prng.js';

/** The longest one body may take to decode (or be refused): the best of up to 4 runs, on a busy 2-core machine. */
const MAX_MS = 50;

/** Bodies kubectl 1.32 sent (captured with PBK_DUMP by test/protobuf-kubectl.test.ts). */
const KUBECTL: Record<string, string> = {
  pod: 'azhzAAoJCgJ2MRIDUG9kEuEPChwKCXJpY2gtY29weRIAGgNwYmsiACoAMgA4AEIAEq4PCjQKA2NmZxItmgEqCgUKA2FwcBIcCghhcHAuY29uZhINY29uZi9hcHAuY29uZhiAAhikAyABChUKA3NlYxIOMgwKBWNyZWRzGIADIAAKHQoHc2NyYXRjaBISEhAKBk1lbW9yeRIGCgQ2NE1pCh8KBGhvc3QSFwoVCggvdmFyL2xvZxIJRGlyZWN0b3J5ClAKBGluZm8SSIIBRQofCgZsYWJlbHMSFQoCdjESD21ldGFkYXRhLmxhYmVscwofCgNjcHUaGAoEbWFpbhIKbGltaXRzLmNwdRoECgIxbRCkAwpDCgNhbGwSPNIBOQoJGgcKBQoDYXBwChYKFAoHCgVjcmVkcxIJCgR1c2VyEgF1ChEiDwoDYXBpEJAcGgV0b2tlbhCgAgoSCgRkYXRhEgpSCAoEZGF0YRABCigKBXNoYXJlEh86HQoPbmZzLmV4YW1wbGUuY29tEggvZXhwb3J0cxgBEp8GCgRtYWluEgpuZ2lueDoxLjI3GgVuZ2lueCICLWciC2RhZW1vbiBvZmY7IgAqBC9zcnYyEgoEaHR0cBAAGJA/IgNUQ1AqADIaCgNkbnMQ6SkYNSIDVURQKgkxMjcuMC4wLjE6CgoFUExBSU4SAXY6CQoFRU1QVFkSADoeCgdGUk9NX0NNEgAaERoPCgUKA2FwcBIEbW9kZRgBOiIKC0ZST01fU0VDUkVUEgAaESIPCgcKBWNyZWRzEgR1c2VyOiAKBlBPRF9JUBIAGhQKEgoCdjESDHN0YXR1cy5wb2RJUDojCgNNRU0SABoaEhgKABINbGltaXRzLm1lbW9yeRoFCgMxTWlCfAoNCgNjcHUSBgoENTAwbQoaChFlcGhlbWVyYWwtc3RvcmFnZRIFCgMxR2kKEQoGbWVtb3J5EgcKBTI1Nk1pEg0KA2NwdRIGCgQyNTBtEhoKEWVwaGVtZXJhbC1zdG9yYWdlEgUKAzFHaRIRCgZtZW1vcnkSBwoFMTI4TWlKGQoDY2ZnEAEaCC9ldGMvYXBwIgRjb25mMgBKJgoHc2NyYXRjaBAAGgYvdG1wL3giACoETm9uZTIJJChQT0RfSVApUjwKLhIsCggvaGVhbHRoehIKCAEQABoEaHR0cBoAIgRIVFRQKgwKB1gtUHJvYmUSATEQBRgCIAcoATAEOAxaGQoNGgsKBwgAEJA/GgASABAAGAEgAygBMANiQAoYChYKAnNoCgItYwoMZWNobyBzdGFydGVkEiQSIgoGL2RyYWluEgcIABCQPxoAGgkxMjcuMC4wLjEiBEhUVFBqCS90bXAvdGVybXIGQWx3YXlzekQKIgoJTkVUX0FETUlOChBORVRfQklORF9TRVJWSUNFEgNBTEwQACDoBygBMAE4AEDoB1oQCg5SdW50aW1lRGVmYXVsdIABAYgBAZABAZoBEAoDQ01fEgkKBQoDYXBwEAGaAQ0KABoJCgcKBWNyZWRzogEVRmFsbGJhY2tUb0xvZ3NPbkVycm9ysgEfChMKEQoDY2F0CgovdG1wL3JlYWR5EAAYASABKAEwHhIrCgNkYmcSDGJ1c3lib3g6MS4zNioAQgBqAHIAgAEAiAEAkAEAogEERmlsZRoJT25GYWlsdXJlIAAokBwyBE5vbmU6GQoQa3ViZXJuZXRlcy5pby9vcxIFbGludXhCB2RlZmF1bHRKB2RlZmF1bHRSAFgAYABoAHJJEOgHIKAfIIgnKNAPMLgXOigKI25ldC5pcHY0LmlwX3VucHJpdmlsZWdlZF9wb3J0X3N0YXJ0EgEwSg5PblJvb3RNaXNtYXRjaHoJCgdyZWdjcmVkggEFd2ViLTCKAQN3ZWKSAV8KLAoUChIKEAoEem9uZRICSW4aAWEaAWISFAgKEhAKDgoEZGlzaxIGRXhpc3RzGi8SLQgyEikKCgoICgNhcHASAXgSA3BiaxoWa3ViZXJuZXRlcy5pby9ob3N0bmFtZZoBEWRlZmF1bHQtc2NoZWR1bGVyogF5CgRpbml0EgxidXN5Ym94OjEuMzYaAnNoGgItYxoEdHJ1ZSoAQh8SDAoDY3B1EgUKAzEwbRIPCgZtZW1vcnkSBQoDOE1pahQvZGV2L3Rlcm1pbmF0aW9uLWxvZ3IMSWZOb3RQcmVzZW50gAEAiAEAkAEAogEERmlsZagBALIBNQocbm9kZS5rdWJlcm5ldGVzLmlvL25vdC1yZWFkeRIGRXhpc3RzGgAiCU5vRXhlY3V0ZSgesgEjCglkZWRpY2F0ZWQSBUVxdWFsGgN3ZWIiCk5vU2NoZWR1bGWyATgKHm5vZGUua3ViZXJuZXRlcy5pby91bnJlYWNoYWJsZRIGRXhpc3RzGgAiCU5vRXhlY3V0ZSisAroBGAoIMTAuMS4yLjMSAmRiEghkYi5sb2NhbMIBAMgBANIBNAoKMTAuOTYuMC4xMBIRc3ZjLmNsdXN0ZXIubG9jYWwaCgoFbmRvdHMSATIaBwoFZWRuczDYAQHiARMKEWV4YW1wbGUuY29tL3JlYWR58AEA+gEUUHJlZW1wdExvd2VyUHJpb3JpdHmKAigIARIEem9uZRoOU2NoZWR1bGVBbnl3YXkiDhIMCgNhcHASAkluGgF4ogIHCgVsaW51eBoQCgAaACIAKgAyAEoAWgByABoAIgA=',
  deployment: 'azhzAAoVCgdhcHBzL3YxEgpEZXBsb3ltZW50EucBCiMKBW11bHRpEgAaACIAKgAyADgAQgBaDAoDYXBwEgVtdWx0aRKxAQgDEg4KDAoDYXBwEgVtdWx0aRqUAQoeCgASABoAIgAqADIAOABCAFoMCgNhcHASBW11bHRpEnISJwoFbmdpbngSCm5naW54OjEuMjcqAEIAagByAIABAIgBAJABAKIBABIrCgdidXN5Ym94EgxidXN5Ym94OjEuMzYqAEIAagByAIABAIgBAJABAKIBABoAMgBCAEoAUgBYAGAAaACCAQCKAQCaAQDCAQAiAgoAKAA4ABoMCAAQABgAIAAoADgAGgAiAA==',
  service: 'azhzAAoNCgJ2MRIHU2VydmljZRKIAQofCgNjaXASABoAIgAqADIAOABCAFoKCgNhcHASA2NpcBJhChsKBzgwLTgwODASA1RDUBhQIgcIABCQPxoAKAAKHQoINDQzLTg0NDMSA1RDUBi7AyIHCAAQ+0EaACgAEgoKA2FwcBIDY2lwGgAiCUNsdXN0ZXJJUDoAQgBSAFoAYABoABoCCgAaACIA',
  configmap: 'azhzAAoPCgJ2MRIJQ29uZmlnTWFwEncKEwoDYXBwEgAaACIAKgAyADgAQgASJAoIYXBwLmNvbmYSGGxpc3RlbiA4MDgwOwp3b3JrZXJzIDQ7ChIXCghncmVldGluZxILaGVsbG8gd29ybGQSDAoEbW9kZRIEcHJvZBoTCghibG9iLmJpbhIHAAEC//6AChoAIgA=',
  secret: 'azhzAAoMCgJ2MRIGU2VjcmV0EloKFQoFY3JlZHMSABoAIgAqADIAOABCABIPCgRibG9iEgcAAQL//oAKEg4KBHBhc3MSBnMzY3I9dBINCgR1c2VyEgVhZG1pbhoRZXhhbXBsZS5jb20vY3JlZHMaACIA',
};
const fixtures = Object.entries(KUBECTL).map(([k, v]) => [k, Buffer.from(v, 'base64')] as const);


function varint(n: number | bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v);
  return Buffer.from(out);
}
const tag = (num: number, wt: number) => varint((num << 3) | wt);
const delimited = (num: number, b: Buffer) => Buffer.concat([tag(num, 2), varint(b.length), b]);

/** Envelope fields of a kubectl body: [typeMeta bytes, raw object bytes]. */
function split(body: Buffer): { typeMeta: Buffer; raw: Buffer } {
  let pos = 4;
  const parts: Record<number, Buffer> = {};
  while (pos < body.length) {
    const t = body[pos++]!;
    let n = 0; let shift = 0;
    for (;;) { const b = body[pos++]!; n |= (b & 0x7f) << shift; if (b < 0x80) break; shift += 7; }
    parts[t >> 3] = body.subarray(pos, pos + n);
    pos += n;
  }
  return { typeMeta: parts[1]!, raw: parts[2]! };
}
const wrap = (typeMeta: Buffer, raw: Buffer) => Buffer.concat([PROTOBUF_MAGIC, delimited(1, typeMeta), delimited(2, raw)]);

interface Stats { n: number; max: number; worst: string }
const newStats = (): Stats => ({ n: 0, max: 0, worst: '' });

/** Decode: an object, or an HttpError 400/415; never anything else, never slow. */
function attempt(s: Stats, what: string, f: () => unknown): 'ok' | number {
  let outcome: 'ok' | number = 'ok';
  const once = (): number => {
    const t0 = performance.now();
    try {
      const o = f();
      assert.ok(o && typeof o === 'object' && !Array.isArray(o), `${what}: decoded to ${typeof o}`);
      outcome = 'ok';
    } catch (e) {
      if (!(e instanceof HttpError) || (e.code !== 400 && e.code !== 415)) assert.fail(`${what}: ${(e as Error)?.stack ?? e}`);
      outcome = e.code;
    }
    return performance.now() - t0;
  };
  let ms = once();
  // A GC pause or a busy machine can stretch one run; a body that is slow itself stays slow.
  for (let i = 0; i < 3 && ms >= MAX_MS; i++) ms = Math.min(ms, once());
  s.n++;
  if (ms > s.max) { s.max = ms; s.worst = what; }
  return outcome;
}
const body = (s: Stats, what: string, b: Buffer) => attempt(s, what, () => decodeProtobufObject(b));
const fast = (s: Stats) => assert.ok(s.max < MAX_MS, `slowest of ${s.n} bodies: ${s.max.toFixed(1)} ms (${s.worst})`);

describe('protobuf decoder fuzz', { timeout: 20_000 }, () => {
  it('kubectl\'s bodies decode; cut at every length (body and inner object) each is an object or a 400', () => {
    const s = newStats();
    for (const [name, b] of fixtures) {
      assert.equal(body(s, name, b), 'ok', name);
      for (let i = 0; i < b.length; i++) body(s, `${name}[:${i}]`, b.subarray(0, i));
      const { typeMeta, raw } = split(b);
      for (let i = 0; i < raw.length; i++) body(s, `${name} raw[:${i}]`, wrap(typeMeta, raw.subarray(0, i)));
    }
    fast(s);
    assert.ok(s.n > 4000, `${s.n}`);
  });

  it('random and mutated bodies', () => {
    const s = newStats();
    const rnd = prng(14);
    const bytes = (n: number) => Buffer.from(Array.from({ length: n }, () => Math.floor(rnd() * 256)));
    const outcomes = new Map<string, number>();
    const note = (o: 'ok' | number) => outcomes.set(String(o), (outcomes.get(String(o)) ?? 0) + 1);
    for (let i = 0; i < 2000; i++) note(body(s, `random ${i}`, Buffer.concat([PROTOBUF_MAGIC, bytes(Math.floor(rnd() * 400))])));
    for (const [name, b] of fixtures) {
      const { typeMeta, raw } = split(b);
      for (let i = 0; i < 600; i++) note(body(s, `${name} random raw ${i}`, wrap(typeMeta, bytes(Math.floor(rnd() * 400)))));
      for (let i = 0; i < 1500; i++) {
        // 1 to 4 edits: a byte replaced, inserted or deleted, or a run of 0xff.
        let m = Buffer.from(raw);
        for (let e = 1 + Math.floor(rnd() * 4); e > 0; e--) {
          const at = Math.floor(rnd() * m.length);
          const op = Math.floor(rnd() * 4);
          if (op === 0) m[at] = Math.floor(rnd() * 256);
          else if (op === 1) m = Buffer.concat([m.subarray(0, at), bytes(1), m.subarray(at)]);
          else if (op === 2) m = Buffer.concat([m.subarray(0, at), m.subarray(at + 1)]);
          else m = Buffer.concat([m.subarray(0, at), Buffer.alloc(1 + Math.floor(rnd() * 12), 0xff), m.subarray(at)]);
        }
        note(body(s, `${name} mutation ${i}`, wrap(typeMeta, m)));
      }
    }
    fast(s);
    // Both kinds of outcome happen: the fuzz reaches past the first byte.
    assert.ok((outcomes.get('ok') ?? 0) > 100 && (outcomes.get('400') ?? 0) > 1000, JSON.stringify([...outcomes]));
  });

  it('every wire type in every field of every message of the tables', () => {
    const s = newStats();
    const payload: Record<number, Buffer> = {
      [WireType.Varint]: varint(1), [WireType.Bit64]: Buffer.alloc(8, 1), [WireType.LengthDelimited]: Buffer.from([3, 0x0a, 0x01, 0x41]),
      [WireType.StartGroup]: Buffer.alloc(0), [WireType.EndGroup]: Buffer.alloc(0), [WireType.Bit32]: Buffer.alloc(4, 1), 6: Buffer.from([1]), 7: Buffer.from([1]),
    };
    let fields = 0;
    for (const [name, table] of Object.entries(MESSAGES)) {
      for (const num of Object.keys(table).map(Number)) {
        fields++;
        for (let wt = 0; wt < 8; wt++) {
          const end = wt === WireType.StartGroup ? tag(num, WireType.EndGroup) : Buffer.alloc(0);
          attempt(s, `${name}.${num} wire ${wt}`, () => decodeMessage(name, Buffer.concat([tag(num, wt), payload[wt]!, end])));
          // The same field twice, then an empty length-delimited value.
          attempt(s, `${name}.${num} wire ${wt} twice`, () => decodeMessage(name, Buffer.concat([tag(num, wt), payload[wt]!, end, tag(num, wt), payload[wt]!, end, tag(num, 2), varint(0)])));
        }
      }
    }
    fast(s);
    assert.ok(fields > 900, `${fields} fields`);
  });

  it('overlong varints and huge lengths in every position are a 400 at once', () => {
    const s = newStats();
    const dep = (raw: Buffer) => wrap(Buffer.concat([delimited(1, Buffer.from('apps/v1')), delimited(2, Buffer.from('Deployment'))]), raw);
    for (const n of [11, 64, 1000, 200_000]) {
      const run = Buffer.concat([Buffer.alloc(n - 1, 0xff), Buffer.from([0x01])]);
      const cases: [string, Buffer][] = [
        ['envelope tag', Buffer.concat([PROTOBUF_MAGIC, run])],
        ['envelope length', Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a]), run])],
        ['object tag', dep(run)],
        ['object length', dep(Buffer.concat([Buffer.from([0x12]), run]))],
        ['int32 field', dep(delimited(2, Buffer.concat([tag(1, 0), run])))],
        ['unknown varint field', dep(Buffer.concat([tag(99, 0), run]))],
        ['unknown field in a group', dep(Buffer.concat([tag(98, 3), tag(99, 0), run, tag(98, 4)]))],
        ['map entry length', dep(delimited(1, Buffer.concat([tag(11, 2), run])))],
      ];
      for (const [what, b] of cases) {
        assert.equal(body(s, `${what}, ${n}-byte varint`, b), 400, what);
        assert.throws(() => decodeProtobufObject(b), /integer overflow/, what);
      }
    }
    for (const len of [2n ** 31n, 2n ** 32n - 1n, 2n ** 32n + 5n, 2n ** 53n, 2n ** 63n, 2n ** 64n - 1n, 3n * 1024n * 1024n]) {
      for (const [what, b] of [['envelope', Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x12]), varint(len), Buffer.alloc(5)])],
        ['object', dep(Buffer.concat([Buffer.from([0x12]), varint(len), Buffer.alloc(5)]))],
        ['string', dep(delimited(1, Buffer.concat([Buffer.from([0x0a]), varint(len), Buffer.alloc(5)])))]] as const) {
        assert.equal(body(s, `${what} length ${len}`, b), 400);
        assert.throws(() => decodeProtobufObject(b), /unexpected EOF|negative length/, `${what} ${len}`);
      }
    }
    fast(s);
  });

  it(`nesting past ${MAX_DEPTH} (groups, embedded JSON) is a 400; a body at the size limit decodes in bounded time`, () => {
    const s = newStats();
    const dep = (raw: Buffer) => wrap(Buffer.concat([delimited(1, Buffer.from('apps/v1')), delimited(2, Buffer.from('Deployment'))]), raw);
    // Field 9 (unknown to Deployment): start group 0x4b, end group 0x4c.
    const groups = (n: number) => Buffer.concat([Buffer.alloc(n, 0x4b), Buffer.alloc(n, 0x4c)]);
    assert.equal(body(s, 'groups 50 deep', dep(groups(50))), 'ok');
    for (const n of [MAX_DEPTH + 1, 100_000, 500_000]) {
      assert.equal(body(s, `groups ${n} deep`, dep(groups(n))), 400);
      assert.throws(() => decodeProtobufObject(dep(groups(n))), /exceeded maximum recursion depth/);
    }
    // An unbalanced end of group.
    assert.equal(body(s, 'end group without start', dep(Buffer.from([0x4b, 0x4c, 0x4c]))), 400);
    const cr = (json: string) => wrap(Buffer.concat([delimited(1, Buffer.from('apps/v1')), delimited(2, Buffer.from('ControllerRevision'))]),
      Buffer.concat([delimited(1, delimited(1, Buffer.from('r'))), delimited(2, delimited(1, Buffer.from(json))), tag(3, 0), varint(1)]));
    assert.equal(body(s, 'JSON 50 deep', cr('['.repeat(50) + ']'.repeat(50))), 'ok');
    assert.equal(body(s, 'JSON 1M deep', cr('['.repeat(1_000_000) + ']'.repeat(1_000_000))), 400);
    assert.equal(body(s, 'JSON brackets in strings', cr(JSON.stringify({ a: '['.repeat(1000) })) ), 'ok');
    fast(s);
    // 3 MB (the body limit) of labels, ~286,000 map entries of 11 bytes: linear work, about what JSON.parse takes for the same labels.
    const entries = Math.floor((3 * 1024 * 1024 - 100) / 11);
    const meta = Buffer.alloc(entries * 11);
    for (let i = 0; i < entries; i++) meta.write(`\x5a\x09\x0a\x04${i.toString(36).padStart(4, '0')}\x12\x01v`, i * 11, 'latin1');
    const big = dep(Buffer.concat([Buffer.from([0x0a]), varint(meta.length), meta]));
    const t0 = performance.now();
    const o = decodeProtobufObject(big) as any;
    const ms = performance.now() - t0;
    assert.equal(Object.keys(o.metadata.labels).length, entries);
    assert.ok(big.length <= 3 * 1024 * 1024);
    assert.ok(ms < 1000, `${big.length} bytes in ${ms.toFixed(0)} ms`);
  });
});

describe('protobuf bodies over HTTP', { timeout: 30_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-pbfuzz-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let c: Conn;
  before(async () => { srv = await startApiServer({ dataDir: dir, store, port: 0 }); c = httpsConn(dir, srv.url); });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('a 200 KB varint is a 400 in well under a second while /healthz keeps answering; nothing is stored', async () => {
    const run = Buffer.alloc(200_000, 0xff);
    const bodies = [
      Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a]), run, Buffer.from([0x01])]), // the envelope's first length
      Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x28]), run, Buffer.from([0x01])]), // an unknown varint field
      Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x12]), varint(2n ** 62n)]), // a length of 2^62
    ];
    let stop = false;
    const probe = (async () => {
      let worst = 0; let n = 0;
      while (!stop) {
        const t0 = performance.now();
        const r = await request(c, 'GET', '/healthz');
        assert.equal(r.text, 'ok');
        worst = Math.max(worst, performance.now() - t0); n++;
      }
      return { worst, n };
    })();
    try {
      for (let round = 0; round < 5; round++) {
        for (const b of bodies) {
          const t0 = performance.now();
          const r = await request(c, 'POST', '/apis/apps/v1/namespaces/default/deployments', b, { 'Content-Type': 'application/vnd.kubernetes.protobuf' });
          const ms = performance.now() - t0;
          assert.equal(r.status, 400, r.text);
          assert.equal(r.json.kind, 'Status');
          assert.equal(r.json.reason, 'BadRequest');
          assert.match(r.json.message, /proto: integer overflow|unexpected EOF/);
          assert.ok(ms < 1000, `${ms.toFixed(0)} ms`);
        }
      }
    } finally { stop = true; }
    const { worst, n } = await probe;
    assert.ok(n >= 1 && worst < 1000, `/healthz: ${n} probes, slowest ${worst.toFixed(0)} ms`);
    const list = await request(c, 'GET', '/apis/apps/v1/namespaces/default/deployments');
    assert.deepEqual(list.json.items, []);
  });
});
