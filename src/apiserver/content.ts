/**
 * @module apiserver/content
 * Content negotiation as kube-apiserver does it: the first media type of the Accept header the
 * server can produce wins — plain JSON, YAML, a meta.k8s.io Table (what `kubectl get` asks for),
 * or PartialObjectMetadata(List) (metadata-only clients such as the garbage collector).
 * Protobuf responses are not produced; clients that accept it also accept JSON.
 */
import type http from 'node:http';
import { stringify as stringifyYaml } from 'yaml';
import type { KubeObject } from '../api/types.js';

export type Format =
  | { kind: 'json' }
  | { kind: 'yaml' }
  | { kind: 'table'; version: 'v1' | 'v1beta1' }
  | { kind: 'partial'; version: 'v1' | 'v1beta1'; list: boolean };

const JSON_FORMAT: Format = { kind: 'json' };

/** Parse one Accept header into the format to answer in. */
export function negotiate(accept: string | undefined): Format {
  if (!accept) return JSON_FORMAT;
  // Fast path: the common plain forms.
  if (accept === 'application/json' || accept === '*/*' || accept === 'application/json, */*') return JSON_FORMAT;
  for (const clause of accept.split(',')) {
    const [type, ...paramList] = clause.split(';').map((x) => x.trim());
    const params: Record<string, string> = {};
    for (const p of paramList) { const i = p.indexOf('='); if (i > 0) params[p.slice(0, i).trim()] = p.slice(i + 1).trim(); }
    if (type === 'application/yaml') { if (!params.as) return { kind: 'yaml' }; continue; }
    if (type !== 'application/json' && type !== '*/*' && type !== 'application/*') continue;
    if (!params.as) return JSON_FORMAT;
    if (params.g !== 'meta.k8s.io' || (params.v !== 'v1' && params.v !== 'v1beta1')) continue;
    if (params.as === 'Table') return { kind: 'table', version: params.v };
    if (params.as === 'PartialObjectMetadata' || params.as === 'PartialObjectMetadataList') {
      return { kind: 'partial', version: params.v, list: params.as === 'PartialObjectMetadataList' };
    }
  }
  return JSON_FORMAT;
}

export function contentType(f: Format): string {
  switch (f.kind) {
    case 'json': return 'application/json';
    case 'yaml': return 'application/yaml';
    case 'table': return `application/json;as=Table;v=${f.version};g=meta.k8s.io`;
    case 'partial': return `application/json;as=PartialObjectMetadata${f.list ? 'List' : ''};v=${f.version};g=meta.k8s.io`;
  }
}

export function partialObjectMetadata(obj: KubeObject, version: string): Record<string, unknown> {
  return { kind: 'PartialObjectMetadata', apiVersion: `meta.k8s.io/${version}`, metadata: obj.metadata ?? {} };
}

/** Write a complete response: a JSON text (string or bytes), or a value rendered in the negotiated format. */
export function sendBody(resp: http.ServerResponse, code: number, body: unknown, format: Format = JSON_FORMAT,
  headers: Record<string, string> = {}): void {
  if (Buffer.isBuffer(body)) {
    if (format.kind === 'json') return sendJSONBytes(resp, code, body, headers);
    body = body.toString('utf8');
  }
  const text = format.kind === 'yaml' ? stringifyYaml(typeof body === 'string' ? JSON.parse(body) : body) : typeof body === 'string' ? body : JSON.stringify(body);
  resp.writeHead(code, { 'Content-Type': format.kind === 'yaml' ? 'application/yaml' : format.kind === 'json' ? 'application/json' : contentType(format), 'Cache-Control': 'no-cache, private', 'Content-Length': String(Buffer.byteLength(text)), ...headers });
  // Node writes the header block together with a string body in the body's encoding (UTF-8):
  // header values carrying raw bytes (UTF-8 Warning text, see handlers.ts) need a Buffer body.
  let raw = false;
  for (const k in headers) if (/[^\x00-\x7f]/.test(headers[k]!)) raw = true;
  resp.end(raw ? Buffer.from(text) : text);
}

/** Write a JSON body already encoded (the GET fast path: the watch cache's bytes, as they are). */
export function sendJSONBytes(resp: http.ServerResponse, code: number, body: Buffer, headers?: Record<string, string>): void {
  resp.writeHead(code, headers && Object.keys(headers).length
    ? { 'Content-Type': 'application/json', 'Cache-Control': 'no-cache, private', 'Content-Length': String(body.length), ...headers }
    : ['Content-Type', 'application/json', 'Cache-Control', 'no-cache, private', 'Content-Length', String(body.length)]);
  resp.end(body);
}
