/**
 * Service account JWTs: what is signed reads back with upstream's claims, and every way a token
 * can be wrong (a changed byte, another key, alg none or HS256, issuer, audience, exp/nbf past
 * the one-minute leeway, a missing private claim, a subject that does not match it) is refused.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, createHmac, generateKeyPairSync } from 'node:crypto';
import { API_AUDIENCES, ISSUER, TokenSigner, makeClaims, verifyToken, type Claims } from './sa-token.js';

const pem = () => generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } }).privateKey;
const signer = new TokenSigner(pem());
const NOW = 1_800_000_000;
const sa = { namespace: 'ns1', name: 'robot', uid: 'u-1' };
const claims = (over: Partial<Claims> = {}) => ({ ...makeClaims({ sa, expirationSeconds: 3600, audiences: API_AUDIENCES, now: NOW }), ...over });
const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString('base64url');
const part = (t: string, i: number) => JSON.parse(Buffer.from(t.split('.')[i]!, 'base64url').toString());

test('a signed token carries upstream\'s header and claims and verifies', () => {
  const t = signer.sign(makeClaims({ sa, pod: { name: 'p', uid: 'pu' }, expirationSeconds: 600, audiences: ['a', 'b'], now: NOW }));
  const der = signer.publicKey.export({ type: 'spki', format: 'der' });
  assert.deepEqual(part(t, 0), { alg: 'RS256', kid: createHash('sha256').update(der).digest('base64url') });
  assert.deepEqual(part(t, 1), {
    iss: ISSUER, sub: 'system:serviceaccount:ns1:robot', aud: ['a', 'b'], exp: NOW + 600, iat: NOW, nbf: NOW,
    'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'robot', uid: 'u-1' }, pod: { name: 'p', uid: 'pu' } },
  });
  const v = verifyToken(t, signer.publicKey, NOW, ['b']);
  assert.ok(v.ok);
  assert.equal(v.claims['kubernetes.io'].pod?.uid, 'pu');
});

test('a changed byte anywhere, or another cluster\'s key, fails the signature', () => {
  const t = signer.sign(claims());
  const [h, p, s] = t.split('.') as [string, string, string];
  const forged = b64({ ...part(t, 1), sub: 'system:serviceaccount:kube-system:default', 'kubernetes.io': { namespace: 'kube-system', serviceaccount: { name: 'default', uid: 'u-1' } } });
  assert.deepEqual(verifyToken(`${h}.${forged}.${s}`, signer.publicKey, NOW), { ok: false, reason: 'invalid signature' });
  const flipped = s.slice(0, 10) + (s[10] === 'A' ? 'B' : 'A') + s.slice(11);
  assert.deepEqual(verifyToken(`${h}.${p}.${flipped}`, signer.publicKey, NOW), { ok: false, reason: 'invalid signature' });
  assert.deepEqual(verifyToken(new TokenSigner(pem()).sign(claims()), signer.publicKey, NOW), { ok: false, reason: 'invalid signature' });
  assert.equal(verifyToken('abc', signer.publicKey, NOW).ok, false);
  assert.equal(verifyToken(`${h}.${p}`, signer.publicKey, NOW).ok, false);
});

test('alg none and HS256 keyed with the public key are refused', () => {
  const p = b64(claims());
  assert.equal(verifyToken(`${b64({ alg: 'none' })}.${p}.AA`, signer.publicKey, NOW).ok, false);
  const h = b64({ alg: 'HS256' });
  const mac = createHmac('sha256', signer.publicKey.export({ type: 'spki', format: 'pem' }) as string).update(`${h}.${p}`).digest('base64url');
  assert.match((verifyToken(`${h}.${p}.${mac}`, signer.publicKey, NOW) as { reason: string }).reason, /unexpected signing algorithm "HS256"/);
});

test('issuer, audience, exp and nbf (one minute of leeway), private claim and subject', () => {
  const check = (c: object, now = NOW, auds: readonly string[] = API_AUDIENCES) => verifyToken(signer.sign(c as Claims), signer.publicKey, now, auds);
  assert.ok(check(claims()).ok);
  assert.match((check(claims({ iss: 'https://elsewhere' })) as { reason: string }).reason, /issuer/);
  assert.match((check(claims({ aud: ['other'] })) as { reason: string }).reason, /audience/);
  assert.ok(check(claims({ aud: 'https://kubernetes.default.svc.cluster.local' as never })).ok, 'a single audience string is an audience');
  assert.ok(check(claims(), NOW + 3600 + 60).ok, 'within the leeway after exp');
  assert.deepEqual(check(claims(), NOW + 3600 + 61), { ok: false, reason: 'service account token has expired' });
  assert.ok(check(claims({ nbf: NOW + 60 })).ok, 'within the leeway before nbf');
  assert.deepEqual(check(claims({ nbf: NOW + 61 })), { ok: false, reason: 'service account token is not valid yet' });
  assert.equal(check(claims({ exp: undefined })).ok, false, 'no exp is no token');
  assert.equal(check({ ...claims(), 'kubernetes.io': undefined }).ok, false);
  assert.equal(check({ ...claims(), 'kubernetes.io': { namespace: 'ns1', serviceaccount: { name: 'robot' } } }).ok, false, 'no uid');
  assert.equal(check(claims({ sub: 'system:serviceaccount:kube-system:robot' })).ok, false, 'subject and claim disagree');
});
