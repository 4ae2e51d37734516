/**
 * `svcplane image load|ls|rm` on a 1-worker containerd cluster, with images made here from local
 * files only: a `docker save` tarball (busybox-static's httpd serving a page with a random token)
 * and an OCI archive of another one (skopeo copy docker-archive: → oci-archive:). Pods that must
 * use the node's own copy (imagePullPolicy Never on the control plane, IfNotPresent on the worker,
 * where no registry has the name) run and serve the token; `image rm` takes a tag, then the image,
 * and a new Never pod gets ErrImageNeverPull; an image nobody loaded fails with how to load it.
 * Bad archives and clusters without a running containerd are refused.
 */
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, isRoot, startCluster, type TestCluster } from './lib/harness.js';
import { TarWriter } from '../src/images/oci.js';

const skip = !isRoot() || !existsSync('/usr/bin/containerd') || !existsSync('/bin/busybox') || !existsSync('/usr/bin/skopeo')
  ? 'needs root, containerd, busybox-static and skopeo' : false;

function svcplane(args: string[]) {
  const r = spawnSync(join(ROOT, 'bin/svcplane'), args, { encoding: 'utf8', timeout: 120_000 });
  return { code: r.status ?? -1, out: r.stdout ?? '', err: `${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

/**
 * A `docker save` archive (manifest.json, config JSON, one layer tar) of an image whose CMD is
 * busybox httpd on :8080 serving `page`.
 */
function dockerSave(dir: string, file: string, tags: string[], page: string): void {
  const work = mkdtempSync(join(dir, 'img-'));
  const layerFile = join(work, 'layer.tar');
  const layer = new TarWriter(layerFile);
  layer.copy('bin/busybox', '/bin/busybox');
  for (const applet of ['sh', 'httpd', 'cat']) layer.symlink(`bin/${applet}`, 'busybox');
  layer.file('www/index.html', page);
  const { digest: diffId } = layer.finish();
  const config = JSON.stringify({
    architecture: process.arch === 'arm64' ? 'arm64' : 'amd64', os: 'linux',
    config: { Env: ['PATH=/bin'], Cmd: ['/bin/busybox', 'httpd', '-f', '-p', '8080', '-h', '/www'], ExposedPorts: { '8080/tcp': {} } },
    rootfs: { type: 'layers', diff_ids: [diffId] },
    history: [{ created_by: 'image-load.test.ts' }],
  });
  const configName = `${createHash('sha256').update(config).digest('hex')}.json`;
  const out = new TarWriter(file);
  out.file('manifest.json', JSON.stringify([{ Config: configName, RepoTags: tags, Layers: [`${diffId.slice(7)}/layer.tar`] }]));
  out.file(configName, config);
  out.copy(`${diffId.slice(7)}/layer.tar`, layerFile, 0o644);
  out.finish();
  rmSync(work, { recursive: true, force: true });
}

describe('svcplane image load / ls / rm (containerd)', { skip, timeout: 240_000 }, () => {
  let tc: TestCluster;
  let dir: string;
  let cp: string;
  let worker: string;
  const token1 = `my-app-v1-${randomBytes(6).toString('hex')}`;
  const token2 = `my-oci-v2-${randomBytes(6).toString('hex')}`;
  const cl = () => ['--name', tc.name, '--data-dir', tc.config.dataDir];

  const pod = (name: string, image: string, policy: string, node?: string) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name, labels: { test: 'image-load' } },
    spec: { ...(node ? { nodeName: node } : {}), terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image, imagePullPolicy: policy }] },
  });
  const create = (...objs: object[]) => {
    const r = tc.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: objs }) });
    assert.equal(r.code, 0, r.err);
  };
  const podJson = (name: string) => JSON.parse(tc.k('get', 'pod', name, '-o', 'json'));
  const waiting = (name: string) => podJson(name).status?.containerStatuses?.[0]?.state?.waiting as { reason?: string; message?: string } | undefined;
  const serves = async (name: string) => {
    const ip = await tc.eventually(`pod ${name} running with an IP`, () => {
      const p = podJson(name);
      return p.status?.containerStatuses?.[0]?.state?.running && p.status.podIP;
    }, 60_000);
    return tc.eventually(`pod ${name} answering on ${ip}:8080`, () => {
      const r = tc.curl('control-plane', `http://${ip}:8080/`);
      return r.code === 0 && r.out;
    }, 20_000);
  };
  const ls = () => {
    const r = svcplane(['image', 'ls', ...cl(), '-o', 'json']);
    assert.equal(r.code, 0, r.err);
    return JSON.parse(r.out) as { nodes: string[]; images: { image: string; tag: string; id: string; nodes: string[] }[] };
  };

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'svp-imgload-'));
    dockerSave(dir, join(dir, 'my-app.tar'), ['example.com/my-app:v1', 'example.com/my-app:stable'], `${token1}\n`);
    dockerSave(dir, join(dir, 'v2-docker.tar'), ['example.com/my-oci:v2'], `${token2}\n`);
    const sk = spawnSync('skopeo', ['copy', '--quiet', `docker-archive:${join(dir, 'v2-docker.tar')}`, `oci-archive:${join(dir, 'my-oci.tar')}:example.com/my-oci:v2`], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(sk.status, 0, sk.stderr);
    tc = await startCluster({ runtime: 'containerd', workers: 1 });
    [cp, worker] = [`${tc.name}-control-plane`, `${tc.name}-worker`];
  });
  after(async () => {
    await tc?.destroy();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('refuses what is not an image archive, and clusters without a running containerd', () => {
    const missing = svcplane(['image', 'load', ...cl(), join(dir, 'nope.tar')]);
    assert.equal(missing.code, 1);
    assert.match(missing.err, /nope\.tar": no such file/);
    writeFileSync(join(dir, 'junk.tar'), 'this is not a tar file\n'.repeat(40));
    const junk = svcplane(['image', 'load', ...cl(), join(dir, 'junk.tar')]);
    assert.equal(junk.code, 1);
    assert.match(junk.err, /junk\.tar" is not an image archive/);
    // A tar that is no image: the layer of one (files, no manifest.json / index.json).
    const lt = new TarWriter(join(dir, 'plain.tar'));
    lt.file('hello.txt', 'hi\n');
    lt.finish();
    const plain = svcplane(['image', 'load', ...cl(), join(dir, 'plain.tar')]);
    assert.equal(plain.code, 1);
    assert.match(plain.err, /plain\.tar" is not an image archive: .*neither manifest\.json/);
    // Clusters known only by their cluster.json: one of host processes, one whose containerd is down.
    for (const [runtime, want] of [['process', /runs pods as host processes/], ['containerd', /is not running: the containerd of node/]] as const) {
      const d = join(dir, `fake-${runtime}`);
      mkdirSync(d, { mode: 0o700 });
      writeFileSync(join(d, 'cluster.json'), JSON.stringify({ name: `fake${runtime}`, dataDir: d, workers: 1, runtime }));
      for (const args of [['load', join(dir, 'my-app.tar')], ['ls'], ['rm', 'example.com/my-app:v1']]) {
        const r = svcplane(['image', ...args, '--name', `fake${runtime}`, '--data-dir', d]);
        assert.equal(r.code, 1, `${args[0]} on a ${runtime} cluster: ${r.out}`);
        assert.match(r.err, want);
      }
    }
    // Nothing of the refused archives reached the nodes.
    assert.deepEqual(ls().images.filter((i) => i.image.startsWith('example.com/')), []);
  });

  it('loads a docker save tarball and an OCI archive into every node; pods run them without pulling', async () => {
    const r = svcplane(['image', 'load', ...cl(), join(dir, 'my-app.tar'), join(dir, 'my-oci.tar')]);
    assert.equal(r.code, 0, r.err);
    const listed = ls();
    assert.deepEqual(listed.nodes.sort(), [cp, worker].sort());
    for (const [image, tag] of [['example.com/my-app', 'v1'], ['example.com/my-app', 'stable'], ['example.com/my-oci', 'v2']]) {
      const row = listed.images.find((i) => i.image === image && i.tag === tag);
      assert.ok(row, `${image}:${tag} in ${JSON.stringify(listed.images)}`);
      assert.deepEqual(row.nodes.sort(), [cp, worker].sort());
    }
    // Never on the control plane, IfNotPresent on the worker (no registry has example.com's
    // images: only the node's own copy can start them), the OCI image with Never on the worker.
    create(pod('app-cp', 'example.com/my-app:v1', 'Never', cp), pod('app-w', 'example.com/my-app:v1', 'IfNotPresent', worker),
      pod('oci-w', 'example.com/my-oci:v2', 'Never', worker));
    assert.equal((await serves('app-cp')).trim(), token1);
    assert.equal((await serves('app-w')).trim(), token1);
    assert.equal((await serves('oci-w')).trim(), token2);
    assert.equal(podJson('app-cp').spec.nodeName, cp);
    assert.equal(podJson('app-w').spec.nodeName, worker);
  });

  it('an image nobody loaded fails to pull, saying how to load it', async () => {
    create(pod('custom', 'my-custom-backend-image:v1', 'IfNotPresent', worker));
    await tc.eventually('custom waiting in ErrImagePull/ImagePullBackOff', () => {
      const s = waiting('custom');
      return s && /^(ErrImagePull|ImagePullBackOff)$/.test(s.reason ?? '') && s;
    }, 60_000);
    assert.equal(podJson('custom').status.phase, 'Pending');
    const failed = await tc.eventually('a Failed event naming the image', () => {
      const ev = JSON.parse(tc.k('get', 'events', '--field-selector', 'involvedObject.name=custom,reason=Failed', '-o', 'json')).items as { message: string }[];
      return ev.find((e) => e.message.startsWith('Failed to pull image "my-custom-backend-image:v1"'));
    }, 60_000);
    assert.match(failed.message, /svcplane image load/);
    // Offline, the pull fails at once (the lan refuses the registry's lookup) rather than after
    // the resolver's timeouts: its Failed event comes in the second of its Pulling event.
    const ev = JSON.parse(tc.k('get', 'events', '--field-selector', 'involvedObject.name=custom', '-o', 'json')).items as { reason: string; message: string; firstTimestamp: string }[];
    const pulling = ev.find((e) => e.reason === 'Pulling');
    assert.ok(pulling, JSON.stringify(ev));
    const failedAt = ev.filter((e) => e.reason === 'Failed' && e.message.startsWith('Failed to pull')).map((e) => Date.parse(e.firstTimestamp));
    assert.ok(Math.min(...failedAt) - Date.parse(pulling.firstTimestamp) <= 2000, JSON.stringify(ev));
    assert.doesNotMatch(failed.message, /i\/o timeout|deadline exceeded/);
    // While the pull backs off, the status keeps its error and the how-to.
    const backoff = await tc.eventually('custom in ImagePullBackOff', () => {
      const s = waiting('custom');
      return s?.reason === 'ImagePullBackOff' && s;
    }, 60_000);
    assert.match(backoff.message ?? '', /^Back-off pulling image "my-custom-backend-image:v1": ErrImagePull: .*svcplane image load/);
  });

  it('rm takes one tag, then the image; a Never pod then gets ErrImageNeverPull', async () => {
    const untag = svcplane(['image', 'rm', ...cl(), 'example.com/my-app:stable']);
    assert.equal(untag.code, 0, untag.err);
    let imgs = ls().images;
    assert.ok(!imgs.some((i) => i.image === 'example.com/my-app' && i.tag === 'stable'), JSON.stringify(imgs));
    assert.deepEqual(imgs.find((i) => i.image === 'example.com/my-app' && i.tag === 'v1')?.nodes.sort(), [cp, worker].sort());
    // The other tag still starts a pod on each node.
    create(pod('after-untag', 'example.com/my-app:v1', 'Never', cp));
    assert.equal((await serves('after-untag')).trim(), token1);

    const rm = svcplane(['image', 'rm', ...cl(), 'example.com/my-app:v1']);
    assert.equal(rm.code, 0, rm.err);
    imgs = ls().images;
    assert.ok(!imgs.some((i) => i.image === 'example.com/my-app'), JSON.stringify(imgs));
    assert.ok(imgs.some((i) => i.image === 'example.com/my-oci' && i.tag === 'v2'), 'the other image stays');
    for (const node of [cp, worker]) create(pod(`never-${node.endsWith('worker') ? 'w' : 'cp'}`, 'example.com/my-app:v1', 'Never', node));
    for (const name of ['never-w', 'never-cp']) {
      const w = await tc.eventually(`${name} in ErrImageNeverPull`, () => { const s = waiting(name); return s?.reason === 'ErrImageNeverPull' && s; }, 60_000);
      assert.match(w.message ?? '', /example\.com\/my-app:v1/);
    }
    // The running pods keep running; removing again names what is missing.
    assert.ok(podJson('app-w').status.containerStatuses[0].state.running);
    const again = svcplane(['image', 'rm', ...cl(), 'example.com/my-app:v1']);
    assert.equal(again.code, 1);
    assert.match(again.err, /no such image "example\.com\/my-app:v1" on any node/);
    // By image ID prefix, as crictl rmi takes it.
    const oci = ls().images.find((i) => i.image === 'example.com/my-oci')!;
    const byId = svcplane(['image', 'rm', ...cl(), oci.id.slice(7, 19)]);
    assert.equal(byId.code, 0, byId.err);
    assert.ok(!ls().images.some((i) => i.id === oci.id), 'the image with that ID is gone from every node');
  });
});
