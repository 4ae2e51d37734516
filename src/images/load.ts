/**
 * @module images/load
 * `svcplane image load|ls|rm` for clusters whose pods are containers. An archive (`docker save`
 * tarball or OCI archive, plain or gzipped) is imported into the containerd of every node, in the
 * k8s.io namespace the CRI plugin keeps Kubernetes' images in, and unpacked for the overlayfs
 * snapshotter so a pod's first start does not wait for it — as `kind load image-archive` runs
 * `ctr images import` in each node. Images are then listed and removed through the CRI, the view
 * the kubelet has, as crictl does. ctr runs on the host: a node's containerd socket is a file under
 * the data dir, reachable from any network namespace.
 */
import { spawn } from 'node:child_process';
import { closeSync, createReadStream, existsSync, openSync, readSync, statSync } from 'node:fs';
import { Readable } from 'node:stream';
import { createGunzip } from 'node:zlib';
import { CRI_NAMESPACE, containerdPaths } from '../cluster/containerd.js';
import { DEFAULT_CLUSTER, NeedsRootError, requireConfig, specOf, type ClusterConfig } from '../cluster/config.js';
import { CriClient, type CriImage } from '../kubelet/cri/client.js';
import { normalizeImage } from './catalog.js';

/** The snapshotter every node's CRI plugin uses (containerd.ts); imports unpack for it. */
const SNAPSHOTTER = 'overlayfs';
/** Nodes loaded at once: each import reads the whole archive, and the machine may have 2 cores. */
const PARALLEL_NODES = 4;
/** The CRI plugin learns of ctr's changes from containerd's events, a moment later. */
const CRI_SEES_MS = 15_000;

export interface ClusterRef { name?: string; dataDir?: string }
interface NodeRuntime { node: string; socket: string; cri: CriClient }

// ---------------------------------------------------------------------------------------------
// Archives

export interface ArchiveInfo {
  file: string;
  format: 'docker' | 'oci';
  gzip: boolean;
  /** Image names the archive declares (RepoTags; OCI ref-name annotations that are full references). */
  names: string[];
}

class NotTar extends Error {}

/** Sequential reads over a file (plain: by offset, nothing read but headers) or a gzip stream. */
interface Source { read(n: number): Promise<Buffer>; skip(n: number): Promise<void>; close(): void }

function fileSource(file: string): Source {
  const fd = openSync(file, 'r');
  let pos = 0;
  return {
    async read(n) { const b = Buffer.alloc(n); const got = readSync(fd, b, 0, n, pos); pos += got; return b.subarray(0, got); },
    async skip(n) { pos += n; },
    close() { closeSync(fd); },
  };
}

function gzipSource(file: string): Source {
  const stream = createReadStream(file).pipe(createGunzip());
  const it = stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buf: Buffer = Buffer.alloc(0);
  let done = false;
  const fill = async (n: number) => {
    while (buf.length < n && !done) {
      const r = await it.next().catch((e: Error) => { throw new NotTar(`gzip: ${e.message}`); });
      if (r.done) done = true; else buf = buf.length ? Buffer.concat([buf, r.value]) : r.value;
    }
  };
  return {
    async read(n) { await fill(n); const out = buf.subarray(0, n); buf = buf.subarray(out.length); return out; },
    async skip(n) {
      while (n > 0) {
        await fill(Math.min(n, 1 << 20));
        if (!buf.length) return;
        const k = Math.min(n, buf.length);
        buf = buf.subarray(k); n -= k;
      }
    },
    close() { stream.destroy(); },
  };
}

const cstr = (b: Buffer): string => { const z = b.indexOf(0); return b.subarray(0, z < 0 ? b.length : z).toString('utf8'); };

function tarNumber(b: Buffer): number {
  if (b[0]! & 0x80) { let n = 0; for (let i = 1; i < b.length; i++) n = n * 256 + b[i]!; return n; } // GNU base-256
  const s = cstr(b).trim();
  return s ? parseInt(s, 8) : 0;
}

/**
 * Every entry's name, and the contents of the few small files that tell the format apart. A
 * first block that is not a tar header (bad checksum) makes this a NotTar.
 */
async function scanTar(src: Source, wanted: Set<string>): Promise<{ entries: number; files: Map<string, Buffer> }> {
  const files = new Map<string, Buffer>();
  let entries = 0;
  let longName: string | undefined;
  for (;;) {
    const h = await src.read(512);
    if (h.length === 0 && entries === 0) throw new NotTar('empty file');
    if (h.length < 512) throw new NotTar(entries ? 'truncated archive' : 'too short for a tar header');
    if (h.every((x) => x === 0)) break;
    let sum = 0;
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!;
    if (tarNumber(h.subarray(148, 156)) !== sum) throw new NotTar(entries ? 'corrupt tar header' : 'not a tar file');
    const size = tarNumber(h.subarray(124, 136));
    const type = String.fromCharCode(h[156]!);
    // ustar's prefix field (POSIX "ustar\0"; old GNU "ustar  " uses those bytes for other things).
    const prefix = h.toString('latin1', 257, 263) === 'ustar\0' ? cstr(h.subarray(345, 500)) : '';
    let name = longName ?? (prefix ? `${prefix}/${cstr(h.subarray(0, 100))}` : cstr(h.subarray(0, 100)));
    longName = undefined;
    const padded = Math.ceil(size / 512) * 512;
    if (type === 'L' || type === 'x') {
      const data = await src.read(padded);
      if (type === 'L') longName = cstr(data.subarray(0, size));
      else {
        const m = /(?:^|\n)\d+ path=([^\n]*)\n/.exec(data.subarray(0, size).toString('utf8'));
        if (m) longName = m[1];
      }
      continue;
    }
    if (type === 'g') { await src.skip(padded); continue; }
    entries++;
    name = name.replace(/^(\.\/)+/, '').replace(/\/+$/, '');
    if ((type === '0' || type === '\0') && wanted.has(name) && size <= 4 << 20) {
      const data = await src.read(padded);
      files.set(name, data.subarray(0, size));
    } else {
      await src.skip(padded);
    }
  }
  return { entries, files };
}

/** Is ref a full image reference (as containerd's importer keeps it), not a bare tag? */
const isFullRef = (ref: string): boolean => /[/:@]/.test(ref);

/**
 * What an archive holds, checked before any node is touched: a tar (plain or gzipped) with
 * manifest.json (`docker save`) or oci-layout + index.json (OCI), naming at least one image.
 */
export async function inspectArchive(file: string): Promise<ArchiveInfo> {
  let st;
  try { st = statSync(file); } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`image archive "${file}": no such file`);
    throw new Error(`image archive "${file}": ${(e as Error).message}`);
  }
  if (!st.isFile()) throw new Error(`image archive "${file}" is not a file (${st.isDirectory() ? 'a directory' : 'a special file'}): give the tar file "docker save -o" or "skopeo copy … oci-archive:" wrote`);
  const head = Buffer.alloc(2);
  const fd = openSync(file, 'r');
  try { readSync(fd, head, 0, 2, 0); } finally { closeSync(fd); }
  const gzip = head[0] === 0x1f && head[1] === 0x8b;
  const src = gzip ? gzipSource(file) : fileSource(file);
  const notImage = (why: string) => new Error(`"${file}" is not an image archive: ${why}; load a "docker save" tarball or an OCI archive (plain or gzipped tar)`);
  let scan;
  try { scan = await scanTar(src, new Set(['manifest.json', 'index.json', 'oci-layout'])); } catch (e) {
    if (e instanceof NotTar) throw notImage(e.message);
    throw e;
  } finally { src.close(); }
  const json = (name: string): unknown => {
    try { return JSON.parse(scan.files.get(name)!.toString('utf8')); } catch { throw notImage(`its ${name} is not valid JSON`); }
  };
  let format: ArchiveInfo['format'];
  const names: string[] = [];
  if (scan.files.has('oci-layout') && scan.files.has('index.json')) {
    format = 'oci';
    const idx = json('index.json') as { manifests?: { annotations?: Record<string, string> }[] };
    if (!Array.isArray(idx?.manifests)) throw notImage('its index.json has no "manifests" list');
    for (const m of idx.manifests) {
      // containerd's importer: its own name annotation first, else the OCI ref name when it is a
      // full reference (a bare tag becomes "import-<date>:<tag>", which no pod can name).
      const n = m.annotations?.['io.containerd.image.name'] ?? m.annotations?.['org.opencontainers.image.ref.name'];
      if (n && isFullRef(n)) names.push(n);
    }
  } else if (scan.files.has('manifest.json')) {
    format = 'docker';
    const mf = json('manifest.json') as { RepoTags?: string[] | null }[];
    if (!Array.isArray(mf)) throw notImage('its manifest.json is not a list of images');
    for (const m of mf) names.push(...(m.RepoTags ?? []));
  } else {
    throw notImage(`it holds ${scan.entries} ${scan.entries === 1 ? 'entry' : 'entries'} but neither manifest.json ("docker save") nor oci-layout and index.json (OCI)`);
  }
  if (!names.length) {
    throw new Error(`"${file}" holds no image with a name pods could use: save it with one (docker save NAME:TAG, skopeo copy … oci-archive:${file}:NAME:TAG)`);
  }
  return { file, format, gzip, names: names.map(refString) };
}

/** A reference as containerd stores it: docker.io/library/x:tag, host/path:tag, or …@sha256:…. */
function refString(image: string): string {
  const r = normalizeImage(image);
  return r.digest && !/:[^/]+@/.test(image) ? `${r.name}@${r.digest}` : `${r.name}:${r.tag}${r.digest ? `@${r.digest}` : ''}`;
}

// ---------------------------------------------------------------------------------------------
// Nodes

/** The cluster's nodes and their containerd, each checked to answer; errors say what is wrong. */
async function openNodes(ref: ClusterRef, cmd: string): Promise<{ c: ClusterConfig; nodes: NodeRuntime[] }> {
  const name = ref.name ?? DEFAULT_CLUSTER;
  let c: ClusterConfig;
  try { c = requireConfig(name, ref.dataDir); } catch (e) {
    if (e instanceof NeedsRootError) throw new NeedsRootError(`svcplane image ${cmd}`, e.path);
    throw e;
  }
  // Clusters made before the runtime was recorded run host processes (as `up` resumes them).
  if ((c.runtime ?? 'process') !== 'containerd') {
    throw new Error(`cluster "${c.name}" runs pods as host processes (runtime "process"): it has no containerd to ${cmd === 'load' ? 'load images into' : 'hold images'}. ` +
      `Recreate it with containers (svcplane down --name ${c.name} --purge; svcplane up --name ${c.name} --runtime containerd)` +
      (cmd === 'load' ? `, or map a name to a host command there with: svcplane image load NAME --command '…'` : ''));
  }
  const nodes = specOf(c).nodes.map((n) => ({ node: n.name, socket: containerdPaths(c.dataDir, n.name).socket }));
  const open: NodeRuntime[] = [];
  try {
    for (const n of nodes) {
      const notRunning = (why: string) => new Error(`cluster "${c.name}" is not running: the containerd of node ${n.node} ${why} (start the cluster with: svcplane up --name ${c.name}${ref.dataDir ? ` --data-dir ${ref.dataDir}` : ''})`);
      if (!existsSync(n.socket)) throw notRunning(`has no socket ${n.socket}`);
      const cri = new CriClient(n.socket);
      open.push({ ...n, cri });
      try { await cri.version(); } catch (e) { throw notRunning(`does not answer on ${n.socket}: ${(e as Error).message}`); }
    }
  } catch (e) {
    for (const n of open) n.cri.close();
    throw e;
  }
  return { c, nodes: open };
}

const closeNodes = (nodes: NodeRuntime[]) => { for (const n of nodes) n.cri.close(); };

/** Run fn over items, at most `limit` at a time; the first error wins after all have settled. */
async function pool<T, R>(items: T[], limit: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  let err: unknown;
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, async () => {
    while (next < items.length) {
      const i = next++;
      try { out[i] = await fn(items[i]!); } catch (e) { err ??= e; }
    }
  }));
  if (err) throw err;
  return out;
}

/** ctr against one node's containerd, in the CRI's namespace; stdin is an optional stream. */
function ctr(socket: string, args: string[], stdin?: Readable): Promise<{ code: number; out: string; err: string }> {
  return new Promise((resolve, reject) => {
    const p = spawn('ctr', ['-a', socket, '-n', CRI_NAMESPACE, ...args], { stdio: [stdin ? 'pipe' : 'ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (d: Buffer) => { out += d.toString(); });
    p.stderr!.on('data', (d: Buffer) => { err += d.toString(); });
    p.on('error', (e: NodeJS.ErrnoException) => reject(e.code === 'ENOENT' ? new Error('ctr not found: install Debian\'s containerd package') : e));
    if (stdin && p.stdin) {
      stdin.on('error', (e) => { err += `${e.message}\n`; p.kill(); });
      p.stdin.on('error', () => { /* ctr exited early; its stderr says why */ });
      stdin.pipe(p.stdin);
    }
    p.on('close', (code) => resolve({ code: code ?? 1, out, err }));
  });
}

async function until<T>(ms: number, fn: () => Promise<T | undefined>): Promise<T | undefined> {
  const end = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v !== undefined || Date.now() > end) return v;
    await new Promise((r) => setTimeout(r, 100));
  }
}

// ---------------------------------------------------------------------------------------------
// load

export interface LoadedImage { name: string; file: string; digest: string; id: string; size: number; nodes: string[] }

/** Import one archive into one node; returns name → manifest digest of what it unpacked. */
async function importInto(n: NodeRuntime, a: ArchiveInfo): Promise<Map<string, string>> {
  const stdin = a.gzip ? createReadStream(a.file).pipe(createGunzip()) : undefined;
  // Only the host's platform: content of other platforms is often absent from an archive
  // (docker save of one platform of a multi-platform image), and a node cannot run it anyway.
  const r = await ctr(n.socket, ['images', 'import', '--snapshotter', SNAPSHOTTER, stdin ? '-' : a.file], stdin);
  if (r.code !== 0) throw new Error(`loading "${a.file}" into node ${n.node} failed: ${r.err.trim().replace(/^ctr: /, '') || `ctr exited ${r.code}`}`);
  const got = new Map<string, string>();
  for (const m of r.out.matchAll(/unpacking (\S+) \((sha256:[0-9a-f]{64})\)\.\.\.done/g)) got.set(m[1]!, m[2]!);
  if (!got.size) throw new Error(`loading "${a.file}" into node ${n.node}: containerd imported no image for this platform (${process.arch}); ctr said: ${(r.out + r.err).trim() || 'nothing'}`);
  for (const [name, digest] of got) {
    if (name.includes('@')) continue;
    // The name@digest reference a pull makes too: pods may name the image by digest, and the CRI
    // reports it among the image's repoDigests.
    const byDigest = `${normalizeImage(name).name}@${digest}`;
    const t = await ctr(n.socket, ['images', 'tag', '--force', name, byDigest]);
    if (t.code !== 0) throw new Error(`tagging ${byDigest} on node ${n.node} failed: ${t.err.trim()}`);
  }
  return got;
}

/**
 * `svcplane image load FILE…`: every archive into every node. Archives are all checked first,
 * so a typo in the third file loads nothing. Prints one line per image.
 */
export async function loadImages(o: ClusterRef & { files: string[]; out?: (line: string) => void }): Promise<LoadedImage[]> {
  const out = o.out ?? (() => {});
  if (!o.files.length) throw new Error('svcplane image load: give at least one image archive (FILE…)');
  const archives: ArchiveInfo[] = [];
  for (const f of o.files) archives.push(await inspectArchive(f));
  const { nodes } = await openNodes(o, 'load');
  try {
    const loaded: LoadedImage[] = [];
    for (const a of archives) {
      const perNode = await pool(nodes, PARALLEL_NODES, async (n) => {
        const got = await importInto(n, a);
        const seen = new Map<string, CriImage>();
        for (const name of got.keys()) {
          const img = await until(CRI_SEES_MS, () => n.cri.imageStatus(name));
          if (!img) throw new Error(`node ${n.node}: containerd imported ${name}, but its CRI does not show it within ${CRI_SEES_MS / 1000} s`);
          seen.set(name, img);
        }
        return { n, got, seen };
      });
      const byName = new Map<string, LoadedImage>();
      for (const { n, got, seen } of perNode) {
        for (const [name, digest] of got) {
          const img = seen.get(name)!;
          const e = byName.get(name) ?? { name, file: a.file, digest, id: img.id, size: Number(img.size), nodes: [] };
          e.nodes.push(n.node);
          byName.set(name, e);
        }
      }
      for (const e of byName.values()) {
        out(`Image: "${e.name}" with ID "${e.id}" (digest ${e.digest}, ${humanSize(e.size)}) loaded into node${e.nodes.length > 1 ? 's' : ''} ${e.nodes.map((x) => `"${x}"`).join(', ')}`);
        loaded.push(e);
      }
    }
    return loaded;
  } finally { closeNodes(nodes); }
}

// ---------------------------------------------------------------------------------------------
// ls

export interface ImageRow { image: string; tag: string; id: string; size: number; digests: string[]; nodes: string[] }

/** Split a repo tag as crictl prints it: docker.io/library/nginx:1.25 → docker.io/library/nginx, 1.25. */
function splitTag(ref: string): [string, string] {
  const c = ref.lastIndexOf(':');
  return c > ref.lastIndexOf('/') ? [ref.slice(0, c), ref.slice(c + 1)] : [ref, '<none>'];
}

/** `svcplane image ls`: the images of every node (as the CRI reports them), one row per name and ID. */
export async function listImages(o: ClusterRef): Promise<{ rows: ImageRow[]; nodes: string[] }> {
  const { nodes } = await openNodes(o, 'ls');
  try {
    const lists = await pool(nodes, PARALLEL_NODES, async (n) => ({ n, images: await n.cri.listImages() }));
    const rows = new Map<string, ImageRow>();
    for (const { n, images } of lists) {
      for (const img of images) {
        const names = img.repoTags?.length ? img.repoTags : [`${(img.repoDigests?.[0] ?? '<none>').replace(/@.*$/, '')}`];
        for (const t of names) {
          const [image, tag] = img.repoTags?.length ? splitTag(t) : [t, '<none>'];
          const key = `${image}\0${tag}\0${img.id}`;
          const r = rows.get(key) ?? { image, tag, id: img.id, size: Number(img.size), digests: img.repoDigests ?? [], nodes: [] };
          r.nodes.push(n.node);
          rows.set(key, r);
        }
      }
    }
    return { rows: [...rows.values()].sort((a, b) => a.image.localeCompare(b.image) || a.tag.localeCompare(b.tag)), nodes: nodes.map((n) => n.node) };
  } finally { closeNodes(nodes); }
}

/** Sizes as crictl shows them (go-units HumanSize: decimal units, 4 significant digits). */
export function humanSize(n: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB', 'PB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) { n /= 1000; i++; }
  return `${Number(n.toPrecision(4))}${units[i]}`;
}

export function imageTable(rows: ImageRow[], allNodes: string[]): string {
  const t = [['IMAGE', 'TAG', 'IMAGE ID', 'SIZE', 'NODES']];
  for (const r of rows) {
    t.push([r.image, r.tag, r.id.replace(/^sha256:/, '').slice(0, 13), humanSize(r.size), r.nodes.length === allNodes.length && allNodes.length > 3 ? `all ${allNodes.length}` : r.nodes.join(',')]);
  }
  const w = t[0]!.map((_, i) => Math.max(...t.map((r) => r[i]!.length)));
  return t.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(w[i]! + 3))).join('')).join('\n');
}

// ---------------------------------------------------------------------------------------------
// rm

export interface Removed { name: string; id: string; nodes: string[]; onlyTag: boolean }

/** An image ID or a prefix of one (crictl rmi accepts both). */
const ID_RE = /^(sha256:)?[0-9a-f]{6,64}$/;

/**
 * `svcplane image rm NAME…` on every node. A name is removed as crictl rmi / docker rmi do: when
 * the image has other tags only that tag goes, else the image with all its references; an ID (or
 * an unambiguous prefix) removes the image. A name no node holds is an error naming it, after
 * the others were removed.
 */
export async function removeImages(o: ClusterRef & { names: string[]; out?: (line: string) => void }): Promise<Removed[]> {
  const out = o.out ?? (() => {});
  if (!o.names.length) throw new Error('svcplane image rm: give at least one image (NAME… or image ID)');
  const { c, nodes } = await openNodes(o, 'rm');
  try {
    const removed: Removed[] = [];
    const missing: string[] = [];
    for (const name of o.names) {
      const results = await pool(nodes, PARALLEL_NODES, async (n) => {
        let img: CriImage | undefined;
        if (ID_RE.test(name)) {
          const want = name.startsWith('sha256:') ? name : `sha256:${name}`;
          const hits = (await n.cri.listImages()).filter((i) => i.id.startsWith(want));
          if (hits.length > 1) throw new Error(`image ID prefix "${name}" is ambiguous on node ${n.node}: ${hits.map((i) => i.id.slice(7, 19)).join(', ')}`);
          img = hits[0];
        }
        img ??= await n.cri.imageStatus(name);
        if (!img) return undefined;
        const tag = ID_RE.test(name) || name.includes('@') ? undefined : refString(name);
        if (tag && img.repoTags.length > 1 && img.repoTags.includes(tag)) {
          const r = await ctr(n.socket, ['images', 'rm', tag]);
          if (r.code !== 0) throw new Error(`removing ${tag} from node ${n.node} failed: ${r.err.trim()}`);
          // Visible to the kubelet once the CRI plugin has the event.
          await until(CRI_SEES_MS, async () => ((await n.cri.imageStatus(tag))?.repoTags.includes(tag) ? undefined : true));
          return { n, id: img.id, onlyTag: true };
        }
        await n.cri.removeImage(img.id);
        return { n, id: img.id, onlyTag: false };
      });
      const hits = results.filter((r) => r !== undefined);
      if (!hits.length) { missing.push(name); continue; }
      const r: Removed = { name, id: hits[0]!.id, nodes: hits.map((h) => h.n.node), onlyTag: hits.every((h) => h.onlyTag) };
      out(`${r.onlyTag ? 'Untagged' : 'Deleted'}: ${name} (ID ${r.id}) from node${r.nodes.length > 1 ? 's' : ''} ${r.nodes.map((x) => `"${x}"`).join(', ')}`);
      removed.push(r);
    }
    if (missing.length) {
      throw new Error(`no such image ${missing.map((m) => `"${m}"`).join(', ')} on any node of cluster "${c.name}" (svcplane image ls --name ${c.name} lists them)`);
    }
    return removed;
  } finally { closeNodes(nodes); }
}
