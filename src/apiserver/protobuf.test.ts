/**
 * The protobuf request decoder: envelopes built here field by field (numbers from upstream's
 * generated.proto) decode into the JSON objects kubectl meant; bad input is a 400/415 Status.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HttpError } from './errors.js';
import { decodeProtobufObject, PROTOBUF_MAGIC } from './protobuf.js';

function varint(n: number): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, BigInt(n));
  do { let b = Number(v & 0x7fn); v >>= 7n; if (v) b |= 0x80; out.push(b); } while (v);
  return Buffer.from(out);
}
const str = (num: number, s: string | Buffer) => { const b = Buffer.isBuffer(s) ? s : Buffer.from(s); return Buffer.concat([varint((num << 3) | 2), varint(b.length), b]); };
const int = (num: number, n: number) => Buffer.concat([varint(num << 3), varint(n)]);
const msg = (num: number, ...fields: Buffer[]) => str(num, Buffer.concat(fields));
const mapEntry = (num: number, k: string, v: string) => msg(num, str(1, k), str(2, v));

function envelope(apiVersion: string, kind: string, raw: Buffer): Buffer {
  return Buffer.concat([PROTOBUF_MAGIC, msg(1, str(1, apiVersion), str(2, kind)), str(2, raw), str(4, 'application/vnd.kubernetes.protobuf')]);
}

describe('protobuf request bodies', () => {
  it('decodes a Deployment as `kubectl create deployment web --image=nginx --replicas=2` sends it', () => {
    const labels = mapEntry(11, 'app', 'web');
    const raw = Buffer.concat([
      msg(1, str(1, 'web'), labels),
      msg(2,
        int(1, 2),
        msg(2, mapEntry(1, 'app', 'web')),
        msg(3, msg(1, labels), msg(2, msg(2, str(1, 'nginx'), str(2, 'nginx'), msg(6, int(3, 80)), msg(8)))),
        msg(4)),
    ]);
    const obj = decodeProtobufObject(envelope('apps/v1', 'Deployment', raw)) as any;
    assert.deepEqual(obj, {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'web', labels: { app: 'web' } },
      spec: {
        replicas: 2, selector: { matchLabels: { app: 'web' } },
        template: { metadata: { labels: { app: 'web' } }, spec: { containers: [{ name: 'nginx', image: 'nginx', ports: [{ containerPort: 80 }], resources: {} }] } },
        strategy: {},
      },
    });
  });

  it('decodes a NodePort Service with a named targetPort and a selector', () => {
    const raw = Buffer.concat([
      msg(1, str(1, 'web')),
      msg(2, msg(1, str(1, '8080-80'), str(2, 'TCP'), int(3, 8080), msg(4, int(1, 1), str(3, 'http')), int(5, 32380)), mapEntry(2, 'app', 'web'), str(4, 'NodePort')),
    ]);
    const obj = decodeProtobufObject(envelope('v1', 'Service', raw)) as any;
    assert.deepEqual(obj.spec, { ports: [{ name: '8080-80', protocol: 'TCP', port: 8080, targetPort: 'http', nodePort: 32380 }], selector: { app: 'web' }, type: 'NodePort' });
  });

  it('rejects bodies without the magic (400) and kinds it has no table for (415)', () => {
    assert.throws(() => decodeProtobufObject(Buffer.from('{"kind":"x"}')), (e: unknown) => e instanceof HttpError && e.code === 400);
    assert.throws(() => decodeProtobufObject(envelope('batch/v1', 'Job', Buffer.alloc(0))), (e: unknown) => e instanceof HttpError && e.code === 415);
    assert.throws(() => decodeProtobufObject(Buffer.concat([PROTOBUF_MAGIC, Buffer.from([0x0a, 0x50, 0x01])])), (e: unknown) => e instanceof HttpError && e.code === 400);
  });
});
