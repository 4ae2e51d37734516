/**
 * @module apiserver/authn
 * Who a request is, as kube-apiserver's authenticators decide it: a bearer token in the
 * Authorization header (parsed as upstream's bearertoken.Authenticator does) or a client
 * certificate signed by the cluster CA (x509 authenticator), or a service account token (a JWT
 * this cluster signed, whose ServiceAccount and bound Pod still exist). The unix socket for
 * svcplane's own components is trusted by its file permissions and never reaches these checks.
 * There is no authorization yet: whoever authenticates may do everything.
 */
import { timingSafeEqual, type KeyObject } from 'node:crypto';
import type { KubeObject } from '../api/types.js';
import { LEEWAY_SECONDS, serviceAccountGroups, serviceAccountUsername, verifyToken } from './sa-token.js';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';

/**
 * The token of an Authorization header, or undefined: the header trimmed, split on single spaces,
 * the scheme compared case-insensitively, the token the second part (so `Bearer  tok`, with two
 * spaces, carries the empty token and authenticates no one), as upstream's bearertoken.go.
 */
export function bearerToken(header: string | undefined): string | undefined {
  const auth = header?.trim();
  if (!auth) return undefined;
  const parts = auth.split(' ');
  if (parts.length < 2 || parts[0]!.toLowerCase() !== 'bearer') return undefined;
  return parts[1] || undefined;
}

/** Does the header carry exactly this token? Constant-time over equal lengths. */
export function bearerMatches(header: string | undefined, token: Buffer): boolean {
  const given = bearerToken(header);
  if (given === undefined) return false;
  const buf = Buffer.from(given);
  return buf.length === token.length && timingSafeEqual(buf, token);
}

/**
 * Did the TLS handshake verify a client certificate against the cluster CA? The HTTPS servers ask
 * for one without requiring it (a token is the other way in), so an unverified or absent
 * certificate simply does not authenticate.
 */
export function clientCertVerified(socket: Socket): boolean {
  const tls = socket as TLSSocket;
  return tls.encrypted === true && tls.authorized === true;
}

/** Who a request is (user.Info upstream); recorded for the authorizer that is still to come. */
export interface UserInfo { username: string; uid?: string; groups: string[]; extra?: Record<string, string[]> }

/** Reads an object or undefined when it does not exist (other errors propagate: a store outage is a 503, not a 401). */
export type Lookup = (resource: 'serviceaccounts' | 'pods' | 'secrets', ns: string, name: string) => Promise<KubeObject | undefined>;

/** Deleted before now minus the leeway (upstream's invalidIfDeletedBefore)? */
function deletedLongAgo(o: KubeObject, now: number): boolean {
  const d = o.metadata?.deletionTimestamp;
  return !!d && Date.parse(d) / 1000 < now - LEEWAY_SECONDS;
}

/**
 * A service account token, as kube-apiserver's service account authenticator checks it: the JWT
 * (sa-token.ts: signature, issuer, audience, exp/nbf), then the ServiceAccount it names must
 * still exist with the same uid, and so must the Pod or Secret it is bound to. undefined when
 * the token does not authenticate (a 401 for the caller); the reason goes to `onReject`.
 */
export async function authenticateServiceAccountToken(token: string, pub: KeyObject, lookup: Lookup, now = Date.now() / 1000,
  onReject?: (reason: string) => void): Promise<UserInfo | undefined> {
  const v = verifyToken(token, pub, now);
  if (!v.ok) { onReject?.(v.reason); return undefined; }
  const k = v.claims['kubernetes.io'];
  const ns = k.namespace;
  const reject = (reason: string) => { onReject?.(reason); return undefined; };
  const sa = await lookup('serviceaccounts', ns, k.serviceaccount.name);
  if (!sa) return reject(`serviceaccounts "${k.serviceaccount.name}" not found`);
  if (deletedLongAgo(sa, now)) return reject(`service account ${ns}/${k.serviceaccount.name} has been deleted`);
  if (sa.metadata?.uid !== k.serviceaccount.uid) return reject(`service account UID (${sa.metadata?.uid}) does not match claim (${k.serviceaccount.uid})`);
  for (const [resource, ref] of [['secrets', k.secret], ['pods', k.pod]] as const) {
    if (!ref) continue;
    const o = await lookup(resource, ns, ref.name);
    if (!o || deletedLongAgo(o, now)) return reject('service account token has been invalidated');
    if (o.metadata?.uid !== ref.uid) return reject(`${resource === 'pods' ? 'pod' : 'secret'} UID (${o.metadata?.uid}) does not match service account ${resource === 'pods' ? 'pod' : 'secret'} ref claim (${ref.uid})`);
  }
  const extra: Record<string, string[]> = {};
  if (k.pod) { extra['authentication.kubernetes.io/pod-name'] = [k.pod.name]; extra['authentication.kubernetes.io/pod-uid'] = [k.pod.uid]; }
  return { username: serviceAccountUsername(ns, k.serviceaccount.name), uid: k.serviceaccount.uid, groups: serviceAccountGroups(ns), ...(k.pod ? { extra } : {}) };
}
