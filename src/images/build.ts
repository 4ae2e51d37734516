/**
 * @module images/build
 * Builds svcplane's built-in images into an OCI image layout (default /var/lib/svcplane/images,
 * or $SVCPLANE_IMAGE_CACHE): five layers, each rebuilt only when its inputs change, and one
 * config + manifest per image of catalog.IMAGES on top of them.
 *   debian   Debian bookworm from the package archive (mmdebstrap, through the host's apt config):
 *            nginx configured like the official image, bash, curl, dig, nc, ip, ss, tcpdump, ping …
 *   node     the host's Node.js binary at /usr/local/bin/node (it needs the debian layer's glibc
 *            and libstdc++)
 *   app      svcplane's image programs bundled into /svcplane/run.js (esbuild) and the wrappers
 *            /agnhost, /coredns, /bootcamp
 *   nodelibs the node binary's dynamic loader and shared libraries from the host, at the paths
 *            ldd names (for images without the debian layer: coredns)
 *   busybox  busybox-static with its applet links
 *   pause    /pause: waits, exits 0 on SIGTERM/SIGINT, reaps zombies (static C, else busybox)
 * Inputs of each layer are hashed and recorded in layers/<name>.json next to the layout; an
 * unchanged layer costs a few stat calls and hashes.
 */
import { execFileSync, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync, realpathSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join, relative } from 'node:path';
import type { BuildOptions } from 'esbuild';
import { PROJECT_ROOT } from '../cli/self.js';
import { IMAGES, IMAGE_ENV, type ImageDef, type ImageKey, type LayerName } from './catalog.js';
import { MEDIA, REF_NAME, TarWriter, adoptBlob, blobPath, initLayout, putBlob, readIndex, writeIndex, type Descriptor } from './oci.js';

export const DEFAULT_IMAGE_CACHE = '/var/lib/svcplane/images';
export const imageCacheDir = (): string => process.env.SVCPLANE_IMAGE_CACHE || DEFAULT_IMAGE_CACHE;

/** Bumped when a layer's recipe changes in a way its recorded inputs do not show. */
const RECIPE = 1;

/** What layers/<name>.json records about a built layer. */
export interface LayerRecord {
  name: LayerName;
  /** sha256 of everything the layer is made from. */
  inputs: string;
  digest: string;
  size: number;
  builtAt: string;
  seconds: number;
  /** Source files the app bundle was made from, with their sha256 (checked before re-bundling). */
  files?: Record<string, string>;
  note?: string;
}

export interface BuildResult {
  layout: string;
  layers: Record<LayerName, LayerRecord & { rebuilt: boolean }>;
  images: Record<ImageKey, { manifest: Descriptor; size: number }>;
  seconds: number;
}

const sha256 = (data: string | Buffer): string => createHash('sha256').update(data).digest('hex');
const fileSha = (p: string): string => sha256(readFileSync(p));

// ---------------------------------------------------------------------------------------------
// debian

/** The tools every shell image promises (checked inside the root filesystem before it is packed). */
export const DEBIAN_TOOLS = ['sh', 'bash', 'curl', 'wget', 'dig', 'nslookup', 'nc', 'ip', 'ss', 'tcpdump', 'ping', 'ps', 'nginx', 'ls', 'cat', 'sleep'];

export const DEBIAN_PACKAGES = [
  'nginx-light', 'curl', 'wget', 'bind9-dnsutils', 'netcat-openbsd', 'iproute2', 'iputils-ping', 'tcpdump',
  'procps', 'libstdc++6', 'ca-certificates',
];

/** As the official nginx image's /etc/nginx/conf.d/default.conf (IPv4 only: a pod may have no IPv6). */
const NGINX_DEFAULT_CONF = `server {
    listen       80;
    server_name  localhost;

    location / {
        root   /usr/share/nginx/html;
        index  index.html index.htm;
    }

    error_page   500 502 503 504  /50x.html;
    location = /50x.html {
        root   /usr/share/nginx/html;
    }
}
`;

const shq = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;

function mmdebstrapArgs(out: string): string[] {
  const hooks = [
    // nginx as in the official image: conf.d/default.conf serves /usr/share/nginx/html on :80,
    // logs go to the container's stdout/stderr.
    'rm -f "$1"/etc/nginx/sites-enabled/default',
    `printf %s ${shq(NGINX_DEFAULT_CONF)} > "$1"/etc/nginx/conf.d/default.conf`,
    'ln -sf /dev/stdout "$1"/var/log/nginx/access.log',
    'ln -sf /dev/stderr "$1"/var/log/nginx/error.log',
    'test -s "$1"/usr/share/nginx/html/index.html',
    // The runtime provides these per container; the host's copies must not ship.
    ': > "$1"/etc/resolv.conf; : > "$1"/etc/hostname',
    'rm -rf "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old "$1"/var/cache/ldconfig/aux-cache',
    `for t in ${DEBIAN_TOOLS.join(' ')}; do chroot "$1" sh -c "command -v $t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done`,
  ];
  return [
    '--variant=minbase', '--mode=root', '--format=tar',
    // merged /usr through symlinks (usr-is-merged) rather than the usrmerge package, which pulls in perl.
    '--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr',
    `--include=${DEBIAN_PACKAGES.join(',')}`,
    ...['doc', 'man', 'locale', 'info', 'lintian', 'linda', 'bug', 'groff'].map((d) => `--dpkgopt=path-exclude=/usr/share/${d}/*`),
    '--dpkgopt=path-include=/usr/share/doc/*/copyright',
    // runc mounts /dev itself; device nodes in a layer are only in the way.
    '--skip=output/dev',
    ...hooks.map((h) => `--customize-hook=${h}`),
    'bookworm', out,
  ];
}

async function runLogged(cmd: string, args: string[], log: (s: string) => void): Promise<void> {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_ALL: 'C.UTF-8' } });
  const tail: string[] = [];
  const take = (b: Buffer) => {
    for (const line of b.toString().split('\n')) {
      if (!line.trim()) continue;
      tail.push(line); if (tail.length > 40) tail.shift();
      log(`  ${cmd}: ${line}`);
    }
  };
  child.stdout.on('data', take);
  child.stderr.on('data', take);
  const code = await new Promise<number | null>((res, rej) => { child.on('error', rej); child.on('close', res); });
  if (code !== 0) throw new Error(`${cmd} failed (exit ${code}):\n${tail.join('\n')}`);
}

// ---------------------------------------------------------------------------------------------
// layer recipes: each says what its inputs are, and how to write the layer tar.

interface Ctx { layout: string; tmp: string; log: (s: string) => void; previous?: LayerRecord }
interface Recipe {
  /** sha256 of the inputs, or undefined when only building tells (the app bundle). */
  inputs(ctx: Ctx): string | undefined;
  /** Writes the layer into the tmp file; returns its inputs hash (and recorded files). */
  build(ctx: Ctx, out: string): Promise<{ inputs: string; files?: Record<string, string>; note?: string }>;
}

const BUSYBOX = '/bin/busybox';

function busyboxApplets(): string[] {
  return execFileSync(BUSYBOX, ['--list-full'], { encoding: 'utf8' }).split('\n').map((s) => s.trim()).filter(Boolean);
}

function writeBusybox(tar: TarWriter, applets: string[]): void {
  for (const d of ['bin', 'sbin', 'usr/bin', 'usr/sbin', 'etc', 'root', 'proc', 'sys', 'dev']) tar.dir(d);
  tar.dir('tmp', 0o1777);
  tar.copy('bin/busybox', BUSYBOX, 0o755);
  // Every applet in /bin, as the official busybox image has them (busybox --list-full spreads them over sbin and usr/).
  const names = [...new Set(applets.map((a) => a.slice(a.lastIndexOf('/') + 1)))].filter((n) => n && n !== 'busybox').sort();
  for (const n of names) tar.symlink(`bin/${n}`, 'busybox');
  tar.file('etc/passwd', 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n');
  tar.file('etc/group', 'root:x:0:\nnogroup:x:65534:\n');
}

/**
 * pause, after upstream's build/pause/linux/pause.c in what it does: PID 1 of the sandbox that
 * sleeps until SIGINT/SIGTERM (exit 0) and reaps every child that is reparented to it.
 */
const PAUSE_C = `#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
static void down(int sig) { (void)sig; _exit(0); }
static void reap(int sig) { (void)sig; while (waitpid(-1, NULL, WNOHANG) > 0) {} }
int main(int argc, char **argv) {
  if (argc > 1 && strcmp(argv[1], "-v") == 0) { puts("pause (svcplane)"); return 0; }
  if (getpid() != 1) fprintf(stderr, "Warning: pause should be the first process\\n");
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = down;
  if (sigaction(SIGINT, &sa, NULL) < 0 || sigaction(SIGTERM, &sa, NULL) < 0) return 1;
  sa.sa_handler = reap;
  sa.sa_flags = SA_NOCLDSTOP;
  if (sigaction(SIGCHLD, &sa, NULL) < 0) return 2;
  for (;;) pause();
}
`;

const PAUSE_SH = `#!/bin/busybox sh
# svcplane pause (no C compiler at build time): sleeps until SIGTERM/SIGINT, then exits 0.
trap 'exit 0' TERM INT
while :; do /bin/busybox sleep 2147483647 & wait $!; done
`;

function gccVersion(): string | undefined {
  try { return execFileSync('gcc', ['--version'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]; } catch { return undefined; }
}

/** /pause compiled statically with gcc, or undefined (no gcc, no static libc). */
function staticPause(ctx: Ctx): string | undefined {
  if (!gccVersion()) return undefined;
  const src = join(ctx.tmp, 'pause.c');
  const bin = join(ctx.tmp, 'pause');
  writeFileSync(src, PAUSE_C);
  try {
    execFileSync('gcc', ['-Os', '-static', '-s', '-Wall', '-o', bin, src], { stdio: ['ignore', 'ignore', 'pipe'] });
    return bin;
  } catch (e) {
    ctx.log(`pause: gcc -static failed (${(e as Error).message.split('\n')[0]}), using busybox`);
    return undefined;
  } finally { rmSync(src, { force: true }); }
}

/** esbuild from svcplane's own node_modules (the compiler tsx uses): nothing new is downloaded. */
function esbuild(): typeof import('esbuild') {
  return createRequire(join(PROJECT_ROOT, 'package.json'))('esbuild') as typeof import('esbuild');
}

const APP_OPTIONS: BuildOptions = {
  entryPoints: [join(PROJECT_ROOT, 'src', 'images', 'run.ts')],
  bundle: true, platform: 'node', format: 'esm', target: 'node20', minify: false, legalComments: 'none',
  // CommonJS dependencies call require() for Node's built-ins; an ESM bundle needs a real one.
  banner: { js: "import { createRequire as __svcplaneRequire } from 'node:module'; const require = __svcplaneRequire(import.meta.url);" },
};

const WRAPPERS: Record<string, string> = { agnhost: 'agnhost', coredns: 'coredns', bootcamp: 'bootcamp' };

function appInputs(files: Record<string, string>): string {
  return sha256(JSON.stringify({ RECIPE, esbuild: esbuild().version, APP_OPTIONS, WRAPPERS, files }));
}

export const RECIPES: Record<LayerName, Recipe> = {
  debian: {
    inputs: () => sha256(JSON.stringify({ RECIPE, args: mmdebstrapArgs('OUT') })),
    async build(ctx, out) {
      await runLogged('mmdebstrap', mmdebstrapArgs(out), ctx.log);
      return { inputs: this.inputs(ctx)!, note: `mmdebstrap bookworm: ${DEBIAN_PACKAGES.join(' ')}` };
    },
  },
  node: {
    inputs: () => {
      const st = statSync(process.execPath);
      return sha256(JSON.stringify({ RECIPE, path: realpathSync(process.execPath), size: st.size, mtime: st.mtimeMs, version: process.version }));
    },
    async build(ctx, out) {
      const tar = new TarWriter(out);
      tar.copy('usr/local/bin/node', process.execPath, 0o755);
      tar.finish();
      return { inputs: this.inputs(ctx)!, note: `node ${process.version} from ${process.execPath}` };
    },
  },
  nodelibs: {
    inputs: () => sha256(JSON.stringify({ RECIPE, libs: nodeLibs().map((l) => { const st = statSync(l.real); return [l.path, l.real, st.size, st.mtimeMs]; }) })),
    async build(ctx, out) {
      const tar = new TarWriter(out);
      const libs = nodeLibs();
      for (const l of libs) tar.copy(l.path.replace(/^\//, ''), l.real, 0o755);
      tar.finish();
      return { inputs: this.inputs(ctx)!, note: libs.map((l) => l.path).join(' ') };
    },
  },
  app: {
    inputs: (ctx) => {
      const files = ctx.previous?.files;
      if (!files) return undefined;
      const now: Record<string, string> = {};
      for (const f of Object.keys(files)) {
        try { now[f] = fileSha(join(PROJECT_ROOT, f)); } catch { return undefined; }
      }
      return appInputs(now);
    },
    async build(ctx, out) {
      const r = await esbuild().build({ ...APP_OPTIONS, write: false, metafile: true, logLevel: 'silent' as const });
      if (!r.metafile || !r.outputFiles?.[0]) throw new Error('esbuild: no output');
      const files: Record<string, string> = {};
      for (const f of Object.keys(r.metafile.inputs)) {
        // Inputs are relative to the working directory; record them relative to the checkout.
        const abs = join(process.cwd(), f);
        files[relative(PROJECT_ROOT, abs)] = fileSha(abs);
      }
      const inputs = appInputs(files);
      const tar = new TarWriter(out);
      tar.dir('svcplane');
      tar.file('svcplane/package.json', '{"type":"module"}\n');
      tar.file('svcplane/run.js', Buffer.from(r.outputFiles[0]!.contents));
      for (const [w, prog] of Object.entries(WRAPPERS)) {
        tar.file(w, `#!/bin/sh\nexec /usr/local/bin/node /svcplane/run.js ${prog} "$@"\n`, 0o755);
      }
      tar.finish();
      return { inputs, files, note: `${Object.keys(files).length} source files bundled with esbuild ${esbuild().version}` };
    },
  },
  busybox: {
    inputs: () => sha256(JSON.stringify({ RECIPE, layout: 'all-in-bin', busybox: fileSha(BUSYBOX), applets: busyboxApplets() })),
    async build(ctx, out) {
      const tar = new TarWriter(out);
      writeBusybox(tar, busyboxApplets());
      tar.finish();
      return { inputs: this.inputs(ctx)!, note: execFileSync(BUSYBOX, [], { encoding: 'utf8' }).split('\n')[0] };
    },
  },
  pause: {
    inputs: () => {
      const gcc = gccVersion();
      return sha256(JSON.stringify({ RECIPE, gcc, src: gcc ? PAUSE_C : PAUSE_SH, busybox: gcc ? undefined : fileSha(BUSYBOX) }));
    },
    async build(ctx, out) {
      const inputs = this.inputs(ctx)!;
      const tar = new TarWriter(out);
      const bin = staticPause(ctx);
      if (bin) {
        tar.copy('pause', bin, 0o755);
        rmSync(bin);
        tar.finish();
        return { inputs, note: 'static C (gcc)' };
      }
      tar.copy('bin/busybox', BUSYBOX, 0o755);
      tar.file('pause', PAUSE_SH, 0o755);
      tar.finish();
      return { inputs, note: 'busybox sh script' };
    },
  },
};

// ---------------------------------------------------------------------------------------------
// images on top of the layers

/** The OCI config of one built-in image. `created` is the newest of its layers' build times. */
export function imageConfig(def: ImageDef, layers: LayerRecord[]): Record<string, unknown> {
  const created = layers.map((l) => l.builtAt).sort().at(-1)!;
  const config: Record<string, unknown> = { Env: IMAGE_ENV };
  if (def.entrypoint) config.Entrypoint = def.entrypoint;
  if (def.cmd) config.Cmd = def.cmd;
  if (def.workingDir) config.WorkingDir = def.workingDir;
  if (def.exposedPorts) config.ExposedPorts = Object.fromEntries(def.exposedPorts.map((p) => [p, {}]));
  if (def.stopSignal) config.StopSignal = def.stopSignal;
  return {
    created, architecture: 'amd64', os: 'linux', config,
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.digest) },
    history: layers.map((l) => ({ created: l.builtAt, created_by: `svcplane image build: ${l.name}${l.note ? ` (${l.note})` : ''}` })),
  };
}

/**
 * Writes a config and a manifest for every image of catalog.IMAGES over the given layers (whose
 * blobs must be in the layout) and points index.json at them. Returns the manifests by image.
 */
export function assembleImages(layout: string, layers: Record<LayerName, LayerRecord>): Record<ImageKey, { manifest: Descriptor; size: number }> {
  initLayout(layout);
  const out = {} as Record<ImageKey, { manifest: Descriptor; size: number }>;
  const index: Descriptor[] = [];
  for (const [key, def] of Object.entries(IMAGES) as [ImageKey, ImageDef][]) {
    const ls = def.layers.map((n) => layers[n]);
    const config = putBlob(layout, JSON.stringify(imageConfig(def, ls)), MEDIA.config);
    const manifest = putBlob(layout, JSON.stringify({
      schemaVersion: 2, mediaType: MEDIA.manifest, config,
      layers: ls.map((l) => ({ mediaType: MEDIA.layer, digest: l.digest, size: l.size })),
    }), MEDIA.manifest);
    out[key] = { manifest, size: ls.reduce((s, l) => s + l.size, 0) };
    index.push({ ...manifest, annotations: { [REF_NAME]: key } });
  }
  writeIndex(layout, index);
  return out;
}

/** Deletes blobs no manifest of index.json refers to (old layers, configs, manifests). */
function collectGarbage(layout: string): number {
  const keep = new Set<string>();
  for (const m of readIndex(layout)) {
    keep.add(m.digest);
    const man = JSON.parse(readFileSync(blobPath(layout, m.digest), 'utf8')) as { config: Descriptor; layers: Descriptor[] };
    keep.add(man.config.digest);
    for (const l of man.layers) keep.add(l.digest);
  }
  let freed = 0;
  const dir = join(layout, 'blobs', 'sha256');
  for (const f of readdirSync(dir)) {
    if (keep.has(`sha256:${f}`)) continue;
    freed += statSync(join(dir, f)).size;
    rmSync(join(dir, f), { force: true });
  }
  return freed;
}

/** One build at a time per cache: a lock directory holding the builder's pid (a dead holder's lock is taken over). */
async function withLock<T>(dir: string, fn: () => Promise<T>, log: (s: string) => void): Promise<T> {
  const lock = join(dir, 'build.lock');
  let said = false;
  for (;;) {
    try { mkdirSync(lock); writeFileSync(join(lock, 'pid'), String(process.pid)); break; } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      let pid = 0;
      try { pid = Number(readFileSync(join(lock, 'pid'), 'utf8')); } catch { /* being written */ }
      let alive = true;
      if (pid > 0) { try { process.kill(pid, 0); } catch { alive = false; } }
      if (!alive) { rmSync(lock, { recursive: true, force: true }); continue; }
      if (!said) { log(`waiting for the image build of process ${pid || '?'} (${lock})`); said = true; }
      await new Promise((r) => setTimeout(r, 500));
    }
  }
  try { return await fn(); } finally { rmSync(lock, { recursive: true, force: true }); }
}

const LAYER_ORDER: LayerName[] = ['pause', 'busybox', 'nodelibs', 'node', 'app', 'debian'];

/** The shared objects `ldd node` names (loader included), each with the file it resolves to. */
function nodeLibs(): { path: string; real: string }[] {
  const out = execFileSync('ldd', [process.execPath], { encoding: 'utf8' });
  const libs: { path: string; real: string }[] = [];
  for (const line of out.split('\n')) {
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (m) libs.push({ path: m[1]!, real: realpathSync(m[1]!) });
  }
  if (!libs.some((l) => /ld-linux/.test(l.path))) throw new Error(`ldd ${process.execPath}: no dynamic loader in:\n${out}`);
  return libs;
}

/**
 * Builds (or finds up to date) every layer and image. cacheDir defaults to
 * $SVCPLANE_IMAGE_CACHE or /var/lib/svcplane/images; it is the OCI layout itself, with
 * layers/<name>.json records and tmp/ beside blobs/.
 */
export async function buildImages(o: { cacheDir?: string; log?: (s: string) => void } = {}): Promise<BuildResult> {
  const layout = o.cacheDir ?? imageCacheDir();
  const log = o.log ?? (() => undefined);
  const t0 = performance.now();
  mkdirSync(layout, { recursive: true, mode: 0o700 });
  chmodSync(layout, 0o700);
  return withLock(layout, async () => {
    initLayout(layout);
    const tmp = join(layout, 'tmp');
    rmSync(tmp, { recursive: true, force: true });
    mkdirSync(tmp, { recursive: true, mode: 0o700 });
    mkdirSync(join(layout, 'layers'), { recursive: true, mode: 0o700 });
    const layers = {} as BuildResult['layers'];
    for (const name of LAYER_ORDER) {
      const recordPath = join(layout, 'layers', `${name}.json`);
      let previous: LayerRecord | undefined;
      try { previous = JSON.parse(readFileSync(recordPath, 'utf8')) as LayerRecord; } catch { /* none yet */ }
      const ctx: Ctx = { layout, tmp, log, previous };
      const recipe = RECIPES[name];
      const inputs = recipe.inputs(ctx);
      if (previous && inputs === previous.inputs && existsSync(blobPath(layout, previous.digest))) {
        layers[name] = { ...previous, rebuilt: false };
        continue;
      }
      log(`building layer ${name}…`);
      const t = performance.now();
      const file = join(tmp, `${name}.tar`);
      const made = await recipe.build(ctx, file);
      const blob = await adoptBlob(layout, file, MEDIA.layer);
      const record: LayerRecord = {
        name, inputs: made.inputs, digest: blob.digest, size: blob.size, builtAt: new Date().toISOString(),
        seconds: Math.round((performance.now() - t) / 100) / 10,
        ...(made.files ? { files: made.files } : {}), ...(made.note ? { note: made.note } : {}),
      };
      // The build time is part of the image configs: a layer that came out byte-identical keeps its old record.
      const kept = previous && previous.digest === record.digest ? { ...record, builtAt: previous.builtAt } : record;
      writeFileSync(recordPath, JSON.stringify(kept, null, 1));
      layers[name] = { ...kept, rebuilt: true };
      log(`layer ${name}: ${(blob.size / 1048576).toFixed(1)} MiB in ${kept.seconds} s`);
    }
    const images = assembleImages(layout, layers);
    const freed = collectGarbage(layout);
    if (freed) log(`removed ${(freed / 1048576).toFixed(1)} MiB of unused blobs`);
    rmSync(tmp, { recursive: true, force: true });
    return { layout, layers, images, seconds: Math.round((performance.now() - t0) / 10) / 100 };
  }, log);
}
