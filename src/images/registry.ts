/**
 * @module images/registry
 * A read-only registry serving the built-in images of an OCI layout (src/images/build.ts) over
 * the pull side of the OCI distribution API, as containerd 1.6 uses it through a CRI registry
 * mirror (`registry.mirrors."*".endpoint = ["http://127.0.0.1:PORT"]`):
 *   GET /v2/                                         200, the API version check
 *   GET|HEAD /v2/<name>/manifests/<tag|digest>?ns=H  the image's manifest (containerd adds ns,
 *                                                    the registry host the image was asked from)
 *   GET|HEAD /v2/<name>/blobs/<digest>               configs and layers, streamed (Range too)
 * A name (ns host + repository + tag) resolves through catalog.NAMES, so `nginx`,
 * `docker.io/library/nginx:1.25` and `registry.k8s.io/e2e-test-images/nginx:1.15-4` all get the
 * nginx image. Without ns (a direct pull such as `ctr pull 127.0.0.1:PORT/library/nginx`), a
 * first path component with a dot or port is the registry host, else docker.io.
 * Errors are the distribution API's JSON ({"errors":[{code,message,detail}]}).
 */
import { createReadStream, readFileSync, statSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { builtinImage, normalizeImage, type ImageKey } from './catalog.js';
import { DIGEST_RE, REF_NAME, blobPath, type Descriptor } from './oci.js';

export interface Registry { port: number; close(): Promise<void> }

/** A tag as the distribution spec allows it. */
const TAG_RE = /^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$/;
/** Repository path components (lowercase, separators inside), as the distribution spec allows them. */
const NAME_RE = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*(?:\/[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*)*$/;
const HOST_RE = /^[A-Za-z0-9.-]+(?::[0-9]+)?$/;

/** The layout's index.json, re-read when it changes (a rebuild while nodes run). */
class LayoutIndex {
  private mtime = -1;
  private byKey = new Map<string, Descriptor>();
  private byDigest = new Map<string, Descriptor>();
  constructor(readonly layout: string) {}

  private load(): void {
    let m = -1;
    try { m = statSync(join(this.layout, 'index.json')).mtimeMs; } catch { /* not built */ }
    if (m === this.mtime) return;
    this.byKey.clear(); this.byDigest.clear();
    if (m >= 0) {
      const idx = JSON.parse(readFileSync(join(this.layout, 'index.json'), 'utf8')) as { manifests?: Descriptor[] };
      for (const d of idx.manifests ?? []) {
        const key = d.annotations?.[REF_NAME];
        if (key) this.byKey.set(key, d);
        this.byDigest.set(d.digest, d);
      }
    }
    this.mtime = m;
  }

  key(k: ImageKey): Descriptor | undefined { this.load(); return this.byKey.get(k); }
  digest(d: string): Descriptor | undefined { this.load(); return this.byDigest.get(d); }
}

interface RegistryError { status: number; code: string; message: string; detail?: unknown }

const ERR = {
  manifestUnknown: (detail: unknown): RegistryError => ({ status: 404, code: 'MANIFEST_UNKNOWN', message: 'manifest unknown', detail }),
  blobUnknown: (detail: unknown): RegistryError => ({ status: 404, code: 'BLOB_UNKNOWN', message: 'blob unknown to registry', detail }),
  nameUnknown: (detail: unknown): RegistryError => ({ status: 404, code: 'NAME_UNKNOWN', message: 'repository name not known to registry', detail }),
  unsupported: (): RegistryError => ({ status: 405, code: 'UNSUPPORTED', message: 'The operation is unsupported.' }),
};

function sendError(req: IncomingMessage, res: ServerResponse, e: RegistryError): void {
  const body = JSON.stringify({ errors: [{ code: e.code, message: e.message, ...(e.detail !== undefined ? { detail: e.detail } : {}) }] });
  res.writeHead(e.status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...(e.status === 405 ? { Allow: 'GET, HEAD' } : {}) });
  res.end(req.method === 'HEAD' ? undefined : body);
}

/** The built-in image a request's repository (and ns host) names, or undefined. */
export function resolveRepository(name: string, tag: string, ns?: string | null): ImageKey | undefined {
  if (!NAME_RE.test(name)) return undefined;
  if (ns && !HOST_RE.test(ns)) return undefined;
  return builtinImage(normalizeImage(`${ns ? `${ns}/` : ''}${name}:${tag}`));
}

export async function startRegistry(o: { cacheDir: string; host?: string; port?: number; log?: (line: Record<string, unknown>) => void }): Promise<Registry> {
  const index = new LayoutIndex(o.cacheDir);

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    res.setHeader('Docker-Distribution-API-Version', 'registry/2.0');
    if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(req, res, ERR.unsupported());
    const url = new URL(req.url ?? '/', 'http://registry');
    const path = url.pathname;
    if (path === '/v2/' || path === '/v2') {
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': 2 });
      return void res.end(req.method === 'HEAD' ? undefined : '{}');
    }
    const m = /^\/v2\/(.+)\/(manifests|blobs|tags)\/([^/]+)$/.exec(path);
    if (!m) return sendError(req, res, ERR.nameUnknown({ path }));
    const [, name, kind, ref] = m as unknown as [string, string, string, string];
    const ns = url.searchParams.get('ns');
    const full = `${ns ? `${ns}/` : ''}${name}`;

    if (kind === 'manifests') {
      const isDigest = DIGEST_RE.test(ref);
      const detail = isDigest ? { Name: full, Revision: ref } : { Name: full, Tag: ref };
      if (!isDigest && !TAG_RE.test(ref)) return sendError(req, res, ERR.manifestUnknown(detail));
      const key = resolveRepository(name, isDigest ? 'latest' : ref, ns);
      const desc = key === undefined ? undefined : isDigest ? index.digest(ref) : index.key(key);
      if (!desc) return sendError(req, res, ERR.manifestUnknown(detail));
      let body: Buffer;
      try { body = readFileSync(blobPath(o.cacheDir, desc.digest)); } catch { return sendError(req, res, ERR.manifestUnknown(detail)); }
      o.log?.({ msg: 'manifest', name: full, ref, image: key, digest: desc.digest });
      res.writeHead(200, {
        'Content-Type': desc.mediaType, 'Content-Length': body.length, 'Docker-Content-Digest': desc.digest, ETag: `"${desc.digest}"`,
      });
      return void res.end(req.method === 'HEAD' ? undefined : body);
    }

    if (kind === 'tags') {
      // GET /v2/<name>/tags/list: any tag resolves, so the list names the one every image has.
      if (ref !== 'list' || resolveRepository(name, 'latest', ns) === undefined) return sendError(req, res, ERR.nameUnknown({ Name: full }));
      const body = JSON.stringify({ name, tags: ['latest'] });
      res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) });
      return void res.end(req.method === 'HEAD' ? undefined : body);
    }

    // blobs: only of a repository svcplane has, only by a well-formed digest.
    if (!DIGEST_RE.test(ref) || resolveRepository(name, 'latest', ns) === undefined) return sendError(req, res, ERR.blobUnknown({ Name: full, Digest: ref }));
    const file = blobPath(o.cacheDir, ref);
    let size: number;
    try { size = statSync(file).size; } catch { return sendError(req, res, ERR.blobUnknown({ Name: full, Digest: ref })); }
    let start = 0;
    let end = size - 1;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? '');
    if (range) {
      start = Number(range[1]);
      if (range[2]) end = Math.min(Number(range[2]), size - 1);
      if (start > end || start >= size) {
        res.writeHead(416, { 'Content-Range': `bytes */${size}` });
        return void res.end();
      }
    }
    const headers: Record<string, string | number> = {
      'Content-Type': 'application/octet-stream', 'Content-Length': end - start + 1, 'Docker-Content-Digest': ref,
      ETag: `"${ref}"`, 'Accept-Ranges': 'bytes',
    };
    if (range) headers['Content-Range'] = `bytes ${start}-${end}/${size}`;
    o.log?.({ msg: 'blob', name: full, digest: ref, bytes: end - start + 1 });
    res.writeHead(range ? 206 : 200, headers);
    if (req.method === 'HEAD' || size === 0) return void res.end();
    const stream = createReadStream(file, { start, end, highWaterMark: 1 << 20 });
    stream.on('error', () => res.destroy());
    res.on('close', () => stream.destroy());
    stream.pipe(res);
  };

  const server = createServer((req, res) => {
    try { handle(req, res); } catch (e) {
      // A layout being rewritten under us: an answer, never a crash.
      if (!res.headersSent) sendError(req, res, { status: 500, code: 'UNKNOWN', message: 'unknown error', detail: (e as Error).message });
      else res.destroy();
    }
  });
  server.keepAliveTimeout = 30_000;
  await new Promise<void>((res, rej) => {
    server.once('error', rej);
    server.listen(o.port ?? 0, o.host ?? '127.0.0.1', () => { server.off('error', rej); res(); });
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () => new Promise<void>((res) => { server.closeAllConnections(); server.close(() => res()); }),
  };
}
