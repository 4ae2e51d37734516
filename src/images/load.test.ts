/**
 * inspectArchive: what `svcplane image load` checks before any node is touched — plain and
 * gzipped `docker save` tarballs and OCI archives (also as GNU tar writes them, with ./ names),
 * and the archives it refuses with a reason.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { TarWriter } from './oci.js';
import { humanSize, inspectArchive } from './load.js';

describe('image archives', () => {
  let dir: string;
  const tar = (name: string, files: Record<string, string>) => {
    const t = new TarWriter(join(dir, name));
    for (const [n, d] of Object.entries(files)) t.file(n, d);
    t.finish();
    return join(dir, name);
  };
  before(() => { dir = mkdtempSync(join(tmpdir(), 'svp-archive-')); });
  after(() => rmSync(dir, { recursive: true, force: true }));

  it('reads the names of a docker save tarball, plain and gzipped', async () => {
    const f = tar('d.tar', { 'manifest.json': JSON.stringify([{ Config: 'c.json', RepoTags: ['my-app:v1', 'example.com/x/y:2'], Layers: [] }]), 'c.json': '{}' });
    const a = await inspectArchive(f);
    assert.deepEqual([a.format, a.gzip, a.names], ['docker', false, ['docker.io/library/my-app:v1', 'example.com/x/y:2']]);
    writeFileSync(`${f}.gz`, gzipSync(readFileSync(f)));
    const g = await inspectArchive(`${f}.gz`);
    assert.deepEqual([g.format, g.gzip, g.names], ['docker', true, a.names]);
  });

  it('reads an OCI archive written by GNU tar (./ prefixes), keeping full ref names only', async () => {
    const src = join(dir, 'oci');
    mkdirSync(join(src, 'blobs', 'sha256'), { recursive: true });
    writeFileSync(join(src, 'oci-layout'), '{"imageLayoutVersion":"1.0.0"}');
    const m = (ann: Record<string, string>) => ({ mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${'0'.repeat(64)}`, size: 1, annotations: ann });
    writeFileSync(join(src, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [
      m({ 'org.opencontainers.image.ref.name': 'example.com/my-oci:v2' }), m({ 'org.opencontainers.image.ref.name': 'v3' }),
      m({ 'io.containerd.image.name': 'docker.io/library/redis:7', 'org.opencontainers.image.ref.name': '7' })] }));
    assert.equal(spawnSync('tar', ['-C', src, '-cf', join(dir, 'o.tar'), '.']).status, 0);
    const a = await inspectArchive(join(dir, 'o.tar'));
    assert.deepEqual([a.format, a.names], ['oci', ['example.com/my-oci:v2', 'docker.io/library/redis:7']]);
    // Only bare tags: nothing a pod could name.
    writeFileSync(join(src, 'index.json'), JSON.stringify({ schemaVersion: 2, manifests: [m({ 'org.opencontainers.image.ref.name': 'v3' })] }));
    assert.equal(spawnSync('tar', ['-C', src, '-cf', join(dir, 'bare.tar'), '.']).status, 0);
    await assert.rejects(inspectArchive(join(dir, 'bare.tar')), /holds no image with a name/);
  });

  it('refuses files that are no image archive, saying why', async () => {
    await assert.rejects(inspectArchive(join(dir, 'missing.tar')), /missing\.tar": no such file/);
    await assert.rejects(inspectArchive(dir), /is not a file \(a directory\)/);
    writeFileSync(join(dir, 'empty.tar'), '');
    await assert.rejects(inspectArchive(join(dir, 'empty.tar')), /not an image archive: empty file/);
    writeFileSync(join(dir, 'text.tar'), 'x'.repeat(2000));
    await assert.rejects(inspectArchive(join(dir, 'text.tar')), /not an image archive: not a tar file/);
    writeFileSync(join(dir, 'text.gz'), gzipSync('x'.repeat(2000)));
    await assert.rejects(inspectArchive(join(dir, 'text.gz')), /not an image archive: not a tar file/);
    writeFileSync(join(dir, 'broken.gz'), gzipSync(readFileSync(tar('t.tar', { a: 'b' }))).subarray(0, 30));
    await assert.rejects(inspectArchive(join(dir, 'broken.gz')), /not an image archive: (gzip|truncated)/);
    await assert.rejects(inspectArchive(tar('layer.tar', { hostname: 'x' })), /holds 1 entry but neither manifest\.json .* nor oci-layout and index\.json/);
    const cut = readFileSync(tar('full.tar', { 'manifest.json': '[]', pad: 'y'.repeat(3000) }));
    writeFileSync(join(dir, 'cut.tar'), cut.subarray(0, 1024 + 512));
    await assert.rejects(inspectArchive(join(dir, 'cut.tar')), /truncated archive/);
    await assert.rejects(inspectArchive(tar('badjson.tar', { 'manifest.json': '{nope' })), /manifest\.json is not valid JSON/);
    await assert.rejects(inspectArchive(tar('nonames.tar', { 'manifest.json': JSON.stringify([{ Config: 'c', RepoTags: null, Layers: [] }]) })), /holds no image with a name/);
  });

  it('sizes as crictl prints them', () => {
    assert.deepEqual([0, 999, 1987217, 685400, 245e6, 1.5e12].map(humanSize), ['0B', '999B', '1.987MB', '685.4kB', '245MB', '1.5TB']);
  });
});
