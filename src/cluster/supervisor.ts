/**
 * @module cluster/supervisor
 * `svcplane supervise`: the long-running parent of a cluster's processes. It starts every
 * component (API server first), restarts any that exits (back-off 0.5 s doubling to 10 s),
 * records pids with their start times, restarts and its own session in supervisor-state.json (for
 * `svcplane status`, and so that `up` and `down` find exactly what it started even after it was
 * killed -9: see procs.ts), and on SIGTERM stops them all. `svcplane up` starts it detached (a
 * session of its own, which its components share); `svcplane down` stops it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, fchmodSync, mkdirSync, openSync, renameSync, writeFileSync, unlinkSync } from 'node:fs';
import http from 'node:http';
import { selfCommand } from '../cli/self.js';
import { clusterComponents, type ComponentSpec } from './components.js';
import { writeContainerdConfig } from './containerd.js';
import { etcdEndpoints, loadConfig, paths, specOf, type ClusterConfig } from './config.js';
import { memberStatus } from '../store/etcd-cluster.js';
import { bootstrapCluster } from './bootstrap.js';
import { procStat, startTicks } from './procs.js';

const RESTART_MIN_MS = 500;
const RESTART_MAX_MS = 10_000;
/** A component that ran this long is healthy again: its back-off resets. */
const STABLE_MS = 30_000;
const STOP_GRACE_MS = 3000;

interface Running {
  spec: ComponentSpec;
  child?: ChildProcess;
  pid?: number;
  startTicks?: string;
  restarts: number;
  startedAt?: number;
  backoffMs: number;
  lastExit?: string;
}

export interface ComponentState {
  name: string;
  pid?: number;
  /** /proc/<pid>/stat start time: the pid is this component only while it matches. */
  startTicks?: string;
  restarts: number;
  startedAt?: string;
  lastExit?: string;
  netns?: string;
}

export interface SupervisorState { pid: number; startTicks?: string; sid?: number; components: ComponentState[] }

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'supervisor', msg, ...extra }));
}

/** GET /healthz on the API server's unix socket. */
export function apiHealthy(socketPath: string, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ socketPath, path: '/healthz', timeout: timeoutMs }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on('error', () => resolve(false));
    req.on('timeout', () => { req.destroy(); resolve(false); });
  });
}

export async function waitFor(cond: () => Promise<boolean>, timeoutMs: number, stepMs = 100): Promise<boolean> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, stepMs));
  }
  return false;
}

export async function supervise(c: ClusterConfig): Promise<void> {
  const p = paths(c.dataDir);
  mkdirSync(p.logs, { recursive: true, mode: 0o700 });
  const self = procStat(process.pid);
  const running = new Map<string, Running>();
  let stopping = false;

  // Written whole and renamed into place: `down` and `status` read it at any moment, and a torn
  // file would hide the pids of what runs.
  const saveState = () => {
    const components: ComponentState[] = [...running.values()].map((r) => ({
      name: r.spec.name, pid: r.pid, startTicks: r.pid ? r.startTicks : undefined, restarts: r.restarts, netns: r.spec.netns,
      startedAt: r.startedAt ? new Date(r.startedAt).toISOString() : undefined, lastExit: r.lastExit,
    }));
    const state: SupervisorState = { pid: process.pid, startTicks: self?.startTicks, sid: self?.sid, components };
    try {
      writeFileSync(`${p.supervisorState}.tmp`, JSON.stringify(state, null, 2), { mode: 0o600 });
      renameSync(`${p.supervisorState}.tmp`, p.supervisorState);
    } catch { /* data dir gone */ }
  };
  saveState();
  writeFileSync(p.supervisorPid, `${process.pid}\n`, { mode: 0o600 });

  const start = (r: Running) => {
    if (stopping) return;
    const self = selfCommand();
    const prog = r.spec.command ? [r.spec.command] : self;
    // `ip netns exec` also gives the process a mount namespace of its own with a fresh /sys (no
    // cgroup mounts); a container runtime must see the host's mounts, so it only joins the netns.
    const enter = !r.spec.netns ? [] : r.spec.hostMounts ? ['nsenter', `--net=/run/netns/${r.spec.netns}`, '--'] : ['ip', 'netns', 'exec', r.spec.netns];
    const argv = [...enter, ...prog, ...r.spec.args];
    // Logs hold object names, tokens in error messages, pods' output: root only.
    const fd = openSync(p.log(r.spec.name), 'a', 0o600);
    fchmodSync(fd, 0o600);
    const child = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', fd, fd], env: { ...process.env, SVCPLANE_COMPONENT: r.spec.name } });
    closeSync(fd);
    r.child = child;
    r.pid = child.pid;
    r.startTicks = child.pid ? startTicks(child.pid) : undefined;
    r.startedAt = Date.now();
    log('started', { name: r.spec.name, pid: child.pid });
    child.on('exit', (code, signal) => {
      r.lastExit = signal ? `signal ${signal}` : `exit ${code}`;
      r.child = undefined;
      r.pid = undefined;
      r.startTicks = undefined;
      saveState();
      if (stopping) return;
      if (Date.now() - (r.startedAt ?? 0) > STABLE_MS) r.backoffMs = RESTART_MIN_MS;
      log('exited; restarting', { name: r.spec.name, how: r.lastExit, inMs: r.backoffMs });
      setTimeout(() => { r.restarts++; start(r); saveState(); }, r.backoffMs);
      r.backoffMs = Math.min(r.backoffMs * 2, RESTART_MAX_MS);
    });
    saveState();
  };

  const stopAll = async () => {
    stopping = true;
    const alive = [...running.values()].filter((r) => r.child);
    // Node agents and proxies first, the API server last, so nothing logs a storm of errors.
    for (const r of alive.reverse()) r.child?.kill('SIGTERM');
    const deadline = Date.now() + STOP_GRACE_MS;
    while (Date.now() < deadline && [...running.values()].some((r) => r.child)) await new Promise((res) => setTimeout(res, 50));
    for (const r of running.values()) r.child?.kill('SIGKILL');
    saveState();
    try { unlinkSync(p.supervisorPid); } catch { /* already gone */ }
  };

  // SIGHUP: re-read cluster.json and restart the components whose flags changed
  // (this is how `svcplane up --proxy-mode X` switches a running cluster's proxies).
  process.on('SIGHUP', () => {
    try {
      const next = loadConfig(c.name, c.dataDir);
      if (!next) return;
      for (const spec of clusterComponents(next)) {
        const r = running.get(spec.name);
        if (!r || r.spec.args.join('\0') === spec.args.join('\0')) continue;
        log('flags changed; restarting', { name: spec.name, args: spec.args });
        r.spec = spec;
        r.backoffMs = RESTART_MIN_MS;
        if (r.child) r.child.kill('SIGTERM'); else start(r);
      }
    } catch (e) {
      log('reload failed', { error: String(e) });
    }
  });
  process.on('SIGTERM', () => void stopAll().then(() => process.exit(0)));
  process.on('SIGINT', () => void stopAll().then(() => process.exit(0)));

  const comps = clusterComponents(c);
  if (c.runtime === 'containerd') {
    for (const n of specOf(c).nodes) writeContainerdConfig({ dataDir: c.dataDir, cluster: c.name, node: n.name, podCIDR: n.podCIDR, gateway: n.gateway });
  }
  for (const spec of comps) running.set(spec.name, { spec, restarts: 0, backoffMs: RESTART_MIN_MS });
  // The store first (local etcd members), then whatever does not need the API, then the rest.
  const storeParts = [...running.values()].filter((r) => r.spec.store);
  for (const r of storeParts) start(r);
  if (storeParts.length) {
    const ok = await waitFor(async () => (await memberStatus(etcdEndpoints(c), c.etcdTls)).every((m) => m.healthy), 60_000, 200);
    log(ok ? 'etcd healthy' : 'etcd not healthy within 60s; starting the API servers anyway (they retry)', { members: storeParts.length });
  }
  for (const r of running.values()) if (!r.spec.needsApi && !r.spec.store) start(r);
  const up = await waitFor(() => apiHealthy(p.apiserverSocket), 60_000);
  if (!up) log('API server did not become healthy within 60s; starting the rest anyway', { log: p.log('apiserver') });
  for (const r of running.values()) if (r.spec.needsApi) start(r);
  // Cluster add-ons (kube-dns) are created once the API answers; retried until they are.
  for (let i = 0; i < 60 && !stopping; i++) {
    try { await bootstrapCluster(c); break; } catch (e) { log('bootstrap failed, retrying', { error: String((e as Error).message) }); await new Promise((res) => setTimeout(res, 1000)); }
  }
  await new Promise(() => { /* run until signalled */ });
}
