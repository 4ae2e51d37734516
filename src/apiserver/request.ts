/**
 * @module apiserver/request
 * Reading request bodies the way kube-apiserver does: a 3 MiB limit (413), JSON, YAML, or
 * Kubernetes protobuf (what kubectl's imperative commands send), and patch media types.
 * Malformed input is a 400 Status with upstream's wording, never a crash.
 */
import type http from 'node:http';
import { parseDocument, visit, type Node as YamlNode } from 'yaml';
import { HttpError, badRequest } from './errors.js';
import { JSONDepthError, MAX_JSON_DEPTH, depthOf, parseJSON } from '../api/decode.js';
import { decodeProtobufObject } from './protobuf.js';
import type { PatchKind } from './storage.js';

export const MAX_BODY_BYTES = 3 * 1024 * 1024;

function tooLarge(): HttpError {
  // The connection is closed after answering: the rest of the body is not read.
  const e = new HttpError(413, 'RequestEntityTooLarge', `the request body is too large: limit is ${MAX_BODY_BYTES} bytes`);
  (e as HttpError & { closeConnection?: boolean }).closeConnection = true;
  return e;
}

export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > MAX_BODY_BYTES) return Promise.reject(tooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0;
    const onData = (c: Buffer) => {
      size += c.length;
      if (size > MAX_BODY_BYTES) {
        req.off('data', onData);
        req.resume();
        reject(tooLarge());
        return;
      }
      chunks.push(c);
    };
    req.on('data', onData);
    req.on('end', () => { if (size <= MAX_BODY_BYTES) resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks)); });
    req.on('error', reject);
  });
}

function mediaType(contentType: string | undefined): string {
  return (contentType ?? 'application/json').split(';')[0]!.trim().toLowerCase();
}

/** An alias inside the node its anchor names: go-yaml refuses it (`anchor 'x' value contains itself`). */
function selfContainingAnchor(doc: ReturnType<typeof parseDocument>): string | undefined {
  let found: string | undefined;
  visit(doc, {
    Alias(_k, alias, path) {
      const target = alias.resolve(doc) as YamlNode | undefined;
      if (target && (path as unknown[]).includes(target)) { found = alias.source; return visit.BREAK; }
      return undefined;
    },
  });
  return found;
}

/**
 * YAML to a JSON value as sigs.k8s.io/yaml does, with go-yaml's refusals: anchors that contain
 * themselves and alias expansion bombs (a cyclic or exponential value never reaches the rest of
 * the server), and the nesting limit of JSON bodies. Throws the reason without the `yaml: ` prefix's context.
 */
export function parseYamlBody(text: string): unknown {
  const doc = parseDocument(text);
  if (doc.errors.length) throw new Error(`yaml: ${doc.errors[0]!.message.split('\n')[0]}`);
  const self = selfContainingAnchor(doc);
  if (self !== undefined) throw new Error(`yaml: anchor '${self}' value contains itself`);
  let v: unknown;
  try { v = doc.toJS({ maxAliasCount: 100 }); } catch (e) {
    if (/alias/i.test((e as Error).message)) throw new Error('yaml: document contains excessive aliasing');
    throw new Error(`yaml: ${(e as Error).message.split('\n')[0]}`);
  }
  if (depthOf(v, MAX_JSON_DEPTH) > MAX_JSON_DEPTH) throw new Error('yaml: exceeded max depth');
  return v;
}

/** JSON text with Go's nesting limit and number literals kept (src/api/decode.ts); throws the reason. */
function parseJSONBody(text: string): unknown {
  try { return parseJSON(text); } catch (e) {
    if (e instanceof JSONDepthError) throw e;
    throw new Error((e as Error).message.split('\n')[0]);
  }
}

/** Decode an object body (create, update) into a JSON object. */
export function decodeObjectBody(buf: Buffer, contentType: string | undefined): Record<string, unknown> {
  const ct = mediaType(contentType);
  if (!buf.length) throw badRequest('the body of the request was empty');
  let v: unknown;
  if (ct === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(buf);
  if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
    try { v = parseYamlBody(buf.toString('utf8')); } catch (e) { throw badRequest(`error converting YAML to JSON: ${(e as Error).message}`); }
  } else if (ct === 'application/json' || ct === '*/*' || ct === '') {
    try { v = parseJSONBody(buf.toString('utf8')); } catch (e) { throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message}`); }
  } else {
    throw new HttpError(415, 'UnsupportedMediaType', `the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf`);
  }
  if (!v || typeof v !== 'object' || Array.isArray(v)) throw badRequest("couldn't get version/kind; json parse error: the body is not a JSON object");
  return v as Record<string, unknown>;
}

export function patchKind(contentType: string | undefined): PatchKind {
  switch (mediaType(contentType)) {
    case 'application/strategic-merge-patch+json': return 'strategic';
    case 'application/merge-patch+json': return 'merge';
    case 'application/json-patch+json': return 'json';
    case 'application/apply-patch+yaml': return 'apply';
    default: throw new HttpError(415, 'UnsupportedMediaType', 'the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json');
  }
}

/** Decode a patch body for its patch type. */
export function decodePatchBody(buf: Buffer, kind: PatchKind): unknown {
  if (!buf.length) throw badRequest('the body of the request was empty');
  const text = buf.toString('utf8');
  if (kind === 'apply') {
    try { return parseYamlBody(text); } catch (e) { throw badRequest(`error decoding YAML: ${(e as Error).message}`); }
  }
  try { return parseJSONBody(text); } catch (e) {
    throw badRequest(kind === 'json' ? `the server rejected our request due to an error in our request: ${(e as Error).message}` : `error decoding patch: ${(e as Error).message}`);
  }
}
