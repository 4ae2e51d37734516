/**
 * @module api/openapi
 * The OpenAPI v3 documents kube-apiserver serves under /openapi/v3: the index and one document
 * per group-version, built from the generated component schemas (openapi-data/schemas.json,
 * written by scripts/gen-openapi.ts from the kubernetes-types declarations). kubectl needs them
 * for apply/create -f/edit (PATCH operations tagged with x-kubernetes-group-version-kind and a
 * fieldValidation query parameter) and for explain (schemas with descriptions and patch
 * metadata). Documents are built once and cached.
 */
import SCHEMAS from './openapi-data/schemas.json' with { type: 'json' };
import { RESOURCES, KUBE_VERSION, type ResourceInfo } from './registry.js';
import { typeNameFor } from './patch-meta.js';

type Schema = Record<string, unknown>;
const ALL_SCHEMAS = SCHEMAS as Record<string, Schema>;

const OPENAPI_VERSION = '3.0.0';
const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';
const STATUS_REF = `${META}.Status`;
const SCALE_TYPE = 'io.k8s.api.autoscaling.v1.Scale';
const PATCH_CONTENT_TYPES = ['application/apply-patch+yaml', 'application/json-patch+json', 'application/merge-patch+json', 'application/strategic-merge-patch+json'];
const RESPONSE_CONTENT_TYPES = ['application/json', 'application/yaml', 'application/vnd.kubernetes.protobuf'];

const ref = (name: string): Schema => ({ $ref: `#/components/schemas/${name}` });

function queryParam(name: string, description: string, type = 'string'): Schema {
  return { name, in: 'query', description, schema: { type, uniqueItems: true } };
}

const P_PRETTY = queryParam('pretty', "If 'true', then the output is pretty printed. Defaults to 'false' unless the user-agent indicates a browser or command-line HTTP tool (curl and wget).");
const P_DRY_RUN = queryParam('dryRun', 'When present, indicates that modifications should not be persisted. An invalid or unrecognized dryRun directive will result in an error response and no further processing of the request. Valid values are: - All: all dry run stages will be processed');
const P_FIELD_MANAGER = queryParam('fieldManager', 'fieldManager is a name associated with the actor or entity that is making these changes. The value must be less than or 128 characters long, and only contain printable characters, as defined by https://golang.org/pkg/unicode/#IsPrint.');
const P_FIELD_VALIDATION = queryParam('fieldValidation', 'fieldValidation instructs the server on how to handle objects in the request (POST/PUT/PATCH) containing unknown or duplicate fields. Valid values are: - Ignore: This will ignore any unknown fields that are silently dropped from the object, and will ignore all but the last duplicate field that the decoder encounters. This is the default behavior prior to v1.23. - Warn: This will send a warning via the standard warning response header for each unknown field that is dropped from the object, and for each duplicate field that is encountered. The request will still succeed if there are no other errors, and will only persist the last of any duplicate fields. This is the default in v1.23+ - Strict: This will fail the request with a BadRequest error if any unknown fields would be dropped from the object, or if any duplicate fields are present. The error returned from the server will contain all unknown and duplicate fields encountered.');
const P_FORCE = queryParam('force', 'Force is going to "force" Apply requests. It means user will re-acquire conflicting fields owned by other people. Force flag must be unset for non-apply patch requests.', 'boolean');
const LIST_PARAMS = [
  queryParam('allowWatchBookmarks', 'allowWatchBookmarks requests watch events with type "BOOKMARK".', 'boolean'),
  queryParam('continue', 'The continue option should be set when retrieving more results from the server.'),
  queryParam('fieldSelector', 'A selector to restrict the list of returned objects by their fields. Defaults to everything.'),
  queryParam('labelSelector', 'A selector to restrict the list of returned objects by their labels. Defaults to everything.'),
  queryParam('limit', 'limit is a maximum number of responses to return for a list call.', 'integer'),
  queryParam('resourceVersion', 'resourceVersion sets a constraint on what resource versions a request may be served from.'),
  queryParam('timeoutSeconds', 'Timeout for the list/watch call.', 'integer'),
  queryParam('watch', 'Watch for changes to the described resources and return them as a stream of add, update, and remove notifications.', 'boolean'),
];

function pascal(s: string): string {
  return s.charAt(0).toUpperCase() + s.slice(1);
}

/** "Core", "Apps", "Discovery", "Coordination" as in upstream operation ids. */
function groupWord(group: string): string {
  if (group === '') return 'Core';
  return group.replace(/\.k8s\.io$/, '').split('.').map(pascal).join('');
}

function gvPathOf(info: { group: string; version: string }): string {
  return info.group ? `apis/${info.group}/${info.version}` : `api/${info.version}`;
}

function okResponse(schemaName: string, code = '200', description = 'OK'): Schema {
  return {
    [code]: {
      description,
      content: Object.fromEntries(RESPONSE_CONTENT_TYPES.map((ct) => [ct, { schema: ref(schemaName) }])),
    },
  };
}

interface OpSpec { verb: string; action: string; op: string; body?: string; bodyTypes?: string[]; response: string; params: Schema[]; extraCodes?: string[] }

function operation(info: ResourceInfo, gvk: Schema, s: OpSpec): Schema {
  const responses: Schema = { ...okResponse(s.response) };
  for (const c of s.extraCodes ?? []) Object.assign(responses, okResponse(s.response, c, c === '201' ? 'Created' : 'Accepted'));
  responses['401'] = { description: 'Unauthorized' };
  const o: Schema = {
    tags: [`${groupWord(info.group).toLowerCase()}_${info.version}`],
    description: `${s.action} ${info.kind}`,
    operationId: s.op,
    parameters: s.params,
    responses,
    'x-kubernetes-action': s.verb,
    'x-kubernetes-group-version-kind': gvk,
  };
  if (s.body) {
    o.requestBody = {
      content: Object.fromEntries((s.bodyTypes ?? ['*/*']).map((ct) => [ct, { schema: ref(s.body!) }])),
      required: true,
    };
  }
  return o;
}

function pathsFor(info: ResourceInfo): Record<string, Schema> {
  const typeName = typeNameFor(info.group, info.version, info.kind);
  const listName = typeNameFor(info.group, info.version, info.listKind);
  const gvk = { group: info.group, kind: info.kind, version: info.version };
  const base = info.group ? `/apis/${info.group}/${info.version}` : `/api/${info.version}`;
  const ns = info.namespaced ? '/namespaces/{namespace}' : '';
  const scope = info.namespaced ? 'Namespaced' : '';
  const id = `${groupWord(info.group)}${pascal(info.version)}${scope}${info.kind}`;
  const pathParams = (withName: boolean): Schema[] => [
    ...(withName ? [{ name: 'name', in: 'path', description: `name of the ${info.kind}`, required: true, schema: { type: 'string', uniqueItems: true } }] : []),
    ...(info.namespaced ? [{ name: 'namespace', in: 'path', description: 'object name and auth scope, such as for teams and projects', required: true, schema: { type: 'string', uniqueItems: true } }] : []),
    P_PRETTY,
  ];
  const writeParams = [P_DRY_RUN, P_FIELD_MANAGER, P_FIELD_VALIDATION];
  const has = (v: string): boolean => info.verbs.includes(v);
  const out: Record<string, Schema> = {};
  const coll: Schema = { parameters: pathParams(false) };
  if (has('list')) coll.get = operation(info, gvk, { verb: 'list', action: 'list or watch objects of kind', op: `list${id}`, response: listName, params: LIST_PARAMS });
  if (has('create')) coll.post = operation(info, gvk, { verb: 'post', action: 'create a', op: `create${id}`, body: typeName, response: typeName, params: writeParams, extraCodes: ['201', '202'] });
  if (has('deletecollection')) coll.delete = operation(info, gvk, { verb: 'deletecollection', action: 'delete collection of', op: `deletecollection${id}`, body: `${META}.DeleteOptions`, response: STATUS_REF, params: [P_DRY_RUN, ...LIST_PARAMS] });
  out[`${base}${ns}/${info.resource}`] = coll;
  if (!has('get') && !has('update') && !has('patch') && !has('delete')) return out;
  const item = (sub: string, kindType: string, subGvk: Schema, subId: string): Schema => {
    const p: Schema = { parameters: pathParams(true) };
    const gi = { ...info };
    if (has('get')) p.get = operation(gi, subGvk, { verb: 'get', action: 'read the specified', op: `read${id}${subId}`, response: kindType, params: [] });
    if (has('update')) p.put = operation(gi, subGvk, { verb: 'put', action: 'replace the specified', op: `replace${id}${subId}`, body: kindType, response: kindType, params: writeParams, extraCodes: ['201'] });
    if (has('patch')) {
      p.patch = operation(gi, subGvk, { verb: 'patch', action: 'partially update the specified', op: `patch${id}${subId}`, body: `${META}.Patch`, bodyTypes: PATCH_CONTENT_TYPES,
        response: kindType, params: [...writeParams, P_FORCE], extraCodes: ['201'] });
    }
    if (sub === '' && has('delete')) {
      p.delete = operation(gi, subGvk, { verb: 'delete', action: 'delete a', op: `delete${id}`, body: `${META}.DeleteOptions`, response: STATUS_REF, params: [P_DRY_RUN,
        queryParam('gracePeriodSeconds', 'The duration in seconds before the object should be deleted.', 'integer'),
        queryParam('propagationPolicy', "Whether and how garbage collection will be performed. Acceptable values are: 'Orphan', 'Background', 'Foreground'.")], extraCodes: ['202'] });
    }
    return p;
  };
  out[`${base}${ns}/${info.resource}/{name}`] = item('', typeName, gvk, '');
  if (info.subresources.includes('status')) out[`${base}${ns}/${info.resource}/{name}/status`] = item('status', typeName, gvk, 'Status');
  if (info.subresources.includes('scale')) out[`${base}${ns}/${info.resource}/{name}/scale`] = item('scale', SCALE_TYPE, { group: 'autoscaling', kind: 'Scale', version: 'v1' }, 'Scale');
  return out;
}

function collectRefs(v: unknown, out: Set<string>): void {
  if (Array.isArray(v)) { for (const x of v) collectRefs(x, out); return; }
  if (v && typeof v === 'object') {
    for (const [k, x] of Object.entries(v)) {
      if (k === '$ref' && typeof x === 'string') out.add(x.replace('#/components/schemas/', ''));
      else collectRefs(x, out);
    }
  }
}

/** The schemas a document refers to, transitively. */
function closure(doc: unknown): Record<string, Schema> {
  const seen = new Set<string>();
  const queue: string[] = [];
  const first = new Set<string>();
  collectRefs(doc, first);
  queue.push(...first);
  while (queue.length) {
    const n = queue.pop()!;
    if (seen.has(n) || !ALL_SCHEMAS[n]) continue;
    seen.add(n);
    const more = new Set<string>();
    collectRefs(ALL_SCHEMAS[n], more);
    queue.push(...more);
  }
  return Object.fromEntries([...seen].sort().map((n) => [n, ALL_SCHEMAS[n]]));
}

const PATCH_SCHEMA: Schema = { description: 'Patch is provided to give a concrete name and type to the Kubernetes PATCH request body.', type: 'object' };

function info(): Schema {
  return { title: 'Kubernetes', version: KUBE_VERSION.gitVersion };
}

function buildGroupVersionDoc(gvPath: string): Schema | undefined {
  const resources = RESOURCES.filter((r) => gvPathOf(r) === gvPath);
  if (resources.length === 0) return undefined;
  const paths: Record<string, Schema> = {};
  for (const r of resources) Object.assign(paths, pathsFor(r));
  const schemas = closure(paths);
  schemas[`${META}.Patch`] = PATCH_SCHEMA;
  return {
    openapi: OPENAPI_VERSION,
    info: info(),
    paths,
    components: {
      schemas: Object.fromEntries(Object.keys(schemas).sort().map((k) => [k, schemas[k]])),
      securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } },
    },
  };
}

function buildRootDoc(which: 'api' | 'apis'): Schema {
  const p = `/${which}/`;
  return {
    openapi: OPENAPI_VERSION,
    info: info(),
    paths: { [p]: { get: { tags: [which === 'api' ? 'core' : 'apis'], description: which === 'api' ? 'get available API versions' : 'get available API groups',
      operationId: which === 'api' ? 'getCoreAPIVersions' : 'getAPIVersions', responses: { 200: { description: 'OK' }, 401: { description: 'Unauthorized' } } } } },
    components: { securitySchemes: { BearerToken: { type: 'apiKey', description: 'Bearer Token authentication', name: 'authorization', in: 'header' } } },
  };
}

/**
 * A content hash for ?hash= (kube-apiserver uses SHA-512; any stable digest works for clients,
 * which only compare it). Four interleaved 32-bit FNV-1a lanes keep src/api free of node: imports.
 */
export function contentHash(text: string): string {
  const lanes = [0x811c9dc5, 0x01000193 ^ 0x5bd1e995, 0x9e3779b9, 0x85ebca6b];
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    for (let l = 0; l < lanes.length; l++) lanes[l] = Math.imul(lanes[l] ^ (c + l), 0x01000193) >>> 0;
  }
  return lanes.map((x) => x.toString(16).padStart(8, '0')).join('').toUpperCase();
}

const docCache = new Map<string, { doc: Schema; hash: string }>();

function cached(gvPath: string): { doc: Schema; hash: string } | undefined {
  const hit = docCache.get(gvPath);
  if (hit) return hit;
  const doc = gvPath === 'api' || gvPath === 'apis' ? buildRootDoc(gvPath) : buildGroupVersionDoc(gvPath);
  if (!doc) return undefined;
  const hash = contentHash(JSON.stringify(doc));
  const entry = { doc, hash };
  docCache.set(gvPath, entry);
  return entry;
}

/** The group-version paths served ('api', 'apis', 'api/v1', 'apis/apps/v1', ...). */
export function openapiV3Paths(): string[] {
  return ['api', 'apis', ...new Set(RESOURCES.map(gvPathOf))];
}

/** GET /openapi/v3 */
export function openapiV3Index(): object {
  const paths: Record<string, { serverRelativeURL: string }> = {};
  for (const p of openapiV3Paths()) paths[p] = { serverRelativeURL: `/openapi/v3/${p}?hash=${cached(p)!.hash}` };
  return { paths };
}

/** GET /openapi/v3/<gvPath> ('api/v1', 'apis/apps/v1', ...); undefined when not served. */
export function openapiV3Document(gvPath: string): object | undefined {
  return cached(gvPath.replace(/^\/+|\/+$/g, ''))?.doc;
}

/** The hash of a document (kube-apiserver answers ?hash=<this> with long-lived cache headers). */
export function openapiV3Hash(gvPath: string): string | undefined {
  return cached(gvPath.replace(/^\/+|\/+$/g, ''))?.hash;
}

/**
 * GET /openapi/v2: a Swagger 2.0 document without definitions. kubectl 1.32 reads v3 for
 * everything it can, but falls back to v2 for kinds v3 does not describe (a `kind: List` file
 * under `kubectl apply`/`create` validation, patch types of unknown kinds); a 404 there fails
 * the command ("error validating data: the server could not find the requested resource").
 * With no definitions, those lookups find no model: kubectl skips client-side validation
 * (the server still validates each item, fieldValidation=Strict) and uses its built-in types.
 */
export function openapiV2(): { swagger: string; info: { title: string; version: string }; paths: object; definitions: object } {
  return { swagger: '2.0', info: { title: 'Kubernetes', version: KUBE_VERSION.gitVersion }, paths: {}, definitions: {} };
}

/** The component schema of a served kind (used by unknown-field detection). */
export function schemaByName(name: string): Schema | undefined {
  return ALL_SCHEMAS[name];
}
