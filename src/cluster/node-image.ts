/**
 * @module cluster/node-image
 * What kind's node image is to its nodes: a containerd root that already holds the images every
 * node needs at once (the pause image for sandboxes, coredns for cluster DNS), pulled and
 * unpacked once, then given to each new node's containerd before it starts. Content blobs and
 * unpacked layers never change once written, so a node gets them as hard links (a full copy when
 * the data dir is on another file system); the two metadata databases, which containerd writes,
 * are copied. A new cluster then starts its first sandboxes without pulling and unpacking
 * ~100 MiB on every node at once, which on a 2-core machine was most of `up`'s CPU.
 *
 * Kept beside the built-in images (<image cache>/node-root/<key>), keyed by containerd's version
 * and the two images' manifest digests: a rebuilt image or another containerd makes a new one.
 */
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { builtinImage } from '../images/catalog.js';
import { REF_NAME, type Descriptor } from '../images/oci.js';
import { run } from '../net/exec.js';
import { COREDNS_IMAGE } from './bootstrap.js';
import { SANDBOX_IMAGE, containerdPaths, writeContainerdConfig } from './containerd.js';

/** The images a node root holds from the start. */
export const PRELOADED = [SANDBOX_IMAGE, COREDNS_IMAGE];
const COMPLETE = '.complete';
/** The two bolt databases containerd writes (everything else in a root is written once). */
const DATABASES = ['io.containerd.metadata.v1.bolt/meta.db', 'io.containerd.snapshotter.v1.overlayfs/metadata.db'];

const home = (cacheDir: string) => join(cacheDir, 'node-root');

/** The key of the node root for the images of this layout, or undefined when they are not built. */
export async function nodeRootKey(cacheDir: string): Promise<string | undefined> {
  let manifests: Descriptor[];
  try {
    manifests = (JSON.parse(readFileSync(join(cacheDir, 'index.json'), 'utf8')) as { manifests?: Descriptor[] }).manifests ?? [];
  } catch { return undefined; }
  const digests: string[] = [];
  for (const image of PRELOADED) {
    const d = manifests.find((m) => m.annotations?.[REF_NAME] === builtinImage(image));
    if (!d) return undefined;
    digests.push(`${image}=${d.digest}`);
  }
  const version = (await run(['containerd', '--version'], { allowFail: true }).catch(() => ({ stdout: '' }))).stdout.trim();
  if (!version) return undefined;
  return createHash('sha256').update([version, ...digests].join('\n')).digest('hex').slice(0, 16);
}

/** The node root for this layout if it has been built. */
export async function builtNodeRoot(cacheDir: string): Promise<string | undefined> {
  const key = await nodeRootKey(cacheDir);
  const dir = key && join(home(cacheDir), key);
  return dir && existsSync(join(dir, COMPLETE)) ? join(dir, 'root') : undefined;
}

/**
 * Build the node root if it is missing: a containerd of its own (in the host's network
 * namespace, loopback only) pulls the images through the CRI from a registry serving the layout
 * on 127.0.0.1, as a node's containerd would; then it stops and its root is kept. Older node
 * roots go. Returns the root, or undefined when the images are not built.
 */
export async function ensureNodeRoot(cacheDir: string, log: (s: string) => void = () => undefined): Promise<string | undefined> {
  const key = await nodeRootKey(cacheDir);
  if (!key) return undefined;
  const dir = join(home(cacheDir), key);
  if (existsSync(join(dir, COMPLETE))) return join(dir, 'root');
  mkdirSync(home(cacheDir), { recursive: true, mode: 0o700 });
  const tmp = join(home(cacheDir), `.build-${process.pid}-${Date.now()}`);
  // Loaded only to build (rarely): `up` itself stays light.
  const [{ startRegistry }, { CriClient }] = await Promise.all([import('../images/registry.js'), import('../kubelet/cri/client.js')]);
  const registry = await startRegistry({ cacheDir, host: '127.0.0.1', port: 0 });
  const paths = containerdPaths(tmp, 'node');
  const config = writeContainerdConfig({ dataDir: tmp, cluster: 'node-root', node: 'node', podCIDR: '10.244.254.0/24', gateway: '10.244.254.1', registryPort: registry.port });
  const child = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr!.on('data', (b: Buffer) => { stderr = (stderr + b.toString()).slice(-4000); });
  const exited = new Promise<void>((res) => child.once('exit', () => res()));
  const cri = new CriClient(paths.socket);
  try {
    const end = Date.now() + 30_000;
    for (;;) {
      try { await cri.version(); break; } catch (e) {
        if (Date.now() > end || child.exitCode !== null) throw new Error(`containerd for the node root did not start: ${stderr.trim() || (e as Error).message}`);
      }
      await new Promise((r) => setTimeout(r, 100));
    }
    for (const image of PRELOADED) await cri.pullImage(image);
  } catch (e) {
    cri.close();
    child.kill('SIGKILL');
    await exited;
    await registry.close();
    rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  cri.close();
  child.kill('SIGTERM');
  await exited;
  await registry.close();
  writeFileSync(join(tmp, COMPLETE), `${PRELOADED.join('\n')}\n`, { mode: 0o600 });
  // The root alone is kept: renamed beside the marker, config and state dropped.
  const out = `${tmp}.root`;
  mkdirSync(out, { mode: 0o700 });
  renameSync(paths.root, join(out, 'root'));
  renameSync(join(tmp, COMPLETE), join(out, COMPLETE));
  rmSync(tmp, { recursive: true, force: true });
  try {
    renameSync(out, dir);
  } catch {
    rmSync(out, { recursive: true, force: true }); // another build finished first
  }
  for (const e of readdirSync(home(cacheDir))) if (e !== key && !e.startsWith('.build-')) rmSync(join(home(cacheDir), e), { recursive: true, force: true });
  log(`node root ${key}: ${PRELOADED.join(', ')} preloaded`);
  return join(dir, 'root');
}

/**
 * Give a new node's containerd the preloaded root (before it first starts): hard links where the
 * file system allows, the databases copied. A root that exists is left alone.
 */
export async function seedNodeRoot(template: string, root: string): Promise<boolean> {
  if (existsSync(join(root, 'io.containerd.metadata.v1.bolt'))) return false;
  mkdirSync(root, { recursive: true, mode: 0o700 });
  const linked = await run(['cp', '-a', '--link', `${template}/.`, `${root}/`], { allowFail: true });
  if (linked.code !== 0) await run(['cp', '-a', '--reflink=auto', `${template}/.`, `${root}/`]);
  for (const db of DATABASES) await run(['cp', '--remove-destination', '-p', join(template, db), join(root, db)]);
  return true;
}
