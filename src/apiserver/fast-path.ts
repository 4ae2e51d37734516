/**
 * @module apiserver/fast-path
 * GET of one object as plain JSON — what controllers, informers' retries and `kubectl get -o
 * json` ask most — answered without the general request machinery: no URL object, no promise
 * chain, no store read, no string building: the watch cache's bytes for the object go out as
 * they are. Anything else (a query, escapes, another format, HEAD, an object the cache does not
 * hold) returns false and takes the general path, which answers the same bytes.
 */
import type http from 'node:http';
import { RESOURCES } from '../api/registry.js';
import { route } from './handlers.js';
import { sendJSONBytes } from './content.js';
import type { ApiMetrics } from './metrics.js';
import type { Storage } from './storage.js';

/** Accept headers that mean plain JSON (what content.ts's negotiate answers JSON for at once). */
function plainJSON(accept: string | undefined): boolean {
  return accept === undefined || accept === '' || accept === 'application/json' || accept === '*/*' || accept === 'application/json, */*';
}

/** Serve an authorized GET from the watch cache if it can; false = use the general path. */
export function serveFastGet(req: http.IncomingMessage, resp: http.ServerResponse, storage: Storage, metrics: ApiMetrics): boolean {
  const url = req.url;
  // Only plain paths: the general path's URL parser treats '//x' as a host, resolves dot
  // segments and escapes; those take it.
  if (!url || url.charCodeAt(0) !== 47 /* / */ || url.charCodeAt(1) === 47 || url.includes('?') || url.includes('%') || url.includes('/.') || url.includes('\\')) return false;
  if (!plainJSON(req.headers.accept)) return false;
  const parts = url.split('/').filter(Boolean);
  if (parts[0] !== 'api' && parts[0] !== 'apis') return false;
  const r = route(parts, RESOURCES);
  if (!r || r.name === undefined || r.subresource !== undefined || r.watchPath) return false;
  if (r.info.namespaced && r.namespace === undefined) return false;
  const body = storage.cachedJSON(r.info, r.namespace, r.name);
  if (!body) return false;
  const t0 = process.hrtime.bigint();
  sendJSONBytes(resp, 200, body);
  metrics.observe('get', r.info.resource, 200, t0);
  return true;
}
