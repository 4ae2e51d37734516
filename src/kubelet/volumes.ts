/**
 * @module kubelet/volumes
 * A pod's volumes made on the node, as the kubelet's volume plugins make them, under the pod's
 * directory (pods/<uid>/volumes/<plugin>/<name>), then bind-mounted into its containers:
 *   emptyDir     a directory (0777), or a tmpfs for `medium: Memory` (sizeLimit its size)
 *   configMap    the object's keys as files, written like the kubelet's AtomicWriter: the files
 *   secret       live in a timestamped `..<ts>` folder, `..data` points at it and each visible
 *   downwardAPI  name is a link through `..data`, so an update swaps every file at once
 *   projected    (re-written while the pod runs when the objects change); items, defaultMode,
 *                per-item mode, optional as upstream
 *   hostPath     a path on the node, which here is the node's own folder (<data dir>/nodes/<node>/
 *                rootfs), as a kind node's hostPath is a path in its node container: never the
 *                machine's own files; types Directory, DirectoryOrCreate, File, FileOrCreate, Socket
 * Any other type (persistentVolumeClaim without a provisioner, nfs, …) is an error naming the
 * volume, so the pod waits in ContainerCreating with a FailedMount event instead of starting
 * without it.
 */
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, renameSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize, relative, sep } from 'node:path';
import type { ConfigMap, Container, Pod, Secret } from '../api/types.js';
import { quantityNumber } from '../scheduler/logic.js';
import { run } from '../net/exec.js';
import { mountsUnder } from '../cluster/containerd.js';

type Volume = NonNullable<NonNullable<Pod['spec']>['volumes']>[number];
type KeyToPath = { key: string; path: string; mode?: number };
type DownwardFile = { path: string; fieldRef?: { fieldPath: string }; resourceFieldRef?: { containerName?: string; resource: string; divisor?: string | number }; mode?: number };

export interface VolumeSources {
  configMap(namespace: string, name: string): Promise<ConfigMap | undefined>;
  secret(namespace: string, name: string): Promise<Secret | undefined>;
  /** A token of the pod's service account for a projected serviceAccountToken source. */
  token(pod: Pod, audience: string | undefined, expirationSeconds: number): Promise<string>;
  /** The node's allocatable resources (downward API limits default to them). */
  allocatable(): Record<string, string>;
}

/** The pod's IP and its node's (downward API fields status.podIP, status.hostIP). */
export interface Addresses { podIP: string; hostIP: string }

/** A volume ready on the node: the host path containers mount, and whether it is read-only by nature. */
export interface HostVolume { name: string; path: string; readOnly: boolean; kind: string }

const DEFAULT_MODE = 0o644;
const DATA_LINK = '..data';

/** The downward API's value of a resource of a container (pkg/api/v1/resource ExtractContainerResourceValue). */
export function resourceFieldValue(pod: Pod, containerName: string | undefined, resource: string, divisor: string | number | undefined, allocatable: Record<string, string>): string {
  const containers = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])];
  const c = containerName ? containers.find((x) => x.name === containerName) : containers[0];
  if (!c) throw new Error(`container ${containerName ?? ''} not found`);
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  const limits = c.resources?.limits ?? {};
  const requests = c.resources?.requests ?? {};
  let q: string | number | undefined;
  if (kind === 'limits') q = limits[name] ?? allocatable[name];
  else if (kind === 'requests') q = requests[name] ?? limits[name];
  else throw new Error(`unsupported container resource : ${resource}`);
  const value = q === undefined ? 0 : quantityNumber(String(q));
  const div = divisor === undefined || divisor === '' || divisor === 0 ? 1 : quantityNumber(String(divisor));
  if (name === 'cpu') return String(Math.ceil(Math.round(value * 1000) / Math.round(div * 1000)));
  return String(Math.ceil(value / div));
}

/** A downward API field of the pod (env fieldRef and downwardAPI files; whole label and annotation maps for files). */
export function fieldValue(pod: Pod, path: string, ips: Addresses & { nodeName?: string }): string {
  const m = /^metadata\.(labels|annotations)\['(.*)'\]$/.exec(path);
  if (m) return (pod.metadata?.[m[1] as 'labels' | 'annotations'] ?? {})[m[2]!] ?? '';
  const md = pod.metadata ?? {};
  switch (path) {
    // The whole maps, one key="value" per line in key order, as the kubelet formats them.
    case 'metadata.labels': case 'metadata.annotations':
      return Object.entries(md[path.slice(9) as 'labels' | 'annotations'] ?? {}).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join('\n');
    case 'metadata.name': return md.name ?? '';
    case 'metadata.namespace': return md.namespace ?? '';
    case 'metadata.uid': return md.uid ?? '';
    case 'spec.nodeName': return pod.spec?.nodeName ?? ips.nodeName ?? '';
    case 'spec.serviceAccountName': return pod.spec?.serviceAccountName ?? 'default';
    case 'status.podIP': case 'status.podIPs': return ips.podIP;
    case 'status.hostIP': case 'status.hostIPs': return ips.hostIP;
    default: throw new Error(`unsupported fieldRef.fieldPath "${path}"`);
  }
}

/** A relative path inside a volume: no absolute path, no `..` element. */
function safeRelative(p: string, what: string): string {
  if (!p || isAbsolute(p) || normalize(p).split(sep).includes('..')) throw new Error(`${what}: invalid path "${p}": must be relative and may not contain '..'`);
  return normalize(p);
}

/**
 * Write files the way the kubelet's AtomicWriter does: all into a new `..<timestamp>` folder,
 * `..data` switched to it by a rename, top-level names as links through `..data`; nothing is
 * rewritten when the content is the same. Old folders and names no longer wanted go.
 */
export function writeAtomic(dir: string, files: Map<string, { data: Buffer; mode: number }>): boolean {
  mkdirSync(dir, { recursive: true, mode: 0o777 });
  chmodSync(dir, 0o777);
  const link = join(dir, DATA_LINK);
  let current: string | undefined;
  try { current = readlinkSync(link); } catch { /* first write */ }
  if (current && sameContent(join(dir, current), files)) return false;
  const ts = `..${new Date().toISOString().replace(/[-:]/g, '_').replace('T', '_').replace('Z', '')}.${process.pid}${Math.floor(Math.random() * 1e6)}`;
  const next = join(dir, ts);
  mkdirSync(next, { mode: 0o755 });
  for (const [p, f] of files) {
    const file = join(next, p);
    mkdirSync(dirname(file), { recursive: true, mode: 0o755 });
    writeFileSync(file, f.data, { mode: f.mode });
    chmodSync(file, f.mode);
  }
  const tmpLink = join(dir, '..data_tmp');
  rmSync(tmpLink, { force: true });
  symlinkSync(ts, tmpLink);
  renameSync(tmpLink, link);
  const top = new Set([...files.keys()].map((p) => p.split(sep)[0]!));
  for (const t of top) {
    const visible = join(dir, t);
    let ok = false;
    try { ok = lstatSync(visible).isSymbolicLink() && readlinkSync(visible) === join(DATA_LINK, t); } catch { /* missing */ }
    if (!ok) { rmSync(visible, { recursive: true, force: true }); symlinkSync(join(DATA_LINK, t), visible); }
  }
  for (const e of readdirSync(dir)) {
    if (e === DATA_LINK || e === ts) continue;
    if (e.startsWith('..') || !top.has(e)) rmSync(join(dir, e), { recursive: true, force: true });
  }
  return true;
}

function sameContent(dir: string, files: Map<string, { data: Buffer; mode: number }>): boolean {
  const listed: string[] = [];
  const walk = (d: string, rel: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      const r = rel ? join(rel, e.name) : e.name;
      if (e.isDirectory()) walk(join(d, e.name), r); else listed.push(r);
    }
  };
  try { walk(dir, ''); } catch { return false; }
  if (listed.length !== files.size) return false;
  for (const [p, f] of files) {
    try {
      const file = join(dir, p);
      if ((statSync(file).mode & 0o777) !== f.mode || !readFileSync(file).equals(f.data)) return false;
    } catch { return false; }
  }
  return true;
}

/** Files of a configMap or secret source: every key, or the items asked for. */
function keyFiles(kind: 'configmap' | 'secret', name: string, data: Map<string, Buffer> | undefined, items: KeyToPath[] | undefined, optional: boolean | undefined, mode: number, out: Map<string, { data: Buffer; mode: number }>): void {
  if (!data) {
    if (optional) return;
    throw new Error(`${kind} "${name}" not found`);
  }
  if (!items?.length) {
    for (const [k, v] of data) out.set(safeRelative(k, `${kind} key`), { data: v, mode });
    return;
  }
  for (const it of items) {
    const v = data.get(it.key);
    if (v === undefined) {
      if (optional) continue;
      throw new Error(`${kind === 'configmap' ? 'configmap' : 'secret'} references non-existent ${kind === 'configmap' ? 'config' : 'secret'} key: ${it.key}`);
    }
    out.set(safeRelative(it.path, 'items.path'), { data: v, mode: it.mode ?? mode });
  }
}

function configMapData(cm: ConfigMap | undefined): Map<string, Buffer> | undefined {
  if (!cm) return undefined;
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(cm.data ?? {})) m.set(k, Buffer.from(v));
  for (const [k, v] of Object.entries(cm.binaryData ?? {})) m.set(k, Buffer.from(v, 'base64'));
  return m;
}

function secretData(s: Secret | undefined): Map<string, Buffer> | undefined {
  if (!s) return undefined;
  const m = new Map<string, Buffer>();
  for (const [k, v] of Object.entries(s.data ?? {})) m.set(k, Buffer.from(v, 'base64'));
  for (const [k, v] of Object.entries(s.stringData ?? {})) m.set(k, Buffer.from(v));
  return m;
}

function downwardFiles(pod: Pod, items: DownwardFile[], mode: number, src: VolumeSources, ips: Addresses, out: Map<string, { data: Buffer; mode: number }>): void {
  for (const it of items) {
    let text: string;
    if (it.fieldRef) text = fieldValue(pod, it.fieldRef.fieldPath, ips);
    else if (it.resourceFieldRef) text = resourceFieldValue(pod, it.resourceFieldRef.containerName, it.resourceFieldRef.resource, it.resourceFieldRef.divisor, src.allocatable());
    else continue;
    out.set(safeRelative(it.path, 'items.path'), { data: Buffer.from(text), mode: it.mode ?? mode });
  }
}

/** The node's folder standing for its root file system (hostPath volumes resolve inside it). */
export function nodeRootfs(dataDir: string, nodeName: string): string {
  return join(dataDir, 'nodes', nodeName, 'rootfs');
}

/** Folder of one volume of a pod, by plugin, as the kubelet names them. */
function volumeDir(podDir: string, plugin: string, name: string): string {
  return join(podDir, 'volumes', `kubernetes.io~${plugin}`, name);
}

/** Make (or bring up to date: the same files are not rewritten) one volume of a pod. */
export async function setUpVolume(pod: Pod, v: Volume, podDir: string, rootfs: string, src: VolumeSources, ips: Addresses): Promise<HostVolume> {
  const ns = pod.metadata?.namespace ?? 'default';
  const name = v.name;
  if (v.emptyDir) {
    const path = volumeDir(podDir, 'empty-dir', name);
    mkdirSync(path, { recursive: true, mode: 0o777 });
    chmodSync(path, 0o777);
    if (v.emptyDir.medium === 'Memory' && !mountsUnder(path).includes(path)) {
      const size = v.emptyDir.sizeLimit !== undefined ? `,size=${Math.floor(quantityNumber(String(v.emptyDir.sizeLimit)))}` : '';
      await run(['mount', '-t', 'tmpfs', '-o', `mode=0777${size}`, 'tmpfs', path]);
    }
    return { name, path, readOnly: false, kind: 'emptyDir' };
  }
  if (v.configMap) {
    const files = new Map<string, { data: Buffer; mode: number }>();
    const cmName = v.configMap.name ?? '';
    keyFiles('configmap', cmName, configMapData(await src.configMap(ns, cmName)), v.configMap.items, v.configMap.optional, v.configMap.defaultMode ?? DEFAULT_MODE, files);
    const path = volumeDir(podDir, 'configmap', name);
    writeAtomic(path, files);
    return { name, path, readOnly: true, kind: 'configMap' };
  }
  if (v.secret) {
    const files = new Map<string, { data: Buffer; mode: number }>();
    const sName = v.secret.secretName ?? '';
    keyFiles('secret', sName, secretData(await src.secret(ns, sName)), v.secret.items, v.secret.optional, v.secret.defaultMode ?? DEFAULT_MODE, files);
    const path = volumeDir(podDir, 'secret', name);
    writeAtomic(path, files);
    return { name, path, readOnly: true, kind: 'secret' };
  }
  if (v.downwardAPI) {
    const files = new Map<string, { data: Buffer; mode: number }>();
    downwardFiles(pod, (v.downwardAPI.items ?? []) as DownwardFile[], v.downwardAPI.defaultMode ?? DEFAULT_MODE, src, ips, files);
    const path = volumeDir(podDir, 'downward-api', name);
    writeAtomic(path, files);
    return { name, path, readOnly: true, kind: 'downwardAPI' };
  }
  if (v.projected) {
    const files = new Map<string, { data: Buffer; mode: number }>();
    const mode = v.projected.defaultMode ?? DEFAULT_MODE;
    for (const s of v.projected.sources ?? []) {
      if (s.configMap) keyFiles('configmap', s.configMap.name ?? '', configMapData(await src.configMap(ns, s.configMap.name ?? '')), s.configMap.items, s.configMap.optional, mode, files);
      else if (s.secret) keyFiles('secret', s.secret.name ?? '', secretData(await src.secret(ns, s.secret.name ?? '')), s.secret.items, s.secret.optional, mode, files);
      else if (s.downwardAPI) downwardFiles(pod, (s.downwardAPI.items ?? []) as DownwardFile[], mode, src, ips, files);
      else if (s.serviceAccountToken) {
        const t = s.serviceAccountToken;
        files.set(safeRelative(t.path, 'serviceAccountToken.path'), { data: Buffer.from(await src.token(pod, t.audience, t.expirationSeconds ?? 3600)), mode });
      } else if (s.clusterTrustBundle) throw new Error('projected clusterTrustBundle sources are not supported by svcplane');
    }
    const path = volumeDir(podDir, 'projected', name);
    writeAtomic(path, files);
    return { name, path, readOnly: true, kind: 'projected' };
  }
  if (v.hostPath) {
    const hp = v.hostPath.path;
    if (!isAbsolute(hp)) throw new Error(`hostPath "${hp}" must be an absolute path`);
    const path = join(rootfs, normalize(hp));
    if (relative(rootfs, path).startsWith('..')) throw new Error(`hostPath "${hp}" leaves the node's file system`);
    const type = v.hostPath.type ?? '';
    const kind = () => { try { return statSync(path); } catch { return undefined; } };
    switch (type) {
      case 'DirectoryOrCreate': if (!existsSync(path)) mkdirSync(path, { recursive: true, mode: 0o755 }); break;
      case 'FileOrCreate': if (!existsSync(path)) { mkdirSync(dirname(path), { recursive: true, mode: 0o755 }); writeFileSync(path, '', { mode: 0o644 }); } break;
      case 'Directory': if (!kind()?.isDirectory()) throw new Error(`hostPath type check failed: ${hp} is not a directory`); break;
      case 'File': if (!kind()?.isFile()) throw new Error(`hostPath type check failed: ${hp} is not a file`); break;
      case 'Socket': if (!kind()?.isSocket()) throw new Error(`hostPath type check failed: ${hp} is not a socket file`); break;
      case 'CharDevice': if (!kind()?.isCharacterDevice()) throw new Error(`hostPath type check failed: ${hp} is not a character device`); break;
      case 'BlockDevice': if (!kind()?.isBlockDevice()) throw new Error(`hostPath type check failed: ${hp} is not a block device`); break;
      case '': if (!existsSync(path)) mkdirSync(path, { recursive: true, mode: 0o755 }); break;
      default: throw new Error(`hostPath type "${type}" is not supported`);
    }
    return { name, path, readOnly: false, kind: 'hostPath' };
  }
  const kind = Object.keys(v).find((k) => k !== 'name') ?? 'unknown';
  throw new Error(`volume type ${kind} is not supported by svcplane`);
}

/** The CRI mounts of a container from its volumeMounts (subPath made inside the volume). */
export function containerMounts(c: Container, volumes: Map<string, HostVolume>): { containerPath: string; hostPath: string; readonly: boolean }[] {
  const out: { containerPath: string; hostPath: string; readonly: boolean }[] = [];
  for (const m of c.volumeMounts ?? []) {
    const v = volumes.get(m.name);
    if (!v) throw new Error(`volume "${m.name}" of container "${c.name}" is not set up`);
    let hostPath = v.path;
    if (m.subPath) {
      hostPath = join(v.path, safeRelative(m.subPath, 'subPath'));
      // A missing subPath of a writable volume is made as a directory, as the kubelet does.
      if (!existsSync(hostPath) && !v.readOnly) mkdirSync(hostPath, { recursive: true, mode: 0o755 });
    }
    out.push({ containerPath: m.mountPath, hostPath, readonly: !!m.readOnly || v.readOnly });
  }
  return out;
}

/** Unmount what a pod's volumes mounted (Memory emptyDirs) before its folder is removed. */
export async function tearDownVolumes(podDir: string): Promise<void> {
  for (const p of mountsUnder(join(podDir, 'volumes'))) await run(['umount', p], { allowFail: true });
}
