/**
 * agnhost as the image runs it — run.ts bundled by esbuild into one file, started as
 * `node run.mjs agnhost <subcommand> …` (so bundling is checked too) — each subcommand in its own
 * process on 127.0.0.1, checked through real HTTP, UDP, TCP and gRPC (HTTP/2) clients. Processes
 * run under `unshare -u` so /hostname must answer the pod's UTS hostname, not the machine's; DNS
 * and file checks run in private mount/network namespaces (nothing leaves loopback).
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import dgram from 'node:dgram';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import http2 from 'node:http2';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { after, before, describe, test } from 'node:test';
import { decodeHealthCheckRequest, encodeHealthCheckResponse, NOT_SERVING, SERVING } from './agnhost/grpc.js';
import { durationString, goJSON, parseDuration } from './agnhost/go.js';

const RUN = path.join(import.meta.dirname, '..', 'run.ts');
let BUNDLE = '';
/** Temporary folders of this file (the bundle's, the tests' files), removed at the end. */
const tmpDirs: string[] = [];
const tmp = () => { const d = mkdtempSync(path.join(tmpdir(), 'agnhost-')); tmpDirs.push(d); return d; };
before(() => {
  const esbuild = createRequire(import.meta.url)('esbuild') as typeof import('esbuild');
  BUNDLE = path.join(tmp(), 'run.mjs');
  esbuild.buildSync({
    entryPoints: [RUN], bundle: true, platform: 'node', format: 'esm', target: 'node20', outfile: BUNDLE, logLevel: 'error',
    banner: { js: "import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);" },
  });
});
const POD = 'agn-test-pod';
const children: ChildProcess[] = [];
after(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  for (const d of tmpDirs) rmSync(d, { recursive: true, force: true });
});

interface Proc { child: ChildProcess; out: () => string; err: () => string; exited: Promise<{ code: number | null; signal: string | null }> }

/** Starts `agnhost …` with hostname POD in its own UTS namespace (plus a setup script, if given). */
function agnhost(args: string[], opts: { env?: Record<string, string>; setup?: string; unshare?: string[] } = {}): Proc {
  const script = `${opts.setup ?? ''}\nhostname ${POD} && exec "$0" "$@"`;
  const child = spawn('unshare', ['-u', ...(opts.unshare ?? []), 'sh', '-c', script, process.execPath, BUNDLE, 'agnhost', ...args], {
    env: { ...process.env, ...opts.env }, stdio: ['ignore', 'pipe', 'pipe'],
  });
  children.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (c: Buffer) => { out += c; });
  child.stderr!.on('data', (c: Buffer) => { err += c; });
  const exited = new Promise<{ code: number | null; signal: string | null }>((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  return { child, out: () => out, err: () => err, exited };
}

async function freePort(): Promise<number> {
  for (;;) {
    const s = net.createServer();
    const port = await new Promise<number>((resolve) => s.listen(0, '127.0.0.1', () => resolve((s.address() as net.AddressInfo).port)));
    await new Promise((r) => s.close(r));
    // The UDP twin must be free too (netexec uses port+1 for UDP here).
    const u = dgram.createSocket('udp4');
    const ok = await new Promise<boolean>((resolve) => { u.once('error', () => resolve(false)); u.bind(port + 1, '127.0.0.1', () => resolve(true)); });
    if (ok) { await new Promise((r) => u.close(() => r(undefined))); return port; }
    u.close();
  }
}

/** Resolves once the port accepts TCP connections (fails if the process exits first). */
async function waitListening(p: Proc, port: number): Promise<void> {
  let dead = false;
  void p.exited.then(() => { dead = true; });
  for (;;) {
    if (dead) throw new Error(`agnhost exited before listening on ${port}: ${p.err()}`);
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => { s.destroy(); resolve(true); });
      s.on('error', () => resolve(false));
    });
    if (ok) return;
    await new Promise((r) => setTimeout(r, 50));
  }
}

interface Res { status: number; headers: http.IncomingHttpHeaders; body: string }
function get(port: number, p: string, opts: { method?: string; headers?: Record<string, string>; body?: Buffer | string } = {}): Promise<Res> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: opts.method ?? 'GET', headers: opts.headers, agent: false }, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => { body += c; });
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    req.end(opts.body);
  });
}

function udp(port: number, msg: string, timeoutMs = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    const s = dgram.createSocket('udp4');
    const t = setTimeout(() => { s.close(); reject(new Error(`no UDP answer to ${msg}`)); }, timeoutMs);
    s.on('message', (m) => { clearTimeout(t); s.close(); resolve(m.toString()); });
    s.send(msg, port, '127.0.0.1');
  });
}

describe('agnhost netexec', { concurrency: true }, () => {
  test('HTTP endpoints, /dial and the UDP server answer as upstream', async () => {
    const port = await freePort();
    const p = agnhost(['netexec', `--http-port=${port}`, '--udp-port', String(port + 1)]);
    await waitListening(p, port);
    assert.equal((await get(port, '/hostname')).body, POD);
    assert.equal((await get(port, '/hostName')).body, POD);
    const root = await get(port, '/');
    assert.match(root.body, /^NOW: \d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d+)? [+-]\d{4} \S+ m=\+\d+\.\d{9}$/);
    assert.match((await get(port, '/no/such/path')).body, /^NOW: /);
    // ServeMux cleans paths with a 301.
    const unclean = await get(port, '//hostname');
    assert.equal(unclean.status, 301);
    assert.equal(unclean.headers.location, '/hostname');
    assert.match((await get(port, '/clientip')).body, /^127\.0\.0\.1:\d+$/);
    const echo = await get(port, '/echo?msg=a%20%3Cb%3E');
    assert.deepEqual([echo.status, echo.body, echo.headers['content-type']], [200, 'a <b>', 'text/plain; charset=utf-8']);
    assert.equal((await get(port, '/echo?msg=teapot&code=418')).status, 418);
    assert.equal((await get(port, '/echo?msg=x&code=abc')).body, `argument 'code' must be an integer or empty, got "abc"\n`);
    assert.equal((await get(port, '/echo', { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: 'msg=posted' })).body, 'posted');
    const health = await get(port, '/healthz');
    assert.deepEqual([health.status, health.body, health.headers['content-type']], [200, '', undefined]);
    assert.deepEqual([(await get(port, '/readyz')).status, (await get(port, '/readyz')).body], [200, 'ok']);
    assert.equal((await get(port, '/header?key=X-Probe', { headers: { 'x-probe': 'v1' } })).body, 'v1');
    assert.deepEqual(JSON.parse((await get(port, '/header', { headers: { 'x-probe': 'v1' } })).body)['X-Probe'], ['v1']);
    const red = await get(port, '/redirect?location=/echo%3Fmsg=foobar&code=307');
    assert.deepEqual([red.status, red.headers.location, red.body], [307, '/echo?msg=foobar', '<a href="/echo?msg=foobar">Temporary Redirect</a>.\n\n']);

    // /shell: combined output in order, Go's exec error text; keys only when set.
    assert.equal((await get(port, `/shell?cmd=${encodeURIComponent('echo out; echo err >&2; echo out2; exit 3')}`)).body, '{"error":"exit status 3","output":"out\\nerr\\nout2\\n"}');
    assert.equal((await get(port, `/shell?shellCommand=${encodeURIComponent('hostname')}`)).body, `{"output":"${POD}\\n"}`);
    assert.equal((await get(port, '/shell?cmd=true')).body, '{}');
    assert.equal((await get(port, '/upload', { method: 'POST' })).body, '{"error":"Unable to upload file."}');

    // /dial over HTTP and UDP, to itself and to closed ports.
    const refused = await freePort();
    const d1 = await get(port, `/dial?request=hostname&protocol=http&host=127.0.0.1&port=${port}&tries=3`);
    assert.deepEqual([d1.status, d1.body], [200, JSON.stringify({ responses: [POD, POD, POD] })]);
    const d2 = await get(port, `/dial?request=echo%20hi&protocol=udp&host=localhost&port=${port + 1}&tries=2`);
    assert.equal(d2.body, '{"responses":["hi","hi"]}');
    const d3 = await get(port, `/dial?request=hostname&host=127.0.0.1&port=${refused}`);
    assert.equal(d3.body, goJSON({ errors: [`Get "http://127.0.0.1:${refused}/hostname": dial tcp 127.0.0.1:${refused}: connect: connection refused`] }));
    const d4 = JSON.parse((await get(port, `/dial?request=hostname&protocol=udp&host=127.0.0.1&port=${refused}`)).body);
    assert.deepEqual(Object.keys(d4), ['errors']);
    assert.match(d4.errors[0], new RegExp(`^reading from udp connection failed\\. err:'read udp 127\\.0\\.0\\.1:\\d+->127\\.0\\.0\\.1:${refused}: read: connection refused'$`));
    const bad = await get(port, `/dial?request=hostname&host=127.0.0.1&port=${port}&tries=x`);
    assert.deepEqual([bad.status, bad.body], [400, 'tries parameter is invalid. strconv.Atoi: parsing "x": invalid syntax\n']);
    assert.deepEqual([(await get(port, '/dial?host=a&port=1')).status, (await get(port, '/dial?host=a&port=1')).body], [400, 'request parameter not specified. <nil>\n']);
    assert.equal((await get(port, '/dial?request=x&protocol=icmp&host=a&port=1')).body, 'unsupported protocol. icmp\n');
    assert.equal((await get(port, `/dial?request=hostname&host=127.0.0.1&port=${port}&tries=0`)).body, '{}');

    // UDP: trimmed and lower-cased commands.
    assert.equal(await udp(port + 1, 'hostname\n'), POD);
    assert.equal(await udp(port + 1, 'echo Hello World'), 'hello world');
    assert.match(await udp(port + 1, 'clientip'), /^127\.0\.0\.1:\d+$/);

    // /exit with a timeout answers, then exits with the code.
    const ex = await get(port, '/exit?code=3&timeout=2s');
    assert.equal(ex.status, 200);
    assert.deepEqual(await p.exited, { code: 3, signal: null });
  });

  test('--delay-shutdown: after SIGTERM /readyz is 503 while /hostname answers, then exit 0', async () => {
    const port = await freePort();
    const p = agnhost(['netexec', '--http-port', String(port), '--udp-port=-1', '--delay-shutdown', '2']);
    await waitListening(p, port);
    // Without a UDP (or SCTP) server upstream's /healthz and /readyz stay 412.
    assert.equal((await get(port, '/healthz')).status, 412);
    assert.equal((await get(port, '/readyz')).status, 412);
    const t0 = Date.now();
    p.child.kill('SIGTERM');
    let ready: Res;
    do ready = await get(port, '/readyz'); while (ready.status === 412);
    assert.deepEqual([ready.status, ready.body], [503, 'shutting down']);
    assert.equal((await get(port, '/hostname')).body, POD);
    p.child.kill('SIGTERM'); // a second SIGTERM changes nothing
    assert.equal((await get(port, '/healthz')).status, 412);
    assert.deepEqual(await p.exited, { code: 0, signal: null });
    assert.ok(Date.now() - t0 >= 1900, `exited after ${Date.now() - t0} ms`);
  });

  test('--http-override serves the override path for every request; /shutdown exits 0', async () => {
    const port = await freePort(), port2 = await freePort();
    const o = agnhost(['netexec', `--http-port=${port}`, `--udp-port=${port + 1}`, '--http-override=/echo?msg=overridden']);
    const s = agnhost(['netexec', `--http-port=${port2}`, `--udp-port=${port2 + 1}`, '--sctp-port=9999']);
    await Promise.all([waitListening(o, port), waitListening(s, port2)]);
    assert.equal((await get(port, '/hostname')).body, 'overridden');
    assert.equal((await get(port, '/anything?msg=x')).body, 'overridden');
    o.child.kill('SIGTERM');
    assert.deepEqual(await o.exited, { code: 0, signal: null });
    await assert.rejects(get(port2, '/shutdown'));
    assert.deepEqual(await s.exited, { code: 0, signal: null });
  });

  test('/exit without a timeout exits at once with the code; bad arguments are answered', async () => {
    const port = await freePort();
    const p = agnhost(['netexec', `--http-port=${port}`, `--udp-port=${port + 1}`]);
    await waitListening(p, port);
    assert.equal((await get(port, '/exit?code=x')).body, `argument 'code' must be an integer [0-127] or empty, got "x"\n`);
    assert.equal((await get(port, '/exit?timeout=5')).body, `argument 'timeout' must be a valid golang duration or empty, got "5"\n`);
    await assert.rejects(get(port, '/exit?code=42'));
    assert.deepEqual(await p.exited, { code: 42, signal: null });
  });
});

describe('agnhost serve-hostname, porter, pause, command line', { concurrency: true }, () => {
  test('serve-hostname --http=false --tcp --udp serves raw TCP and UDP on one port', async () => {
    const port = await freePort();
    const p = agnhost(['serve-hostname', '--http=false', '--tcp', '--udp', '--port', String(port)]);
    await waitListening(p, port);
    const tcp = await new Promise<string>((resolve, reject) => {
      let data = '';
      net.connect(port, '127.0.0.1').on('data', (c) => { data += c; }).on('end', () => resolve(data)).on('error', reject);
    });
    assert.equal(tcp, POD);
    assert.equal(await udp(port, 'x'), POD);
    p.child.kill('SIGTERM');
    // Upstream keeps serving for 60 s after SIGTERM ("Awaiting pod deletion").
    while (!p.err().includes('Awaiting pod deletion')) await new Promise((r) => setTimeout(r, 20));
    assert.equal(await udp(port, 'x'), POD);
    p.child.kill('SIGKILL');
  });

  test('serve-hostname: HTTP by default, --close, and HTTP with --tcp is refused', async () => {
    const port = await freePort();
    const p = agnhost(['serve-hostname', '--close', `--port=${port}`]);
    const bad = agnhost(['serve-hostname', '--tcp', `--port=${port}`]);
    await waitListening(p, port);
    const r = await get(port, '/anything');
    assert.deepEqual([r.body, r.headers.connection], [POD, 'close']);
    assert.equal((await bad.exited).code, 1);
    assert.match(bad.err(), /Can't server TCP\/UDP mode and HTTP mode at the same time\n$/);
    p.child.kill('SIGKILL');
  });

  test('porter: SERVE_PORT_N, SERVE_TLS_PORT_N, SERVE_UDP_PORT_N, --json-response', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const p = agnhost(['porter'], { env: { [`SERVE_PORT_${a}`]: 'foo', [`SERVE_TLS_PORT_${b}`]: 'tls foo', [`SERVE_UDP_PORT_${c}`]: 'udp foo', SERVE_SCTP_PORT_9: 'x' } });
    const j = agnhost(['porter', '--json-response'], { env: { [`SERVE_PORT_${c}`]: 'a<b' } });
    await Promise.all([waitListening(p, a), waitListening(p, b), waitListening(j, c)]);
    assert.equal((await get(a, '/')).body, 'foo');
    assert.equal(await udp(c, 'anything'), 'udp foo');
    const tls = await new Promise<string>((resolve, reject) => {
      https.get({ host: '127.0.0.1', port: b, path: '/', rejectUnauthorized: false }, (res) => { let s = ''; res.on('data', (d) => { s += d; }); res.on('end', () => resolve(s)); }).on('error', reject);
    });
    assert.equal(tls, 'tls foo');
    const js = await get(c, '/x', { method: 'POST' });
    assert.deepEqual([js.body, js.headers['content-type']], ['{"Method":"POST","Body":"a\\u003cb"}', 'application/json']);
    p.child.kill('SIGKILL'); j.child.kill('SIGKILL');
  });

  test('pause prints Paused and exits 2 on SIGTERM, 1 on SIGINT', async () => {
    const t = agnhost(['pause']), i = agnhost(['pause']);
    for (const p of [t, i]) while (!p.out().includes('Paused\n')) await new Promise((r) => setTimeout(r, 20));
    t.child.kill('SIGTERM'); i.child.kill('SIGINT');
    assert.deepEqual(await t.exited, { code: 2, signal: null });
    assert.deepEqual(await i.exited, { code: 1, signal: null });
    assert.equal(t.out(), 'Paused\nexiting 2\n');
  });

  test('an unknown subcommand or flag is cobra\'s error and exit 1', async () => {
    const u = agnhost(['netexe']), f = agnhost(['netexec', '--no-such-flag']), n = agnhost(['netexec', '--http-port=abc']);
    assert.equal((await u.exited).code, 1);
    assert.equal(u.err(), 'Error: unknown command "netexe" for "app"\n\nDid you mean this?\n\tnetexec\n\nRun \'app --help\' for usage.\n');
    assert.equal((await f.exited).code, 1);
    assert.match(f.err(), /^Error: unknown flag: --no-such-flag\nUsage:\n {2}app netexec \[flags\]\n/);
    assert.equal((await n.exited).code, 1);
    assert.match(n.err(), /^Error: invalid argument "abc" for "--http-port" flag: strconv.ParseInt: parsing "abc": invalid syntax\n/);
  });
});

describe('agnhost connect', { concurrency: true }, () => {
  test('open port: silent exit 0; closed port: REFUSED; bad address: UNKNOWN', async () => {
    const srv = net.createServer((s) => s.destroy());
    const open = await new Promise<number>((r) => srv.listen(0, '127.0.0.1', () => r((srv.address() as net.AddressInfo).port)));
    const closed = await freePort();
    const ok = agnhost(['connect', `127.0.0.1:${open}`, '--timeout', '5s']);
    const refused = agnhost(['connect', `127.0.0.1:${closed}`, '--timeout=5s']);
    const unknown = agnhost(['connect', 'no-port-here']);
    const proto = agnhost(['connect', '--protocol=icmp', `127.0.0.1:${open}`]);
    assert.deepEqual([(await ok.exited).code, ok.out(), ok.err()], [0, '', '']);
    assert.deepEqual([(await refused.exited).code, refused.err()], [1, 'REFUSED\n']);
    assert.deepEqual([(await unknown.exited).code, unknown.err()], [1, 'UNKNOWN: address no-port-here: missing port in address\n']);
    assert.deepEqual([(await proto.exited).code, proto.err()], [1, 'Unsupported protocol\nicmp']);
    srv.close();
  });

  test('a name nobody resolves: DNS; SYNs dropped: TIMEOUT (in a private network namespace)', async () => {
    const dir = tmp();
    writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 127.0.0.1\noptions timeout:1 attempts:1\n');
    const lo = 'ip link set lo up';
    const dnsP = agnhost(['connect', 'no-such-service.example:80', '--timeout=2s'], { unshare: ['-n', '-m'], setup: `${lo}; mount --bind ${dir}/resolv.conf /etc/resolv.conf` });
    const drop = 'nft add table inet t && nft add chain inet t in "{ type filter hook input priority 0; }" && nft add rule inet t in tcp dport 4242 drop';
    const to = agnhost(['connect', '127.0.0.1:4242', '--timeout=500ms'], { unshare: ['-n'], setup: `${lo}; ${drop}` });
    const t0 = Date.now();
    assert.deepEqual([(await to.exited).code, to.err()], [1, 'TIMEOUT\n']);
    assert.ok(Date.now() - t0 >= 500);
    assert.equal((await dnsP.exited).code, 1);
    assert.match(dnsP.err(), /^DNS: lookup no-such-service\.example on 127\.0\.0\.1:53: .+\n$/);
  });

  test('UDP: an answer is success, ICMP unreachable is REFUSED, silence is TIMEOUT', async () => {
    const s = dgram.createSocket('udp4');
    const quiet = dgram.createSocket('udp4');
    s.on('message', (m, r) => s.send(`got ${m}`, r.port, r.address));
    const port = await new Promise<number>((r) => s.bind(0, '127.0.0.1', () => r(s.address().port)));
    const qport = await new Promise<number>((r) => quiet.bind(0, '127.0.0.1', () => r(quiet.address().port)));
    const closed = await freePort();
    const ok = agnhost(['connect', '--protocol=udp', `127.0.0.1:${port}`, '--timeout=3s']);
    const refused = agnhost(['connect', '--protocol', 'udp', `127.0.0.1:${closed}`, '--timeout=3s']);
    const silent = agnhost(['connect', '--protocol=udp', `127.0.0.1:${qport}`, '--timeout=300ms']);
    assert.deepEqual([(await ok.exited).code, ok.err()], [0, '']);
    assert.equal((await refused.exited).code, 1);
    assert.match(refused.err(), new RegExp(`^REFUSED: read udp 127\\.0\\.0\\.1:\\d+->127\\.0\\.0\\.1:${closed}: read: connection refused\\n$`));
    assert.equal((await silent.exited).code, 1);
    assert.match(silent.err(), /^TIMEOUT: read udp .+: i\/o timeout\n$/);
    s.close(); quiet.close();
  });
});

describe('agnhost dns-suffix, dns-server-list, etc-hosts', { concurrency: true }, () => {
  const dir = tmp();
  writeFileSync(path.join(dir, 'resolv.conf'), 'nameserver 10.96.0.10\nnameserver 10.96.0.11\nsearch ns1.svc.cluster.local svc.cluster.local cluster.local\noptions ndots:5\n');
  writeFileSync(path.join(dir, 'hosts'), '127.0.0.1\tlocalhost\n10.244.1.5\tagn-test-pod\n');
  writeFileSync(path.join(dir, 'nosearch.conf'), 'nameserver 1.1.1.1\n');
  const mounts = (resolv: string) => ({ unshare: ['-m'], setup: `mount --bind ${dir}/${resolv} /etc/resolv.conf && mount --bind ${dir}/hosts /etc/hosts` });

  test('print the pod\'s own resolv.conf and hosts as upstream', async () => {
    const s = agnhost(['dns-suffix'], mounts('resolv.conf')), l = agnhost(['dns-server-list'], mounts('resolv.conf')), h = agnhost(['etc-hosts'], mounts('resolv.conf'));
    assert.deepEqual([(await s.exited).code, s.out()], [0, 'ns1.svc.cluster.local,svc.cluster.local,cluster.local\n']);
    // Only the first nameserver line counts, as upstream reads it.
    assert.deepEqual([(await l.exited).code, l.out()], [0, '10.96.0.10\n']);
    assert.deepEqual([(await h.exited).code, h.out()], [0, '127.0.0.1\tlocalhost\n10.244.1.5\tagn-test-pod\n\n']);
  });

  test('no search line: Go\'s panic, exit 2', async () => {
    const s = agnhost(['dns-suffix'], mounts('nosearch.conf'));
    assert.equal((await s.exited).code, 2);
    assert.match(s.err(), /^panic: Could not find DNS search list!\n/);
  });
});

/** One unary gRPC call over HTTP/2 cleartext; returns grpc-status, grpc-message and the response message. */
async function grpcCall(port: number, method: string, service: string): Promise<{ status: string; message: string; body: Buffer }> {
  const client = http2.connect(`http://127.0.0.1:${port}`);
  try {
    const svc = Buffer.from(service);
    const msg = Buffer.concat([Buffer.from([0x0a, svc.length]), svc]);
    const frame = Buffer.alloc(5 + msg.length);
    frame.writeUInt32BE(msg.length, 1);
    msg.copy(frame, 5);
    return await new Promise((resolve, reject) => {
      const req = client.request({ ':method': 'POST', ':path': method, 'content-type': 'application/grpc', te: 'trailers' });
      const chunks: Buffer[] = [];
      let headers: http2.IncomingHttpHeaders = {};
      req.on('response', (h) => { headers = h; });
      req.on('trailers', (t) => { headers = { ...headers, ...t }; });
      req.on('data', (c: Buffer) => chunks.push(c));
      req.on('end', () => resolve({ status: String(headers['grpc-status']), message: decodeURIComponent(String(headers['grpc-message'] ?? '')), body: Buffer.concat(chunks) }));
      req.on('error', reject);
      req.end(frame);
    });
  } finally { client.close(); }
}

describe('agnhost grpc-health-checking', { concurrency: true }, () => {
  test('Check: SERVING, NOT_FOUND for another service, flipped by /make-not-serving and /make-serving', async () => {
    const port = await freePort(), httpPort = await freePort();
    const p = agnhost(['grpc-health-checking', `--port=${port}`, `--http-port=${httpPort}`, '--service=svc-a']);
    await Promise.all([waitListening(p, port), waitListening(p, httpPort)]);
    const check = () => grpcCall(port, '/grpc.health.v1.Health/Check', 'svc-a');
    let r = await check();
    assert.deepEqual([r.status, r.body], ['0', encodeHealthCheckResponse(SERVING)]);
    r = await grpcCall(port, '/grpc.health.v1.Health/Check', 'other');
    assert.deepEqual([r.status, r.message, r.body.length], ['5', 'unknown service', 0]);
    assert.equal((await grpcCall(port, '/grpc.health.v1.Health/Watch', 'svc-a')).status, '12');
    const off = await get(httpPort, '/make-not-serving');
    assert.equal(off.status, 200);
    assert.ok(parseDuration(off.body) > 0, off.body);
    assert.deepEqual((await check()).body, encodeHealthCheckResponse(NOT_SERVING));
    await get(httpPort, '/make-serving');
    assert.deepEqual((await check()).body, encodeHealthCheckResponse(SERVING));
    assert.equal((await get(httpPort, '/other')).status, 404);
    p.child.kill('SIGKILL');
  });

  test('--delay-unhealthy-sec 0 answers NOT_SERVING from the start', async () => {
    const port = await freePort(), httpPort = await freePort();
    const p = agnhost(['grpc-health-checking', '--port', String(port), '--http-port', String(httpPort), '--delay-unhealthy-sec', '0']);
    await waitListening(p, port);
    const r = await grpcCall(port, '/grpc.health.v1.Health/Check', '');
    assert.deepEqual([r.status, r.body], ['0', encodeHealthCheckResponse(NOT_SERVING)]);
    p.child.kill('SIGKILL');
  });
});

describe('agnhost helpers', () => {
  test('Go durations parse and print as Go does', () => {
    assert.equal(parseDuration('1h2m3.5s'), 3723.5e9);
    assert.equal(parseDuration('500ms'), 5e8);
    assert.throws(() => parseDuration('5'), /^Error: time: missing unit in duration "5"$/);
    assert.equal(durationString(1.5e6), '1.5ms');
    assert.equal(durationString(3723.5e9), '1h2m3.5s');
    assert.equal(durationString(120e9), '2m0s');
    assert.equal(durationString(0), '0s');
  });
  test('protobuf HealthCheckRequest decoding skips unknown fields', () => {
    assert.equal(decodeHealthCheckRequest(Buffer.from([0x10, 0x05, 0x0a, 0x02, 0x68, 0x69])), 'hi');
    assert.throws(() => decodeHealthCheckRequest(Buffer.from([0x0a, 0x05, 0x68])));
  });
});
