/**
 * bench/apiserver: the API server through its real HTTP interface, on SQLite and memory in one
 * run. The server runs in this process; the load comes from separate processes, so client work
 * does not share the server's event loop, with 16 requests in flight on keep-alive connections:
 * - wrk (Debian's `wrk`, a C load generator; when installed): creates and gets over HTTPS for
 *   a fixed time (WRK_SECONDS, default 5). A Node client spends about as much CPU per request
 *   as the server, and both share the machine's 2 cores, so wrk is what shows the server's rate;
 * - a Node client (this file with --load, as client-node or a controller would be): creates and
 *   gets over HTTPS and the unix socket, a list of the objects (JSON and the Table kubectl asks
 *   for), and watch fan-out (one write → 100 watchers, latency from sending the write to each
 *   watcher's event).
 * The server's own CPU time per request is reported too: 1e6 / (µs per request) is what one
 * core sustains, whatever else the machine is doing. Prints a table, saves
 * bench/results/apiserver.{md,json} with the load average at start and end.
 * Run: npx tsx bench/apiserver.ts   (N=… to change the object count)
 */
import { execFileSync, fork, spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import https from 'node:https';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';

const N = Number(process.env.N ?? 10_000);
const INFLIGHT = 16;
const WATCHERS = 100;
const WATCH_WRITES = 50;
const CM_PATH = '/api/v1/namespaces/default/configmaps';
const WRK_SECONDS = Number(process.env.WRK_SECONDS ?? 5);
/** wrk's creates go to their own namespace, so the lists below see the same N objects. */
const WRK_NS = 'bench-wrk';

// ---------------------------------------------------------------- wrk (Lua request scripts)

const WRK_CREATE = `
local counter = 0
request = function()
  counter = counter + 1
  local body = '{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"wk-' .. counter .. '","labels":{"bench":"yes"}},"data":{"key":"value-' .. counter .. '"}}'
  return wrk.format("POST", nil, { ["Content-Type"] = "application/json", ["Accept"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") }, body)
end`;
const WRK_GET = `
local counter = 0
local n = tonumber(os.getenv("BENCH_N"))
local base = wrk.path
request = function()
  counter = counter + 1
  return wrk.format("GET", base .. "/cm-" .. (counter % n), { ["Accept"] = "application/json", ["Authorization"] = "Bearer " .. os.getenv("BENCH_TOKEN") })
end`;

function findWrk(): string | undefined {
  try { return execFileSync('sh', ['-c', 'command -v wrk'], { encoding: 'utf8' }).trim() || undefined; } catch { return undefined; }
}

/** Run wrk (one thread, INFLIGHT connections) with a request script; requests, seconds and non-2xx answers. */
function runWrk(bin: string, dir: string, script: string, url: string, token: string): Promise<{ requests: number; seconds: number; errors: number }> {
  const file = join(dir, `wrk-${Math.random().toString(36).slice(2)}.lua`);
  writeFileSync(file, script);
  return new Promise((resolve, reject) => {
    const p = spawn(bin, ['-t1', `-c${INFLIGHT}`, `-d${WRK_SECONDS}s`, '-s', file, url], { env: { ...process.env, BENCH_TOKEN: token, BENCH_N: String(N) }, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d: Buffer) => { out += d.toString(); });
    p.on('error', reject);
    p.on('close', (code) => {
      const m = /(\d+) requests in ([\d.]+)(m?s)/.exec(out);
      if (code !== 0 || !m) return reject(new Error(`wrk failed (${code}): ${out}`));
      const seconds = Number(m[2]) / (m[3] === 'ms' ? 1000 : 1);
      const bad = /Non-2xx or 3xx responses: (\d+)/.exec(out);
      const sockErr = /Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/.exec(out);
      resolve({ requests: Number(m[1]), seconds, errors: Number(bad?.[1] ?? 0) + (sockErr ? Number(sockErr[1]) + Number(sockErr[2]) + Number(sockErr[3]) : 0) });
    });
  });
}

// ---------------------------------------------------------------- load generator (child)

interface Target { url?: string; socketPath?: string; ca?: string; token?: string }

function agentFor(t: Target, max: number): http.Agent {
  return t.socketPath ? new http.Agent({ keepAlive: true, maxSockets: max }) : new https.Agent({ keepAlive: true, maxSockets: max, ca: t.ca });
}

function req(t: Target, agent: http.Agent, method: string, path: string, body?: string, headers: Record<string, string> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const h: Record<string, string> = { Accept: 'application/json', ...headers };
    if (t.token) h.Authorization = `Bearer ${t.token}`;
    if (body !== undefined) { h['Content-Type'] = 'application/json'; h['Content-Length'] = String(Buffer.byteLength(body)); }
    const base = t.socketPath ? { socketPath: t.socketPath } : { host: new URL(t.url!).hostname, port: new URL(t.url!).port, servername: 'localhost' };
    const r = (t.socketPath ? http : https).request({ ...base, method, path, headers: h, agent }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text: Buffer.concat(chunks).toString() }));
    });
    r.on('error', reject);
    r.end(body);
  });
}

async function pool(n: number, fn: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0;
  await Promise.all(Array.from({ length: INFLIGHT }, async () => { while (next < n) await fn(next++); }));
}

function pct(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]! : NaN;
}

type Cmd = { op: string; target: Target; n?: number; prefix?: string };

async function loadMain(): Promise<void> {
  const send = (m: unknown) => process.send!(m);
  process.on('message', async (cmd: Cmd) => {
    const t = cmd.target;
    const agent = agentFor(t, INFLIGHT);
    const n = cmd.n ?? N;
    const t0 = performance.now();
    let errors = 0;
    const ok = (r: { status: number }) => { if (r.status >= 300) errors++; };
    if (cmd.op === 'create') {
      await pool(n, (i) => req(t, agent, 'POST', CM_PATH, JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: `${cmd.prefix}-${i}`, labels: { bench: 'yes' } }, data: { key: `value-${i}` } })).then(ok));
    } else if (cmd.op === 'get') {
      await pool(n, (i) => req(t, agent, 'GET', `${CM_PATH}/${cmd.prefix}-${i % N}`).then(ok));
    } else if (cmd.op === 'list' || cmd.op === 'table') {
      const accept: Record<string, string> = cmd.op === 'table' ? { Accept: 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json' } : {};
      const r = await req(t, agent, 'GET', CM_PATH, undefined, accept);
      ok(r);
      const items = cmd.op === 'table' ? JSON.parse(r.text).rows.length : JSON.parse(r.text).items.length;
      agent.destroy();
      return send({ ms: performance.now() - t0, items, bytes: r.text.length, errors });
    } else if (cmd.op === 'watch') {
      const rv = JSON.parse((await req(t, agent, 'GET', `${CM_PATH}?limit=1`)).text).metadata.resourceVersion;
      const lat: number[] = [];
      const sent = new Map<string, number>();
      const watchAgent = agentFor(t, Infinity);
      const streams: http.ClientRequest[] = [];
      let open = 0;
      await new Promise<void>((resolve) => {
        for (let w = 0; w < WATCHERS; w++) {
          const h: Record<string, string> = t.token ? { Authorization: `Bearer ${t.token}` } : {};
          const base = t.socketPath ? { socketPath: t.socketPath } : { host: new URL(t.url!).hostname, port: new URL(t.url!).port, servername: 'localhost' };
          const r = (t.socketPath ? http : https).request({ ...base, path: `${CM_PATH}?watch=1&resourceVersion=${rv}`, headers: h, agent: watchAgent }, (res) => {
            if (++open === WATCHERS) resolve();
            let buf = '';
            res.on('data', (d: Buffer) => {
              const at = performance.now();
              buf += d.toString();
              let i: number;
              while ((i = buf.indexOf('\n')) >= 0) {
                const ev = JSON.parse(buf.slice(0, i));
                buf = buf.slice(i + 1);
                const s = sent.get(ev.object?.metadata?.name);
                if (s !== undefined) lat.push(at - s);
              }
            });
            res.on('error', () => {});
          });
          r.on('error', () => {});
          r.end();
          streams.push(r);
        }
      });
      for (let i = 0; i < WATCH_WRITES; i++) {
        const name = `${cmd.prefix}-${i}`;
        const body = JSON.stringify({ metadata: { name } });
        // Events are pushed from the write path, often before the write's own response arrives:
        // latency counts from the moment the write is sent.
        sent.set(name, performance.now());
        ok(await req(t, agent, 'POST', CM_PATH, body));
        await new Promise((res) => setTimeout(res, 20));
      }
      await new Promise((res) => setTimeout(res, 1000));
      for (const s of streams) s.destroy();
      watchAgent.destroy();
      agent.destroy();
      return send({ ms: performance.now() - t0, events: lat.length, p50: pct(lat, 50), p99: pct(lat, 99), errors });
    }
    agent.destroy();
    send({ ms: performance.now() - t0, n, errors });
  });
  send({ ready: true });
}

// ---------------------------------------------------------------- driver (server side)

function ask(child: ChildProcess, cmd: Cmd): Promise<any> {
  return new Promise((resolve) => { child.once('message', resolve); child.send(cmd); });
}

async function benchOne(backend: 'sqlite' | 'memory', wrk: string | undefined) {
  const { startApiServer } = await import('../src/apiserver/server.js');
  const { res } = await import('../src/api/registry.js');
  const { createStore } = await import('../src/store/index.js');
  const dir = mkdtempSync(join(tmpdir(), 'svp-bench-api-'));
  const store = await createStore({ backend, path: join(dir, 'state.db'), compactIntervalMs: 0 });
  const srv = await startApiServer({ dataDir: dir, store, port: 0 });
  const tls: Target = { url: srv.url, ca: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'), token: readFileSync(join(dir, 'pki', 'token'), 'utf8').trim() };
  const sock: Target = { socketPath: srv.socketPath };
  const child = fork(import.meta.filename, ['--load'], { execArgv: process.execArgv, stdio: 'inherit' });
  await new Promise((r) => child.once('message', r));
  // Server CPU time (this process runs only the server) per request of a phase.
  const phase = async (cmd: Cmd, requests: number) => {
    const c0 = process.cpuUsage();
    const r = await ask(child, cmd);
    const c = process.cpuUsage(c0);
    if (r.errors) throw new Error(`${backend} ${cmd.op}: ${r.errors} failed requests`);
    return { ...r, rate: requests / (r.ms / 1000), cpuUs: (c.user + c.system) / requests };
  };
  const wrkPhase = async (script: string, url: string) => {
    const c0 = process.cpuUsage();
    const r = await runWrk(wrk!, dir, script, url, tls.token!);
    const c = process.cpuUsage(c0);
    if (r.errors) throw new Error(`${backend} wrk: ${r.errors} failed requests`);
    return { rate: r.requests / r.seconds, cpuUs: (c.user + c.system) / r.requests, requests: r.requests };
  };
  try {
    const warm = await phase({ op: 'create', target: tls, n: 500, prefix: 'warm' }, 500);
    void warm;
    const create = await phase({ op: 'create', target: tls, prefix: 'cm' }, N);
    const get = await phase({ op: 'get', target: tls, n: 2 * N, prefix: 'cm' }, 2 * N);
    let wrkCreate, wrkGet;
    if (wrk) {
      await srv.storage.create(res('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: WRK_NS } });
      wrkCreate = await wrkPhase(WRK_CREATE, `${srv.url}/api/v1/namespaces/${WRK_NS}/configmaps`);
      wrkGet = await wrkPhase(WRK_GET, `${srv.url}${CM_PATH}`);
    }
    const createSock = await phase({ op: 'create', target: sock, prefix: 'sk' }, N);
    const getSock = await phase({ op: 'get', target: sock, n: 2 * N, prefix: 'sk' }, 2 * N);
    const list = await phase({ op: 'list', target: tls }, 1);
    const table = await phase({ op: 'table', target: tls }, 1);
    const watch = await phase({ op: 'watch', target: tls, prefix: 'w' }, WATCH_WRITES);
    return {
      backend, wrkCreate, wrkGet,
      create: { rate: create.rate, cpuUs: create.cpuUs }, get: { rate: get.rate, cpuUs: get.cpuUs },
      createSocket: { rate: createSock.rate, cpuUs: createSock.cpuUs }, getSocket: { rate: getSock.rate, cpuUs: getSock.cpuUs },
      list: { items: list.items, ms: list.ms, mb: list.bytes / 1e6 }, table: { items: table.items, ms: table.ms },
      watch: { watchers: WATCHERS, writes: WATCH_WRITES, events: watch.events, p50: watch.p50, p99: watch.p99 },
    };
  } finally {
    child.kill();
    await srv.close();
    await store.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function main(): Promise<void> {
  const rows = [];
  const load = loadavg()[0]!;
  const wrk = findWrk();
  if (!wrk) console.error('wrk not installed (apt-get install wrk): HTTPS rates from the Node client only');
  for (const b of ['sqlite', 'memory'] as const) rows.push(await benchOne(b, wrk));
  const loadEnd = loadavg()[0]!;
  const f = (x: number) => x.toFixed(0);
  const na = '–';
  const wrkMd = [
    `| store | creates/s | gets/s | server CPU per create | server CPU per get | one core sustains (creates/s / gets/s) |`,
    '|---|---:|---:|---:|---:|---:|',
    ...rows.map((r) => r.wrkCreate && r.wrkGet
      ? `| ${r.backend} | ${f(r.wrkCreate.rate)} | ${f(r.wrkGet.rate)} | ${f(r.wrkCreate.cpuUs)} µs | ${f(r.wrkGet.cpuUs)} µs | ${f(1e6 / r.wrkCreate.cpuUs)} / ${f(1e6 / r.wrkGet.cpuUs)} |`
      : `| ${r.backend} | ${na} | ${na} | ${na} | ${na} | ${na} |`),
  ].join('\n');
  const md = [
    `| store | creates/s (HTTPS) | gets/s (HTTPS) | creates/s (socket) | gets/s (socket) | server CPU per create / get (HTTPS) | list of all (JSON) | list of all (Table) | watch: ${WATCHERS} watchers × ${WATCH_WRITES} writes | watch p50 / p99 |`,
    '|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.backend} | ${f(r.create.rate)} | ${f(r.get.rate)} | ${f(r.createSocket.rate)} | ${f(r.getSocket.rate)} | ${f(r.create.cpuUs)} µs / ${f(r.get.cpuUs)} µs | ${f(r.list.ms)} ms (${r.list.items} objects, ${r.list.mb.toFixed(1)} MB) | ${f(r.table.ms)} ms (${r.table.items} rows) | ${r.watch.events} events | ${r.watch.p50.toFixed(1)} / ${r.watch.p99.toFixed(1)} ms |`),
  ].join('\n');
  const ratio = (a?: number, b?: number) => a && b ? `${(a / b).toFixed(2)}x` : na;
  const [sq, mem] = rows;
  const ratios = `SQLite / memory: creates ${ratio(sq?.wrkCreate?.rate, mem?.wrkCreate?.rate)}, gets ${ratio(sq?.wrkGet?.rate, mem?.wrkGet?.rate)} (wrk); server CPU per create ${ratio(sq?.wrkCreate?.cpuUs, mem?.wrkCreate?.cpuUs)}, per get ${ratio(sq?.wrkGet?.cpuUs, mem?.wrkGet?.cpuUs)}`;
  const capacity = rows.map((r) => `${r.backend}: one core sustains ~${f(1e6 / r.create.cpuUs)} creates/s and ~${f(1e6 / r.get.cpuUs)} gets/s over HTTPS (${f(1e6 / r.createSocket.cpuUs)} / ${f(1e6 / r.getSocket.cpuUs)} on the socket)`).join('; ');
  console.log(wrkMd);
  console.log(md);
  console.log(ratios);
  console.log(capacity);
  const note = `Machine: ${cpus().length} cores, load average ${load.toFixed(1)} at start and ${loadEnd.toFixed(1)} at the end (other work was running). Each load generator is a separate process on the same 2 cores.`;
  const text = [
    `# bench/apiserver (${new Date().toISOString()})`, '',
    `## HTTPS under wrk (${INFLIGHT} keep-alive connections, ${WRK_SECONDS} s per phase; creates in a namespace of their own, gets of the ${N} objects below)`, '',
    wrkMd, '',
    `## Node client (${INFLIGHT} requests in flight, keep-alive; ${N} objects per create phase; lists time the client's parse too)`, '',
    md, '', `${ratios}.`, '', `Node client: ${capacity}.`, '', note, '',
  ].join('\n');
  mkdirSync(join(import.meta.dirname, 'results'), { recursive: true });
  writeFileSync(join(import.meta.dirname, 'results', 'apiserver.md'), text);
  writeFileSync(join(import.meta.dirname, 'results', 'apiserver.json'), JSON.stringify({ date: new Date().toISOString(), n: N, inflight: INFLIGHT, wrkSeconds: WRK_SECONDS, loadavg: load, loadavgEnd: loadEnd, wrk: !!wrk, rows }, null, 2));
  process.exit(0);
}

if (process.argv.includes('--load')) void loadMain();
else main().catch((e) => { console.error(e); process.exit(1); });
