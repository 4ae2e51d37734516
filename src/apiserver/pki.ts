/**
 * @module apiserver/pki
 * First start: a CA and a serving certificate (SANs for every way clients reach the API server:
 * 127.0.0.1, localhost, 10.96.0.1, the control-plane node, kubernetes.default.svc…), a bearer
 * token, the service account signing key, and the two kubeconfigs (HTTPS for users, unix socket
 * for components).
 */
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, linkSync, mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createPublicKey, generateKeyPairSync, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type forgeType from 'node-forge';
import { stringify } from 'yaml';

/** node-forge only when openssl is missing: loading it and signing in JavaScript costs about a second. */
const loadForge = (): typeof forgeType => createRequire(import.meta.url)('node-forge') as typeof forgeType;

export interface Pki { caCert: string; cert: string; key: string; token: string; /** Service account signing key (PEM, RSA). */ saKey: string }

const SANS_DNS = ['localhost', 'kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'];

/** RSA keys from Node's native generator (milliseconds, where forge's JS generator takes seconds). */
function rsaKeys(): { publicKey: forgeType.pki.rsa.PublicKey; privateKey: forgeType.pki.rsa.PrivateKey } {
  const forge = loadForge();
  const k = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  return { publicKey: forge.pki.publicKeyFromPem(k.publicKey) as forgeType.pki.rsa.PublicKey, privateKey: forge.pki.privateKeyFromPem(k.privateKey) as forgeType.pki.rsa.PrivateKey };
}

function makeCert(subjectCN: string, pub: forgeType.pki.PublicKey, signKey: forgeType.pki.rsa.PrivateKey, issuer: forgeType.pki.CertificateField[] | null, ext: object[]): forgeType.pki.Certificate {
  const forge = loadForge();
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

/**
 * CA and serving certificate with P-256 keys through the openssl command: three short processes,
 * about 0.1 s of CPU, where RSA-2048 keys plus signing in JavaScript take one to two seconds of a
 * fresh cluster's start. false when openssl is missing or fails (the caller falls back to forge).
 * apiserver.crt is renamed into place last: its presence means the set is complete.
 */
function opensslPki(dir: string, ipSans: string[]): boolean {
  const f = (n: string) => join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const ext = [
    'basicConstraints=CA:FALSE', 'keyUsage=critical,digitalSignature,keyEncipherment', 'extendedKeyUsage=serverAuth',
    `subjectAltName=${[...SANS_DNS.map((d) => `DNS:${d}`), ...ipSans.map((ip) => `IP:${ip}`)].join(',')}`,
  ].join('\n') + '\n';
  writeFileSync(f('apiserver.ext'), ext);
  const steps = [
    ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '3650', '-subj', '/CN=svcplane-ca',
      '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign,cRLSign,digitalSignature'],
    ['req', '-new', ...ec, '-keyout', f('apiserver.key'), '-out', f('apiserver.csr'), '-subj', '/CN=kube-apiserver'],
    ['x509', '-req', '-in', f('apiserver.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-days', '3650',
      '-set_serial', `0x01${randomBytes(8).toString('hex')}`, '-extfile', f('apiserver.ext'), '-out', f('apiserver.crt.new')],
  ];
  try {
    for (const args of steps) {
      const r = spawnSync('openssl', args, { stdio: ['ignore', 'ignore', 'pipe'], encoding: 'utf8' });
      if (r.status !== 0) return false;
    }
    chmodSync(f('ca.key'), 0o600);
    chmodSync(f('apiserver.key'), 0o600);
    renameSync(f('apiserver.crt.new'), f('apiserver.crt'));
    return true;
  } finally {
    for (const n of ['apiserver.ext', 'apiserver.csr', 'apiserver.crt.new']) rmSync(f(n), { force: true });
  }
}

export function ensurePki(dir: string, ips: string[], token?: string): Pki {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const f = (n: string) => join(dir, n);
  const ipSans = [...new Set(['127.0.0.1', '10.96.0.1', ...ips])];
  if (!existsSync(f('apiserver.crt')) && !opensslPki(dir, ipSans)) {
    const forge = loadForge();
    const caKeys = rsaKeys();
    const ca = makeCert('svcplane-ca', caKeys.publicKey, caKeys.privateKey, null, [
      { name: 'basicConstraints', cA: true, critical: true }, { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ]);
    const keys = rsaKeys();
    const cert = makeCert('kube-apiserver', keys.publicKey, caKeys.privateKey, ca.subject.attributes, [
      { name: 'basicConstraints', cA: false }, { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, critical: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [...SANS_DNS.map((value) => ({ type: 2, value })), ...ipSans.map((ip) => ({ type: 7, ip }))] },
    ]);
    writeFileSync(f('ca.crt'), forge.pki.certificateToPem(ca));
    writeFileSync(f('ca.key'), forge.pki.privateKeyToPem(caKeys.privateKey), { mode: 0o600 });
    writeFileSync(f('apiserver.crt'), forge.pki.certificateToPem(cert));
    writeFileSync(f('apiserver.key'), forge.pki.privateKeyToPem(keys.privateKey), { mode: 0o600 });
  }
  ensureServiceAccountKey(dir);
  if (token) writeFileSync(f('token'), token + '\n', { mode: 0o600 });
  else if (!existsSync(f('token'))) writeFileSync(f('token'), randomBytes(24).toString('hex') + '\n', { mode: 0o600 });
  // `mode` applies only when a file is created: tighten what an older version left readable.
  ownerOnly(dir, 0o700);
  for (const n of ['token', 'ca.key', 'apiserver.key', 'sa.key']) ownerOnly(f(n), 0o600);
  return {
    caCert: readFileSync(f('ca.crt'), 'utf8'), cert: readFileSync(f('apiserver.crt'), 'utf8'), key: readFileSync(f('apiserver.key'), 'utf8'),
    token: readFileSync(f('token'), 'utf8').trim(), saKey: readFileSync(f('sa.key'), 'utf8'),
  };
}

/**
 * The service account signing key (kubeadm's sa.key / sa.pub): RSA-2048, for RS256 tokens. Made
 * once per cluster; created exclusively, so API servers sharing the data dir that start together
 * agree on one key (the loser of the race reads the winner's).
 */
function ensureServiceAccountKey(dir: string): void {
  const keyPath = join(dir, 'sa.key');
  if (existsSync(keyPath)) return;
  const k = generateKeyPairSync('rsa', { modulusLength: 2048, publicKeyEncoding: { type: 'spki', format: 'pem' }, privateKeyEncoding: { type: 'pkcs8', format: 'pem' } });
  const tmp = join(dir, `sa.key.${process.pid}`);
  writeFileSync(tmp, k.privateKey, { mode: 0o600 });
  try { linkSync(tmp, keyPath); } catch (e) { if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e; } finally { rmSync(tmp, { force: true }); }
  if (!existsSync(join(dir, 'sa.pub'))) writeFileSync(join(dir, 'sa.pub'), createPublicKey(readFileSync(keyPath, 'utf8')).export({ type: 'spki', format: 'pem' }) as string, { mode: 0o600 });
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
  for (const n of ['kubeconfig', 'kubeconfig-local']) ownerOnly(join(dataDir, n), 0o600);
}

/** Secrets are the owner's alone; a file someone else owns is left as it is. */
function ownerOnly(path: string, mode: number): void {
  try { chmodSync(path, mode); } catch { /* missing, or not ours */ }
}
