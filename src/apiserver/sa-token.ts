/**
 * @module apiserver/sa-token
 * Service account tokens as kube-apiserver issues and checks them (pkg/serviceaccount jwt.go,
 * claims.go): JWTs signed RS256 with the cluster's service account key, the claims upstream
 * writes (iss, sub system:serviceaccount:<ns>:<name>, aud, exp, iat, nbf and the private
 * `kubernetes.io` claim naming the namespace, the ServiceAccount and the bound Pod), and the
 * checks of the JWT authenticator: signature, algorithm, issuer, audience, exp/nbf with go-jose's
 * one-minute leeway. Whether the ServiceAccount and Pod still exist is the caller's (authn.ts).
 * Pure but for crypto: the key is passed in.
 */
import { createHash, createPrivateKey, createPublicKey, sign, verify, type KeyObject } from 'node:crypto';

/** The issuer kube-apiserver is given by kubeadm, kind and k3s (--service-account-issuer). */
export const ISSUER = 'https://kubernetes.default.svc.cluster.local';
/** --api-audiences defaults to the issuer. */
export const API_AUDIENCES: readonly string[] = [ISSUER];
/** go-jose's jwt.DefaultLeeway, which upstream's validator uses for exp, nbf and deletions. */
export const LEEWAY_SECONDS = 60;
/** What the kubelet asks for its projected token (WarnOnlyBoundTokenExpirationSeconds). */
export const WARN_ONLY_EXPIRATION_SECONDS = 3607;
/** The extended lifetime of such tokens (--service-account-extend-token-expiration, ExpirationExtensionSeconds). */
export const EXTENDED_EXPIRATION_SECONDS = 24 * 365 * 60 * 60;

export interface Ref { name: string; uid: string }

/** The private claim (privateClaims.Kubernetes upstream; empty parts omitted as Go's omitempty). */
export interface KubernetesClaim { namespace: string; serviceaccount: Ref; pod?: Ref; secret?: Ref; warnafter?: number }

export interface Claims {
  iss: string;
  sub: string;
  aud: string[];
  exp: number;
  iat: number;
  nbf: number;
  'kubernetes.io': KubernetesClaim;
}

/** system:serviceaccount:<ns>:<name> (apiserver/pkg/authentication/serviceaccount MakeUsername). */
export function serviceAccountUsername(ns: string, name: string): string {
  return `system:serviceaccount:${ns}:${name}`;
}

/** The groups every service account is in (MakeGroupNames) plus system:authenticated. */
export function serviceAccountGroups(ns: string): string[] {
  return ['system:serviceaccounts', `system:serviceaccounts:${ns}`, 'system:authenticated'];
}

const b64url = (b: Buffer | string) => Buffer.from(b).toString('base64url');

/** kid as upstream's keyIDFromPublicKey: base64url(SHA-256(DER of the PKIX public key)). */
export function keyId(pub: KeyObject): string {
  return createHash('sha256').update(pub.export({ type: 'spki', format: 'der' })).digest('base64url');
}

export class TokenSigner {
  readonly publicKey: KeyObject;
  readonly kid: string;
  private readonly privateKey: KeyObject;

  constructor(privatePem: string) {
    this.privateKey = createPrivateKey(privatePem);
    if (this.privateKey.asymmetricKeyType !== 'rsa') throw new Error('the service account key must be an RSA key (RS256)');
    this.publicKey = createPublicKey(this.privateKey);
    this.kid = keyId(this.publicKey);
  }

  /** The compact JWS of these claims (header alg RS256 with the key's kid, as upstream). */
  sign(claims: Claims): string {
    const input = `${b64url(JSON.stringify({ alg: 'RS256', kid: this.kid }))}.${b64url(JSON.stringify(claims))}`;
    return `${input}.${sign('sha256', Buffer.from(input), this.privateKey).toString('base64url')}`;
  }
}

export interface ClaimsInput {
  sa: { namespace: string; name: string; uid: string };
  pod?: Ref;
  /** Lifetime written into exp. */
  expirationSeconds: number;
  /** Set for the kubelet's extended tokens: the time after which use is only warned about. */
  warnAfterSeconds?: number;
  audiences: readonly string[];
  /** Seconds since the epoch. */
  now: number;
}

/** token.Claims upstream. */
export function makeClaims(i: ClaimsInput): Claims {
  const k: KubernetesClaim = { namespace: i.sa.namespace, serviceaccount: { name: i.sa.name, uid: i.sa.uid } };
  if (i.pod) k.pod = { name: i.pod.name, uid: i.pod.uid };
  if (i.warnAfterSeconds) k.warnafter = i.now + i.warnAfterSeconds;
  return {
    iss: ISSUER, sub: serviceAccountUsername(i.sa.namespace, i.sa.name), aud: [...i.audiences],
    exp: i.now + i.expirationSeconds, iat: i.now, nbf: i.now, 'kubernetes.io': k,
  };
}

/** Does the string have the shape of a JWS (three base64url parts)? Others are not ours to parse. */
export function looksLikeJWT(token: string): boolean {
  return /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$/.test(token);
}

export type Verified = { ok: true; claims: Claims } | { ok: false; reason: string };

function parsePart(part: string): any {
  try { return JSON.parse(Buffer.from(part, 'base64url').toString('utf8')); } catch { return undefined; }
}

const isRef = (r: any): r is Ref => r && typeof r === 'object' && typeof r.name === 'string' && typeof r.uid === 'string';

/**
 * The checks of upstream's JWT token authenticator and the service account validator that need
 * no lookups: RS256 only (never `none`, never an HMAC with the public key), the signature,
 * the issuer, an audience in common with `audiences`, exp and nbf with the one-minute leeway,
 * and the private claim's shape. The reasons are upstream's log words.
 */
export function verifyToken(token: string, pub: KeyObject, now: number, audiences: readonly string[] = API_AUDIENCES): Verified {
  if (!looksLikeJWT(token)) return { ok: false, reason: 'not a JWT' };
  const [h, p, s] = token.split('.') as [string, string, string];
  const header = parsePart(h);
  if (!header || header.alg !== 'RS256') return { ok: false, reason: `unexpected signing algorithm ${JSON.stringify(header?.alg)}` };
  if (!verify('sha256', Buffer.from(`${h}.${p}`), pub, Buffer.from(s, 'base64url'))) return { ok: false, reason: 'invalid signature' };
  const c = parsePart(p);
  if (!c || typeof c !== 'object') return { ok: false, reason: 'malformed claims' };
  if (c.iss !== ISSUER) return { ok: false, reason: `token issuer ${JSON.stringify(c.iss)} is not ${ISSUER}` };
  const aud: unknown[] = Array.isArray(c.aud) ? c.aud : typeof c.aud === 'string' ? [c.aud] : [];
  if (!aud.some((a) => typeof a === 'string' && audiences.includes(a))) return { ok: false, reason: 'token audiences is invalid for the target audience' };
  if (typeof c.exp !== 'number' || now > c.exp + LEEWAY_SECONDS) return { ok: false, reason: 'service account token has expired' };
  if (typeof c.nbf === 'number' && now + LEEWAY_SECONDS < c.nbf) return { ok: false, reason: 'service account token is not valid yet' };
  const k = c['kubernetes.io'];
  if (!k || typeof k.namespace !== 'string' || !isRef(k.serviceaccount) || (k.pod !== undefined && !isRef(k.pod)) || (k.secret !== undefined && !isRef(k.secret))) {
    return { ok: false, reason: 'service account token claims could not be validated due to unexpected private claim' };
  }
  if (c.sub !== serviceAccountUsername(k.namespace, k.serviceaccount.name)) return { ok: false, reason: 'service account token subject does not match its claims' };
  return { ok: true, claims: { ...c, aud: aud as string[] } as Claims };
}
