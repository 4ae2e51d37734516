/**
 * bench/pods — N pods applied → all Ready, and what each pod costs in memory, for nginx and agnhost:
 *   - containerd: pods of a Deployment on a `--runtime containerd` cluster (kubelet → CRI → containerd → runc);
 *   - floor: the same images started straight through the same nodes' containerds with `ctr run -d`
 *     (no kubelet, no sandbox/pause, no CNI: each container gets its own empty network namespace,
 *     and "serving" is a LISTEN socket in it), spread over the nodes like the pods;
 *   - process: the same Deployment on a `--runtime process` cluster (pods as host processes), the
 *     baseline the containerd runtime replaces.
 *
 *   node --import tsx bench/pods.ts [--pods 100] [--variants containerd,floor,process] [--images nginx,agnhost]
 *                                   [--workers 2] [--floor-parallel 4]
 *
 * Times: "Ready" is the moment a watch on the pods (list, then watch from its resourceVersion) first
 * sees the pod's Ready condition True, so it has the client's resolution, not the condition's
 * second-resolution lastTransitionTime. Total = `kubectl apply` started → last pod seen Ready; per
 * pod = pod first seen on the watch → seen Ready (p50/p99). For the floor: total = first `ctr run`
 * started → last returned (task running), per container = its own `ctr run` call. "Serving" = every
 * pod's/container's process has its port in LISTEN in its network namespace (/proc/PID/net/tcp*).
 * Memory, once all serve: PSS (/proc/PID/smaps_rollup; shared pages split among all their sharers
 * on the machine, so a node process's ~35 MB of mapped binary counts for little next to the many
 * node processes of the clusters), USS (private pages only: what one more pod adds at least) and
 * RSS (every page it maps: at most) of each pod's processes (every task of the pod and its descendants, pause included) plus its
 * containerd-shim (the parent of the tasks), over the pods; for process pods the wrapper and its
 * descendants. The pods' memory cgroups' working set (usage − inactive_file, as the kubelet counts
 * it) too, where pods have one. Pids come from `ctr task ls` on each node's socket and the process
 * runtime's pod records (<data dir>/pods/<uid>/state.json); nothing is found by command line.
 * Images are pulled on every node by a warm-up pod before anything is timed.
 * Targets (for 100 pods on this 2-core machine): all Ready ≤ 15 s, within 1.5× of the floor,
 * ≤ 10 MiB (PSS) per nginx pod. Prints a table and saves bench/results/pods.{md,json} (pods-<N>.* when N ≠ 100).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { ROOT, TestCluster } from '../test/lib/harness.js';
import { down, up } from '../src/cluster/lifecycle.js';
import { paths, specOf, type ClusterConfig } from '../src/cluster/config.js';
import { CRI_NAMESPACE, containerdPaths, nodeCgroupParent, removeCgroups } from '../src/cluster/containerd.js';
import { Client } from '../src/client/rest.js';
import { res } from '../src/api/registry.js';
import type { Pod } from '../src/api/types.js';

function arg(name: string, def: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i > 0 && process.argv[i + 1] ? process.argv[i + 1]! : def;
}
const PODS = Number(arg('pods', '100'));
const VARIANTS = arg('variants', 'containerd,floor,process').split(',');
const IMAGES = arg('images', 'nginx,agnhost').split(',') as ImageName[];
const WORKERS = Number(arg('workers', '2'));
const FLOOR_PARALLEL = Number(arg('floor-parallel', '4'));
for (const v of VARIANTS) if (!['containerd', 'floor', 'process'].includes(v)) throw new Error(`--variants: unknown ${v}`);

type ImageName = 'nginx' | 'agnhost';
/** What each pod runs; `ref` is the name containerd's CRI stores the image under (what `ctr run` takes). */
const IMAGE: Record<ImageName, { image: string; ref: string; args?: string[]; port: number }> = {
  nginx: { image: 'nginx', ref: 'docker.io/library/nginx:latest', port: 80 },
  // args, not command: the image's entrypoint is /agnhost (the process runtime has no /agnhost file).
  agnhost: { image: 'registry.k8s.io/e2e-test-images/agnhost:2.53', ref: 'registry.k8s.io/e2e-test-images/agnhost:2.53', args: ['netexec', '--http-port=8080'], port: 8080 },
};
for (const i of IMAGES) if (!IMAGE[i]) throw new Error(`--images: unknown ${i}`);
const TARGET = { readyS: 15, floorRatio: 1.5, nginxMiB: 10 };

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const now = () => performance.now();
const pct = (xs: number[], p: number) => { const v = [...xs].sort((a, b) => a - b); return v.length ? v[Math.min(v.length - 1, Math.ceil((p / 100) * v.length) - 1)]! : NaN; };

// ---------- processes and memory ----------

interface ProcTable { ppid: Map<number, number>; children: Map<number, number[]> }
function procTable(): ProcTable {
  const ppid = new Map<number, number>(), children = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const st = readFileSync(`/proc/${d}/stat`, 'utf8');
      const pp = Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
      ppid.set(Number(d), pp);
      children.set(pp, [...(children.get(pp) ?? []), Number(d)]);
    } catch { /* exited */ }
  }
  return { ppid, children };
}
function withDescendants(t: ProcTable, pid: number, into: Set<number>): void {
  if (into.has(pid)) return;
  into.add(pid);
  for (const c of t.children.get(pid) ?? []) withDescendants(t, c, into);
}
/** PSS, RSS and USS (private pages only) in KiB of a set of processes. */
function memKb(pids: Iterable<number>): { pss: number; rss: number; uss: number } {
  let pss = 0, rss = 0, uss = 0;
  for (const p of pids) {
    try {
      const s = readFileSync(`/proc/${p}/smaps_rollup`, 'utf8');
      pss += Number(/^Pss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      rss += Number(/^Rss:\s+(\d+)/m.exec(s)?.[1] ?? 0);
      uss += Number(/^Private_Clean:\s+(\d+)/m.exec(s)?.[1] ?? 0) + Number(/^Private_Dirty:\s+(\d+)/m.exec(s)?.[1] ?? 0);
    } catch { /* exited */ }
  }
  return { pss, rss, uss };
}
/** Does the process's network namespace have a TCP socket in LISTEN on port? */
function listening(pid: number, port: number): boolean {
  const hex = port.toString(16).toUpperCase().padStart(4, '0');
  for (const f of ['tcp', 'tcp6']) {
    try {
      for (const l of readFileSync(`/proc/${pid}/net/${f}`, 'utf8').split('\n').slice(1)) {
        const c = l.trim().split(/\s+/);
        if (c[3] === '0A' && c[1]?.endsWith(`:${hex}`)) return true;
      }
    } catch { /* exited */ }
  }
  return false;
}
/** A memory cgroup's working set in KiB (usage − inactive_file), v1 or v2; undefined without one. */
function cgroupWorkingSetKb(rel: string): number | undefined {
  const v1 = join('/sys/fs/cgroup/memory', rel), v2 = join('/sys/fs/cgroup', rel);
  try {
    if (existsSync(join(v1, 'memory.usage_in_bytes'))) {
      const usage = Number(readFileSync(join(v1, 'memory.usage_in_bytes'), 'utf8'));
      const inactive = Number(/^total_inactive_file (\d+)/m.exec(readFileSync(join(v1, 'memory.stat'), 'utf8'))?.[1] ?? 0);
      return Math.max(0, usage - inactive) / 1024;
    }
    if (existsSync(join(v2, 'memory.current'))) {
      const usage = Number(readFileSync(join(v2, 'memory.current'), 'utf8'));
      const inactive = Number(/^inactive_file (\d+)/m.exec(readFileSync(join(v2, 'memory.stat'), 'utf8'))?.[1] ?? 0);
      return Math.max(0, usage - inactive) / 1024;
    }
  } catch { /* gone */ }
  return undefined;
}

// ---------- containerd through ctr ----------

function ctr(c: ClusterConfig, node: string, args: string[]): { code: number; out: string; err: string } {
  const r = spawnSync('ctr', ['-a', containerdPaths(c.dataDir, node).socket, '-n', CRI_NAMESPACE, ...args], { encoding: 'utf8', timeout: 60_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
function ctrAsync(c: ClusterConfig, node: string, args: string[]): Promise<{ code: number; err: string }> {
  return new Promise((done) => {
    const p = spawn('ctr', ['-a', containerdPaths(c.dataDir, node).socket, '-n', CRI_NAMESPACE, ...args], { stdio: ['ignore', 'ignore', 'pipe'] });
    let err = '';
    p.stderr!.on('data', (d) => { err += d; });
    p.on('error', (e) => done({ code: 1, err: String(e) }));
    p.on('close', (code) => done({ code: code ?? 1, err }));
  });
}
/** id → pid of every task of a node's containerd (k8s.io namespace). */
function tasks(c: ClusterConfig, node: string): Map<string, number> {
  const m = new Map<string, number>();
  for (const l of ctr(c, node, ['task', 'ls']).out.split('\n').slice(1)) {
    const [id, pid] = l.trim().split(/\s+/);
    if (id && Number(pid) > 0) m.set(id, Number(pid));
  }
  return m;
}
const nodesOf = (c: ClusterConfig) => specOf(c).nodes.map((n) => n.name);

// ---------- pods through the API ----------

interface Row {
  variant: string; image: ImageName; pods: number; totalS: number; servingS: number; p50S: number; p99S: number;
  pssMiB: number; rssMiB: number; ussMiB: number; shimMiB?: number; cgroupMiB?: number; note?: string;
}

function deploymentYaml(name: string, img: ImageName, replicas: number): string {
  const i = IMAGE[img];
  return JSON.stringify({
    apiVersion: 'apps/v1', kind: 'Deployment', metadata: { name, labels: { app: name } },
    spec: {
      replicas, selector: { matchLabels: { app: name } },
      template: {
        metadata: { labels: { app: name } },
        spec: { terminationGracePeriodSeconds: 5, containers: [{ name: img, image: i.image, ...(i.args ? { args: i.args } : {}), ports: [{ containerPort: i.port }] }] },
      },
    },
  });
}

const isReady = (p: Pod) => !p.metadata?.deletionTimestamp && !!p.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');

/** The pids of each pod (uid → pids of its processes, shims apart) and the shims, on either runtime. */
function podProcesses(c: ClusterConfig, uids: Set<string>): { byPod: Map<string, { main: number[]; all: Set<number>; shims: Set<number> }> } {
  const t = procTable();
  const byPod = new Map<string, { main: number[]; all: Set<number>; shims: Set<number> }>();
  const entry = (uid: string) => { let e = byPod.get(uid); if (!e) byPod.set(uid, e = { main: [], all: new Set(), shims: new Set() }); return e; };
  if (c.runtime === 'containerd') {
    for (const node of nodesOf(c)) {
      for (const pid of tasks(c, node).values()) {
        let cg = '';
        try { cg = readFileSync(`/proc/${pid}/cgroup`, 'utf8'); } catch { continue; }
        const uid = /\/pod([0-9a-f-]{36})\//.exec(cg)?.[1];
        if (!uid || !uids.has(uid)) continue;
        const e = entry(uid);
        e.main.push(pid);
        withDescendants(t, pid, e.all);
        const shim = t.ppid.get(pid);
        if (shim && shim > 1) e.shims.add(shim);
      }
    }
  } else {
    for (const uid of uids) {
      try {
        const rec = JSON.parse(readFileSync(join(c.dataDir, 'pods', uid, 'state.json'), 'utf8')) as { containers: Record<string, { pid?: number; state: string }> };
        for (const ct of Object.values(rec.containers)) {
          if (ct.state !== 'running' || !ct.pid) continue;
          const e = entry(uid);
          e.main.push(ct.pid);
          withDescendants(t, ct.pid, e.all);
        }
      } catch { /* not written yet */ }
    }
  }
  return { byPod };
}

async function waitUntil(what: string, fn: () => boolean | Promise<boolean>, ms: number, stepMs = 100): Promise<void> {
  const end = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > end) throw new Error(`timed out after ${ms / 1000} s waiting for ${what}`);
    await sleep(stepMs);
  }
}

/** One pod per node with both images, Ready, then gone: the images are in every node's store. */
async function warmUp(c: ClusterConfig, k: TestCluster): Promise<void> {
  const pods = nodesOf(c).map((node, n) => ({
    apiVersion: 'v1', kind: 'Pod', metadata: { name: `bench-warm-${n}`, labels: { app: 'bench-warm' } },
    spec: {
      nodeName: node, terminationGracePeriodSeconds: 5,
      containers: IMAGES.map((img) => ({ name: img, image: IMAGE[img].image, ...(IMAGE[img].args ? { args: IMAGE[img].args } : {}) })),
    },
  }));
  k.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: pods }) });
  await k.podsReady('app=bench-warm', pods.length, 'default', 180_000);
  k.k('delete', 'pods', '-l', 'app=bench-warm', '--wait=true', '--timeout=120s');
}

async function runPods(c: ClusterConfig, k: TestCluster, img: ImageName, variant: string): Promise<Row> {
  const name = `bench-${img}`;
  const client = Client.fromKubeconfig(paths(c.dataDir).kubeconfig);
  const seen = new Map<string, number>(), ready = new Map<string, number>();
  const note = (p: Pod, t: number) => {
    const uid = p.metadata!.uid!;
    if (!seen.has(uid)) seen.set(uid, t);
    if (!ready.has(uid) && isReady(p)) ready.set(uid, t);
  };
  const list = await client.list<Pod>(res('pods'), 'default', { labelSelector: `app=${name}` });
  if (list.items.length) throw new Error(`pods app=${name} exist already`);
  const h = client.watch<Pod>(res('pods'), 'default', { labelSelector: `app=${name}`, resourceVersion: list.metadata?.resourceVersion }, (ev) => {
    if (ev.type === 'ADDED' || ev.type === 'MODIFIED') note(ev.object, now());
  });
  try {
    const t0 = now();
    const r = k.kubectl(['apply', '-f', '-'], { input: deploymentYaml(name, img, PODS) });
    if (r.code) throw new Error(`kubectl apply: ${r.err}`);
    await waitUntil(`${PODS} ${name} pods Ready (${ready.size} so far)`, () => ready.size >= PODS, Math.max(180_000, PODS * 3000));
    const tReady = Math.max(...ready.values());
    const uids = new Set(ready.keys());
    // Serving: the app's port in LISTEN in each pod's network namespace.
    await waitUntil(`${name} pods listening on ${IMAGE[img].port}`, () => {
      const { byPod } = podProcesses(c, uids);
      return [...uids].every((u) => byPod.get(u)?.main.some((p) => listening(p, IMAGE[img].port)));
    }, 120_000);
    const tServing = now();
    const { byPod } = podProcesses(c, uids);
    const all = new Set<number>(), shims = new Set<number>();
    for (const e of byPod.values()) { for (const p of e.all) all.add(p); for (const s of e.shims) shims.add(s); }
    const ctrs = memKb(all), shim = memKb(shims);
    const cg = c.runtime === 'containerd'
      ? [...uids].map((u) => nodesOf(c).map((n) => cgroupWorkingSetKb(`${nodeCgroupParent(c.name, n)}/pod${u}`)).find((x) => x !== undefined))
      : [];
    const perPod = [...uids].map((u) => (ready.get(u)! - seen.get(u)!) / 1000);
    return {
      variant, image: img, pods: uids.size, totalS: (tReady - t0) / 1000, servingS: (tServing - t0) / 1000, p50S: pct(perPod, 50), p99S: pct(perPod, 99),
      pssMiB: (ctrs.pss + shim.pss) / 1024 / uids.size, rssMiB: (ctrs.rss + shim.rss) / 1024 / uids.size, ussMiB: (ctrs.uss + shim.uss) / 1024 / uids.size,
      shimMiB: c.runtime === 'containerd' ? shim.pss / 1024 / uids.size : undefined,
      cgroupMiB: cg.length && cg.every((x) => x !== undefined) ? cg.reduce((a, b) => a + b!, 0) / 1024 / cg.length : undefined,
      note: c.runtime === 'containerd' ? `${shims.size} shims for ${uids.size} pods; every pod has a pause container` : 'host processes: the container wrapper (sh) and its descendants',
    };
  } finally {
    h.stop();
    client.close();
    // Gone before the next measurement: no pods, and (containerd) no task of theirs left.
    k.kubectl(['delete', 'deployment', name, '--wait=false']);
    try {
      await waitUntil(`${name} pods deleted`, () => !JSON.parse(k.k('get', 'pods', '-l', `app=${name}`, '-o', 'json')).items.length, Math.max(120_000, PODS * 2000), 1000);
      if (c.runtime === 'containerd') await waitUntil(`${name} tasks gone`, () => podProcesses(c, new Set(seen.keys())).byPod.size === 0, 120_000, 500);
    } catch (e) { console.error(`warning: ${(e as Error).message}`); }
  }
}

// ---------- the floor: ctr run ----------

async function runFloor(c: ClusterConfig, img: ImageName): Promise<Row> {
  const nodes = nodesOf(c);
  const prefix = `bench-floor-${process.pid}-${img}`;
  const pidDir = mkdtempSync(join(tmpdir(), 'svp-bench-floor-'));
  for (const n of nodes) {
    if (!ctr(c, n, ['image', 'ls', '-q']).out.split('\n').includes(IMAGE[img].ref)) throw new Error(`${IMAGE[img].ref} is not in ${n}'s containerd (the warm-up pulls it)`);
  }
  const jobs = Array.from({ length: PODS }, (_, i) => ({ id: `${prefix}-${i}`, node: nodes[i % nodes.length]!, ms: 0 }));
  try {
    const t0 = now();
    const queue = [...jobs];
    const errors: string[] = [];
    // FLOOR_PARALLEL `ctr run`s at a time per node, as each kubelet starts its pods side by side.
    await Promise.all(nodes.flatMap((n) => Array.from({ length: FLOOR_PARALLEL }, async () => {
      for (;;) {
        const j = queue.find((q) => q.node === n && !q.ms);
        if (!j) return;
        j.ms = -1;
        const p = containerdPaths(c.dataDir, n);
        const s = now();
        const r = await ctrAsync(c, n, ['run', '-d', '--null-io', '--runc-root', p.runcRoot, '--cgroup', `${nodeCgroupParent(c.name, n)}/bench-floor/${j.id}`,
          '--pid-file', join(pidDir, j.id), IMAGE[img].ref, j.id, ...(IMAGE[img].args ? ['/agnhost', ...IMAGE[img].args!] : [])]);
        j.ms = now() - s;
        if (r.code) errors.push(`${j.id}: ${r.err.trim()}`);
      }
    })));
    const tStarted = now();
    if (errors.length) throw new Error(`ctr run failed: ${errors.slice(0, 3).join('; ')}`);
    const pids = jobs.map((j) => Number(readFileSync(join(pidDir, j.id), 'utf8')));
    await waitUntil(`floor ${img} listening`, () => pids.every((p) => listening(p, IMAGE[img].port)), 120_000);
    const tServing = now();
    const t = procTable();
    const all = new Set<number>(), shims = new Set<number>();
    for (const p of pids) { withDescendants(t, p, all); const s = t.ppid.get(p); if (s && s > 1) shims.add(s); }
    const ctrs = memKb(all), shim = memKb(shims);
    const cg = jobs.map((j) => cgroupWorkingSetKb(`${nodeCgroupParent(c.name, j.node)}/bench-floor/${j.id}`));
    const per = jobs.map((j) => j.ms / 1000);
    return {
      variant: 'floor (ctr run)', image: img, pods: PODS, totalS: (tStarted - t0) / 1000, servingS: (tServing - t0) / 1000, p50S: pct(per, 50), p99S: pct(per, 99),
      pssMiB: (ctrs.pss + shim.pss) / 1024 / PODS, rssMiB: (ctrs.rss + shim.rss) / 1024 / PODS, ussMiB: (ctrs.uss + shim.uss) / 1024 / PODS, shimMiB: shim.pss / 1024 / PODS,
      cgroupMiB: cg.every((x) => x !== undefined) ? cg.reduce((a, b) => a + b!, 0) / 1024 / cg.length : undefined,
      note: `${FLOOR_PARALLEL} ctr run at a time per node; own empty netns each (no CNI, no pause); output to /dev/null; ${shims.size} shims`,
    };
  } finally {
    await cleanupFloor(c, prefix);
    rmSync(pidDir, { recursive: true, force: true });
  }
}

/** Remove every container this run started (by its id prefix), its task, snapshot and cgroup. */
async function cleanupFloor(c: ClusterConfig, prefix: string): Promise<void> {
  await Promise.all(nodesOf(c).map(async (n) => {
    const ids = ctr(c, n, ['containers', 'ls', '-q']).out.split('\n').filter((id) => id.startsWith(`${prefix}-`));
    for (let i = 0; i < ids.length; i += 10) {
      await Promise.all(ids.slice(i, i + 10).map(async (id) => {
        await ctrAsync(c, n, ['task', 'rm', '-f', id]); // kills a running task first; fails if there is none
        const r = await ctrAsync(c, n, ['containers', 'rm', id]);
        if (r.code) console.error(`warning: ctr containers rm ${id} on ${n}: ${r.err.trim()}`);
      }));
    }
    removeCgroups(`${nodeCgroupParent(c.name, n)}/bench-floor`.slice(1));
  }));
}

// ---------- main ----------

async function withCluster(runtime: 'containerd' | 'process', fn: (c: ClusterConfig, k: TestCluster) => Promise<void>): Promise<void> {
  const name = `bp${runtime[0]}${process.pid % 100000}`;
  const dataDir = mkdtempSync(join(tmpdir(), `svp-${name}-`));
  let k: TestCluster | undefined;
  let cfg: ClusterConfig | undefined;
  // One down, whether SIGINT or the end of the run asks first (the other waits for the same one).
  let downing: Promise<void> | undefined;
  const cleanup = () => (downing ??= down({ name, dataDir, purge: true, out: () => {} }).catch((e) => console.error(`down ${name}: ${e}`)));
  const onInt = () => void cleanup().then(() => process.exit(130));
  process.once('SIGINT', onInt);
  try {
    const t0 = Date.now();
    cfg = await up({ name, dataDir, workers: WORKERS, runtime, out: () => {}, waitMs: 180_000 });
    console.error(`${runtime} cluster ${name} up in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    k = new TestCluster(cfg);
    await warmUp(cfg, k);
    await fn(cfg, k);
  } finally {
    // What this run started through ctr must be gone before down (down would kill it anyway).
    if (cfg?.runtime === 'containerd') {
      for (const n of nodesOf(cfg)) {
        const left = [...tasks(cfg, n).keys()].filter((id) => id.startsWith(`bench-floor-${process.pid}-`));
        if (left.length) console.error(`warning: ${left.length} floor tasks left on ${n} before down`);
      }
    }
    await cleanup();
    process.removeListener('SIGINT', onInt);
    if (k) rmSync(k.cacheDir, { recursive: true, force: true });
  }
}

const f1 = (x: number | undefined) => (x === undefined || !Number.isFinite(x) ? '—' : x.toFixed(1));
const f2 = (x: number) => (Number.isFinite(x) ? x.toFixed(2) : '—');
const mark = (ok: boolean | undefined) => (ok === undefined ? '—' : ok ? 'pass' : 'FAIL');

async function main(): Promise<void> {
  if (process.getuid?.() !== 0) throw new Error('run as root (clusters, containerd)');
  const loadStart = loadavg();
  const started = new Date().toISOString();
  const rows: Row[] = [];
  if (VARIANTS.includes('containerd') || VARIANTS.includes('floor')) {
    await withCluster('containerd', async (c, k) => {
      for (const img of IMAGES) {
        if (VARIANTS.includes('containerd')) { rows.push(await runPods(c, k, img, 'containerd')); console.error(JSON.stringify(rows.at(-1))); }
        if (VARIANTS.includes('floor')) { rows.push(await runFloor(c, img)); console.error(JSON.stringify(rows.at(-1))); }
      }
    });
  }
  if (VARIANTS.includes('process')) {
    await withCluster('process', async (c, k) => {
      for (const img of IMAGES) { rows.push(await runPods(c, k, img, 'process (baseline)')); console.error(JSON.stringify(rows.at(-1))); }
    });
  }
  const loadEnd = loadavg();
  const floorOf = (img: ImageName) => rows.find((r) => r.image === img && r.variant.startsWith('floor'));
  const head = '| variant | image | pods | total Ready s | all serving s | p50 s | p99 s | MiB/pod (PSS) | MiB/pod (USS) | MiB/pod (RSS) | of which shim (PSS) | cgroup working set MiB/pod | time × floor | MiB × floor | Ready ≤ 15 s | ≤ 1.5× floor | ≤ 10 MiB (nginx) |';
  const lines = rows.map((r) => {
    const fl = floorOf(r.image);
    const isFloor = r.variant.startsWith('floor');
    const tRatio = fl && !isFloor ? r.totalS / fl.totalS : undefined;
    const mRatio = fl && !isFloor ? r.pssMiB / fl.pssMiB : undefined;
    return `| ${r.variant} | ${r.image} | ${r.pods} | ${f2(r.totalS)} | ${f2(r.servingS)} | ${f2(r.p50S)} | ${f2(r.p99S)} | ${f1(r.pssMiB)} | ${f1(r.ussMiB)} | ${f1(r.rssMiB)} | ${f1(r.shimMiB)} | ${f1(r.cgroupMiB)} | ${tRatio === undefined ? '—' : tRatio.toFixed(2)} | ${mRatio === undefined ? '—' : mRatio.toFixed(2)} | ${isFloor ? '—' : mark(r.totalS <= TARGET.readyS)} | ${mark(tRatio === undefined ? undefined : tRatio <= TARGET.floorRatio)} | ${isFloor || r.image !== 'nginx' ? '—' : mark(r.pssMiB <= TARGET.nginxMiB)} |`;
  });
  const md = [head, `|${'---|'.repeat(17)}`, ...lines].join('\n');
  const notes = rows.map((r) => `- ${r.variant}, ${r.image}: ${r.note ?? ''}`).join('\n');
  const env = `${cpus().length} cores, load average ${loadStart.map((x) => x.toFixed(2)).join(' ')} at start, ${loadEnd.map((x) => x.toFixed(2)).join(' ')} at end; ${WORKERS} workers + control-plane` +
    (PODS !== 100 ? `\n\n**A small run (${PODS} pods), not the measurement the targets are for (100 pods).**` : '');
  console.log(`${env}\n\n${md}\n\n${notes}`);
  const base = PODS === 100 ? 'pods' : `pods-${PODS}`;
  mkdirSync(join(ROOT, 'bench', 'results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench', 'results', `${base}.md`), `# bench/pods (${started})\n\n${env}\n\n${md}\n\n${notes}\n`);
  writeFileSync(join(ROOT, 'bench', 'results', `${base}.json`), JSON.stringify({
    date: started, cores: cpus().length, loadavgStart: loadStart, loadavgEnd: loadEnd, pods: PODS, workers: WORKERS, floorParallel: FLOOR_PARALLEL, targets: TARGET, rows,
  }, null, 2) + '\n');
}

main().catch((e) => { console.error(e); process.exit(1); });
