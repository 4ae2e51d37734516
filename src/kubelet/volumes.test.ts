/**
 * Pod volumes on the node, without a cluster: the AtomicWriter layout and its swaps, what each
 * volume kind writes (and the errors a user sees in FailedMount), hostPath kept inside the node's
 * folder, and the downward API's resource values as upstream computes them.
 */
import assert from 'node:assert/strict';
import { existsSync, lstatSync, mkdtempSync, readFileSync, readdirSync, readlinkSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { ConfigMap, Pod, Secret } from '../api/types.js';
import { containerMounts, resourceFieldValue, setUpVolume, writeAtomic, type VolumeSources } from './volumes.js';

const dirs: string[] = [];
const tmp = () => { const d = mkdtempSync(join(tmpdir(), 'svp-vol-')); dirs.push(d); return d; };
after(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }); });

const files = (o: Record<string, string>, mode = 0o644) => new Map(Object.entries(o).map(([k, v]) => [k, { data: Buffer.from(v), mode }]));

describe('AtomicWriter layout', () => {
  it('files behind ..data, swapped at once on change, untouched when the same, dropped names removed', () => {
    const d = join(tmp(), 'vol');
    assert.equal(writeAtomic(d, files({ a: '1', 'sub/b': '2' })), true);
    assert.equal(readlinkSync(join(d, 'a')), '..data/a');
    assert.equal(readlinkSync(join(d, 'sub')), '..data/sub');
    assert.equal(readFileSync(join(d, 'sub/b'), 'utf8'), '2');
    const first = readlinkSync(join(d, '..data'));
    assert.equal(writeAtomic(d, files({ a: '1', 'sub/b': '2' })), false, 'same content: nothing written');
    assert.equal(readlinkSync(join(d, '..data')), first);
    assert.equal(writeAtomic(d, files({ a: '3' })), true);
    assert.notEqual(readlinkSync(join(d, '..data')), first);
    assert.equal(readFileSync(join(d, 'a'), 'utf8'), '3');
    assert.ok(!existsSync(join(d, 'sub')), 'a key no longer there is gone');
    assert.ok(!existsSync(join(d, first)), 'the old generation is gone');
    assert.deepEqual(readdirSync(d).filter((e) => e.startsWith('..') && e !== '..data').length, 1);
    // A mode change alone is a change too.
    assert.equal(writeAtomic(d, files({ a: '3' }, 0o400)), true);
    assert.equal(statSync(join(d, 'a')).mode & 0o777, 0o400);
  });
});

describe('volume kinds', () => {
  const pod: Pod = {
    metadata: { name: 'p', namespace: 'ns', uid: 'u1', labels: { b: '2', a: 'x"y' }, annotations: { note: 'hi' } },
    spec: { nodeName: 'n1', containers: [{ name: 'c', image: 'busybox', resources: { limits: { cpu: '250m', memory: '128Mi' }, requests: { cpu: '100m' } } }, { name: 'free', image: 'busybox' }] },
  };
  const cms: Record<string, ConfigMap> = { cfg: { metadata: { name: 'cfg' }, data: { x: 'X', y: 'Y' }, binaryData: { bin: Buffer.from([0, 1, 2]).toString('base64') } } };
  const secrets: Record<string, Secret> = { s: { metadata: { name: 's' }, data: { pw: Buffer.from('hunter2').toString('base64') } } };
  const src: VolumeSources = {
    configMap: async (_ns, n) => cms[n], secret: async (_ns, n) => secrets[n],
    token: async (_p, aud, exp) => `token-for-${aud}-${exp}`,
    allocatable: () => ({ cpu: '2', memory: '4Gi' }),
  };
  const ips = { podIP: '10.244.1.5', hostIP: '172.18.0.3' };

  it('configMap: every key (binaryData decoded), or the items with their modes; errors as the kubelet words them', async () => {
    const podDir = tmp(), rootfs = tmp();
    const all = await setUpVolume(pod, { name: 'all', configMap: { name: 'cfg' } }, podDir, rootfs, src, ips);
    assert.equal(all.readOnly, true);
    assert.deepEqual(readdirSync(all.path).filter((e) => !e.startsWith('..')).sort(), ['bin', 'x', 'y']);
    assert.deepEqual([...readFileSync(join(all.path, 'bin'))], [0, 1, 2]);
    assert.equal(statSync(join(all.path, 'x')).mode & 0o777, 0o644);
    const some = await setUpVolume(pod, { name: 'some', configMap: { name: 'cfg', defaultMode: 0o440, items: [{ key: 'x', path: 'd/x.txt' }, { key: 'y', path: 'y', mode: 0o600 }] } }, podDir, rootfs, src, ips);
    assert.equal(readFileSync(join(some.path, 'd/x.txt'), 'utf8'), 'X');
    assert.equal(statSync(join(some.path, 'd/x.txt')).mode & 0o777, 0o440);
    assert.equal(statSync(join(some.path, 'y')).mode & 0o777, 0o600);
    await assert.rejects(setUpVolume(pod, { name: 'gone', configMap: { name: 'nope' } }, podDir, rootfs, src, ips), /^Error: configmap "nope" not found$/);
    await assert.rejects(setUpVolume(pod, { name: 'key', configMap: { name: 'cfg', items: [{ key: 'z', path: 'z' }] } }, podDir, rootfs, src, ips), /configmap references non-existent config key: z/);
    const opt = await setUpVolume(pod, { name: 'opt', configMap: { name: 'nope', optional: true } }, podDir, rootfs, src, ips);
    assert.deepEqual(readdirSync(opt.path).filter((e) => !e.startsWith('..')), []);
    await assert.rejects(setUpVolume(pod, { name: 'esc', configMap: { name: 'cfg', items: [{ key: 'x', path: '../x' }] } }, podDir, rootfs, src, ips), /may not contain '\.\.'/);
  });

  it('secret and downwardAPI: decoded data; labels as sorted key="value" lines, fields, resource values', async () => {
    const podDir = tmp(), rootfs = tmp();
    const s = await setUpVolume(pod, { name: 's', secret: { secretName: 's', defaultMode: 0o400 } }, podDir, rootfs, src, ips);
    assert.equal(readFileSync(join(s.path, 'pw'), 'utf8'), 'hunter2');
    assert.equal(statSync(join(s.path, 'pw')).mode & 0o777, 0o400);
    await assert.rejects(setUpVolume(pod, { name: 's2', secret: { secretName: 'other' } }, podDir, rootfs, src, ips), /^Error: secret "other" not found$/);
    const d = await setUpVolume(pod, {
      name: 'info', downwardAPI: {
        items: [
          { path: 'labels', fieldRef: { fieldPath: 'metadata.labels' } },
          { path: 'name', fieldRef: { fieldPath: 'metadata.name' } },
          { path: 'ip', fieldRef: { fieldPath: 'status.podIP' } },
          { path: 'note', fieldRef: { fieldPath: "metadata.annotations['note']" } },
          { path: 'cpu', resourceFieldRef: { containerName: 'c', resource: 'limits.cpu', divisor: '1m' } },
        ],
      },
    }, podDir, rootfs, src, ips);
    const read = (f: string) => readFileSync(join(d.path, f), 'utf8');
    assert.equal(read('labels'), 'a="x\\"y"\nb="2"');
    assert.equal(read('name'), 'p');
    assert.equal(read('ip'), '10.244.1.5');
    assert.equal(read('note'), 'hi');
    assert.equal(read('cpu'), '250');
  });

  it('projected: sources together in one folder; the token for its audience and lifetime', async () => {
    const podDir = tmp(), rootfs = tmp();
    const v = await setUpVolume(pod, {
      name: 'all-in-one', projected: {
        sources: [
          { serviceAccountToken: { audience: 'vault', expirationSeconds: 7200, path: 'token' } },
          { configMap: { name: 'cfg', items: [{ key: 'x', path: 'cfg/x' }] } },
          { secret: { name: 's' } },
          { downwardAPI: { items: [{ path: 'ns', fieldRef: { fieldPath: 'metadata.namespace' } }] } },
        ],
      },
    }, podDir, rootfs, src, ips);
    const read = (f: string) => readFileSync(join(v.path, f), 'utf8');
    assert.equal(read('token'), 'token-for-vault-7200');
    assert.equal(read('cfg/x'), 'X');
    assert.equal(read('pw'), 'hunter2');
    assert.equal(read('ns'), 'ns');
  });

  it('emptyDir is a writable folder; hostPath stays in the node\'s folder, with its type checks', async () => {
    const podDir = tmp(), rootfs = tmp();
    const e = await setUpVolume(pod, { name: 'e', emptyDir: {} }, podDir, rootfs, src, ips);
    assert.equal(statSync(e.path).mode & 0o777, 0o777);
    assert.equal(e.readOnly, false);
    const h = await setUpVolume(pod, { name: 'h', hostPath: { path: '/var/log/app', type: 'DirectoryOrCreate' } }, podDir, rootfs, src, ips);
    assert.equal(h.path, join(rootfs, 'var/log/app'));
    assert.ok(statSync(h.path).isDirectory());
    const up = await setUpVolume(pod, { name: 'up', hostPath: { path: '/../../etc', type: 'DirectoryOrCreate' } }, podDir, rootfs, src, ips);
    assert.equal(up.path, join(rootfs, 'etc'), 'a path with .. still resolves inside the node\'s folder');
    await assert.rejects(setUpVolume(pod, { name: 'f', hostPath: { path: '/etc/missing.conf', type: 'File' } }, podDir, rootfs, src, ips), /hostPath type check failed: \/etc\/missing.conf is not a file/);
    const fc = await setUpVolume(pod, { name: 'fc', hostPath: { path: '/run/app.lock', type: 'FileOrCreate' } }, podDir, rootfs, src, ips);
    assert.ok(lstatSync(fc.path).isFile());
    await assert.rejects(setUpVolume(pod, { name: 'pvc', persistentVolumeClaim: { claimName: 'data' } }, podDir, rootfs, src, ips), /volume type persistentVolumeClaim is not supported by svcplane/);
    // Mounts: subPath inside the volume, read-only from the mount or from the kind.
    const m = containerMounts({ name: 'c', volumeMounts: [{ name: 'e', mountPath: '/data', subPath: 'logs' }, { name: 'h', mountPath: '/h', readOnly: true }] }, new Map([['e', e], ['h', h]]));
    assert.deepEqual(m, [{ containerPath: '/data', hostPath: join(e.path, 'logs'), readonly: false }, { containerPath: '/h', hostPath: h.path, readonly: true }]);
    assert.ok(statSync(join(e.path, 'logs')).isDirectory(), 'a missing subPath is made');
    assert.throws(() => containerMounts({ name: 'c', volumeMounts: [{ name: 'e', mountPath: '/x', subPath: '../../etc' }] }, new Map([['e', e]])), /may not contain '\.\.'/);
  });
});

describe('downward API resource values', () => {
  const pod: Pod = { metadata: { name: 'p' }, spec: { containers: [{ name: 'c', image: 'x', resources: { limits: { cpu: '1500m', memory: '100Mi' }, requests: { memory: '10Mi' } } }, { name: 'bare', image: 'x' }] } };
  const alloc = { cpu: '2', memory: '4Gi', 'ephemeral-storage': '10Gi' };
  it('cores rounded up, divisors, requests defaulting to limits, limits to the node\'s allocatable', () => {
    assert.equal(resourceFieldValue(pod, 'c', 'limits.cpu', undefined, alloc), '2'); // 1.5 cores → 2
    assert.equal(resourceFieldValue(pod, 'c', 'limits.cpu', '1m', alloc), '1500');
    assert.equal(resourceFieldValue(pod, 'c', 'requests.cpu', '1m', alloc), '1500');
    assert.equal(resourceFieldValue(pod, 'c', 'limits.memory', undefined, alloc), String(100 * 1024 * 1024));
    assert.equal(resourceFieldValue(pod, 'c', 'limits.memory', '1Mi', alloc), '100');
    assert.equal(resourceFieldValue(pod, 'c', 'requests.memory', '1Mi', alloc), '10');
    assert.equal(resourceFieldValue(pod, 'bare', 'limits.cpu', undefined, alloc), '2');
    assert.equal(resourceFieldValue(pod, 'bare', 'limits.memory', '1Gi', alloc), '4');
    assert.equal(resourceFieldValue(pod, 'bare', 'requests.cpu', undefined, alloc), '0');
  });
});
