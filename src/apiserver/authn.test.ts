/**
 * Authentication on every way in that is not the trusted component socket: the HTTPS port and the
 * secure unix socket the in-cluster relay leads to answer alike — 401 without a valid bearer
 * token or a client certificate of the cluster CA. The Authorization header is parsed as
 * upstream's bearertoken.go. And the HTTP edges: CONNECT, very long URLs and headers get a Status.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import https from 'node:https';
import tls from 'node:tls';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { MemoryStore } from '../store/memory.js';
import { startApiServer, type ApiServer } from './server.js';
import { bearerToken } from './authn.js';

interface Way { socketPath?: string; port?: number }
interface Creds { authorization?: string; cert?: string; key?: string }

function get(way: Way, ca: string, path: string, creds: Creds = {}, method = 'GET', headers: Record<string, string> = {}): Promise<{ status: number; json: any }> {
  return new Promise((resolve, reject) => {
    const req = https.request({
      ...(way.socketPath ? { socketPath: way.socketPath } : { host: '127.0.0.1', port: way.port }),
      path, method, ca, servername: 'localhost', agent: false, cert: creds.cert, key: creds.key,
      headers: { ...headers, ...(creds.authorization !== undefined ? { Authorization: creds.authorization } : {}) },
    }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        let json: unknown;
        try { json = JSON.parse(Buffer.concat(chunks).toString('utf8')); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, json });
      });
    });
    req.on('error', reject);
    req.end();
  });
}

/** A raw request over TLS, for what https.request will not send (CONNECT). */
function raw(port: number, ca: string, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = tls.connect({ host: '127.0.0.1', port, ca, servername: 'localhost' }, () => s.end(text));
    const chunks: Buffer[] = [];
    s.on('data', (d: Buffer) => chunks.push(d));
    s.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    s.on('error', reject);
  });
}

function openssl(args: string[]): void {
  const r = spawnSync('openssl', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl ${args.join(' ')}: ${r.stderr}`);
}

describe('authentication on the HTTPS port and the secure socket', () => {
  const dir = mkdtempSync(join(tmpdir(), 'svp-authn-'));
  const store = new MemoryStore();
  let srv: ApiServer;
  let ca: string;
  let token: string;
  let ways: [string, Way][];
  const certs: Record<'signed' | 'selfSigned', Creds> = { signed: {}, selfSigned: {} };
  before(async () => {
    srv = await startApiServer({ dataDir: dir, store, port: 0 });
    ca = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
    token = readFileSync(join(dir, 'pki', 'token'), 'utf8').trim();
    ways = [['port', { port: srv.port }], ['secure socket', { socketPath: join(dir, 'apiserver-secure.sock') }]];
    const f = (n: string) => join(dir, n);
    const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
    openssl(['req', '-new', ...ec, '-keyout', f('user.key'), '-out', f('user.csr'), '-subj', '/CN=jane/O=dev']);
    openssl(['x509', '-req', '-in', f('user.csr'), '-CA', join(dir, 'pki', 'ca.crt'), '-CAkey', join(dir, 'pki', 'ca.key'), '-days', '1', '-set_serial', '0x1234', '-out', f('user.crt')]);
    openssl(['req', '-x509', ...ec, '-keyout', f('self.key'), '-out', f('self.crt'), '-days', '1', '-subj', '/CN=jane/O=system:masters']);
    certs.signed = { cert: readFileSync(f('user.crt'), 'utf8'), key: readFileSync(f('user.key'), 'utf8') };
    certs.selfSigned = { cert: readFileSync(f('self.crt'), 'utf8'), key: readFileSync(f('self.key'), 'utf8') };
  });
  after(async () => { await srv?.close(); await store.close(); rmSync(dir, { recursive: true, force: true }); });

  it('parses the Authorization header as upstream: scheme in any case, one space, the second word', () => {
    const rows: [string | undefined, string | undefined][] = [
      [undefined, undefined], ['', undefined], ['Bearer abc', 'abc'], ['bearer abc', 'abc'], ['BEARER abc', 'abc'],
      ['  Bearer abc  ', 'abc'], ['Bearer  abc', undefined], ['Bearer\tabc', undefined], ['Bearer abc def', 'abc'],
      ['Basic abc', undefined], ['Bearer', undefined], ['Bearer ', undefined], ['Bearerabc', undefined],
    ];
    for (const [header, want] of rows) assert.equal(bearerToken(header), want, JSON.stringify(header));
  });

  it('401 without credentials, with a wrong or badly spaced token, or a certificate of another CA; 200 with the token or a CA-signed certificate', async () => {
    for (const [name, way] of ways) {
      const cases: [string, Creds, number][] = [
        ['no credentials', {}, 401],
        ['wrong token', { authorization: `Bearer ${token}x` }, 401],
        ['two spaces', { authorization: `Bearer  ${token}` }, 401],
        ['Basic scheme', { authorization: `Basic ${Buffer.from(`admin:${token}`).toString('base64')}` }, 401],
        ['self-signed certificate', certs.selfSigned, 401],
        ['token', { authorization: `Bearer ${token}` }, 200],
        ['lower-case scheme', { authorization: `bearer ${token}` }, 200],
        ['CA-signed client certificate', certs.signed, 200],
      ];
      for (const [what, creds, want] of cases) {
        for (const path of ['/api/v1/nodes', '/apis/apps/v1/namespaces/default/deployments']) {
          const r = await get(way, ca, path, creds);
          assert.equal(r.status, want, `${name}, ${what}, GET ${path}`);
          if (want === 401) assert.equal(r.json?.reason, 'Unauthorized', `${name}, ${what}`);
        }
      }
      // Writes too: nothing is created without credentials.
      const w = await get(way, ca, '/api/v1/namespaces', {}, 'POST', { 'Content-Type': 'application/json' });
      assert.equal(w.status, 401, `${name}: anonymous POST`);
      // Health and version stay public, as system:public-info-viewer allows.
      assert.equal((await get(way, ca, '/version')).status, 200, `${name}: /version`);
    }
  });

  it('CONNECT is 405, a URL over 16 KiB is 414, headers over 1 MiB are 431: a Status, not a reset', async () => {
    const connect = await raw(srv.port, ca, `CONNECT /api/v1/nodes HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer ${token}\r\n\r\n`);
    assert.match(connect, /^HTTP\/1\.1 405 /);
    assert.equal(JSON.parse(connect.slice(connect.indexOf('\r\n\r\n') + 4)).reason, 'MethodNotAllowed');
    const creds = { authorization: `Bearer ${token}` };
    const long = await get({ port: srv.port }, ca, `/api/v1/namespaces/default/pods?labelSelector=${'a'.repeat(20_000)}`, creds);
    assert.equal(long.status, 414);
    assert.equal(long.json?.code, 414);
    const huge = await get({ port: srv.port }, ca, '/api/v1/nodes', creds, 'GET', { 'X-Filler': 'b'.repeat(2 << 20) });
    assert.equal(huge.status, 431);
    // The server goes on serving.
    assert.equal((await get({ port: srv.port }, ca, '/api/v1/nodes', creds)).status, 200);
  });
});
