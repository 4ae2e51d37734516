/**
 * @module images/catalog
 * What an image name means on svcplane. The built-in images are real OCI images built from
 * Debian packages and svcplane's own programs (src/images/build.ts) and served to each node's
 * containerd by a read-only registry (src/images/registry.ts). NAMES below is the one table of
 * which names resolve to which built-in image; IMAGES says what each image holds and runs.
 *
 * Until the kubelet runs containers, it still asks resolveImage() for a host process to start;
 * that path (and the images.json of `svcplane image load NAME --command`) is kept for it.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT, compiledEntry } from '../cli/self.js';

/** The layers the built-in images are made of (src/images/build.ts builds each one). */
export type LayerName = 'debian' | 'node' | 'app' | 'busybox' | 'pause' | 'nodelibs';

/** A built-in image: its layers, bottom first, and its OCI config (Docker's ENTRYPOINT/CMD …). */
export interface ImageDef {
  layers: LayerName[];
  entrypoint?: string[];
  cmd?: string[];
  stopSignal?: string;
  exposedPorts?: string[];
  workingDir?: string;
  /** What the host-process runtime starts instead (programs only; shell images run as given). */
  legacy?: () => { entrypoint: string[]; cmd: string[] };
}

const PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const IMAGE_ENV = [PATH];

const DEBIAN: LayerName[] = ['debian'];
const PROGRAM: LayerName[] = ['debian', 'node', 'app'];
/** A program without Debian: busybox's sh and the node binary's own shared libraries (a 104 MB pull, not 245). */
const LEAN_PROGRAM: LayerName[] = ['busybox', 'nodelibs', 'node', 'app'];

/** The built-in images by key (the key is the image's ref name in the OCI layout). */
export const IMAGES = {
  pause: { layers: ['pause'], entrypoint: ['/pause'], legacy: () => ({ entrypoint: ['sleep', 'infinity'], cmd: [] }) },
  busybox: { layers: ['busybox'], cmd: ['sh'] },
  nginx: {
    layers: DEBIAN, cmd: ['nginx', '-g', 'daemon off;'], stopSignal: 'SIGQUIT', exposedPorts: ['80/tcp'],
    legacy: () => ({ entrypoint: run('nginx'), cmd: [] }),
  },
  curl: { layers: DEBIAN, entrypoint: ['curl'] },
  netshoot: { layers: DEBIAN, cmd: ['sleep', 'infinity'] },
  alpine: { layers: DEBIAN, cmd: ['/bin/sh'] },
  debian: { layers: DEBIAN, cmd: ['bash'] },
  'bootcamp-v1': { layers: PROGRAM, cmd: ['/bootcamp', '1'], exposedPorts: ['8080/tcp'], legacy: () => ({ entrypoint: run('bootcamp', '1'), cmd: [] }) },
  'bootcamp-v2': { layers: PROGRAM, cmd: ['/bootcamp', '2'], exposedPorts: ['8080/tcp'], legacy: () => ({ entrypoint: run('bootcamp', '2'), cmd: [] }) },
  // As upstream's test/images/agnhost/Dockerfile: ENTRYPOINT ["/agnhost"], CMD ["pause"].
  agnhost: { layers: PROGRAM, entrypoint: ['/agnhost'], cmd: ['pause'], legacy: () => ({ entrypoint: run('agnhost'), cmd: [] }) },
  coredns: {
    layers: LEAN_PROGRAM, entrypoint: ['/coredns'], exposedPorts: ['53/tcp', '53/udp', '9153/tcp'],
    legacy: () => ({ entrypoint: run('coredns'), cmd: [] }),
  },
} satisfies Record<string, ImageDef>;

export type ImageKey = keyof typeof IMAGES;

/**
 * THE table: image names (normalized as containerd does: registry host + path, docker.io names
 * under library/) → built-in image. Any tag, unless the row says otherwise. src/images/README.md
 * shows the same table.
 */
export const NAMES: ReadonlyArray<{ names: string[]; image: ImageKey | ((tag: string) => ImageKey) }> = [
  { names: ['docker.io/jocatalin/kubernetes-bootcamp', 'gcr.io/google-samples/kubernetes-bootcamp'], image: (tag) => tag.startsWith('v2') ? 'bootcamp-v2' : 'bootcamp-v1' },
  { names: ['docker.io/library/nginx', 'registry.k8s.io/e2e-test-images/nginx'], image: 'nginx' },
  { names: ['docker.io/library/busybox', 'registry.k8s.io/e2e-test-images/busybox'], image: 'busybox' },
  { names: ['docker.io/curlimages/curl'], image: 'curl' },
  { names: ['docker.io/nicolaka/netshoot'], image: 'netshoot' },
  { names: ['docker.io/library/alpine'], image: 'alpine' },
  { names: ['docker.io/library/debian', 'docker.io/library/ubuntu'], image: 'debian' },
  { names: ['registry.k8s.io/e2e-test-images/agnhost', 'k8s.gcr.io/e2e-test-images/agnhost'], image: 'agnhost' },
  { names: ['registry.k8s.io/pause', 'k8s.gcr.io/pause', 'docker.io/library/pause'], image: 'pause' },
  { names: ['registry.k8s.io/coredns/coredns', 'docker.io/coredns/coredns', 'docker.io/library/coredns'], image: 'coredns' },
];

/** A name as users write it: `docker.io/library/nginx` → `nginx`, `docker.io/a/b` → `a/b`. */
export const shortName = (name: string): string => name.replace(/^docker\.io\/(library\/)?/, '');

/** Names shown to users in error messages (the first name of each row, short form). */
export const BUILTIN_NAMES = NAMES.map((r) => shortName(r.names[0]!));

/** An image reference split and normalized as containerd and Docker do. */
export interface ImageRef {
  /** Registry host, e.g. docker.io, registry.k8s.io, localhost:5000. */
  domain: string;
  /** Repository path inside it, e.g. library/nginx. */
  path: string;
  tag: string;
  digest?: string;
  /** domain/path */
  name: string;
}

/** "nginx" → docker.io/library/nginx:latest; "registry.k8s.io/pause:3.9" → registry.k8s.io, pause, 3.9. */
export function normalizeImage(image: string): ImageRef {
  let s = image.trim();
  let digest: string | undefined;
  const at = s.indexOf('@');
  if (at >= 0) { digest = s.slice(at + 1); s = s.slice(0, at); }
  let tag = 'latest';
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) { tag = s.slice(colon + 1); s = s.slice(0, colon); }
  const slash = s.indexOf('/');
  const first = slash >= 0 ? s.slice(0, slash) : '';
  let domain = 'docker.io';
  let path = s;
  // As Docker's reference.ParseNormalizedNamed: the first component is a registry host when it
  // has a dot or a port, or is localhost.
  if (first && (first.includes('.') || first.includes(':') || first === 'localhost')) { domain = first; path = s.slice(slash + 1); }
  if (domain === 'index.docker.io' || domain === 'registry-1.docker.io') domain = 'docker.io';
  if (domain === 'docker.io' && !path.includes('/')) path = `library/${path}`;
  return { domain, path, tag, ...(digest ? { digest } : {}), name: `${domain}/${path}` };
}

/** The built-in image an image name resolves to, or undefined. */
export function builtinImage(image: string | ImageRef): ImageKey | undefined {
  const ref = typeof image === 'string' ? normalizeImage(image) : image;
  const row = NAMES.find((r) => r.names.includes(ref.name));
  if (!row) return undefined;
  return typeof row.image === 'function' ? row.image(ref.tag) : row.image;
}

/** Split "docker.io/library/nginx:1.25@sha256:…" into repository "nginx" and tag "1.25". */
export function parseImage(image: string): { repo: string; tag: string } {
  const ref = normalizeImage(image);
  return { repo: ref.domain === 'docker.io' ? shortName(ref.name) : ref.name, tag: ref.tag };
}

/** The message of an ErrImagePull / ImagePullBackOff for an image svcplane does not have. */
export function unknownImageMessage(image: string, runtime: 'containerd' | 'process' = 'containerd'): string {
  const how = runtime === 'containerd'
    ? `svcplane image load FILE… (a "docker save" tarball or an OCI archive holding ${image})`
    : `svcplane image load ${image} --command '<shell command>'`;
  return `image "${image}" is not a svcplane built-in image (known: ${BUILTIN_NAMES.join(', ')}); load it into the cluster with: ${how}`;
}

// ---------------------------------------------------------------------------------------------
// Host-process runtime (the kubelet before containers): an image is a host command.

export const USER_IMAGES_FILE = 'images.json';
/** Where `svcplane image load NAME --command` writes when no data dir is given (and where pods look too). */
export const DEFAULT_IMAGE_HOME = join(homedir(), '.svcplane');

/** An image's default process, split like Docker's ENTRYPOINT and CMD. */
export interface ImageSpec {
  /** Repository name without registry defaults or tag, e.g. "nginx", "jocatalin/kubernetes-bootcamp". */
  name: string;
  entrypoint: string[];
  cmd: string[];
  /** Built-in program or a user-loaded image. */
  source: 'builtin' | 'user';
}

/**
 * argv of a built-in program run as a host process: the lean entry src/images/run (compiled: see
 * cli/self, else through tsx). A bare `--import tsx` would resolve from the container's working
 * directory (usually /), so the loader is pinned to svcplane's own copy.
 */
export function imageRunArgv(program: string, ...args: string[]): string[] {
  const built = compiledEntry('images/run');
  if (built) return [process.execPath, built, program, ...args];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'src', 'images', 'run.ts'), program, ...args];
}

function run(program: string, ...args: string[]): string[] { return imageRunArgv(program, ...args); }

interface UserImage { command: string; workingDir?: string; loadedAt?: string }

function readUserImages(home: string): Record<string, UserImage> {
  const p = join(home, USER_IMAGES_FILE);
  if (!existsSync(p)) return {};
  try { return JSON.parse(readFileSync(p, 'utf8')) as Record<string, UserImage>; } catch { return {}; }
}

/** Store a host-command image (`svcplane image load NAME --command …`); keyed by the full name with tag. */
export function loadUserImage(home: string, name: string, command: string, workingDir?: string): void {
  const images = readUserImages(home);
  images[name] = { command, workingDir, loadedAt: new Date().toISOString() };
  mkdirSync(home, { recursive: true });
  const p = join(home, USER_IMAGES_FILE);
  writeFileSync(`${p}.tmp`, JSON.stringify(images, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function listUserImages(home: string): Record<string, UserImage> {
  return readUserImages(home);
}

/**
 * The image's default host process, or undefined when svcplane does not have it. User images are
 * looked up in each home given (cluster data dir first, then ~/.svcplane); built-ins through NAMES.
 */
export function resolveImage(image: string, homes: string[] = [DEFAULT_IMAGE_HOME]): ImageSpec | undefined {
  const { repo, tag } = parseImage(image);
  for (const home of homes) {
    const user = readUserImages(home);
    const hit = user[image] ?? user[`${repo}:${tag}`] ?? (tag === 'latest' ? user[repo] : undefined);
    if (hit) return { name: repo, entrypoint: ['sh', '-c', hit.command, image], cmd: [], source: 'user' };
  }
  const key = builtinImage(image);
  if (!key) return undefined;
  const def: ImageDef = IMAGES[key];
  const argv = def.legacy?.() ?? { entrypoint: def.entrypoint ?? [], cmd: def.cmd ?? [] };
  return { name: repo, ...argv, source: 'builtin' };
}

/** Container argv per Kubernetes: command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
export function containerArgv(spec: ImageSpec, command?: string[], args?: string[]): string[] {
  if (command?.length) return [...command, ...(args ?? [])];
  if (args?.length) return [...spec.entrypoint, ...args];
  return [...spec.entrypoint, ...spec.cmd];
}

export function ensureDir(p: string): void {
  mkdirSync(dirname(p), { recursive: true });
}
