/**
 * @module apiserver/pki
 * First start: a CA and a serving certificate (SANs for every way clients reach the API server:
 * 127.0.0.1, localhost, 10.96.0.1, the control-plane node, kubernetes.default.svc…), a bearer
 * token, and the two kubeconfigs (HTTPS for users, unix socket for components).
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import forge from 'node-forge';
import { stringify } from 'yaml';

export interface Pki { caCert: string; cert: string; key: string; token: string }

const SANS_DNS = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/** RSA keys from Node's native generator (milliseconds, where forge's JS generator takes seconds). */
function rsaKeys(): { publicKey: forge.pki.rsa.PublicKey; privateKey: forge.pki.rsa.PrivateKey } {
  const k = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKey: forge.pki.publicKeyFromPem(k.publicKey) as forge.pki.rsa.PublicKey, privateKey: forge.pki.privateKeyFromPem(k.privateKey) as forge.pki.rsa.PrivateKey };
}

function makeCert(subjectCN: string, pub: forge.pki.PublicKey, signKey: forge.pki.rsa.PrivateKey, issuer: forge.pki.CertificateField[] | null, ext: object[]): forge.pki.Certificate {
  const c = forge.pki.createCertificate();
  c.publicKey = pub;
  c.serialNumber = '01' + randomBytes(8).toString('hex');
  c.validity.notBefore = new Date(Date.now() - 3600_000);
  c.validity.notAfter = new Date(Date.now() + 10 * 365 * 86400_000);
  const subject = [{ name: 'commonName', value: subjectCN }];
  c.setSubject(subject);
  c.setIssuer(issuer ?? subject);
  c.setExtensions(ext);
  c.sign(signKey, forge.md.sha256.create());
  return c;
}

export function ensurePki(dir: string, ips: string[], token?: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  if (!existsSync(f('apiserver.crt'))) {
    const caKeys = rsaKeys();
    const ca = makeCert('svcplane-ca', caKeys.publicKey, caKeys.privateKey, null, [
      { name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ]);
    const keys = rsaKeys();
    const cert = makeCert('kube-apiserver', keys.publicKey, caKeys.privateKey, ca.subject.attributes, [
      { name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...SANS_DNS.map((value) => ({ type: 2, value })), ...[...new Set(['127.0.0.1', '10.96.0.1', ...ips])].map((ip) => ({ type: 7, ip }))] },
    ]);
    writeFileSync(f('ca.crt'), forge.pki.certificateToPem(ca));
    writeFileSync(f('ca.key'), forge.pki.privateKeyToPem(caKeys.privateKey), { mode: 0o600 });
    writeFileSync(f('apiserver.crt'), forge.pki.certificateToPem(cert));
    writeFileSync(f('apiserver.key'), forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
  }
  if (token) writeFileSync(f('token'), token + '\n', { mode: 0o600 });
  else if (!existsSync(f('token'))) writeFileSync(f('token'), randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  return { caCert: readFileSync(f('ca.crt'), 'utf8'), cert: readFileSync(f('apiserver.crt'), 'utf8'), key: readFileSync(f('apiserver.key'), 'utf8'), token: readFileSync(f('token'), 'utf8').trim() };
}

/** kubeconfig (context svcplane) for users and kubectl. */
export function writeKubeconfigs(dataDir: string, pki: Pki, url: string, socketPath: string): void {
  const ctx = 'svcplane';
  const base = (cluster: object, user: object) => ({
    apiVersion: 'v1', kind: 'Config', preferences: {},
    clusters: [{ name: ctx, cluster }], users: [{ name: ctx, user }],
    contexts: [{ name: ctx, context: { cluster: ctx, user: ctx } }], 'current-context': ctx,
  });
  writeFileSync(join(dataDir, 'kubeconfig'), stringify(base({ server: url, 'certificate-authority-data': Buffer.from(pki.caCert).toString('base64') }, { token: pki.token })), { mode: 0o600 });
  writeFileSync(join(dataDir, 'kubeconfig-local'), stringify(base({ server: 'http://localhost', extensions: [{ name: 'svcplane.io/socket', extension: { path: socketPath } }] }, { token: pki.token })), { mode: 0o600 });
}
