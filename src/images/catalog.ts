/**
 * @module images/catalog
 * What an image name means on svcplane: the built-in images (programs svcplane provides, run
 * from the host's file system inside the pod's namespaces) and the images a user loaded with
 * `svcplane image load`. The node agent asks resolveImage() for an image's entrypoint and cmd,
 * then applies the container's command/args the way a container runtime does.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PROJECT_ROOT, compiledEntry } from '../cli/self.js';

export const USER_IMAGES_FILE = 'images.json';
/** Where `svcplane image load` writes when no data dir is given (and where pods look too). */
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

type Builtin = (tag: string) => { entrypoint: string[]; cmd: string[] };

/**
 * argv of a built-in program: the lean entry src/images/run (compiled: see cli/self, else
 * through tsx). A bare `--import tsx` would resolve from the container's working directory (usually /),
 * so the loader is pinned to svcplane's own copy.
 */
export function imageRunArgv(program: string, ...args: string[]): string[] {
  const built = compiledEntry('images/run');
  if (built) return [process.execPath, built, program, ...args];
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return [process.execPath, '--import', tsx, join(PROJECT_ROOT, 'src', 'images', 'run.ts'), program, ...args];
}

const run = imageRunArgv;

/** Built-in images by repository name (tag ignored unless it matters, e.g. bootcamp v2). */
const BUILTINS: Record<string, Builtin> = {
  'jocatalin/kubernetes-bootcamp': (tag) => ({ entrypoint: run('bootcamp', tag.startsWith('v2') ? '2' : '1'), cmd: [] }),
  'gcr.io/google-samples/kubernetes-bootcamp': (tag) => ({ entrypoint: run('bootcamp', tag.startsWith('v2') ? '2' : '1'), cmd: [] }),
  nginx: () => ({ entrypoint: run('nginx'), cmd: [] }),
  // Shell images: command/args run from the host. Their default command is a shell that exits
  // at once without a terminal, so like on Kubernetes such a pod ends in CrashLoopBackOff.
  busybox: () => ({ entrypoint: [], cmd: ['sh'] }),
  alpine: () => ({ entrypoint: [], cmd: ['/bin/sh'] }),
  debian: () => ({ entrypoint: [], cmd: ['bash'] }),
  ubuntu: () => ({ entrypoint: [], cmd: ['bash'] }),
  'curlimages/curl': () => ({ entrypoint: ['curl'], cmd: [] }),
  'nicolaka/netshoot': () => ({ entrypoint: [], cmd: ['sleep', 'infinity'] }),
  'registry.k8s.io/e2e-test-images/agnhost': () => ({ entrypoint: run('agnhost'), cmd: [] }),
  'k8s.gcr.io/e2e-test-images/agnhost': () => ({ entrypoint: run('agnhost'), cmd: [] }),
  // pause only waits: `sleep` costs far less memory per pod than a Node.js process.
  'registry.k8s.io/pause': () => ({ entrypoint: ['sleep', 'infinity'], cmd: [] }),
  'k8s.gcr.io/pause': () => ({ entrypoint: ['sleep', 'infinity'], cmd: [] }),
  pause: () => ({ entrypoint: ['sleep', 'infinity'], cmd: [] }),
  'registry.k8s.io/coredns/coredns': () => ({ entrypoint: run('coredns'), cmd: [] }),
  'coredns/coredns': () => ({ entrypoint: run('coredns'), cmd: [] }),
  coredns: () => ({ entrypoint: run('coredns'), cmd: [] }),
};

/** Names shown to users in error messages (short forms first). */
export const BUILTIN_NAMES = [
  'jocatalin/kubernetes-bootcamp', 'nginx', 'busybox', 'alpine', 'curlimages/curl', 'nicolaka/netshoot',
  'registry.k8s.io/e2e-test-images/agnhost', 'registry.k8s.io/pause', 'coredns',
];

/** Split "docker.io/library/nginx:1.25@sha256:…" into repository "nginx" and tag "1.25". */
export function parseImage(image: string): { repo: string; tag: string } {
  let s = image.trim();
  const at = s.indexOf('@');
  if (at >= 0) s = s.slice(0, at);
  let tag = 'latest';
  const colon = s.lastIndexOf(':');
  if (colon > s.lastIndexOf('/')) { tag = s.slice(colon + 1); s = s.slice(0, colon); }
  s = s.replace(/^(docker\.io|index\.docker\.io|registry-1\.docker\.io)\//, '').replace(/^library\//, '');
  return { repo: s, tag };
}

interface UserImage { command: string; workingDir?: string; loadedAt?: string }

function userImagesPath(home: string): string {
  return join(home, USER_IMAGES_FILE);
}

function readUserImages(home: string): Record<string, UserImage> {
  const p = userImagesPath(home);
  if (!existsSync(p)) return {};
  try { return JSON.parse(readFileSync(p, 'utf8')) as Record<string, UserImage>; } catch { return {}; }
}

/** Store a user image (`svcplane image load NAME --command …`); keyed by the full name with tag. */
export function loadUserImage(home: string, name: string, command: string, workingDir?: string): void {
  const images = readUserImages(home);
  images[name] = { command, workingDir, loadedAt: new Date().toISOString() };
  mkdirSync(home, { recursive: true });
  const p = userImagesPath(home);
  writeFileSync(`${p}.tmp`, JSON.stringify(images, null, 2));
  renameSync(`${p}.tmp`, p);
}

export function listUserImages(home: string): Record<string, UserImage> {
  return readUserImages(home);
}

/**
 * The image's default process, or undefined when svcplane does not have it.
 * User images are looked up in each home given (cluster data dir first, then ~/.svcplane).
 */
export function resolveImage(image: string, homes: string[] = [DEFAULT_IMAGE_HOME]): ImageSpec | undefined {
  const { repo, tag } = parseImage(image);
  for (const home of homes) {
    const user = readUserImages(home);
    const hit = user[image] ?? user[`${repo}:${tag}`] ?? (tag === 'latest' ? user[repo] : undefined);
    if (hit) return { name: repo, entrypoint: ['sh', '-c', hit.command, image], cmd: [], source: 'user' };
  }
  const b = BUILTINS[repo];
  if (!b) return undefined;
  return { name: repo, ...b(tag), source: 'builtin' };
}

/** Container argv per Kubernetes: command replaces ENTRYPOINT (and drops CMD), args replace CMD. */
export function containerArgv(spec: ImageSpec, command?: string[], args?: string[]): string[] {
  if (command?.length) return [...command, ...(args ?? [])];
  if (args?.length) return [...spec.entrypoint, ...args];
  return [...spec.entrypoint, ...spec.cmd];
}

/** The message of an ErrImagePull / ImagePullBackOff for an image svcplane does not have. */
export function unknownImageMessage(image: string): string {
  return `image "${image}" is not a svcplane built-in image (known: ${BUILTIN_NAMES.join(', ')}); ` +
    `load your own with: svcplane image load ${image} --command "…"`;
}

export function ensureDir(p: string): void {
  mkdirSync(dirname(p), { recursive: true });
}
