/**
 * @module images/programs/agnhost/servers
 * agnhost's small servers: serve-hostname (HTTP, or raw TCP and/or UDP), porter (one server per
 * SERVE_*_PORT_<N> variable), liveness (healthy for 10 s) and test-webserver (a file server of /).
 */
import dgram from 'node:dgram';
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { hostname } from 'node:os';
import path from 'node:path';
import { type CommandDef, durationString, fatalf, goQuote, goStructJSON, hostPort, httpError, logf, redirect, send } from './go.js';

export const SERVE_HOSTNAME: CommandDef = {
  use: 'serve-hostname', short: 'Serves the hostname', args: { max: 0 },
  flags: {
    tcp: { type: 'bool', def: 'false', usage: 'Serve raw over TCP.' },
    udp: { type: 'bool', def: 'false', usage: 'Serve raw over UDP.' },
    http: { type: 'bool', def: 'true', usage: 'Serve HTTP.' },
    close: { type: 'bool', def: 'false', usage: 'Close connection per each HTTP request.' },
    port: { type: 'int', def: '9376', usage: 'Port number.' },
  },
};

/**
 * As upstream: HTTP is on by default and cannot be combined with --tcp/--udp (pass --http=false);
 * TCP writes the hostname and closes; UDP answers any datagram with the hostname. After SIGTERM
 * it keeps serving for 60 s ("Awaiting pod deletion"), then exits 0.
 */
export function runServeHostname(flags: Record<string, string>): void {
  const doTCP = flags.tcp === 'true', doUDP = flags.udp === 'true', doHTTP = flags.http === 'true', doClose = flags.close === 'true';
  const port = Number(flags.port);
  if (doHTTP && (doTCP || doUDP)) fatalf("Can't server TCP/UDP mode and HTTP mode at the same time");
  const name = hostname();
  if (doTCP) {
    net.createServer((c) => { logf(`TCP request from ${hostPort(c.remoteAddress, c.remotePort)}`); c.on('error', () => undefined); c.end(name); })
      .on('error', (e: NodeJS.ErrnoException) => fatalf(`Error from net.Listen(): listen tcp :${port}: bind: ${bindText(e)}`)).listen(port);
  }
  if (doUDP) {
    const s = dgram.createSocket({ type: 'udp6', ipv6Only: false });
    s.on('error', (e: NodeJS.ErrnoException) => fatalf(`Error from ListenUDP(): listen udp :${port}: bind: ${bindText(e)}`));
    s.on('message', (_m, r) => { logf(`UDP request from ${hostPort(r.address, r.port)}`); s.send(name, r.port, r.address); });
    s.bind(port, '::');
  }
  if (doHTTP) {
    http.createServer((req, res) => {
      logf(`HTTP request from ${hostPort(req.socket.remoteAddress, req.socket.remotePort)}`);
      req.resume();
      send(res, 200, name, doClose ? { Connection: 'close' } : {});
    }).on('error', (e: NodeJS.ErrnoException) => fatalf(`listen tcp :${port}: bind: ${bindText(e)}`)).listen(port);
  }
  logf(`Serving on port ${port}.`);
  process.once('SIGTERM', () => {
    logf('Shutting down after receiving signal: terminated.');
    logf('Awaiting pod deletion.');
    process.on('SIGTERM', () => undefined);
    setTimeout(() => process.exit(0), 60_000);
  });
}

const bindText = (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? 'address already in use' : e.code === 'EACCES' ? 'permission denied' : e.message);

export const PORTER: CommandDef = {
  use: 'porter', short: 'Serves requested data on ports specified in ENV variables', args: { max: 0 },
  flags: { 'json-response': { type: 'bool', def: 'false', usage: 'Responds to requests with a json response that includes the default value with the http.Request Method' } },
};

/**
 * One server per variable, in environment order: SERVE_PORT_N / SERVE_TCP_PORT_N (HTTP on
 * 0.0.0.0:N answering the value), SERVE_UDP_PORT_N (any datagram answered with the value),
 * SERVE_TLS_PORT_N (HTTPS with CERT_FILE/KEY_FILE, default localhost.crt/localhost.key in the
 * working directory as in upstream's image; without those files a self-signed certificate for
 * 127.0.0.1, ::1, localhost and example.com is made at start). SERVE_SCTP_PORT_N cannot be served
 * by Node.js and is logged and skipped. A server that cannot listen is logged; the others go on.
 */
export async function runPorter(flags: Record<string, string>): Promise<void> {
  const json = flags['json-response'] === 'true';
  const handler = (value: string) => (req: http.IncomingMessage, res: http.ServerResponse) => {
    req.resume();
    if (json) send(res, 200, goStructJSON([['Method', req.method], ['Body', value]]), { 'Content-Type': 'application/json' });
    else send(res, 200, value);
  };
  const listenFailed = (what: string, port: string) => (e: NodeJS.ErrnoException) => logf(`${what} failed: listen tcp 0.0.0.0:${port}: bind: ${bindText(e)}`);
  for (const [key, value] of Object.entries(process.env)) {
    if (value === undefined) continue;
    const m = /^SERVE_(PORT|TCP_PORT|UDP_PORT|TLS_PORT|SCTP_PORT)_(.*)$/.exec(key);
    if (!m) continue;
    const port = m[2]!;
    if (!/^\d+$/.test(port) || Number(port) > 65535) { logf(`server on port ${goQuote(port)} failed: listen tcp: address 0.0.0.0:${port}: invalid port`); continue; }
    switch (m[1]) {
      case 'PORT': case 'TCP_PORT':
        http.createServer(handler(value)).on('error', listenFailed(`server on port ${goQuote(port)}`, port)).listen(Number(port), '0.0.0.0');
        break;
      case 'UDP_PORT': {
        const s = dgram.createSocket('udp4');
        s.on('error', (e: NodeJS.ErrnoException) => fatalf(`UDP: failed to listen on port ${port}: listen udp 0.0.0.0:${port}: bind: ${bindText(e)}`));
        s.on('message', (_m, r) => s.send(value, r.port, r.address));
        s.bind(Number(port), '0.0.0.0', () => logf(`Started UDP server on port ${port}`));
        break;
      }
      case 'TLS_PORT': {
        const certFile = process.env.CERT_FILE || 'localhost.crt', keyFile = process.env.KEY_FILE || 'localhost.key';
        let cert: string | Buffer, key: string | Buffer;
        if (existsSync(certFile) && existsSync(keyFile)) { cert = readFileSync(certFile); key = readFileSync(keyFile); }
        else ({ cert, key } = await selfSigned());
        https.createServer({ cert, key }, handler(value))
          .on('error', listenFailed(`tls server on port ${goQuote(port)} with certFile=${goQuote(certFile)}, keyFile=${goQuote(keyFile)}`, port)).listen(Number(port), '0.0.0.0');
        break;
      }
      case 'SCTP_PORT':
        logf(`SCTP server on port ${port} not started: SCTP is not available in this image`);
        break;
    }
  }
}

/** A self-signed certificate like upstream's localhost.crt (SANs 127.0.0.1, ::1, example.com). */
async function selfSigned(): Promise<{ cert: string; key: string }> {
  const { default: forge } = await import('node-forge');
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048, privateKeyEncoding: { type: 'pkcs8', format: 'pem' }, publicKeyEncoding: { type: 'spki', format: 'pem' } });
  const c = forge.pki.createCertificate();
  c.publicKey = forge.pki.publicKeyFromPem(publicKey);
  c.serialNumber = '01';
  c.validity.notBefore = new Date(0);
  c.validity.notAfter = new Date('2084-01-29T16:00:00Z');
  const subject = [{ name: 'organizationName', value: 'Acme Co' }];
  c.setSubject(subject);
  c.setIssuer(subject);
  c.setExtensions([
    { name: 'basicConstraints', cA: true },
    { name: 'keyUsage', digitalSignature: true, keyEncipherment: true, keyCertSign: true },
    { name: 'extKeyUsage', serverAuth: true },
    { name: 'subjectAltName', altNames: [{ type: 2, value: 'example.com' }, { type: 2, value: 'localhost' }, { type: 7, ip: '127.0.0.1' }, { type: 7, ip: '::1' }] },
  ]);
  c.sign(forge.pki.privateKeyFromPem(privateKey), forge.md.sha256.create());
  return { cert: forge.pki.certificateToPem(c), key: privateKey };
}

export const LIVENESS: CommandDef = { use: 'liveness', short: 'Starts a server that is alive for 10 seconds', args: { max: 0 }, flags: {} };

/** :8080 — /healthz 200 "ok" for 10 s, then 500 "error: <seconds>"; /started; /redirect?loc=. */
export function runLiveness(): void {
  const started = performance.now();
  http.createServer((req, res) => {
    req.resume();
    const u = new URL(req.url ?? '/', 'http://localhost');
    const since = (performance.now() - started) * 1e6;
    switch (u.pathname) {
      case '/started': send(res, 200, durationString(since)); return;
      case '/healthz':
        if (since / 1e9 > 10) send(res, 500, `error: ${since / 1e9}`);
        else send(res, 200, 'ok');
        return;
      case '/redirect': {
        const loc = u.searchParams.get('loc') ?? '';
        let target: string;
        try { target = decodeURIComponent(loc.replace(/\+/g, ' ')); } catch { httpError(res, `invalid redirect: ${goQuote(loc)}`, 400); return; }
        redirect({ method: req.method, path: u.pathname }, res, target, 302);
        return;
      }
      default: httpError(res, '404 page not found', 404);
    }
  }).on('error', (e: NodeJS.ErrnoException) => fatalf(`listen tcp :8080: bind: ${bindText(e)}`)).listen(8080);
}

export const TEST_WEBSERVER: CommandDef = {
  use: 'test-webserver', short: 'Starts a simple HTTP fileserver', args: { max: 0 },
  flags: { port: { type: 'int', def: '80', usage: 'Port number.' } },
};

const MIME: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.htm': 'text/html; charset=utf-8', '.css': 'text/css; charset=utf-8', '.js': 'text/javascript; charset=utf-8',
  '.json': 'application/json', '.txt': 'text/plain; charset=utf-8', '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.gif': 'image/gif',
  '.svg': 'image/svg+xml', '.xml': 'text/xml; charset=utf-8', '.pdf': 'application/pdf', '.wasm': 'application/wasm',
};

/** http.FileServer(http.Dir("/")) with upstream's CORS and Cache-Control headers. */
export function runTestWebserver(flags: Record<string, string>): void {
  const port = Number(flags.port);
  http.createServer((req, res) => {
    req.resume();
    res.setHeader('Cache-Control', 'private');
    res.setHeader('Access-Control-Allow-Origin', '*');
    res.setHeader('Access-Control-Allow-Credentials', 'true');
    res.setHeader('Access-Control-Allow-Methods', 'GET, POST, OPTIONS');
    res.setHeader('Access-Control-Allow-Headers', 'DNT,X-Mx-ReqToken,Keep-Alive,User-Agent,X-Requested-With,Cache-Control,Content-Type');
    const u = new URL(req.url ?? '/', 'http://localhost');
    let p: string;
    try { p = decodeURIComponent(u.pathname); } catch { httpError(res, '404 page not found', 404); return; }
    const file = path.posix.normalize(`/${p}`);
    if (p.endsWith('/index.html')) { redirect({ method: req.method, path: p }, res, './', 301); return; }
    let st;
    try { st = statSync(file); } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code === 'EACCES') httpError(res, '403 Forbidden', 403); else httpError(res, '404 page not found', 404);
      return;
    }
    const modified = { 'Last-Modified': st.mtime.toUTCString() };
    if (st.isDirectory()) {
      if (!p.endsWith('/')) { redirect({ method: req.method, path: p }, res, `${path.posix.basename(p)}/`, 301); return; }
      const index = path.posix.join(file, 'index.html');
      if (existsSync(index)) { send(res, 200, req.method === 'HEAD' ? '' : readFileSync(index), { 'Content-Type': 'text/html; charset=utf-8', ...modified }); return; }
      let names: string[];
      try { names = readdirSync(file, { withFileTypes: true }).map((d) => d.name + (d.isDirectory() ? '/' : '')).sort(); } catch { httpError(res, 'Error reading directory', 500); return; }
      const esc = (s: string) => s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!);
      const body = `<!doctype html>\n<meta name="viewport" content="width=device-width">\n<pre>\n${names.map((n) => `<a href="${esc(encodeURI(n))}">${esc(n)}</a>\n`).join('')}</pre>\n`;
      send(res, 200, body, { 'Content-Type': 'text/html; charset=utf-8', ...modified });
      return;
    }
    let data: Buffer;
    try { data = readFileSync(file); } catch { httpError(res, '403 Forbidden', 403); return; }
    const ct = MIME[path.posix.extname(file).toLowerCase()];
    send(res, 200, data, { ...(ct ? { 'Content-Type': ct } : {}), 'Accept-Ranges': 'bytes', ...modified });
  }).on('error', (e: NodeJS.ErrnoException) => fatalf(`listen tcp :${port}: bind: ${bindText(e)}`)).listen(port);
}
