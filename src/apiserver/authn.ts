/**
 * @module apiserver/authn
 * Who a request is, as kube-apiserver's authenticators decide it: a bearer token in the
 * Authorization header (parsed as upstream's bearertoken.Authenticator does) or a client
 * certificate signed by the cluster CA (x509 authenticator). The unix socket for svcplane's own
 * components is trusted by its file permissions and never reaches these checks.
 */
import { timingSafeEqual } from 'node:crypto';
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
