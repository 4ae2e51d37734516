/**
 * @module images/programs/agnhost/netexec
 * `agnhost netexec`: upstream's HTTP(S) server of test endpoints plus a UDP server answering
 * `hostname`, `echo <msg>` and `clientip`. Every endpoint answers as upstream's Go handlers do —
 * including the quirks tests depend on: `/` and unknown paths give "NOW: <time>", `/healthz` is 412
 * until a UDP (or SCTP) server has started, `/dial`'s JSON leaves out "responses" when the last try
 * failed, `/exit` without a timeout exits before answering. After SIGTERM it keeps serving for
 * `--delay-shutdown` seconds while `/readyz` answers 503, so endpoints drop it before it stops.
 */
import { spawn } from 'node:child_process';
import dgram from 'node:dgram';
import { chmodSync, readFileSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { hostname } from 'node:os';
import { randomInt } from 'node:crypto';
import {
  type CommandDef, atoi, canonicalHeader, durationString, errnoText, fatalf, goJSON, goNow, goQuote, hostPort, httpError,
  logf, muxCleanPath, parseDuration, redirect, send,
} from './go.js';
import { exchangeUDP, resolveAddr, type Resolved } from './net.js';

export const NETEXEC: CommandDef = {
  use: 'netexec',
  short: 'Creates HTTP(S), UDP, and (optionally) SCTP servers with various endpoints',
  args: { max: 0 },
  flags: {
    'http-port': { type: 'int', def: '8080', usage: 'HTTP Listen Port' },
    'tls-cert-file': { type: 'string', def: '', usage: 'File containing an x509 certificate for HTTPS. (CA cert, if any, concatenated after server cert)' },
    'tls-private-key-file': { type: 'string', def: '', usage: 'File containing an x509 private key matching --tls-cert-file' },
    'udp-port': { type: 'int', def: '8081', usage: 'UDP Listen Port' },
    'sctp-port': { type: 'int', def: '-1', usage: 'SCTP Listen Port' },
    'http-override': { type: 'string', def: '', usage: 'Override the HTTP handler to always respond as if it were a GET with this path & params' },
    'udp-listen-addresses': { type: 'string', def: '', usage: 'A comma separated list of ip addresses the udp servers listen from' },
    'delay-shutdown': { type: 'int', def: '0', usage: 'Number of seconds to delay shutdown when receiving SIGTERM.' },
  },
};

/** The request as a handler sees it (the override request of --http-override has no client, headers or body). */
interface Req {
  method: string;
  path: string;
  query: URLSearchParams;
  form: URLSearchParams;
  headers: http.IncomingHttpHeaders;
  rawHeaders: string[];
  remoteAddr: string;
  body: Buffer;
}

/** Hostname as os.Hostname reads it (the pod's UTS namespace). */
const getHostName = (): string => { const h = hostname(); logf(`hostname: ${h}`); return h; };

/** Request.FormValue: a urlencoded POST/PUT/PATCH body first, then the query. */
function formValue(r: Req, key: string): string {
  return r.form.get(key) ?? r.query.get(key) ?? '';
}

export function runNetexec(flags: Record<string, string>): void {
  const httpPort = Number(flags['http-port']);
  const udpPort = Number(flags['udp-port']);
  const sctpPort = Number(flags['sctp-port']);
  const delayShutdown = Number(flags['delay-shutdown']);
  const override = flags['http-override']!;
  let serverReady = false;
  let sigTermReceived = false;

  // SIGTERM: /readyz turns 503 at once; the process exits after --delay-shutdown seconds. Later
  // SIGTERMs are caught and change nothing (Go's signal.Notify keeps them from killing it).
  process.on('SIGTERM', () => {
    if (sigTermReceived) return;
    sigTermReceived = true;
    if (delayShutdown > 0) {
      logf(`Sleeping ${delayShutdown} seconds before terminating...`);
      setTimeout(() => process.exit(0), delayShutdown * 1000);
    } else process.exit(0);
  });

  let server: http.Server;
  const routes: Record<string, (r: Req, res: http.ServerResponse) => void | Promise<void>> = {
    '/clientip': (r, res) => { logf('GET /clientip'); send(res, 200, r.remoteAddr); },
    '/header': (r, res) => {
      const key = formValue(r, 'key');
      if (key) { logf(`GET /header?key=${key}`); const v = r.headers[key.toLowerCase()]; send(res, 200, Array.isArray(v) ? v[0]! : v ?? ''); return; }
      logf('GET /header');
      const h: Record<string, string[]> = {};
      for (let i = 0; i < r.rawHeaders.length; i += 2) {
        const k = canonicalHeader(r.rawHeaders[i]!);
        if (k === 'Host') continue;
        (h[k] ??= []).push(r.rawHeaders[i + 1]!);
      }
      send(res, 200, goJSON(h));
    },
    '/dial': (r, res) => dial(r, res),
    '/echo': (r, res) => {
      const msg = formValue(r, 'msg'), codeString = formValue(r, 'code');
      logf(`GET /echo?msg=${msg}&code=${codeString}`);
      let status = 200;
      if (codeString !== '') {
        const code = atoi(codeString);
        if (code instanceof Error) { send(res, 200, `argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`); return; }
        status = code;
      }
      send(res, status, msg);
    },
    '/exit': (r, res) => exit(r, res),
    '/healthz': (_r, res) => { logf('GET /healthz'); send(res, serverReady ? 200 : 412); },
    '/readyz': (_r, res) => {
      logf('GET /readyz');
      if (sigTermReceived) send(res, 503, 'shutting down');
      else if (serverReady) send(res, 200, 'ok');
      else send(res, 412);
    },
    '/hostname': (_r, res) => { logf('GET /hostname'); send(res, 200, getHostName()); },
    '/redirect': (r, res) => {
      const location = formValue(r, 'location'), codeString = formValue(r, 'code');
      logf(`${r.method} /redirect?msg=${location}&code=${codeString}`);
      let code = 302;
      if (codeString !== '') {
        const c = atoi(codeString);
        if (c instanceof Error) { send(res, 200, `argument 'code' must be an integer or empty, got ${goQuote(codeString)}\n`); return; }
        code = c;
      }
      redirect(r, res, location, code);
    },
    '/shell': (r, res) => shell(r, res),
    '/upload': (r, res) => upload(r, res),
    '/hostName': (_r, res) => { logf('GET /hostName'); send(res, 200, getHostName()); },
    '/shutdown': () => { logf('GET /shutdown'); process.exit(0); },
  };

  const serve = async (r: Req, res: http.ServerResponse) => {
    // ServeMux redirects unclean paths (//x, /a/../x) to their clean form.
    const clean = muxCleanPath(r.path);
    if (clean !== r.path) { redirect({ method: r.method, path: r.path }, res, clean + (r.query.size ? `?${r.query}` : ''), 301); return; }
    const h = routes[r.path];
    if (h) await h(r, res);
    else { logf('GET /'); send(res, 200, `NOW: ${goNow()}`); }
  };

  const handler = (req: http.IncomingMessage, res: http.ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      let r: Req;
      if (override) {
        const u = new URL(override, 'http://localhost');
        r = { method: 'GET', path: u.pathname, query: u.searchParams, form: new URLSearchParams(), headers: {}, rawHeaders: [], remoteAddr: '', body: Buffer.alloc(0) };
      } else {
        // The request target split by hand: new URL() would read "//x" as a host.
        const target = /^[a-z][a-z0-9+.-]*:\/\/[^/]*/i.test(req.url ?? '') ? (req.url ?? '').replace(/^[a-z][a-z0-9+.-]*:\/\/[^/]*/i, '') || '/' : req.url ?? '/';
        const q = target.indexOf('?');
        const u = { pathname: q < 0 ? target : target.slice(0, q), searchParams: new URLSearchParams(q < 0 ? '' : target.slice(q + 1)) };
        const urlencoded = /^application\/x-www-form-urlencoded/i.test(req.headers['content-type'] ?? '') && ['POST', 'PUT', 'PATCH'].includes(req.method ?? '');
        r = {
          method: req.method ?? 'GET', path: decodeURIComponentSafe(u.pathname), query: u.searchParams,
          form: urlencoded ? new URLSearchParams(body.toString()) : new URLSearchParams(), headers: req.headers, rawHeaders: req.rawHeaders,
          remoteAddr: hostPort(req.socket.remoteAddress, req.socket.remotePort), body,
        };
      }
      Promise.resolve(serve(r, res)).catch((e: Error) => { logf(`http: panic serving ${r.remoteAddr}: ${e.message}`); res.socket?.destroy(); });
    });
  };

  async function dial(r: Req, res: http.ServerResponse): Promise<void> {
    const q = r.query;
    const host = q.get('host') ?? '', port = q.get('port') ?? '', request = q.get('request') ?? '', protocol = q.get('protocol') ?? '', tryParam = q.get('tries') ?? '';
    logf(`GET /dial?host=${host}&protocol=${protocol}&port=${port}&request=${request}&tries=${tryParam}`);
    let tries = 1;
    let err = '<nil>';
    if (tryParam.length > 0) {
      const t = atoi(tryParam);
      if (t instanceof Error) { httpError(res, `tries parameter is invalid. ${t.message}`, 400); return; }
      tries = t;
    }
    if (request.length === 0) { httpError(res, `request parameter not specified. ${err}`, 400); return; }
    const hp = hostPort(host, port);
    const proto = protocol.toLowerCase();
    if (!['', 'http', 'udp', 'sctp'].includes(proto)) { httpError(res, `unsupported protocol. ${protocol}`, 400); return; }
    let addr: Resolved;
    try { addr = await resolveAddr(proto === '' || proto === 'http' ? 'tcp' : proto as 'udp' | 'sctp', hp); } catch (e) {
      httpError(res, `host and/or port param are invalid. ${(e as Error).message}`, 400); return;
    }
    const errors: string[] = [], responses: string[] = [];
    let response = '';
    for (let i = 0; i < tries; i++) {
      try {
        response = proto === 'udp' ? await dialUDP(request, addr) : proto === 'sctp' ? await dialSCTP(addr) : await dialHTTP(request, addr);
        responses.push(response);
      } catch (e) { response = ''; err = (e as Error).message; errors.push(err); }
    }
    const output: Record<string, string[]> = {};
    if (response.length > 0) output.responses = responses;
    if (errors.length > 0) output.errors = errors;
    send(res, 200, goJSON(output));
  }

  function exit(r: Req, res: http.ServerResponse): void {
    const waitString = formValue(r, 'wait'), timeoutString = formValue(r, 'timeout'), codeString = formValue(r, 'code');
    logf(`GET /exit?code=${codeString}&timeout=${timeoutString}&wait=${waitString}`);
    let timeout = 0, wait = 0, code = 0;
    try { timeout = timeoutString === '' ? 0 : parseDuration(timeoutString); } catch {
      send(res, 200, `argument 'timeout' must be a valid golang duration or empty, got ${goQuote(timeoutString)}\n`); return;
    }
    try { wait = waitString === '' ? 0 : parseDuration(waitString); } catch {
      send(res, 200, `argument 'wait' must be a valid golang duration or empty, got ${goQuote(waitString)}\n`); return;
    }
    if (codeString !== '') {
      const c = atoi(codeString);
      if (c instanceof Error) { send(res, 200, `argument 'code' must be an integer [0-127] or empty, got ${goQuote(codeString)}\n`); return; }
      code = c;
    }
    logf(`Will begin shutdown in ${durationString(wait)}, allowing ${durationString(timeout)} for connections to close, then will exit with ${code}`);
    setTimeout(() => {
      if (timeout <= 0) process.exit(code);
      // Graceful: stop listening, answer this request, close idle connections, exit once all are
      // closed or the timeout has passed.
      const bye = () => { logf('Graceful shutdown completed with: <nil>'); process.exit(code); };
      setTimeout(() => { logf('Graceful shutdown completed with: context deadline exceeded'); process.exit(code); }, timeout / 1e6);
      server.close(bye);
      send(res, 200);
      res.on('finish', () => server.closeIdleConnections());
    }, Math.max(0, wait / 1e6));
  }

  function shell(r: Req, res: http.ServerResponse): void {
    let cmd = formValue(r, 'shellCommand');
    if (cmd === '') cmd = formValue(r, 'cmd');
    logf(`GET /shell?cmd=${cmd}`);
    // CombinedOutput: stdout and stderr share one pipe, so their order is kept.
    const child = spawn('/bin/sh', ['-c', 'exec /bin/sh -c "$0" 2>&1', cmd], { stdio: ['ignore', 'pipe', 'ignore'] });
    const out: Buffer[] = [];
    child.stdout.on('data', (c: Buffer) => out.push(c));
    let spawnErr: string | undefined;
    child.on('error', (e: NodeJS.ErrnoException) => { spawnErr = `fork/exec /bin/sh: ${e.code === 'ENOENT' ? 'no such file or directory' : e.message}`; });
    child.on('close', (status, signal) => {
      const output: Record<string, string> = {};
      const text = Buffer.concat(out).toString();
      if (text.length > 0) output.output = text;
      if (spawnErr) output.error = spawnErr;
      else if (signal) output.error = `signal: ${SIGNAL_TEXT[signal] ?? signal}`;
      else if (status !== 0) output.error = `exit status ${status}`;
      logf(`Output: map[${Object.keys(output).sort().map((k) => `${k}:${output[k]}`).join(' ')}]`);
      send(res, 200, goJSON(output));
    });
  }

  async function upload(r: Req, res: http.ServerResponse): Promise<void> {
    logf('GET /upload');
    const fail = (msg: string, status = 200) => send(res, status, goJSON({ error: msg }));
    let file: Blob | undefined;
    try {
      const ct = r.headers['content-type'] ?? '';
      const fd = await new Response(new Uint8Array(r.body), { headers: { 'content-type': ct } }).formData();
      const f = fd.get('file');
      if (f && typeof f !== 'string') file = f;
    } catch { /* not a multipart form */ }
    if (!file) { logf('Unable to upload file: http: no such file'); fail('Unable to upload file.'); return; }
    const name = `/uploads/upload${randomInt(0, 2 ** 32 - 1)}`;
    try { writeFileSync(name, Buffer.from(await file.arrayBuffer()), { flag: 'wx' }); } catch (e) {
      logf(`Unable to open file for write: ${(e as Error).message}`); fail('Unable to open file for write'); return;
    }
    try { chmodSync(name, 0o700); } catch { fail('Unable to chmod file.'); return; }
    logf(`Wrote upload to ${name}`);
    send(res, 201, goJSON({ output: name }));
  }

  // UDP servers, one per --udp-listen-addresses entry (all addresses when empty).
  if (udpPort !== -1) {
    const addrs = flags['udp-listen-addresses'] ? [...new Set(flags['udp-listen-addresses'].split(','))].sort() : [''];
    for (const a of addrs) if (a !== '' && net.isIP(a) === 0) fatalf(`parseAddress: invalid address ${a}`);
    for (const a of addrs) startUDPServer(a, udpPort, () => { serverReady = true; });
  }
  if (sctpPort !== -1) {
    // Node.js has no SCTP sockets: the flag is accepted and the server reported ready, as it would
    // be once upstream's SCTP server started; SCTP clients get no answer.
    logf(`Started SCTP server (not available in this image: port ${sctpPort} is not served)`);
    serverReady = true;
  }

  logf(`Started HTTP server on port ${httpPort}`);
  if (flags['tls-cert-file']) {
    let cert: Buffer, key: Buffer;
    try { cert = readFileSync(flags['tls-cert-file']); key = readFileSync(flags['tls-private-key-file'] ?? ''); } catch (e) {
      const er = e as NodeJS.ErrnoException;
      fatalf(`open ${er.path ?? ''}: ${er.code === 'ENOENT' ? 'no such file or directory' : er.message}`);
    }
    server = https.createServer({ cert, key }, handler);
  } else server = http.createServer(handler);
  server.on('error', (e: NodeJS.ErrnoException) => fatalf(`listen tcp :${httpPort}: bind: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`));
  server.listen(httpPort);
}

const SIGNAL_TEXT: Record<string, string> = { SIGKILL: 'killed', SIGTERM: 'terminated', SIGINT: 'interrupt', SIGSEGV: 'segmentation fault', SIGABRT: 'aborted', SIGPIPE: 'broken pipe', SIGHUP: 'hangup', SIGQUIT: 'quit' };


function decodeURIComponentSafe(p: string): string {
  try { return decodeURIComponent(p); } catch { return p; }
}

/** One UDP server: commands are trimmed and lower-cased; unknown ones get no answer. */
function startUDPServer(address: string, port: number, ready: () => void): void {
  const fam = address === '' ? 6 : net.isIP(address);
  const open = (type: 'udp4' | 'udp6', bindTo: string, fallback: boolean) => {
    const s = dgram.createSocket({ type, ipv6Only: false });
    s.on('error', (e: NodeJS.ErrnoException) => {
      if (fallback && (e.code === 'EAFNOSUPPORT' || e.code === 'EADDRNOTAVAIL')) { s.close(); open('udp4', '0.0.0.0', false); return; }
      fatalf(`Error occurred: failed to create listener for UDP address ${hostPort(address, port)}:listen udp ${hostPort(address, port)}: bind: ${e.code === 'EADDRINUSE' ? 'address already in use' : e.message}`);
    });
    s.on('message', (m, rinfo) => {
      const client = hostPort(rinfo.address, rinfo.port);
      const text = m.subarray(0, 2048).toString().trim().toLowerCase();
      let reply: string | undefined;
      if (text === 'hostname') { logf('Sending udp hostName response'); reply = getHostName(); }
      else if (text.startsWith('echo ')) { reply = text.slice(5); logf(`Echoing ${reply} to UDP client ${client}`); }
      else if (text === 'clientip') { logf(`Sending clientip back to UDP client ${client}`); reply = client; }
      else if (text.length > 0) logf(`Unknown UDP command received from ${client}: ${text}`);
      if (reply !== undefined) s.send(reply, rinfo.port, rinfo.address);
    });
    s.bind(port, bindTo, () => { logf(`Started UDP server on port ${address} ${port}`); ready(); });
  };
  if (fam === 6) open('udp6', address === '' ? '::' : address, address === '');
  else open('udp4', address, false);
}

/** http.Client{Timeout: 5s}.Get("http://" + addr + "/" + request): the body, whatever the status. */
function dialHTTP(request: string, addr: Resolved): Promise<string> {
  const url = `http://${hostPort(addr.ip, addr.port)}/${request}`;
  return new Promise((resolve, reject) => {
    let u: URL;
    try { u = new URL(url); } catch { reject(new Error(`parse ${goQuote(url)}: invalid URL`)); return; }
    const req = http.get({ host: addr.ip, port: addr.port, family: addr.family, path: `/${request}`.replace(/ /g, '%20'), headers: { Host: u.host, 'User-Agent': 'Go-http-client/1.1', 'Accept-Encoding': 'gzip' }, agent: false });
    let local = '';
    req.on('socket', (s) => s.on('connect', () => { local = hostPort(s.localAddress, s.localPort); }));
    const timer = setTimeout(() => { req.destroy(new Error('timeout')); }, 5000);
    req.on('response', (resp) => {
      const chunks: Buffer[] = [];
      resp.on('data', (c: Buffer) => chunks.push(c));
      resp.on('end', () => { clearTimeout(timer); resolve(Buffer.concat(chunks).toString()); });
      resp.on('error', () => { clearTimeout(timer); reject(new Error(`Get ${goQuote(url)}: unexpected EOF`)); });
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      const target = hostPort(addr.ip, addr.port);
      let why: string;
      if (e.message === 'timeout') why = 'context deadline exceeded (Client.Timeout exceeded while awaiting headers)';
      else if (e.code === 'ECONNRESET' && local) why = `read tcp ${local}->${target}: read: connection reset by peer`;
      else if (e.code === 'ECONNRESET' || e.message === 'socket hang up') why = 'EOF';
      else why = `dial tcp ${target}: connect: ${errnoText(e.code)}`;
      reject(new Error(`Get ${goQuote(url)}: ${why}`));
    });
  });
}

async function dialUDP(request: string, addr: Resolved): Promise<string> {
  const r = await exchangeUDP(addr, Buffer.from(request), 5e9, 2048);
  if (!r.ok) throw new Error(`reading from udp connection failed. err:'${r.message}'`);
  if (r.data.length === 0) throw new Error("reading from udp connection failed. err:'<nil>'");
  return r.data.toString();
}

async function dialSCTP(_addr: Resolved): Promise<string> {
  throw new Error('sctp dial failed. err:protocol not supported');
}
