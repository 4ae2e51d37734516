/**
 * The protobuf request decoder: envelopes built here field by field (numbers from upstream's
 * generated.proto) decode into the JSON objects kubectl meant, with Go's JSON treatment of zero
 * values; malformed input is a 400 worded as upstream's decoder words it.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { RESOURCES, groupVersion } from '../api/registry.js';
import { HttpError } from './errors.js';
import { decodeMessage, decodeProtobufObject, PROTOBUF_MAGIC } from './protobuf.js';
import { KINDS, MESSAGES } from './protobuf-messages.js';

function varint(n: number | bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v);
  return Buffer.from(out);
}
const str = (num: number, s: string | Buffer) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]); };
const int = (num: number, n: number | bigint) => Buffer.concat([varint(num << 3), varint(n)]);
const msg = (num: number, ...fields: Buffer[]) => str(num, Buffer.concat(fields));
const mapEntry = (num: number, k: string, v: string | Buffer) => msg(num, str(1, k), str(2, v));

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([PROTOBUF_MAGIC, msg(1, str(1, apiVersion), str(2, kind)), str(2, raw), str(4, 'application/vnd.kubernetes.protobuf')]);
}

/** The 400 a body gets, or fails the test. */
function rejection(body: Buffer): string {
  try { decodeProtobufObject(body); } catch (e) {
    assert.ok(e instanceof HttpError, String(e));
    assert.equal(e.code, 400, e.message);
    return e.message;
  }
  assert.fail('decoded');
}

const deployment = (spec: Buffer) => decodeProtobufObject(envelope('apps/v1', 'Deployment', Buffer.concat([msg(1, str(1, 'web')), msg(2, spec)]))) as any;
const podSpec = (...fields: Buffer[]) => decodeMessage('core.PodSpec', Buffer.concat(fields)) as any;

describe('protobuf request bodies', () => {
  it('decodes a Deployment as `kubectl create deployment web --image=nginx --replicas=2` sends it', () => {
    const labels = mapEntry(11, 'app', 'web');
    const raw = Buffer.concat([
      msg(1, str(1, 'web'), str(2, ''), labels, msg(8)),
      msg(2,
        int(1, 2),
        msg(2, mapEntry(1, 'app', 'web')),
        msg(3, msg(1, labels), msg(2, msg(2, str(1, 'nginx'), str(2, 'nginx'), str(5, ''), msg(6, int(3, 80), int(2, 0)), msg(8)))),
        msg(4)),
      msg(3),
    ]);
    const obj = decodeProtobufObject(envelope('apps/v1', 'Deployment', raw)) as any;
    assert.deepEqual(obj, {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' }, creationTimestamp: null },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }], resources: {} }] } },
        strategy: {},
      },
      status: {},
    });
  });

  it('keeps the zeros Go keeps (pointers, fields without omitempty) and drops the others, as Go\'s JSON does', () => {
    // replicas is *int32: an explicit 0 is kept; minReadySeconds (int32, omitempty) 0 is dropped.
    const d = deployment(Buffer.concat([int(1, 0), int(5, 0), int(7, 0), int(6, 0)]));
    assert.deepEqual(d.spec, { replicas: 0, revisionHistoryLimit: 0 });
    // ServicePort.port has no omitempty: 0 stays; Container.name too; repeated strings keep "".
    assert.deepEqual(decodeMessage('core.ServicePort', int(3, 0)), { port: 0 });
    assert.deepEqual(decodeMessage('core.Container', Buffer.concat([str(1, ''), str(4, ''), str(4, 'x')])), { name: '', args: ['', 'x'] });
    // A later occurrence of a singular field replaces the earlier one, a zero included.
    assert.deepEqual(decodeMessage('core.Container', Buffer.concat([str(2, 'a'), str(2, 'b'), str(5, '/x'), str(5, '')])), { image: 'b' });
  });

  it('int32 and int64 become exact JS numbers; out of range is a 400, not a truncation', () => {
    assert.equal(deployment(int(1, -1)).spec.replicas, -1, 'negative int32 arrives sign-extended to 10 bytes');
    assert.equal(deployment(int(1, 2147483647)).spec.replicas, 2147483647);
    assert.match(rejection(envelope('apps/v1', 'Deployment', msg(2, int(1, 10_000_000_000)))), /^Deployment in version "v1" cannot be handled as a Deployment: proto: value 10000000000 of int32 field Replicas is out of range$/);
    assert.match(rejection(envelope('apps/v1', 'Deployment', msg(2, int(1, -2147483649)))), /out of range/);
    assert.equal(podSpec(int(5, 9007199254740991)).activeDeadlineSeconds, 9007199254740991);
    assert.equal(podSpec(int(4, -30)).terminationGracePeriodSeconds, -30);
    assert.throws(() => podSpec(int(5, 9007199254740993n)), (e: unknown) => e instanceof HttpError && e.code === 400 && /9007199254740993 of int64 field ActiveDeadlineSeconds/.test(e.message));
    // A bool is any varint, non-zero true.
    assert.equal(podSpec(int(11, 7)).hostNetwork, true);
  });

  it('repeated int64 packed or not, inline structs, merged messages, maps of bytes and quantities', () => {
    const ctx = (...f: Buffer[]) => podSpec(msg(14, ...f)).securityContext;
    assert.deepEqual(ctx(int(4, 1), int(4, 2)).supplementalGroups, [1, 2]);
    assert.deepEqual(ctx(str(4, Buffer.concat([varint(3), varint(4000)]))).supplementalGroups, [3, 4000]);
    // Volume's VolumeSource and Probe's ProbeHandler are embedded: their fields sit beside name.
    const vol = podSpec(msg(1, str(1, 'v'), msg(2, msg(2, str(1, 'Memory'))))).volumes[0];
    assert.deepEqual(vol, { name: 'v', emptyDir: { medium: 'Memory' } });
    const probe = decodeMessage('core.Probe', Buffer.concat([msg(1, msg(2, str(1, '/h'), msg(2, int(1, 0), int(2, 8080)))), int(3, 2)]));
    assert.deepEqual(probe, { httpGet: { path: '/h', port: 8080 }, timeoutSeconds: 2 });
    // Two occurrences of a singular message merge, as Go's Unmarshal does.
    assert.deepEqual(decodeMessage('core.Container', Buffer.concat([msg(15, int(4, 1)), msg(15, int(5, 1))])).securityContext, { runAsUser: 1, runAsNonRoot: true });
    const cm = decodeProtobufObject(envelope('v1', 'ConfigMap', Buffer.concat([msg(1, str(1, 'c')), mapEntry(2, 'a', 'x'), mapEntry(3, 'b', Buffer.from([0, 0xff])), mapEntry(2, '__proto__', 'y'), int(4, 1)]))) as any;
    assert.deepEqual(Object.entries(cm.data), [['a', 'x'], ['__proto__', 'y']]);
    assert.deepEqual(cm.binaryData, { b: 'AP8=' });
    assert.equal(cm.immutable, true);
    const res = decodeMessage('core.ResourceRequirements', Buffer.concat([msg(1, str(1, 'cpu'), msg(2, str(1, '500m'))), msg(2, str(1, 'memory'))]));
    assert.deepEqual(res, { limits: { cpu: '500m' }, requests: { memory: '0' } });
  });

  it('times, micro times, IntOrString and embedded JSON as their JSON forms', () => {
    const meta = decodeMessage('meta.ObjectMeta', Buffer.concat([msg(8, int(1, 1700000000), int(2, 5)), msg(9)]));
    assert.deepEqual(meta, { creationTimestamp: '2023-11-14T22:13:20Z', deletionTimestamp: null });
    const ev = decodeMessage('core.Event', msg(10, int(1, 1700000000), int(2, 123456789)));
    assert.equal(ev.eventTime, '2023-11-14T22:13:20.123456Z');
    assert.throws(() => decodeMessage('meta.ObjectMeta', msg(8, int(1, 1e12))), /outside the years 0001-9999/);
    assert.deepEqual(decodeMessage('core.ServicePort', Buffer.concat([int(3, 80), msg(4, int(1, 1), str(3, 'http'))])), { port: 80, targetPort: 'http' });
    assert.deepEqual(decodeMessage('core.ServicePort', Buffer.concat([int(3, 80), msg(4)])), { port: 80, targetPort: 0 });
    const cr = decodeProtobufObject(envelope('apps/v1', 'ControllerRevision', Buffer.concat([msg(1, str(1, 'r')), msg(2, str(1, '{"spec":{"a":[1]}}')), int(3, 4)]))) as any;
    assert.deepEqual(cr.data, { spec: { a: [1] } });
    assert.match(rejection(envelope('apps/v1', 'ControllerRevision', msg(2, str(1, '{"a":')))), /embedded JSON/);
  });

  it('skips unknown fields of every wire type, groups included, as upstream does', () => {
    const unknown = Buffer.concat([int(99, 5), Buffer.from([(98 << 3 | 1) & 0x7f | 0x80, 98 >> 4, 1, 2, 3, 4, 5, 6, 7, 8]), str(97, 'x'),
      varint(96 << 3 | 3), int(1, 1), varint(95 << 3 | 3), varint(95 << 3 | 4), varint(96 << 3 | 4), varint(94 << 3 | 5), Buffer.from([1, 2, 3, 4])]);
    assert.deepEqual(decodeMessage('core.ServicePort', Buffer.concat([unknown, int(3, 80)])), { port: 80 });
  });

  it('padded (non-canonical) varints up to 10 bytes are read as Go reads them', () => {
    const pad = (n: number) => Buffer.from([0x80 | n, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]);
    assert.deepEqual(decodeMessage('core.ServicePort', Buffer.concat([pad(3 << 3), pad(80), Buffer.from([0x0a]), pad(1), Buffer.from('x')])), { port: 80, name: 'x' });
  });

  it('malformed bodies are a 400 with the Go decoder\'s words', () => {
    const dep = (raw: Buffer) => rejection(envelope('apps/v1', 'Deployment', raw));
    const overlong = Buffer.concat([Buffer.alloc(10, 0xff), Buffer.from([1])]);
    assert.match(dep(msg(2, varint(1 << 3), overlong)), /: proto: integer overflow$/, 'an 11-byte int32');
    assert.match(dep(Buffer.concat([varint(99 << 3), overlong])), /: proto: integer overflow$/, 'an 11-byte unknown varint');
    assert.match(dep(Buffer.concat([overlong])), /: proto: integer overflow$/, 'an 11-byte tag');
    assert.match(dep(Buffer.concat([Buffer.from([0x12]), overlong])), /: proto: integer overflow$/, 'an 11-byte length');
    assert.match(dep(Buffer.from([0x12, 0x50, 0x01])), /: unexpected EOF$/);
    assert.match(dep(Buffer.concat([Buffer.from([0x12]), varint(-1n)])), /: proto: negative length found during unmarshaling$/);
    assert.match(dep(Buffer.concat([Buffer.from([0x12]), varint(2n ** 32n + 1n), Buffer.from([0])])), /: unexpected EOF$/);
    assert.match(dep(int(1, 5)), /proto: wrong wireType = 0 for field Metadata$/);
    assert.match(dep(msg(2, str(1, 'x'))), /proto: wrong wireType = 2 for field Replicas$/);
    assert.match(dep(Buffer.from([0x00, 0x01])), /proto: Deployment: illegal tag 0 \(wire type 0\)$/);
    assert.match(dep(Buffer.from([0x0c])), /proto: Deployment: wiretype end group for non-group$/);
    assert.match(dep(Buffer.from([0x7e, 0x00])), /proto: illegal wireType 6$/);
    assert.match(dep(Buffer.from([0x7b])), /unexpected EOF$/, 'an unterminated group');
    assert.match(dep(Buffer.from([0x79, 1, 2])), /unexpected EOF$/, 'a fixed64 past the end');
    assert.match(rejection(Buffer.from('{"kind":"x"}')), /does not appear to be a protobuf message, expected prefix \[107 56 115 0\] \(7b22/);
    assert.match(rejection(PROTOBUF_MAGIC), /empty body/);
    assert.match(rejection(Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a, 0x50, 0x01])])), /^the object provided is unrecognized: unexpected EOF/);
    assert.match(rejection(Buffer.concat([PROTOBUF_MAGIC, msg(1, str(1, 'v1'))])), /Object 'Kind' is missing/);
    assert.throws(() => decodeProtobufObject(envelope('batch/v1', 'Job', Buffer.alloc(0))), (e: unknown) => e instanceof HttpError && e.code === 415);
  });

  it('the tables cover every served kind and refer only to messages they hold', () => {
    for (const r of RESOURCES) assert.ok(MESSAGES[KINDS[`${groupVersion(r)}/${r.kind}`] ?? ''], `${groupVersion(r)} ${r.kind}`);
    const scalar = new Set(['string', 'int32', 'int64', 'bool', 'bytes', 'time', 'microtime', 'quantity', 'intstr', 'raw']);
    for (const [name, fields] of Object.entries(MESSAGES)) {
      for (const [num, [json, type, mode, flags]] of Object.entries(fields)) {
        assert.ok(scalar.has(type) || MESSAGES[type], `${name}.${num} ${type}`);
        assert.ok(json || flags === 'inline', `${name}.${num} has a JSON name`);
        assert.ok(!(mode === 'map' && !scalar.has(type) && !MESSAGES[type]));
      }
    }
  });
});
