/**
 * bench/dns — svcplane's cluster DNS against dnsmasq and unbound serving the same names from static
 * data, and a bare node UDP server answering without DNS work (the floor for any node server),
 * measured with dnsperf in one run on this machine.
 *
 *   node --import tsx bench/dns.ts [--services 10000] [--duration 5] [--rate 5000] [--rounds 3]
 *
 * svcplane DNS runs as `svcplane dns` runs in the kube-dns pods: in-cluster configuration, the API
 * server on a unix socket (SVCPLANE_APISERVER_SOCKET). It runs from dist/ (as bin/svcplane runs it
 * after the build), then once more from the TypeScript sources through tsx (a checkout without a
 * build), and learns its 10k Services and EndpointSlices through the real client (list+watch)
 * from an API endpoint in this process that serves paged lists and open watches. dnsmasq gets the
 * same names in a hosts file (`--local=/cluster.local/` so other names are NXDOMAIN), unbound as
 * local-data in a static local-zone. Workloads: every Service name once per pass ("names"), and
 * 70 % Service names with 30 % names that do not exist ("mix", NXDOMAIN). Throughput: dnsperf as
 * fast as it can (100 queries outstanding). Latency: dnsperf at a fixed --rate, per-query times →
 * p50/p99. All servers run at once and take turns for several rounds, so the load other work puts
 * on this shared machine falls on each alike; medians over rounds, ratios against dnsmasq within
 * each round.
 * CPU: the server's user and system time (/proc/PID/stat) and dnsperf's (the shell's `times`) per
 * answered query in each throughput run, and the hypervisor's steal over the machine during it.
 * Since dnsperf and the server share the machine's cores, cores / (server + dnsperf CPU per query)
 * bounds the qps of a server with these costs however many threads it ran.
 * Resident memory: VmRSS of the server process after the runs (VmHWM is its peak) and RssAnon, the
 * private anonymous part (for node, RSS also counts ~35 MB of the node binary's mapped pages, shared
 * by every node process on the machine), with two baselines: a bare node process, and svcplane DNS
 * synced with no Services.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync, readFileSync, mkdirSync } from 'node:fs';
import http from 'node:http';
import { createSocket } from 'node:dgram';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { median } from './stats.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const RESULTS = join(ROOT, 'bench', 'results');
const ZONE = 'cluster.local';
const NAMESPACES = 20;

function arg(name: string, def: number): number {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 ? Number(process.argv[i + 1]) : def;
}
const SERVICES = arg('services', 10000);
const DURATION = arg('duration', 5);
const RATE = arg('rate', 5000);
const ROUNDS = arg('rounds', 3);
const LATENCY_SECONDS = Math.max(3, Math.round(DURATION * 0.6));

const LOAD_AT_START = loadavg().map((x) => x.toFixed(2)).join(' ');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const work = mkdtempSync(join(tmpdir(), 'svcplane-bench-dns-'));
const children: ChildProcess[] = [];

function svcName(i: number): string { return `svc-${i}.ns-${i % NAMESPACES}.svc.${ZONE}`; }
function clusterIP(i: number): string { return `10.96.${1 + (i >> 8)}.${i & 255}`; }
function podIP(i: number, k: number): string { return `10.${100 + k}.${(i >> 8) & 255}.${i & 255}`; }

// ---------- the objects and a list/watch endpoint for them ----------

const namespaces = Array.from({ length: NAMESPACES }, (_, n) => ({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: `ns-${n}`, resourceVersion: '1', uid: `ns-${n}` } }));
const services = Array.from({ length: SERVICES }, (_, i) => ({
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: `svc-${i}`, namespace: `ns-${i % NAMESPACES}`, resourceVersion: '2', uid: `svc-${i}`, labels: { app: `svc-${i}` }, creationTimestamp: '2026-01-01T00:00:00Z' },
  spec: { type: 'ClusterIP', clusterIP: clusterIP(i), clusterIPs: [clusterIP(i)], ipFamilies: ['IPv4'], ipFamilyPolicy: 'SingleStack', selector: { app: `svc-${i}` }, sessionAffinity: 'None', internalTrafficPolicy: 'Cluster', ports: [{ name: 'http', port: 80, protocol: 'TCP', targetPort: 8080 }] },
  status: { loadBalancer: {} },
}));
const slices = Array.from({ length: SERVICES }, (_, i) => ({
  apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
  metadata: { name: `svc-${i}-abcde`, namespace: `ns-${i % NAMESPACES}`, resourceVersion: '3', uid: `eps-${i}`, labels: { 'kubernetes.io/service-name': `svc-${i}`, 'endpointslice.kubernetes.io/managed-by': 'endpointslice-controller.k8s.io' } },
  addressType: 'IPv4',
  ports: [{ name: 'http', port: 8080, protocol: 'TCP' }],
  endpoints: [0, 1].map((k) => ({ addresses: [podIP(i, k)], conditions: { ready: true, serving: true, terminating: false }, nodeName: `node-${k}`, targetRef: { kind: 'Pod', namespace: `ns-${i % NAMESPACES}`, name: `svc-${i}-pod-${k}` } })),
}));
const LISTS: Record<string, unknown[]> = {
  '/api/v1/namespaces': namespaces,
  '/api/v1/services': services,
  '/apis/discovery.k8s.io/v1/endpointslices': slices,
};

let apiSockets = 0;

/** The API on a unix socket, the way svcplane's pods reach the API server (SVCPLANE_APISERVER_SOCKET). */
async function startApi(lists: Record<string, unknown[]> = LISTS): Promise<{ socket: string; close(): void }> {
  const srv = http.createServer((req, res) => {
    const u = new URL(req.url!, 'http://x');
    res.setHeader('Content-Type', 'application/json');
    if (u.searchParams.get('watch')) { res.writeHead(200); res.flushHeaders(); return; } // nothing changes
    const items = lists[u.pathname];
    if (!items) { res.statusCode = 404; res.end('{"kind":"Status","code":404}'); return; }
    const limit = Number(u.searchParams.get('limit') ?? 0) || items.length;
    const from = Number(u.searchParams.get('continue') ?? 0);
    const page = items.slice(from, from + limit);
    const next = from + limit < items.length ? String(from + limit) : undefined;
    res.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '10', continue: next }, items: page }));
  });
  const socket = join(work, `api-${apiSockets++}.sock`);
  await new Promise<void>((r) => srv.listen(socket, () => r()));
  return { socket, close: () => { srv.closeAllConnections(); srv.close(); } };
}

// ---------- servers ----------

interface Server { name: string; port: number; pid: number; startMs: number; note: string }

async function freePort(): Promise<number> {
  const s = createSocket('udp4');
  await new Promise<void>((r) => s.bind(0, '127.0.0.1', () => r()));
  const p = s.address().port;
  s.close();
  return p;
}

function digOk(port: number, name: string): boolean {
  const r = spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', '+short', name], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim().length > 0;
}

async function waitFor(cond: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const end = Date.now() + ms;
  while (Date.now() < end) { if (await cond()) return; await sleep(100); }
  throw new Error(`timed out waiting for ${what}`);
}

function start(cmd: string, args: string[], log: string, env: Record<string, string> = {}): ChildProcess {
  const out = join(work, log);
  const c = spawn(cmd, args, { cwd: ROOT, stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...env } });
  let err = '';
  c.stderr!.on('data', (d) => {
    err += d;
    if (err.length > 20000) err = err.slice(-10000);
    try { writeFileSync(out, err); } catch { /* the work dir is gone: the run is over */ }
  });
  children.push(c);
  return c;
}

/** `svcplane dns` as bin/svcplane runs it after `npm run build` (scripts/setup.sh). */
function builtSvcplane(): string {
  const main = join(ROOT, 'dist', 'src', 'cli', 'main.js');
  if (!existsSync(main)) throw new Error(`${main} missing: run bash scripts/setup.sh --bench first`);
  return main;
}

/**
 * The floor for any node UDP server on this machine: a few lines that answer every query with
 * NXDOMAIN (the query's own bytes, QR and RCODE set), no DNS work at all; the same lookup shortcut
 * for replies as svcplane's server.
 */
async function startNodeFloor(): Promise<Server> {
  const port = await freePort();
  const script = join(work, 'udp-floor.mjs');
  writeFileSync(script, `import dgram from 'node:dgram';
const s = dgram.createSocket({ type: 'udp4', lookup: (a, o, cb) => cb(null, a, 4) });
s.on('message', (m, r) => { if (m.length < 12) return; m[2] |= 0x80; m[3] = (m[3] & 0x70) | 0x03; s.send(m, r.port, r.address); });
s.bind(${port}, '127.0.0.1');
`);
  const t0 = Date.now();
  const c = start(process.execPath, [script], 'udp-floor.log');
  await waitFor(() => spawnSync('dig', ['@127.0.0.1', '-p', String(port), '+time=1', '+tries=1', 'x.example']).stdout?.includes('NXDOMAIN'), 20000, 'node UDP floor');
  return { name: 'node UDP floor', port, pid: c.pid!, startMs: Date.now() - t0, note: `node ${process.version}: a 3-line dgram server answering NXDOMAIN to everything, no DNS work (the most a node UDP server can answer here)` };
}

/** `svcplane dns` with the in-cluster configuration, as the kube-dns pods run it. */
async function startSvcplane(script: string, apiSocket: string, nodeFlags: string[], label: string, note: string): Promise<Server> {
  const port = await freePort();
  // Two probes in a row can be handed the same ephemeral port.
  let readyPort = await freePort();
  while (readyPort === port) readyPort = await freePort();
  const t0 = Date.now();
  const c = start(process.execPath, [...nodeFlags, script, 'dns', '--listen', `127.0.0.1:${port}`,
    '--health', '', '--metrics', '', '--ready', `127.0.0.1:${readyPort}`, '--upstream', '127.0.0.1:9'], `${label.replace(/\W+/g, '-')}.log`, { SVCPLANE_APISERVER_SOCKET: apiSocket });
  await waitFor(async () => {
    try { return (await fetch(`http://127.0.0.1:${readyPort}/ready`)).status === 200; } catch { return false; }
  }, 60000, `${label} ready`);
  return { name: label, port, pid: c.pid!, startMs: Date.now() - t0, note: `node ${process.version}${nodeFlags.length ? ' ' + nodeFlags.join(' ') : ''}, ${note}, list+watch over HTTP on the API socket (in-cluster configuration, as in the kube-dns pods)` };
}

async function startDnsmasq(): Promise<Server> {
  const hosts = join(work, 'hosts');
  writeFileSync(hosts, services.map((_, i) => `${clusterIP(i)} ${svcName(i)}`).join('\n') + '\n');
  const port = await freePort();
  const t0 = Date.now();
  const c = start('dnsmasq', ['-k', '--conf-file=/dev/null', '--no-resolv', '--no-hosts', `--addn-hosts=${hosts}`, '--listen-address=127.0.0.1',
    '--bind-interfaces', `--port=${port}`, `--local=/${ZONE}/`, '--cache-size=10000', '--user=root', `--pid-file=`, '--local-ttl=30'], 'dnsmasq.log');
  await waitFor(() => digOk(port, svcName(0)), 20000, 'dnsmasq');
  return { name: 'dnsmasq', port, pid: c.pid!, startMs: Date.now() - t0, note: version('dnsmasq', ['--version']) };
}

async function startUnbound(): Promise<Server | null> {
  if (spawnSync('which', ['unbound']).status !== 0) return null;
  const port = await freePort();
  const conf = join(work, 'unbound.conf');
  const lines = [
    'server:', `  interface: 127.0.0.1`, `  port: ${port}`, '  do-daemonize: no', '  username: ""', '  chroot: ""', '  pidfile: ""',
    '  use-syslog: no', '  logfile: ""', '  verbosity: 0', '  num-threads: 1', '  do-ip6: no', '  access-control: 127.0.0.0/8 allow',
    '  module-config: "iterator"', '  do-not-query-localhost: yes', `  local-zone: "${ZONE}." static`,
    ...services.map((_, i) => `  local-data: "${svcName(i)}. 30 IN A ${clusterIP(i)}"`),
    'remote-control:', '  control-enable: no',
  ];
  writeFileSync(conf, lines.join('\n') + '\n');
  const t0 = Date.now();
  const c = start('unbound', ['-d', '-c', conf], 'unbound.log');
  await waitFor(() => digOk(port, svcName(0)), 30000, 'unbound');
  return { name: 'unbound', port, pid: c.pid!, startMs: Date.now() - t0, note: version('unbound', ['-V']) + ', 1 thread' };
}

function version(cmd: string, args: string[]): string {
  const r = spawnSync(cmd, args, { encoding: 'utf8' });
  return (r.stdout || r.stderr || '').split('\n')[0].trim();
}

/** VmRSS, its peak, and the private anonymous part (RssAnon: heap and data, without the mapped binary and libraries). */
function rssMB(pid: number): { rss: number; hwm: number; anon: number } {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (k: string) => Number(s.match(new RegExp(`${k}:\\s+(\\d+)`))?.[1] ?? 0);
  const mb = (k: string) => Math.round(kb(k) / 102.4) / 10;
  return { rss: mb('VmRSS'), hwm: mb('VmHWM'), anon: mb('RssAnon') };
}

// ---------- dnsperf ----------

/**
 * dnsperf, through bash so that `times` reports its CPU (user + system of the finished child); the
 * completed count is what the server answered.
 */
function dnsperf(port: number, file: string, seconds: number, extra: string[] = []): { qps: number; avgMs: number; lost: number; completed: number; cpuS: number; rcodes: string; out: string } {
  const args = ['-s', '127.0.0.1', '-p', String(port), '-d', file, '-l', String(seconds), '-c', '4', '-q', '100', ...extra];
  const r = spawnSync('bash', ['-c', 'dnsperf "$@"; times', 'bench-dns', ...args], { encoding: 'utf8', maxBuffer: 512 << 20 });
  const out = r.stdout + r.stderr;
  const num = (re: RegExp) => Number(out.match(re)?.[1] ?? NaN);
  // `times`: the shell's own user/system line, then its children's ("0m0.412s 0m4.190s").
  const t = [...out.matchAll(/^(\d+)m([\d.]+)s (\d+)m([\d.]+)s$/gm)].at(-1);
  return {
    qps: Math.round(num(/Queries per second:\s+([\d.]+)/)),
    avgMs: Math.round(num(/Average Latency \(s\):\s+([\d.]+)/) * 1e6) / 1e3,
    lost: num(/Queries lost:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    cpuS: t ? Number(t[1]) * 60 + Number(t[2]) + Number(t[3]) * 60 + Number(t[4]) : NaN,
    rcodes: out.match(/Response codes:\s+(.*)/)?.[1] ?? '',
    out,
  };
}

/** The machine's CPU ticks (/proc/stat "cpu" line): all, and stolen by the hypervisor. */
function machineTicks(): { total: number; steal: number } {
  const f = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1, 9).map(Number);
  return { total: f.reduce((a, b) => a + b, 0), steal: f[7] };
}

/** User and system CPU seconds a process has used (/proc/PID/stat utime, stime; clock ticks of 1/100 s). */
function cpuSeconds(pid: number): { user: number; sys: number } {
  const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return { user: Number(f[11]) / 100, sys: Number(f[12]) / 100 };
}

function percentiles(out: string): { p50: number; p99: number; n: number } {
  const lat: number[] = [];
  for (const line of out.split('\n')) {
    const m = line.match(/^> \S+ .* ([\d.]+)$/);
    if (m) lat.push(Number(m[1]));
  }
  lat.sort((a, b) => a - b);
  const at = (p: number) => (lat.length ? Math.round(lat[Math.min(lat.length - 1, Math.floor(p * lat.length))] * 1e6) / 1e3 : NaN);
  return { p50: at(0.5), p99: at(0.99), n: lat.length };
}

/** CPU per answered query in the throughput run, µs: the server's (user, system) and dnsperf's. */
interface Cpu { serverUserUs: number; serverSysUs: number; dnsperfUs: number }
interface Run extends Cpu { stealPct: number; round: number; server: string; workload: string; qps: number; avgMs: number; p50Ms: number; p99Ms: number; lost: number; rcodes: string; load1: number }
interface Row extends Cpu { server: string; workload: string; qps: number; vsDnsmasq: number; bound: number; avgMs: number; p50Ms: number; p99Ms: number; lost: number; rssMB: number; peakMB: number; anonMB: number }

/** One throughput run and one fixed-rate latency run of a workload against a server. */
function measureOnce(s: Server, workload: string, file: string, round: number): Run {
  const load1 = loadavg()[0];
  const c0 = cpuSeconds(s.pid);
  const m0 = machineTicks();
  const t = dnsperf(s.port, file, DURATION);
  const c1 = cpuSeconds(s.pid);
  const m1 = machineTicks();
  const stealPct = Math.round(((m1.steal - m0.steal) / Math.max(1, m1.total - m0.total)) * 1000) / 10;
  const us = (seconds: number) => Math.round((seconds / t.completed) * 1e8) / 100;
  const l = percentiles(dnsperf(s.port, file, LATENCY_SECONDS, ['-Q', String(RATE), '-v']).out);
  const run = {
    round, server: s.name, workload, qps: t.qps, avgMs: t.avgMs, p50Ms: l.p50, p99Ms: l.p99, lost: t.lost, rcodes: t.rcodes, load1,
    serverUserUs: us(c1.user - c0.user), serverSysUs: us(c1.sys - c0.sys), dnsperfUs: us(t.cpuS), stealPct,
  };
  console.error(JSON.stringify(run));
  return run;
}

const CPU_NOTE = 'CPU per answered query in the throughput runs (medians over rounds): the server\'s from /proc/PID/stat, dnsperf\'s ' +
  'from the shell\'s `times`. dnsperf and the server each keep one core busy, so the last column bounds what the server could ' +
  'reach here with more threads or processes: all the work of a query, the server\'s and dnsperf\'s, shares the same cores.';
const CORES = Number(spawnSync('nproc', { encoding: 'utf8' }).stdout.trim()) || 1;

/**
 * The most queries per second the measured CPU costs allow on this machine, whatever number of
 * threads or processes the server used: the server and dnsperf share CORES cores, so qps ≤
 * CORES / (server + dnsperf CPU per query).
 */
function cpuBound(c: Cpu): number {
  return Math.round((CORES / (c.serverUserUs + c.serverSysUs + c.dnsperfUs)) * 1e6);
}

/**
 * Where a node server's memory starts: a bare node process with nothing loaded, and svcplane DNS
 * synced to an API server with no Services (its code, the client, node's own structures).
 */
async function memoryBaselines(built: string): Promise<string> {
  const bare = start(process.execPath, ['-e', 'setInterval(() => {}, 1 << 30)'], 'bare-node.log');
  await sleep(1000);
  const b = rssMB(bare.pid!);
  bare.kill('SIGKILL');
  const empty = await startApi({ '/api/v1/namespaces': namespaces, '/api/v1/services': [], '/apis/discovery.k8s.io/v1/endpointslices': [] });
  try {
    const s = await startSvcplane(built, empty.socket, [], 'svcplane (no Services)', '');
    await sleep(1000);
    const e = rssMB(s.pid);
    children.find((c) => c.pid === s.pid)?.kill('SIGKILL');
    return `a bare node process (\`node -e\`, nothing loaded): ${b.rss} MB RSS (${b.anon} MB private anon); ` +
      `svcplane DNS synced with no Services: ${e.rss} MB RSS (${e.anon} MB private anon)`;
  } finally {
    empty.close();
  }
}

async function main(): Promise<void> {
  for (const tool of ['dnsperf', 'dnsmasq', 'dig']) if (spawnSync('which', [tool]).status !== 0) throw new Error(`${tool} missing: apt-get install -y dnsperf dnsmasq-base unbound bind9-dnsutils`);
  const files = { names: join(work, 'names.txt'), mix: join(work, 'mix.txt') };
  writeFileSync(files.names, services.map((_, i) => `${svcName(i)} A`).join('\n') + '\n');
  writeFileSync(files.mix, services.map((_, i) => (i % 10 < 7 ? `${svcName(i)} A` : `missing-${i}.ns-${i % NAMESPACES}.svc.${ZONE} A`)).join('\n') + '\n');

  const api = await startApi();
  const built = builtSvcplane();
  const fromSource = join(work, 'dns-entry.mts');
  writeFileSync(fromSource, `import { Command } from ${JSON.stringify(join(ROOT, 'node_modules', 'commander', 'esm.mjs'))};\nimport { register } from ${JSON.stringify(join(ROOT, 'src', 'dns', 'cli.ts'))};\nconst p = new Command('svcplane');\nregister(p);\nawait p.parseAsync(process.argv);\n`);
  const runs: Run[] = [];
  const servers: Server[] = [];
  const mem = new Map<string, ReturnType<typeof rssMB>>();
  let baseline = '';
  try {
    // [node flags, script, label, note]
    const variants: [string[], string, string, string][] = [
      [[], built, 'svcplane', 'as `svcplane dns` runs when built (dist/, what bin/svcplane runs): main thread, V8 flags set at start (1 MB young generation, --optimize-for-size)'],
      [['--import', 'tsx'], fromSource, 'svcplane (from source, tsx)', 'the same run from the TypeScript sources through tsx (a checkout without a build)'],
    ];
    for (const [flags, script, label, note] of variants) {
      const s = await startSvcplane(script, api.socket, flags, label, note);
      const idle = rssMB(s.pid);
      s.note += `, ${idle.rss} MB RSS (${idle.anon} MB private anon) after sync`;
      servers.push(s);
    }
    baseline = await memoryBaselines(built);
    servers.push(await startDnsmasq());
    servers.push(await startNodeFloor());
    const ub = await startUnbound();
    if (ub) servers.push(ub);
    // All servers stay up (idle ones cost no CPU) and take turns, round after round, so a change
    // in the machine's load hits every server alike; ratios are taken within a round.
    for (const s of servers) dnsperf(s.port, files.names, 2); // warm-up: every name answered once
    for (let round = 1; round <= ROUNDS; round++) {
      for (const [workload, file] of Object.entries(files)) {
        for (const s of servers) runs.push(measureOnce(s, workload, file, round));
      }
    }
    for (const s of servers) mem.set(s.name, rssMB(s.pid));
  } finally {
    for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
    api.close();
  }

  const rows: Row[] = [];
  for (const s of servers) {
    for (const workload of Object.keys(files)) {
      const mine = runs.filter((r) => r.server === s.name && r.workload === workload);
      const ratios = mine.map((r) => r.qps / (runs.find((d) => d.server === 'dnsmasq' && d.workload === workload && d.round === r.round)?.qps ?? NaN));
      const m = mem.get(s.name)!;
      const cpu = { serverUserUs: median(mine.map((r) => r.serverUserUs)), serverSysUs: median(mine.map((r) => r.serverSysUs)), dnsperfUs: median(mine.map((r) => r.dnsperfUs)) };
      rows.push({
        ...cpu, bound: cpuBound(cpu),
        server: s.name, workload, qps: Math.round(median(mine.map((r) => r.qps))), vsDnsmasq: Math.round(median(ratios) * 100) / 100,
        avgMs: median(mine.map((r) => r.avgMs)), p50Ms: median(mine.map((r) => r.p50Ms)), p99Ms: median(mine.map((r) => r.p99Ms)),
        lost: mine.reduce((a, r) => a + r.lost, 0), rssMB: m.rss, peakMB: m.hwm, anonMB: m.anon,
      });
    }
  }
  const table = [
    '| server | workload | qps (median) | vs dnsmasq (median of per-round ratios) | avg latency ms (max load) | p50 ms @' + RATE + ' qps | p99 ms @' + RATE + ' qps | lost | RSS MB | private anon MB | peak RSS MB |',
    '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|',
    ...rows.map((r) => `| ${r.server} | ${r.workload} | ${r.qps} | ${r.vsDnsmasq.toFixed(2)}× | ${r.avgMs} | ${r.p50Ms} | ${r.p99Ms} | ${r.lost} | ${r.rssMB} | ${r.anonMB} | ${r.peakMB} |`),
  ].join('\n');
  const cpuTable = [
    '| server | workload | server CPU µs/query: user + system | dnsperf CPU µs/query | qps the CPU allows with any number of server threads (' + CORES + ' cores) | vs dnsmasq measured |',
    '|---|---|---:|---:|---:|---:|',
    ...rows.map((r) => {
      const dm = rows.find((d) => d.server === 'dnsmasq' && d.workload === r.workload)?.qps ?? NaN;
      return `| ${r.server} | ${r.workload} | ${r.serverUserUs} + ${r.serverSysUs} = ${Math.round((r.serverUserUs + r.serverSysUs) * 100) / 100} | ${r.dnsperfUs} | ${r.bound} | ${(r.bound / dm).toFixed(2)}× |`;
    }),
  ].join('\n');
  const perRound = [
    '| round | workload | load (1 min) | ' + servers.map((s) => `${s.name} qps / p99 ms / steal %`).join(' | ') + ' |',
    '|---:|---|---:|' + servers.map(() => '---:').join('|') + '|',
    ...Array.from({ length: ROUNDS }, (_, i) => i + 1).flatMap((round) => Object.keys(files).map((w) => {
      const rs = servers.map((s) => runs.find((r) => r.round === round && r.workload === w && r.server === s.name));
      return `| ${round} | ${w} | ${rs[0]?.load1.toFixed(2)} | ` + rs.map((r) => `${r?.qps} / ${r?.p99Ms} / ${r?.stealPct}`).join(' | ') + ' |';
    })),
  ].join('\n');
  const cpu = readFileSync('/proc/cpuinfo', 'utf8').match(/model name\s*:\s*(.*)/)?.[1] ?? '';
  const loadEnd = loadavg().map((x) => x.toFixed(2)).join(' ');
  const header = `# bench/dns — ${new Date().toISOString()}\n\n${SERVICES} Services (${NAMESPACES} namespaces, 2 endpoints each). ${ROUNDS} rounds; in each, every server in turn gets ` +
    `dnsperf with 100 outstanding queries for ${DURATION} s (qps, average latency) and then -Q ${RATE} for ${LATENCY_SECONDS} s (p50/p99), per workload; ` +
    `"mix" = 70 % Service names, 30 % NXDOMAIN. Machine: ${cpu}, ${CORES} cores shared with other work ` +
    `(dnsperf and the server compete for the same ${CORES} cores; load average at start ${LOAD_AT_START}, at the end ${loadEnd}). Memory: after all rounds.\n\n` +
    servers.map((s) => `- ${s.name}: ${s.note}; ready in ${s.startMs} ms`).join('\n') + `\n- memory baselines: ${baseline}\n\n`;
  console.log(table + '\n\n' + cpuTable);
  mkdirSync(RESULTS, { recursive: true });
  writeFileSync(join(RESULTS, 'dns.md'), header + table + '\n\n' + CPU_NOTE + '\n\n' + cpuTable + '\n\nPer round (steal %: CPU time the hypervisor gave to other machines during the throughput run, of all the machine\'s CPU time):\n\n' + perRound + '\n');
  writeFileSync(join(RESULTS, 'dns.json'), JSON.stringify({ date: new Date().toISOString(), loadAverageAtStart: LOAD_AT_START, loadAverageAtEnd: loadEnd, services: SERVICES, rounds: ROUNDS, durationSeconds: DURATION, latencySeconds: LATENCY_SECONDS, latencyRate: RATE, servers, rows, runs }, null, 2) + '\n');
}

main().then(() => rmSync(work, { recursive: true, force: true }), (e) => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  console.error(e);
  console.error(`logs kept in ${work}`);
  process.exit(1);
});
