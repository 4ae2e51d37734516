/**
 * @module apiserver/request
 * Reading request bodies the way kube-apiserver does: a 3 MiB limit (413), JSON, YAML, or
 * Kubernetes protobuf (what kubectl's imperative commands send), and patch media types.
 * Malformed input is a 400 Status with upstream's wording, never a crash.
 */
import type http from 'node:http';
import { parse as parseYaml } from 'yaml';
import { HttpError, badRequest } from './errors.js';
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

/** Decode an object body (create, update) into a JSON object. */
export function decodeObjectBody(buf: Buffer, contentType: string | undefined): Record<string, unknown> {
  const ct = mediaType(contentType);
  if (!buf.length) throw badRequest('the body of the request was empty');
  let v: unknown;
  if (ct === 'application/vnd.kubernetes.protobuf') return decodeProtobufObject(buf);
  if (ct === 'application/yaml' || ct === 'application/x-yaml' || ct === 'text/yaml') {
    try { v = parseYaml(buf.toString('utf8')); } catch (e) { throw badRequest(`error converting YAML to JSON: yaml: ${(e as Error).message.split('\n')[0]}`); }
  } else if (ct === 'application/json' || ct === '*/*' || ct === '') {
    try { v = JSON.parse(buf.toString('utf8')); } catch (e) { throw badRequest(`couldn't get version/kind; json parse error: ${(e as Error).message.split('\n')[0]}`); }
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
    try { return parseYaml(text); } catch (e) { throw badRequest(`error decoding YAML: ${(e as Error).message.split('\n')[0]}`); }
  }
  try { return JSON.parse(text); } catch (e) {
    throw badRequest(kind === 'json' ? `the server rejected our request due to an error in our request: ${(e as Error).message.split('\n')[0]}` : `error decoding patch: ${(e as Error).message.split('\n')[0]}`);
  }
}
