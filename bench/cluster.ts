/**
 * bench/cluster: how fast a svcplane cluster comes up and runs pods on this machine.
 *   - `svcplane up` (the command, wall time from spawn to exit) → all 3 nodes Ready, RUNS times
 *     on fresh clusters, with the phases `up` prints (network, API server)
 *   - `kubectl apply` of a 3-replica Deployment → all pods Ready
 *   - scale to 100 → all Ready
 *   - memory per pod: RSS of every process of the pods' containers / pods
 * Other work may share the machine: the load average at start and end is saved with the numbers.
 * Prints a table and saves bench/results/cluster.{md,json}. Run as root: npx tsx bench/cluster.ts
 * (RUNS=… for the number of `up` runs, PODS=… for the scale target).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXAMPLES, ROOT, TestCluster } from '../test/lib/harness.js';
import { down } from '../src/cluster/lifecycle.js';
import { loadConfig } from '../src/cluster/config.js';
import { compiledEntry } from '../src/cli/self.js';

const RUNS = Number(process.env.RUNS ?? 3);
const PODS = Number(process.env.PODS ?? 100);
const CLI = join(ROOT, 'bin', 'svcplane');

interface UpRun { wallMs: number; networkS?: number; apiS?: number; readyS?: number }

/** `svcplane up` as a user runs it; the phase times come from its own progress lines. */
function upOnce(name: string, dataDir: string): UpRun {
  const t0 = Date.now();
  const r = spawnSync(CLI, ['up', '--name', name, '--data-dir', dataDir], { encoding: 'utf8', timeout: 180_000 });
  const wallMs = Date.now() - t0;
  if (r.status !== 0) throw new Error(`svcplane up failed (${r.status}): ${r.stderr}`);
  const num = (re: RegExp) => { const m = re.exec(r.stderr); return m ? Number(m[1]) : undefined; };
  return { wallMs, networkS: num(/✓ network: .*\(([\d.]+)s\)/), apiS: num(/✓ API server .*\(([\d.]+)s\)/), readyS: num(/nodes Ready in ([\d.]+)s/) };
}

/** RSS of all processes in the sessions the pods' container wrappers lead (found by their environment). */
function podMemory(dataDir: string): { pods: number; rssKb: number } {
  const leaders = new Set<string>();
  const sessionOf = new Map<string, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8');
      sessionOf.set(d, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[3]!);
      if (readFileSync(`/proc/${d}/environ`, 'utf8').includes(`SVP_POD_DIR=${join(dataDir, 'pods')}/`)) leaders.add(d);
    } catch { /* exited */ }
  }
  let rssKb = 0;
  for (const [pid, sid] of sessionOf) {
    if (!leaders.has(sid)) continue;
    try { rssKb += Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1] ?? 0); } catch { /* exited */ }
  }
  return { pods: leaders.size, rssKb };
}

/** How components ran: dist/, the transpiled cache (dist/ stale: sources being edited) or tsx. */
function runner(): string {
  const entry = compiledEntry('cli/main');
  return !entry ? 'through tsx' : entry.includes('/dist/') ? 'from dist/ (tsc)' : 'from the transpiled cache (dist/ stale)';
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

async function main(): Promise<void> {
  const loadStart = loadavg();
  const started = new Date().toISOString();
  const rows: [string, string][] = [];
  const name = `bc${process.pid % 100000}`;
  const runs: UpRun[] = [];
  let dataDir = '';
  let c: TestCluster | undefined;
  const cleanup = async () => { if (dataDir) await down({ name, dataDir, purge: true, out: () => {} }).catch(() => {}); };
  process.once('SIGINT', () => void cleanup().then(() => process.exit(130)));
  try {
    for (let i = 0; i < RUNS; i++) {
      dataDir = mkdtempSync(join(tmpdir(), `svp-${name}-`));
      runs.push(upOnce(name, dataDir));
      console.error(`up run ${i + 1}: ${runs.at(-1)!.wallMs} ms (load ${loadavg()[0]!.toFixed(1)})`);
      if (i < RUNS - 1) { await cleanup(); dataDir = ''; }
    }
    rows.push([`svcplane up → 3 nodes Ready (wall, median of ${RUNS})`, `${(median(runs.map((r) => r.wallMs)) / 1000).toFixed(2)} s (runs: ${runs.map((r) => (r.wallMs / 1000).toFixed(2)).join(', ')})`]);
    rows.push(['  of which: network namespaces ready / API server answering / nodes Ready (median, from up\'s start)',
      `${median(runs.map((r) => r.networkS ?? NaN))} s / ${median(runs.map((r) => r.apiS ?? NaN))} s / ${median(runs.map((r) => r.readyS ?? NaN))} s`]);
    c = new TestCluster(loadConfig(name, dataDir)!);
    const t1 = Date.now();
    c.k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'));
    await c.podsReady('app=myapp', 3, 'default', 120_000);
    rows.push(['kubectl apply 3-replica Deployment → all Ready', `${((Date.now() - t1) / 1000).toFixed(2)} s`]);
    const t2 = Date.now();
    c.k('scale', 'deployment/myapp', `--replicas=${PODS}`);
    await c.podsReady('app=myapp', PODS, 'default', 900_000);
    rows.push([`scale to ${PODS} → all Ready`, `${((Date.now() - t2) / 1000).toFixed(2)} s`]);
    const mem = podMemory(dataDir);
    rows.push([`memory per pod (RSS of its processes, ${mem.pods} pods incl. kube-dns)`, `${(mem.rssKb / 1024 / Math.max(1, mem.pods)).toFixed(1)} MiB`]);
  } finally {
    await cleanup();
    if (c) rmSync(c.cacheDir, { recursive: true, force: true });
  }
  const loadEnd = loadavg();
  const env = `${cpus().length} cores, load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${loadEnd.map((x) => x.toFixed(2)).join(' ')} at end; components ${runner()}`;
  const md = ['| measure | value |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n');
  console.log(`${env}\n\n${md}`);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'cluster.md'), `# bench/cluster (${started})\n\n${env}\n\n${md}\n`);
  writeFileSync(join(ROOT, 'bench', 'results', 'cluster.json'), JSON.stringify({
    date: started, cores: cpus().length, loadavgStart: loadStart, loadavgEnd: loadEnd, runner: runner(), upRuns: runs, rows,
  }, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
