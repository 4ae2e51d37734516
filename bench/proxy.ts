/**
 * bench/proxy — the service proxy's data plane and control plane, in one run on this machine.
 *
 *   node --import tsx bench/proxy.ts [a] [b] [c]      (default: all three)
 *
 * (a) req/s (wrk, small HTTP responses; keep-alive and a new connection per request) and
 *     throughput (iperf3, one stream) from a pod on node1 to one pod on node0: direct to the pod
 *     IP, through a ClusterIP in each mode (nftables, iptables-nft, iptables-legacy, userspace),
 *     and through haproxy on node1 in front of the same pod. Ratios are against direct.
 * (b) new-connection latency (TCP connect time, node0 → the last-added of N Services, 3000
 *     sequential connects, median) for N = 10, 1k, 10k, per kernel mode, and with no rules.
 * (c) full sync and one-Service-change sync time at 1k and 10k Services × 10 endpoints, through
 *     the proxiers themselves (render + apply), for nftables, iptables-nft, iptables-legacy and,
 *     as a peer, kube-proxy's nftables layout (a chain per service and per endpoint).
 * Results: bench/results/proxy.json and proxy.md.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { run, runSync } from '../src/net/exec.js';
import { nftApply } from '../src/net/nft.js';
import { cleanupLeftovers } from '../src/proxy/cleanup.js';
import { NftablesProxier } from '../src/proxy/backends/nftables/proxier.js';
import { newProvider } from '../src/proxy/proxy.js';
import { ProxyTestNet } from '../src/proxy/testing/topology.js';
import type { BackendOptions, Provider, ServicePort } from '../src/proxy/types.js';
import { median } from './stats.js';

const ROOT = resolve(fileURLToPath(import.meta.url), '..', '..');
const RESULTS = join(ROOT, 'bench', 'results');
const sections = process.argv.slice(2).filter((a) => /^[abc]$/.test(a));
const want = (s: string) => !sections.length || sections.includes(s);
/** BENCH_PROXY_ONLY: a regular expression over "<backend>@<Services>" to run only some (c) cases. */
const ONLY = process.env.BENCH_PROXY_ONLY ? new RegExp(process.env.BENCH_PROXY_ONLY) : undefined;
const LOAD_AT_START = loadavg().map((x) => x.toFixed(2)).join(' ');
const out: Record<string, unknown> = { date: new Date().toISOString(), loadAtStart: LOAD_AT_START };
const md: string[] = ['# bench/proxy', '', `Run ${out.date}, load average at start ${LOAD_AT_START} (2 cores, shared).`, ''];
const CIDR = '10.244.0.0/16';

function sp(i: number, eps: { ip: string; port: number }[], port = 80): ServicePort {
  return {
    key: `bench/s${i}:http/tcp`, namespace: 'bench', name: `s${i}`, portName: 'http', protocol: 'tcp', port,
    clusterIP: `10.${96 + (i >> 16)}.${(i >> 8) & 255}.${i & 255}`, externalIPs: [], loadBalancerIPs: [], externalLocal: false, internalLocal: false,
    // Endpoints spread over 100 nodes (this node is n0), as in a real cluster of that size.
    endpoints: eps.map((e, k) => ({ ...e, ready: true, serving: true, terminating: false, nodeName: `n${(i * 10 + k) % 100}` })),
  };
}
function fakeEndpoints(i: number, n: number): { ip: string; port: number }[] {
  return Array.from({ length: n }, (_, k) => ({ ip: `10.${100 + k}.${(i >> 8) & 255}.${i & 255}`, port: 8080 }));
}
function opts(node: string, ip: string, netns?: string, endpointCounters = true): BackendOptions {
  return { nodeName: node, nodeIP: ip, clusterCIDR: CIDR, scheduler: 'random', nodePortAddresses: [], netns, endpointCounters };
}
function provider(mode: string, o: BackendOptions, backend?: 'nft' | 'legacy'): Provider {
  return newProvider({ mode, ...o, iptablesBackend: backend, minSyncMs: 0, syncPeriodMs: 0, healthzBind: '', metricsBind: '' });
}
/**
 * Cases not run, with the reason (measured in an earlier run of this bench): iptables-nft-restore
 * --noflush declaring 110k chains did not finish within 6 minutes.
 */
const SKIP: Record<string, string> = { 'svcplane iptables-nft@10000': 'not finished after 6 min (iptables-nft-restore with 110k chains); not re-run' };
const table = (head: string[], rows: (string | number)[][]) => [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n');
const fmt = (x: number, d = 2) => x.toFixed(d);

// ---------------- (c) sync time ----------------

/** kube-proxy's nftables layout, as a peer: a chain per service and per endpoint. */
class KubeProxyStyle {
  constructor(readonly netns: string) {}
  private svc(p: ServicePort, i: number): string[] {
    const eps = p.endpoints;
    const lines = [`add chain ip kp service-${i}`, `flush chain ip kp service-${i}`,
      `add rule ip kp service-${i} ip daddr ${p.clusterIP} ip saddr != ${CIDR} jump mark-for-masquerade`];
    eps.forEach((e, k) => lines.push(`add chain ip kp endpoint-${i}-${k}`, `flush chain ip kp endpoint-${i}-${k}`,
      `add rule ip kp endpoint-${i}-${k} ip saddr ${e.ip} jump mark-for-masquerade`, `add rule ip kp endpoint-${i}-${k} meta l4proto tcp dnat to ${e.ip}:${e.port}`));
    lines.push(`add rule ip kp service-${i} numgen random mod ${eps.length} vmap { ${eps.map((_, k) => `${k} : goto endpoint-${i}-${k}`).join(', ')} }`);
    return lines;
  }
  full(ports: ServicePort[]): string {
    const lines = ['table ip kp', 'delete table ip kp', 'table ip kp {',
      ' map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }',
      ' chain mark-for-masquerade { meta mark set meta mark | 0x4000; }',
      ' chain services { ip daddr . meta l4proto . th dport vmap @service-ips; }',
      ' chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }', '}'];
    ports.forEach((p, i) => lines.push(...this.svc(p, i)));
    for (let i = 0; i < ports.length; i += 5000) lines.push(`add element ip kp service-ips { ${ports.slice(i, i + 5000).map((p, k) => `${p.clusterIP} . tcp . ${p.port} : goto service-${i + k}`).join(', ')} }`);
    return lines.join('\n') + '\n';
  }
  one(p: ServicePort, i: number): string { return this.svc(p, i).join('\n') + '\n'; }
}

interface SyncResult { full: number; fullCpu: number; one: number; ones?: number[]; render?: number; counterLoad?: number }

/** CPU ms of this process and of its exited children (nft, iptables-restore) so far. */
function cpuNow(): number {
  const u = process.cpuUsage();
  // /proc/self/stat fields 16, 17: cutime, cstime in clock ticks (100 per second here).
  const f = readFileSync('/proc/self/stat', 'utf8').replace(/^.*\) /, '').split(' ');
  return (u.user + u.system) / 1000 + (Number(f[13]) + Number(f[14])) * 10;
}
/** CPU ms (this process + children that exited) of the last time() call: unlike wall time, barely moved by other load. */
let lastCpu = 0;

async function time(fn: () => Promise<unknown>): Promise<number> {
  const c0 = cpuNow();
  const t0 = performance.now();
  await fn();
  const ms = performance.now() - t0;
  lastCpu = cpuNow() - c0;
  return ms;
}

async function benchSync(): Promise<void> {
  const rows: (string | number)[][] = [];
  const res: unknown[] = [];
  for (const n of [1000, 10000]) {
    const ports = Array.from({ length: n }, (_, i) => sp(i, fakeEndpoints(i, 10)));
    const changedPort = (r = 99): ServicePort => sp(n - 1, fakeEndpoints(n - 1, 10).map((e, k) => (k === 0 ? { ip: `10.99.99.${r}`, port: 8080 } : e)));
    /**
     * nftables: the render alone (a throw-away proxier), the full sync (rules live), the counter
     * elements loaded after it, and the median of 5 one-Service changes (each a different address).
     */
    const nft = async (ns: string, counters: boolean): Promise<SyncResult> => {
      const render = await time(async () => new NftablesProxier(opts('n0', '172.18.0.2', ns, counters)).transaction({ ports }));
      const p = provider('nftables', opts('n0', '172.18.0.2', ns, counters)) as NftablesProxier;
      const full = await time(() => p.sync({ ports }));
      const fullCpu = lastCpu;
      const counterLoad = await time(() => p.idle());
      const ones: number[] = [];
      for (let r = 0; r < 5; r++) {
        const next = [...ports.slice(0, -1), changedPort(r)];
        ones.push(await time(() => p.sync({ ports: next, changed: new Set([next.at(-1)!.key]) })));
      }
      p.close();
      return { full, fullCpu, one: ones.sort((a, b) => a - b)[2]!, ones, render, counterLoad };
    };
    const cases: [string, (ns: string) => Promise<SyncResult>][] = [
      ['svcplane nftables', (ns) => nft(ns, true)],
      ['svcplane nftables --endpoint-counters=false', (ns) => nft(ns, false)],
      ['svcplane iptables-nft', async (ns) => {
        const p = provider('iptables', opts('n0', '172.18.0.2', ns), 'nft');
        const full = await time(() => p.sync({ ports }));
        const fullCpu = lastCpu;
        const next = [...ports.slice(0, -1), changedPort()];
        const one = await time(() => p.sync({ ports: next, changed: new Set([next.at(-1)!.key]) }));
        return { full, fullCpu, one };
      }],
      ['svcplane iptables-legacy', async (ns) => {
        const p = provider('iptables', opts('n0', '172.18.0.2', ns), 'legacy');
        const full = await time(() => p.sync({ ports }));
        const fullCpu = lastCpu;
        const next = [...ports.slice(0, -1), changedPort()];
        const one = await time(() => p.sync({ ports: next, changed: new Set([next.at(-1)!.key]) }));
        await cleanupLeftovers(undefined, ns);
        return { full, fullCpu, one };
      }],
      ['kube-proxy-style nftables', async (ns) => {
        const k = new KubeProxyStyle(ns);
        const full = await time(() => nftApply(k.full(ports), ns));
        const fullCpu = lastCpu;
        const one = await time(() => nftApply(k.one(changedPort(), n - 1), ns));
        return { full, fullCpu, one };
      }],
    ];
    for (const [name, fn] of cases) {
      if (ONLY && !ONLY.test(`${name}@${n}`)) continue;
      const skip = SKIP[`${name}@${n}`];
      if (skip) { rows.push([name, n, skip, '', '', '', '']); res.push({ backend: name, services: n, skipped: skip }); continue; }
      const ns = `svp-bench-${process.pid}`;
      runSync(['ip', 'netns', 'add', ns], { allowFail: true });
      try {
        const r = await fn(ns);
        console.error(`(c) ${name} ${n}×10: full ${fmt(r.full / 1000)} s, one change ${fmt(r.one, 1)} ms${r.ones ? ` (${r.ones.map((x) => fmt(x, 1)).join(', ')})` : ''}`);
        rows.push([name, n, fmt(r.full / 1000), fmt(r.fullCpu / 1000), r.render === undefined ? '' : fmt(r.render / 1000), r.counterLoad === undefined ? '' : fmt(r.counterLoad / 1000), fmt(r.one, 1)]);
        res.push({ backend: name, services: n, endpointsPerService: 10, fullSyncMs: r.full, fullSyncCpuMs: r.fullCpu, renderMs: r.render, counterElementsAfterMs: r.counterLoad, oneChangeSyncMs: r.one, oneChangeSamplesMs: r.ones });
      } finally {
        runSync(['ip', 'netns', 'del', ns], { allowFail: true });
      }
    }
  }
  out.sync = res;
  md.push('## (c) Sync time, Services × 10 endpoints', '',
    'full sync: until the rules are live (wall time); its CPU time: this process plus nft / iptables-restore, much less affected by the other load on the machine; render: building the transaction text alone; counter elements: the per-endpoint byte counters loaded in a second transaction after that (nftables only). One Service changed: nftables the median of 5, others one run.', '',
    table(['backend', 'Services', 'full sync (s)', 'full sync CPU (s)', 'of which render (s)', 'then counter elements (s)', 'one Service changed (ms)'], rows), '');
}

// ---------------- shared topology for (a) and (b) ----------------

function userspaceOnNode(net: ProxyTestNet, node: 0 | 1, ports: ServicePort[]): Promise<ChildProcess> {
  const n = node === 0 ? net.node0 : net.node1;
  const child = spawn('ip', ['netns', 'exec', n.netns, process.execPath, '--import', 'tsx', join(ROOT, 'src/proxy/testing/userspace-child.ts')], { stdio: ['pipe', 'pipe', 'inherit'], cwd: ROOT });
  const lines = createInterface({ input: child.stdout! });
  let step = 0;
  return new Promise((resolve, reject) => {
    lines.on('line', (l) => {
      if (!JSON.parse(l).ok) { reject(new Error(l)); return; }
      if (step++ === 0) child.stdin!.write(JSON.stringify({ ports }) + '\n'); else resolve(child);
    });
    child.stdin!.write(JSON.stringify({ options: opts(n.name, n.ip) }) + '\n');
  });
}

function wrk(netns: string, url: string, close: boolean): number {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'wrk', '-t2', '-c32', '-d5s', ...(close ? ['-H', 'Connection: close'] : []), url], { encoding: 'utf8', timeout: 30_000 });
  const m = /Requests\/sec:\s+([\d.]+)/.exec(r.stdout ?? '');
  return m ? Number(m[1]) : 0;
}

function iperf(netns: string, host: string, port: number): number {
  const r = spawnSync('ip', ['netns', 'exec', netns, 'iperf3', '-c', host, '-p', String(port), '-t', '3', '-J'], { encoding: 'utf8', timeout: 30_000 });
  try { return (JSON.parse(r.stdout).end.sum_received.bits_per_second as number) / 1e9; } catch { return 0; }
}

/** Rounds of (a): every path is measured once per round, the order rotating; the table shows medians. */
const ROUNDS = Number(process.env.BENCH_PROXY_ROUNDS ?? 5);

interface DataPath { name: string; url: string; iperfHost: string; iperfPort: number; up(): Promise<() => Promise<void>> }

async function benchThroughput(net: ProxyTestNet): Promise<void> {
  const pod = net.pods[0]!;
  const client = net.pods[3]!.netns; // the pod on node1
  const all = [client, net.node0.netns, net.node1.netns, ...net.pods.map((p) => p.netns)];
  // wrk with "Connection: close" opens ~20k connections a run, and their TIME_WAIT entries (60 s)
  // make the next run's connects slower whichever path it measures. Reusing TIME_WAIT ports for
  // new outgoing connections (and flushing conntrack before each run) makes runs independent.
  for (const ns of all) runSync(['ip', 'netns', 'exec', ns, 'sysctl', '-qw', 'net.ipv4.tcp_tw_reuse=1']);
  const iperfd = spawn('ip', ['netns', 'exec', pod.netns, 'iperf3', '-s', '-p', '5201'], { stdio: 'ignore' });
  const ports = [sp(1, [{ ip: pod.ip, port: 8080 }]), sp(2, [{ ip: pod.ip, port: 5201 }], 5201)];
  const vipHTTP = `http://${ports[0]!.clusterIP}/`;
  const vipPerf = ports[1]!.clusterIP!;
  const none = async () => { /* nothing to undo */ };
  const kernel = (mode: 'nftables' | 'iptables', backend?: 'nft' | 'legacy', endpointCounters = true): DataPath => ({
    name: mode === 'nftables' ? `nftables ClusterIP${endpointCounters ? '' : ', --endpoint-counters=false'}` : `iptables-${backend} ClusterIP`, url: vipHTTP, iperfHost: vipPerf, iperfPort: 5201,
    up: async () => {
      const ps = net.spec.nodes.map((n) => provider(mode, opts(n.name, n.ip, n.netns, endpointCounters), backend));
      for (const p of ps) await p.sync({ ports });
      return async () => { for (const p of ps) await p.cleanup(); };
    },
  });
  const cfg = `/tmp/svp-bench-haproxy-${process.pid}.cfg`;
  writeFileSync(cfg, ['global', '  maxconn 4000', 'defaults', '  mode tcp', '  timeout connect 5s', '  timeout client 60s', '  timeout server 60s',
    'frontend h', `  bind ${net.node1.ip}:18080`, '  default_backend hb', 'backend hb', `  server p ${pod.ip}:8080`,
    'frontend i', `  bind ${net.node1.ip}:15201`, '  default_backend ib', 'backend ib', `  server p ${pod.ip}:5201`].join('\n') + '\n');
  const paths: DataPath[] = [
    { name: 'direct (pod IP)', url: `http://${pod.ip}:8080/`, iperfHost: pod.ip, iperfPort: 5201, up: async () => none },
    kernel('nftables'), kernel('nftables', undefined, false), kernel('iptables', 'nft'), kernel('iptables', 'legacy'),
    {
      name: 'userspace ClusterIP', url: vipHTTP, iperfHost: vipPerf, iperfPort: 5201,
      up: async () => {
        const us = await userspaceOnNode(net, 1, ports);
        return async () => {
          const gone = new Promise((r) => us.once('exit', r));
          us.stdin!.end();
          await Promise.race([gone, new Promise((r) => setTimeout(r, 2000))]);
          us.kill('SIGKILL');
          for (const n of net.spec.nodes) await cleanupLeftovers(undefined, n.netns);
        };
      },
    },
    {
      name: 'haproxy (tcp mode) on node1', url: `http://${net.node1.ip}:18080/`, iperfHost: net.node1.ip, iperfPort: 15201,
      up: async () => {
        const hap = spawn('ip', ['netns', 'exec', net.node1.netns, 'haproxy', '-f', cfg], { stdio: 'ignore' });
        await new Promise((r) => setTimeout(r, 700));
        return async () => { hap.kill('SIGKILL'); await new Promise((r) => setTimeout(r, 100)); };
      },
    },
  ];
  // BENCH_PROXY_PATHS: a regular expression over the path names to measure only some (direct always).
  if (process.env.BENCH_PROXY_PATHS) { const re = new RegExp(process.env.BENCH_PROXY_PATHS); paths.splice(0, paths.length, ...paths.filter((p, i) => i === 0 || re.test(p.name))); }
  for (const n of net.spec.nodes) await cleanupLeftovers(undefined, n.netns);
  await new Promise((r) => setTimeout(r, 500));
  const samples = new Map(paths.map((p) => [p.name, { keepalive: [] as number[], close: [] as number[], gbps: [] as number[] }]));
  for (let round = 0; round < ROUNDS; round++) {
    for (let k = 0; k < paths.length; k++) {
      const p = paths[(k + round) % paths.length]!;
      const down = await p.up();
      try {
        const s = samples.get(p.name)!;
        for (const ns of all) runSync(['ip', 'netns', 'exec', ns, 'conntrack', '-F'], { allowFail: true });
        s.keepalive.push(wrk(client, p.url, false));
        s.close.push(wrk(client, p.url, true));
        s.gbps.push(iperf(client, p.iperfHost, p.iperfPort));
        console.error(`(a) round ${round + 1} ${p.name}: ${fmt(s.keepalive.at(-1)!, 0)} req/s keep-alive, ${fmt(s.close.at(-1)!, 0)} req/s new conn, ${fmt(s.gbps.at(-1)!)} Gbit/s`);
      } finally {
        await down();
      }
    }
  }
  iperfd.kill('SIGKILL');
  const rows = paths.map((p) => { const s = samples.get(p.name)!; return { target: p.name, keepalive: median(s.keepalive), close: median(s.close), gbps: median(s.gbps), samples: s }; });
  const d = rows[0]!;
  // The machine's speed drifts between rounds: each path is compared with direct in the same round.
  const ratio = (r: typeof d, k: 'keepalive' | 'close' | 'gbps') => median(r.samples[k].map((v, i) => v / d.samples[k][i]!));
  out.throughput = rows.map((r) => ({ ...r, keepaliveRatio: ratio(r, 'keepalive'), closeRatio: ratio(r, 'close'), throughputRatio: ratio(r, 'gbps') }));
  md.push('## (a) Data plane: pod on node1 → one pod on node0', '',
    `wrk -t2 -c32 -d5s (small HTTP responses from a Node.js server in the pod; "new connection" adds Connection: close); iperf3 one stream, 3 s. ${ROUNDS} rounds, the order of paths rotating each round; conntrack flushed and TIME_WAIT reuse on in every namespace so runs do not slow each other. Values: medians over the rounds; ratios: the median of each round's ratio against direct in the same round.`, '',
    table(['path', 'req/s keep-alive', 'ratio', 'req/s new connection', 'ratio', 'Gbit/s', 'ratio'],
      rows.map((r) => [r.target, fmt(r.keepalive, 0), fmt(ratio(r, 'keepalive')), fmt(r.close, 0), fmt(ratio(r, 'close')), fmt(r.gbps), fmt(ratio(r, 'gbps'))])), '');
}

const CONNECT_SCRIPT = `
const net = require('net'); const [host, port, n] = [process.argv[1], +process.argv[2], +process.argv[3]];
const t = []; let i = 0;
function one() {
  const t0 = process.hrtime.bigint();
  const s = net.connect(port, host, () => { t.push(Number(process.hrtime.bigint() - t0) / 1000); s.destroy(); if (++i < n) setImmediate(one); else done(); });
  s.on('error', (e) => { console.log(JSON.stringify({ error: String(e) })); process.exit(1); });
}
function done() { t.sort((a, b) => a - b); console.log(JSON.stringify({ p50: t[t.length >> 1], p90: t[Math.floor(t.length * 0.9)] })); }
one();`;

function connectLatency(netns: string, host: string, port: number): { p50: number; p90: number } {
  const r = spawnSync('ip', ['netns', 'exec', netns, process.execPath, '-e', CONNECT_SCRIPT, host, String(port), '3000'], { encoding: 'utf8', timeout: 60_000 });
  return JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '{}');
}

/** Rounds of (b) for nftables (the default mode, the one with the target); the iptables peers run once. */
const LATENCY_ROUNDS = Number(process.env.BENCH_PROXY_LATENCY_ROUNDS ?? 5);

async function benchLatency(net: ProxyTestNet): Promise<void> {
  const pod = net.pods[0]!;
  const rows: (string | number)[][] = [];
  const res: unknown[] = [];
  for (const n of net.spec.nodes) await cleanupLeftovers(undefined, n.netns);
  const base = connectLatency(net.node0.netns, pod.ip, 8080);
  console.error(`(b) no rules, direct: p50 ${fmt(base.p50, 0)} µs`);
  rows.push(['no rules (direct to pod)', '-', '1', fmt(base.p50, 0), fmt(base.p90, 0), '1.00']);
  res.push({ mode: 'none', services: 0, ...base });
  for (const [mode, backend] of [['nftables', undefined], ['iptables', 'nft'], ['iptables', 'legacy']] as const) {
    const name = mode === 'nftables' ? 'nftables' : `iptables-${backend}`;
    // The machine's speed drifts over minutes: measuring N = 10, 1k, 10k in turn, round after
    // round, lets the drift fall on every N alike; the medians over rounds are compared.
    const rounds = mode === 'nftables' ? LATENCY_ROUNDS : 1;
    const samples = new Map<number, { p50: number; p90: number }[]>([[10, []], [1000, []], [10000, []]]);
    for (let round = 0; round < rounds; round++) {
      for (const n of samples.keys()) {
        await cleanupLeftovers(undefined, net.node0.netns);
        const p = provider(mode, opts(net.node0.name, net.node0.ip, net.node0.netns), backend);
        // Services 0..n-2 point at addresses that do not exist; the last-added one at the pod.
        const ports = Array.from({ length: n }, (_, i) => sp(i + 1, i === n - 1 ? [{ ip: pod.ip, port: 8080 }] : fakeEndpoints(i + 1, 1)));
        await p.sync({ ports });
        const l = connectLatency(net.node0.netns, ports.at(-1)!.clusterIP!, 80);
        console.error(`(b) ${name} N=${n} round ${round + 1}: p50 ${fmt(l.p50, 0)} µs`);
        samples.get(n)!.push(l);
        await p.cleanup();
      }
    }
    const at10 = median(samples.get(10)!.map((l) => l.p50));
    for (const [n, ls] of samples) {
      const p50 = median(ls.map((l) => l.p50)), p90 = median(ls.map((l) => l.p90));
      rows.push([name, n, rounds, fmt(p50, 0), fmt(p90, 0), fmt(p50 / at10)]);
      res.push({ mode: name, services: n, rounds, p50, p90, samples: ls });
    }
  }
  out.latency = res;
  md.push('## (b) New-connection latency to the last-added of N Services', '',
    'TCP connect time from node0 to the ClusterIP (3000 sequential connects by a Node.js client per measurement; includes its own overhead, the same for every row). nftables: N = 10, 1k, 10k measured in turn for several rounds, medians over the rounds; iptables: one round. Ratio against N = 10 of the same mode.', '',
    table(['mode', 'N', 'rounds', 'p50 (µs)', 'p90 (µs)', 'p50 / p50 at N=10'], rows), '');
}

async function main(): Promise<void> {
  if (want('c')) await benchSync();
  if (want('a') || want('b')) {
    const net = new ProxyTestNet(`pxb${process.pid % 100000}`);
    process.once('exit', () => net.destroy());
    try {
      await net.create();
      if (want('a')) await benchThroughput(net);
      if (want('b')) await benchLatency(net);
    } finally {
      net.destroy();
    }
  }
  mkdirSync(RESULTS, { recursive: true });
  const suffix = sections.length && sections.length < 3 ? `-${sections.join('')}` : '';
  writeFileSync(join(RESULTS, `proxy${suffix}.json`), JSON.stringify(out, null, 2) + '\n');
  writeFileSync(join(RESULTS, `proxy${suffix}.md`), md.join('\n'));
  console.log(md.join('\n'));
  void run;
}

await main();
