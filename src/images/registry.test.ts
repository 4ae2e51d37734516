/**
 * The registry over a small layout built here from local files (no mmdebstrap): the name table
 * as containerd asks for names (ns + repository + tag), manifests and blobs with their digests,
 * HEAD, Range, and the distribution API's errors.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { IMAGES, NAMES, builtinImage, normalizeImage, unknownImageMessage, type LayerName } from './catalog.js';
import { assembleImages, type LayerRecord } from './build.js';
import { MEDIA, TarWriter, adoptBlob, initLayout } from './oci.js';
import { startRegistry, type Registry } from './registry.js';

const sha = (b: Buffer) => `sha256:${createHash('sha256').update(b).digest('hex')}`;

describe('images registry', () => {
  let dir: string;
  let reg: Registry;
  let base: string;
  const layers = {} as Record<LayerName, LayerRecord>;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'svp-imgreg-'));
    initLayout(dir);
    for (const name of ['debian', 'node', 'app', 'busybox', 'pause', 'nodelibs'] as LayerName[]) {
      const file = join(dir, `${name}.tar`);
      const tar = new TarWriter(file);
      tar.file(`etc/svcplane-${name}`, `layer ${name}\n`);
      tar.finish();
      const d = await adoptBlob(dir, file, MEDIA.layer);
      layers[name] = { name, inputs: name, digest: d.digest, size: d.size, builtAt: '2024-01-01T00:00:00.000Z', seconds: 0 };
    }
    assembleImages(dir, layers);
    reg = await startRegistry({ cacheDir: dir, host: '127.0.0.1', port: 0 });
    base = `http://127.0.0.1:${reg.port}`;
  });
  after(async () => {
    await reg?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  const get = async (path: string, init?: RequestInit) => {
    const r = await fetch(base + path, init);
    return { r, body: Buffer.from(await r.arrayBuffer()) };
  };
  const manifestOf = async (path: string) => {
    const { r, body } = await get(path, { headers: { Accept: MEDIA.manifest } });
    assert.equal(r.status, 200, `${path}: ${body}`);
    return { r, body, manifest: JSON.parse(body.toString()) as { config: { digest: string }; layers: { digest: string; mediaType: string }[] } };
  };
  const configOf = async (name: string, digest: string, query = '') => {
    const { r, body } = await get(`/v2/${name}/blobs/${digest}${query}`);
    assert.equal(r.status, 200, `${name} ${digest}${query}: ${body}`);
    assert.equal(sha(body), digest);
    return JSON.parse(body.toString()) as { config: { Entrypoint?: string[]; Cmd?: string[]; StopSignal?: string; Env: string[] }; rootfs: { diff_ids: string[] } };
  };

  it('answers the version check', async () => {
    const { r, body } = await get('/v2/');
    assert.equal(r.status, 200);
    assert.equal(r.headers.get('docker-distribution-api-version'), 'registry/2.0');
    assert.equal(body.toString(), '{}');
  });

  it('serves nginx as containerd asks through the mirror (ns=docker.io, library/nginx)', async () => {
    const { r, body, manifest } = await manifestOf('/v2/library/nginx/manifests/1.25?ns=docker.io');
    assert.equal(r.headers.get('content-type'), MEDIA.manifest);
    assert.equal(r.headers.get('docker-content-digest'), sha(body));
    assert.equal(Number(r.headers.get('content-length')), body.length);
    assert.deepEqual(manifest.layers.map((l) => l.digest), [layers.debian.digest]);
    assert.equal(manifest.layers[0]!.mediaType, 'application/vnd.oci.image.layer.v1.tar');
    const cfg = await configOf('library/nginx', manifest.config.digest);
    assert.deepEqual(cfg.config.Cmd, ['nginx', '-g', 'daemon off;']);
    assert.equal(cfg.config.StopSignal, 'SIGQUIT');
    assert.ok(cfg.config.Env.some((e) => e.startsWith('PATH=/usr/local/sbin:/usr/local/bin:')));
    assert.deepEqual(cfg.rootfs.diff_ids, [layers.debian.digest]);

    // By digest, as containerd fetches after resolving the tag.
    const byDigest = await manifestOf(`/v2/library/nginx/manifests/${sha(body)}?ns=docker.io`);
    assert.deepEqual(byDigest.body, body);
  });

  it('HEAD gives the same headers and no body', async () => {
    const g = await get('/v2/e2e-test-images/agnhost/manifests/2.52?ns=registry.k8s.io');
    const h = await get('/v2/e2e-test-images/agnhost/manifests/2.52?ns=registry.k8s.io', { method: 'HEAD' });
    assert.equal(h.r.status, 200);
    assert.equal(h.body.length, 0);
    for (const k of ['content-type', 'docker-content-digest', 'content-length']) assert.equal(h.r.headers.get(k), g.r.headers.get(k), k);
    const man = JSON.parse(g.body.toString()) as { config: { digest: string }; layers: { digest: string }[] };
    const blobHead = await get(`/v2/e2e-test-images/agnhost/blobs/${man.layers[2]!.digest}?ns=registry.k8s.io`, { method: 'HEAD' });
    assert.equal(blobHead.r.status, 200);
    assert.equal(Number(blobHead.r.headers.get('content-length')), layers.app.size);
    assert.equal(blobHead.body.length, 0);
  });

  it('resolves each name family to its image (tags, hosts, with and without ns)', async () => {
    const cases: [string, { Entrypoint?: string[]; Cmd?: string[] }, LayerName[]][] = [
      ['/v2/e2e-test-images/agnhost/manifests/2.39?ns=registry.k8s.io', { Entrypoint: ['/agnhost'], Cmd: ['pause'] }, ['debian', 'node', 'app']],
      ['/v2/e2e-test-images/agnhost/manifests/2.21?ns=k8s.gcr.io', { Entrypoint: ['/agnhost'], Cmd: ['pause'] }, ['debian', 'node', 'app']],
      ['/v2/pause/manifests/3.9?ns=registry.k8s.io', { Entrypoint: ['/pause'] }, ['pause']],
      ['/v2/registry.k8s.io/pause/manifests/3.6', { Entrypoint: ['/pause'] }, ['pause']],
      ['/v2/coredns/coredns/manifests/v1.11.1?ns=registry.k8s.io', { Entrypoint: ['/coredns'] }, ['busybox', 'nodelibs', 'node', 'app']],
      ['/v2/library/busybox/manifests/1.36?ns=docker.io', { Cmd: ['sh'] }, ['busybox']],
      ['/v2/busybox/manifests/latest', { Cmd: ['sh'] }, ['busybox']],
      ['/v2/curlimages/curl/manifests/8.5.0?ns=docker.io', { Entrypoint: ['curl'] }, ['debian']],
      ['/v2/nicolaka/netshoot/manifests/latest?ns=docker.io', { Cmd: ['sleep', 'infinity'] }, ['debian']],
      ['/v2/library/alpine/manifests/3.19?ns=docker.io', { Cmd: ['/bin/sh'] }, ['debian']],
      ['/v2/library/ubuntu/manifests/22.04?ns=docker.io', { Cmd: ['bash'] }, ['debian']],
      ['/v2/jocatalin/kubernetes-bootcamp/manifests/v1?ns=docker.io', { Cmd: ['/bootcamp', '1'] }, ['debian', 'node', 'app']],
      ['/v2/jocatalin/kubernetes-bootcamp/manifests/v2?ns=docker.io', { Cmd: ['/bootcamp', '2'] }, ['debian', 'node', 'app']],
      ['/v2/google-samples/kubernetes-bootcamp/manifests/v2.1?ns=gcr.io', { Cmd: ['/bootcamp', '2'] }, ['debian', 'node', 'app']],
    ];
    for (const [path, want, ls] of cases) {
      const { manifest } = await manifestOf(path);
      const name = path.split('/manifests/')[0]!.slice(4);
      const cfg = await configOf(name, manifest.config.digest, path.includes('?') ? `?${path.split('?')[1]}` : '');
      assert.deepEqual(cfg.config.Entrypoint, want.Entrypoint, path);
      assert.deepEqual(cfg.config.Cmd, want.Cmd, path);
      assert.deepEqual(manifest.layers.map((l) => l.digest), ls.map((l) => layers[l].digest), path);
    }
  });

  it('streams blobs with their digest, and byte ranges', async () => {
    const { r, body } = await get(`/v2/library/busybox/blobs/${layers.busybox.digest}?ns=docker.io`);
    assert.equal(r.status, 200);
    assert.equal(sha(body), layers.busybox.digest);
    assert.equal(r.headers.get('docker-content-digest'), layers.busybox.digest);
    assert.deepEqual(body, readFileSync(join(dir, 'blobs', 'sha256', layers.busybox.digest.slice(7))));
    const part = await get(`/v2/library/busybox/blobs/${layers.busybox.digest}`, { headers: { Range: 'bytes=512-' } });
    assert.equal(part.r.status, 206);
    assert.equal(part.r.headers.get('content-range'), `bytes 512-${body.length - 1}/${body.length}`);
    assert.deepEqual(part.body, body.subarray(512));
  });

  it('unknown names, tags and blobs are the registry errors, never a 5xx', async () => {
    const unknown = await get('/v2/library/my-custom-backend-image/manifests/v1?ns=docker.io');
    assert.equal(unknown.r.status, 404);
    assert.match(unknown.r.headers.get('content-type') ?? '', /^application\/json/);
    assert.deepEqual(JSON.parse(unknown.body.toString()), {
      errors: [{ code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail: { Name: 'docker.io/library/my-custom-backend-image', Tag: 'v1' } }],
    });
    const head = await get('/v2/library/my-custom-backend-image/manifests/v1?ns=docker.io', { method: 'HEAD' });
    assert.equal(head.r.status, 404);
    assert.equal(head.body.length, 0);
    // nginx under another registry host is not the built-in nginx.
    assert.equal((await get('/v2/library/nginx/manifests/latest?ns=quay.io')).r.status, 404);
    // A digest that is not one of the manifests.
    const bad = await get(`/v2/library/nginx/manifests/${layers.debian.digest}?ns=docker.io`);
    assert.equal(bad.r.status, 404);
    assert.equal((JSON.parse(bad.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'MANIFEST_UNKNOWN');
    for (const path of [
      `/v2/library/nginx/blobs/sha256:${'0'.repeat(64)}`,
      '/v2/library/nginx/blobs/sha256:..%2F..%2Findex.json',
      '/v2/library/nginx/blobs/..%2F..%2Fetc%2Fpasswd',
      `/v2/library/unknown/blobs/${layers.debian.digest}`,
    ]) {
      const b = await get(path);
      assert.equal(b.r.status, 404, path);
      assert.equal((JSON.parse(b.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'BLOB_UNKNOWN', path);
    }
    for (const path of ['/v2/Library/NGINX/manifests/latest', '/v2/library/nginx/manifests/-bad-tag-', '/v2/library/nginx/manifests/latest?ns=a%2Fb']) {
      assert.equal((await get(path)).r.status, 404, path);
    }
    const post = await get('/v2/library/nginx/blobs/uploads/', { method: 'POST' });
    assert.equal(post.r.status, 405);
    assert.equal((JSON.parse(post.body.toString()) as { errors: { code: string }[] }).errors[0]!.code, 'UNSUPPORTED');
  });

  it('the name table: every name resolves, and the README shows the same table', () => {
    const readme = readFileSync(new URL('./README.md', import.meta.url), 'utf8');
    const keys = new Set(Object.keys(IMAGES));
    for (const row of NAMES) {
      for (const n of row.names) {
        const key = builtinImage(`${n}:v1`);
        assert.ok(key && keys.has(key), n);
        const ref = normalizeImage(n);
        assert.equal(ref.name, n, `${n} is written normalized`);
        const short = n.replace(/^docker\.io\/(library\/)?/, '');
        assert.ok(readme.includes(`\`${short}\``), `README table lacks ${short}`);
      }
    }
    assert.equal(builtinImage('nginx'), 'nginx');
    assert.equal(builtinImage('docker.io/library/nginx:1.27@sha256:abc'), 'nginx');
    assert.equal(builtinImage('index.docker.io/library/busybox'), 'busybox');
    assert.equal(builtinImage('localhost:5000/nginx'), undefined);
    assert.equal(builtinImage('my-custom-backend-image:v1'), undefined);
    assert.match(unknownImageMessage('my-custom-backend-image:v1'), /svcplane image load FILE/);
  });
});
