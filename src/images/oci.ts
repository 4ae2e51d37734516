/**
 * @module images/oci
 * The pieces of an OCI image layout svcplane writes and reads: a tar writer for layers made
 * from local files (deterministic: fixed owner and date, so the same inputs give the same digest),
 * content-addressed blobs under blobs/sha256/, and index.json naming each image's manifest.
 * Layers are uncompressed tars (mediaType …layer.v1.tar): the layout only ever travels over
 * loopback to containerd, where gzip would cost more time than it saves.
 */
import { createHash } from 'node:crypto';
import { closeSync, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, renameSync, rmSync, writeFileSync, writeSync, createReadStream } from 'node:fs';
import { join } from 'node:path';

export const MEDIA = {
  index: 'application/vnd.oci.image.index.v1+json',
  manifest: 'application/vnd.oci.image.manifest.v1+json',
  config: 'application/vnd.oci.image.config.v1+json',
  layer: 'application/vnd.oci.image.layer.v1.tar',
} as const;

/** Annotation holding an image's name in index.json (as umoci and skopeo write it). */
export const REF_NAME = 'org.opencontainers.image.ref.name';

export interface Descriptor { mediaType: string; digest: string; size: number; annotations?: Record<string, string> }

/** sha256:<64 hex>, nothing else: a digest becomes a file path, so it is checked strictly. */
export const DIGEST_RE = /^sha256:[0-9a-f]{64}$/;

export const blobPath = (layout: string, digest: string): string => {
  if (!DIGEST_RE.test(digest)) throw new Error(`invalid digest ${JSON.stringify(digest)}`);
  return join(layout, 'blobs', 'sha256', digest.slice(7));
};

export function initLayout(layout: string): void {
  mkdirSync(join(layout, 'blobs', 'sha256'), { recursive: true, mode: 0o700 });
  const marker = join(layout, 'oci-layout');
  if (!existsSync(marker)) writeFileSync(marker, JSON.stringify({ imageLayoutVersion: '1.0.0' }));
}

/** Store bytes as a blob (idempotent: same bytes, same file). */
export function putBlob(layout: string, data: Buffer | string, mediaType: string): Descriptor {
  const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
  const digest = `sha256:${createHash('sha256').update(buf).digest('hex')}`;
  const p = blobPath(layout, digest);
  if (!existsSync(p)) { writeFileSync(`${p}.tmp`, buf); renameSync(`${p}.tmp`, p); }
  return { mediaType, digest, size: buf.length };
}

/** Move a finished file into the blob store under its sha256 (streamed: layers are big). */
export async function adoptBlob(layout: string, file: string, mediaType: string): Promise<Descriptor> {
  const h = createHash('sha256');
  let size = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) { h.update(chunk as Buffer); size += (chunk as Buffer).length; }
  const digest = `sha256:${h.digest('hex')}`;
  renameSync(file, blobPath(layout, digest));
  return { mediaType, digest, size };
}

export function writeIndex(layout: string, manifests: Descriptor[]): void {
  const p = join(layout, 'index.json');
  // Renamed into place: a registry serving this layout never reads half an index.
  writeFileSync(`${p}.tmp`, JSON.stringify({ schemaVersion: 2, mediaType: MEDIA.index, manifests }, null, 1));
  renameSync(`${p}.tmp`, p);
}

export function readIndex(layout: string): Descriptor[] {
  const idx = JSON.parse(readFileSync(join(layout, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
  return idx.manifests ?? [];
}

// ---------------------------------------------------------------------------------------------
// tar

/** Fixed date of every entry svcplane writes itself (2024-01-01): the digest depends only on content. */
const MTIME = 1704067200;

/**
 * A ustar archive written straight to a file, hashed as it goes. Entries are owned by root with
 * fixed dates; names are relative (`bin/busybox`) and directories are written before their
 * contents, as `tar` does.
 */
export class TarWriter {
  private fd: number;
  private hash = createHash('sha256');
  private size = 0;
  private dirs = new Set<string>();

  constructor(readonly path: string) { this.fd = openSync(path, 'w', 0o600); }

  private out(b: Buffer): void {
    writeSync(this.fd, b);
    this.hash.update(b);
    this.size += b.length;
  }

  private header(name: string, type: '0' | '2' | '5', mode: number, size: number, link = ''): void {
    const h = Buffer.alloc(512);
    let prefix = '';
    if (Buffer.byteLength(name) > 100) {
      const cut = name.lastIndexOf('/', 154);
      if (cut <= 0 || Buffer.byteLength(name.slice(cut + 1)) > 100) throw new Error(`tar: name too long: ${name}`);
      prefix = name.slice(0, cut); name = name.slice(cut + 1);
    }
    if (Buffer.byteLength(link) > 100) throw new Error(`tar: link target too long: ${link}`);
    const oct = (n: number, width: number) => n.toString(8).padStart(width - 1, '0') + '\0';
    h.write(name, 0, 100);
    h.write(oct(mode & 0o7777, 8), 100);
    h.write(oct(0, 8), 108);
    h.write(oct(0, 8), 116);
    h.write(oct(size, 12), 124);
    h.write(oct(MTIME, 12), 136);
    h.write('        ', 148);
    h.write(type, 156);
    h.write(link, 157, 100);
    h.write('ustar\u000000', 257);
    h.write('root', 265); h.write('root', 297);
    h.write(prefix, 345, 155);
    let sum = 0;
    for (const byte of h) sum += byte;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    this.out(h);
  }

  /** A directory (and its parents, once each). */
  dir(name: string, mode = 0o755): void {
    name = name.replace(/\/+$/, '');
    if (!name || this.dirs.has(name)) return;
    const parent = name.includes('/') ? name.slice(0, name.lastIndexOf('/')) : '';
    if (parent) this.dir(parent);
    this.dirs.add(name);
    this.header(`${name}/`, '5', mode, 0);
  }

  private parents(name: string): void {
    if (name.includes('/')) this.dir(name.slice(0, name.lastIndexOf('/')));
  }

  file(name: string, data: Buffer | string, mode = 0o644): void {
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    this.parents(name);
    this.header(name, '0', mode, buf.length);
    this.out(buf);
    if (buf.length % 512) this.out(Buffer.alloc(512 - (buf.length % 512)));
  }

  /** A file copied from the host in chunks (the Node binary is ~100 MB). */
  copy(name: string, src: string, mode = 0o755): void {
    const fd = openSync(src, 'r');
    try {
      const size = fstatSync(fd).size;
      this.parents(name);
      this.header(name, '0', mode, size);
      const buf = Buffer.alloc(1 << 20);
      let left = size;
      while (left > 0) {
        const n = readSync(fd, buf, 0, Math.min(buf.length, left), null);
        if (n <= 0) throw new Error(`tar: ${src} shrank while being copied`);
        this.out(buf.subarray(0, n));
        left -= n;
      }
      if (size % 512) this.out(Buffer.alloc(512 - (size % 512)));
    } finally { closeSync(fd); }
  }

  symlink(name: string, target: string): void {
    this.parents(name);
    this.header(name, '2', 0o777, 0, target);
  }

  /** End-of-archive blocks; returns the archive's digest and size. */
  finish(): { digest: string; size: number } {
    this.out(Buffer.alloc(1024));
    closeSync(this.fd);
    return { digest: `sha256:${this.hash.digest('hex')}`, size: this.size };
  }

  abort(): void {
    try { closeSync(this.fd); } catch { /* closed */ }
    rmSync(this.path, { force: true });
  }
}
