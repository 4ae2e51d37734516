/**
 * bench/cluster: how fast a svcplane cluster comes up and runs pods on this machine.
 *   - `svcplane up` → all nodes Ready
 *   - `kubectl apply` of a 3-replica Deployment → all pods Ready
 *   - scale to 100 → all Ready
 *   - memory per pod (RSS of the pod processes / pods)
 * Prints a table and saves bench/results/cluster.{md,json}. Run as root: npx tsx bench/cluster.ts
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { EXAMPLES, ROOT, startCluster } from '../test/lib/harness.js';

async function main(): Promise<void> {
  const rows: [string, string][] = [];
  const t0 = Date.now();
  const c = await startCluster();
  rows.push(['svcplane up → 3 nodes Ready', `${((Date.now() - t0) / 1000).toFixed(2)} s`]);
  try {
    const t1 = Date.now();
    c.k('apply', '-f', join(EXAMPLES, 'myapp-deployment.yaml'));
    await c.podsReady('app=myapp', 3, 'default', 120_000);
    rows.push(['apply 3-replica Deployment → all Ready', `${((Date.now() - t1) / 1000).toFixed(2)} s`]);
    const t2 = Date.now();
    c.k('scale', 'deployment/myapp', '--replicas=100');
    await c.podsReady('app=myapp', 100, 'default', 600_000);
    rows.push(['scale to 100 → all Ready', `${((Date.now() - t2) / 1000).toFixed(2)} s`]);
    // RSS of every process inside the pods' namespaces.
    const ns = spawnSync('ip', ['netns', 'list'], { encoding: 'utf8' }).stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(`svp-${c.name}-p-`));
    let rssKb = 0;
    for (const n of ns) {
      const pids = spawnSync('ip', ['netns', 'pids', n], { encoding: 'utf8' }).stdout.split('\n').filter(Boolean);
      for (const pid of pids) {
        const m = /VmRSS:\s+(\d+)/.exec(spawnSync('cat', [`/proc/${pid}/status`], { encoding: 'utf8' }).stdout);
        if (m) rssKb += Number(m[1]);
      }
    }
    rows.push([`memory per pod (RSS, ${ns.length} pods)`, `${(rssKb / 1024 / Math.max(1, ns.length)).toFixed(1)} MiB`]);
  } finally {
    await c.destroy();
  }
  const md = ['| measure | value |', '|---|---|', ...rows.map(([a, b]) => `| ${a} | ${b} |`)].join('\n');
  console.log(md);
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', 'cluster.md'), `# bench/cluster (${new Date().toISOString()})\n\n${md}\n`);
  writeFileSync(join(ROOT, 'bench', 'results', 'cluster.json'), JSON.stringify({ date: new Date().toISOString(), rows }, null, 2));
}

main().catch((e) => { console.error(e); process.exit(1); });
