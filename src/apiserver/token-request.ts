/**
 * @module apiserver/token-request
 * POST /api/v1/namespaces/{ns}/serviceaccounts/{name}/token: an authentication.k8s.io/v1
 * TokenRequest answered with a signed service account token, as upstream's
 * pkg/registry/core/serviceaccount/storage/token.go (v1.32) does it: name and namespace of the
 * body must match the URL, audiences default to the API server's, expirationSeconds defaults to
 * 3600 and is at least 600 and at most 2^32, a bound Pod or Secret must exist (same uid if one is
 * given; a Pod must run as this ServiceAccount), and the kubelet's 3607-second pod tokens get
 * upstream's one-year extension with a warnafter claim.
 */
import { res } from '../api/registry.js';
import { goQuote } from '../api/validation-field.js';
import { HttpError, badRequest, methodNotAllowed } from './errors.js';
import { sendBody } from './content.js';
import { decodeObjectBody, readBody } from './request.js';
import type { ResourceRequest } from './handlers.js';
import { API_AUDIENCES, EXTENDED_EXPIRATION_SECONDS, WARN_ONLY_EXPIRATION_SECONDS, makeClaims, type Ref, type TokenSigner } from './sa-token.js';

type Obj = Record<string, any>;

const GROUP = 'authentication.k8s.io';
const MIN_SECONDS = 10 * 60;
const MAX_SECONDS = 2 ** 32;
const DEFAULT_SECONDS = 3600;

/** transformDecodeError for the TokenRequest fields read here, in the Go decoder's words. */
function typeError(field: string, goField: string, got: unknown, want: string): HttpError {
  const kind = got === null ? 'null' : Array.isArray(got) ? 'array' : typeof got === 'boolean' ? 'bool' : typeof got;
  return badRequest(`TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal ${kind} into Go struct field ${goField}.${field} of type ${want}`);
}

function invalidTokenRequest(name: string, field: string, shown: string, detail: string): HttpError {
  const message = `Invalid value: ${shown}: ${detail}`;
  return new HttpError(422, 'Invalid', `TokenRequest.${GROUP} ${goQuote(name)} is invalid: ${field}: ${message}`,
    { name, group: GROUP, kind: 'TokenRequest', causes: [{ reason: 'FieldValueInvalid', message, field }] });
}

/** The body as a checked, defaulted TokenRequest (SetDefaults_TokenRequestSpec: 3600 seconds). */
export function decodeTokenRequest(body: Obj): { name?: string; namespace?: string; audiences: string[]; expirationSeconds: number; boundObjectRef?: Obj } {
  if (body.apiVersion !== undefined && body.apiVersion !== `${GROUP}/v1`) {
    throw badRequest(`the API version in the data (${String(body.apiVersion)}) does not match the expected API version (${GROUP}/v1)`);
  }
  if (body.kind !== undefined && body.kind !== 'TokenRequest') {
    throw badRequest(`${String(body.kind)} in version "v1" cannot be handled as a TokenRequest: the object provided is unrecognized (must be of type TokenRequest)`);
  }
  const md: Obj = body.metadata ?? {};
  if (typeof md !== 'object' || Array.isArray(md)) throw typeError('metadata', 'TokenRequest', md, 'v1.ObjectMeta');
  for (const f of ['name', 'namespace'] as const) if (md[f] !== undefined && md[f] !== null && typeof md[f] !== 'string') throw typeError(`metadata.${f}`, 'ObjectMeta', md[f], 'string');
  const spec: Obj = body.spec ?? {};
  if (typeof spec !== 'object' || Array.isArray(spec)) throw typeError('spec', 'TokenRequest', spec, 'v1.TokenRequestSpec');
  const auds = spec.audiences ?? [];
  if (!Array.isArray(auds)) throw typeError('spec.audiences', 'TokenRequestSpec', auds, '[]string');
  for (const a of auds) if (typeof a !== 'string') throw typeError('spec.audiences', 'TokenRequestSpec', a, 'string');
  const exp = spec.expirationSeconds ?? DEFAULT_SECONDS;
  if (typeof exp !== 'number') throw typeError('spec.expirationSeconds', 'TokenRequestSpec', exp, 'int64');
  if (!Number.isInteger(exp)) throw badRequest(`TokenRequest in version "v1" cannot be handled as a TokenRequest: json: cannot unmarshal number ${exp} into Go struct field TokenRequestSpec.spec.expirationSeconds of type int64`);
  const ref = spec.boundObjectRef ?? undefined;
  if (ref !== undefined) {
    if (typeof ref !== 'object' || Array.isArray(ref)) throw typeError('spec.boundObjectRef', 'TokenRequestSpec', ref, 'v1.BoundObjectReference');
    for (const f of ['kind', 'apiVersion', 'name', 'uid']) if (ref[f] !== undefined && ref[f] !== null && typeof ref[f] !== 'string') throw typeError(`spec.boundObjectRef.${f}`, 'BoundObjectReference', ref[f], f === 'uid' ? 'types.UID' : 'string');
  }
  return { name: md.name || undefined, namespace: md.namespace || undefined, audiences: auds as string[], expirationSeconds: exp, boundObjectRef: ref };
}

/** ValidateTokenRequest's expiration bounds, with upstream's words (the name is "" as upstream reports it). */
export function validateExpiration(exp: number): HttpError | undefined {
  if (exp < MIN_SECONDS) return invalidTokenRequest('', 'spec.expirationSeconds', String(exp), 'may not specify a duration less than 10 minutes');
  if (exp > MAX_SECONDS) return invalidTokenRequest('', 'spec.expirationSeconds', String(exp), 'may not specify a duration larger than 2^32 seconds');
  return undefined;
}

/** schema.GroupVersionKind.String(): "group/version, Kind=Kind". */
function gvkString(apiVersion: string | undefined, kind: string | undefined): string {
  const av = apiVersion ?? '';
  const [group, version] = av.includes('/') ? av.split('/', 2) as [string, string] : ['', av];
  return `${group}/${version}, Kind=${kind ?? ''}`;
}

function groupOf(apiVersion: string | undefined): string {
  return apiVersion?.includes('/') ? apiVersion.split('/')[0]! : '';
}

export async function tokenRequest(r: ResourceRequest, signer: TokenSigner): Promise<void> {
  const { req, namespace, storage } = r;
  const name = r.name!;
  if (req.method !== 'POST') throw methodNotAllowed();
  if (namespace === undefined) throw badRequest('namespace is required');
  const body = decodeObjectBody(await readBody(req), req.headers['content-type']) as Obj;
  const t = decodeTokenRequest(body);
  if (t.name && t.name !== name) throw invalidTokenRequest(name, 'metadata.name', goQuote(t.name), 'must match the service account name if specified');
  if (t.namespace && t.namespace !== namespace) throw invalidTokenRequest(name, 'metadata.namespace', goQuote(t.namespace), 'must match the service account namespace if specified');
  const sa = await storage.get(res('serviceaccounts'), namespace, name);
  const audiences = t.audiences.length ? t.audiences : [...API_AUDIENCES];
  const nowMs = Date.now();
  const nowSec = Math.floor(nowMs / 1000);
  const bad = validateExpiration(t.expirationSeconds);
  if (bad) throw bad;

  let pod: Ref | undefined;
  let secret: Ref | undefined;
  const ref = t.boundObjectRef;
  if (ref) {
    let uid: string;
    const group = groupOf(ref.apiVersion);
    if (group === '' && ref.kind === 'Pod') {
      const p = await storage.get(res('pods'), namespace, ref.name ?? '') as Obj;
      if (name !== p.spec?.serviceAccountName) throw badRequest(`cannot bind token for serviceaccount ${goQuote(name)} to pod running with different serviceaccount name.`);
      uid = p.metadata!.uid!;
      pod = { name: p.metadata!.name!, uid };
    } else if (group === '' && ref.kind === 'Secret') {
      const s = await storage.get(res('secrets'), namespace, ref.name ?? '');
      uid = s.metadata!.uid!;
      secret = { name: s.metadata!.name!, uid };
    } else if (group === '' && ref.kind === 'Node') {
      throw badRequest('cannot bind token to a Node object as the "ServiceAccountTokenNodeBinding" feature-gate is disabled');
    } else {
      throw badRequest(`cannot bind token to object of type ${gvkString(ref.apiVersion, ref.kind)}`);
    }
    if (ref.uid && ref.uid !== uid) {
      throw new HttpError(409, 'Conflict', `Operation cannot be fulfilled on ${ref.kind} ${goQuote(ref.name ?? '')}: the UID in the bound object reference (${ref.uid}) does not match the UID in record. The object might have been deleted and then recreated`,
        { name: ref.name ?? '', group, kind: ref.kind });
    }
  }

  // The kubelet's pod tokens live a year but warn after the hour asked for (upstream's
  // --service-account-extend-token-expiration, on by default), so a node that misses a refresh
  // does not cut its pods off.
  let exp = t.expirationSeconds;
  let warnAfter: number | undefined;
  if (pod && exp === WARN_ONLY_EXPIRATION_SECONDS && audiences.every((a) => API_AUDIENCES.includes(a))) {
    warnAfter = exp;
    exp = EXTENDED_EXPIRATION_SECONDS;
  }
  const claims = makeClaims({ sa: { namespace, name, uid: sa.metadata!.uid! }, pod, expirationSeconds: exp, warnAfterSeconds: warnAfter, audiences, now: nowSec });
  if (secret) claims['kubernetes.io'].secret = secret;
  const stamp = (sec: number) => new Date(sec * 1000).toISOString().replace(/\.\d{3}Z$/, 'Z');
  const spec: Obj = { audiences, expirationSeconds: t.expirationSeconds };
  if (ref) spec.boundObjectRef = ref;
  sendBody(r.resp, 201, {
    kind: 'TokenRequest', apiVersion: `${GROUP}/v1`,
    metadata: { name, namespace, creationTimestamp: stamp(nowSec) },
    spec,
    status: { token: signer.sign(claims), expirationTimestamp: stamp(nowSec + t.expirationSeconds) },
  });
}
