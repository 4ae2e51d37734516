/**
 * @module cluster/procs
 * Which processes belong to a cluster, from svcplane's own records only — never by matching the
 * command lines or environments of the machine's processes (a user's shell that exported
 * KUBECONFIG=<data dir>/kubeconfig is not the cluster's).
 *
 * Records: the supervisor (supervisor.pid; its start time and session in supervisor-state.json),
 * each component (pid + start time in supervisor-state.json), each pod's containers (pid + start
 * time in the node agents' records, <data dir>/pods/<uid>/state.json). A recorded pid counts only
 * while /proc/<pid>/stat shows the recorded start time: pids are reused.
 *
 * What they started in turn: the members of a recorded session leader's session (components run
 * in the supervisor's session, each container leads its own) and descendants of recorded
 * processes. A session id is not handed to a new process while any member of the session lives,
 * so the session of a leader that died (supervisor killed -9) is still recognised: through a
 * member that is itself a verified record, or, when the leader's pid is in use by no process at
 * all, by its members having started after the recorded leader.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { loadConfigAt, paths } from './config.js';
import { runtimeTasks } from './containerd.js';
import type { SupervisorState } from './supervisor.js';

export interface ProcStat { pid: number; state: string; ppid: number; pgid: number; sid: number; startTicks: string }

/** /proc/<pid>/stat, parsed after the command name (which may hold spaces and parentheses). */
export function procStat(pid: number): ProcStat | undefined {
  let s: string;
  try { s = readFileSync(`/proc/${pid}/stat`, 'utf8'); } catch { return undefined; }
  const f = s.slice(s.lastIndexOf(')') + 2).split(' ');
  return { pid, state: f[0]!, ppid: Number(f[1]), pgid: Number(f[2]), sid: Number(f[3]), startTicks: f[19]! };
}

export function startTicks(pid: number): string | undefined {
  return procStat(pid)?.startTicks;
}

/** Is this exact process (pid + start time) alive, not a zombie? */
export function alive(pid: number, ticks: string | undefined): boolean {
  if (!ticks) return false;
  const st = procStat(pid);
  return !!st && st.state !== 'Z' && st.startTicks === ticks;
}

/** Gone or a zombie (a zombie holds no resources and cannot be signalled away). */
function gone(pid: number): boolean {
  const st = procStat(pid);
  return !st || st.state === 'Z';
}

export interface Recorded {
  pid: number;
  startTicks?: string;
  /** "supervisor", "component <name>", "container <pod uid>/<name>" */
  what: string;
  /** Leads a session of its own whose members are the cluster's (the supervisor, containers). */
  sessionLeader?: boolean;
}

export interface SupervisorRecord { pid: number; startTicks?: string; sid?: number }

type StateFile = Partial<SupervisorState>;

export function readSupervisorState(dataDir: string): StateFile | undefined {
  try { return JSON.parse(readFileSync(paths(dataDir).supervisorState, 'utf8')) as StateFile; } catch { return undefined; }
}

/**
 * The supervisor if it runs: supervisor.pid, verified by the start time the supervisor wrote
 * beside it; a pid file without one (a supervisor killed before writing its state) is verified by
 * its command line naming `supervise` and this data dir — the recorded pid's own identity.
 */
export function runningSupervisor(dataDir: string): SupervisorRecord | undefined {
  let pid: number;
  try { pid = Number(readFileSync(paths(dataDir).supervisorPid, 'utf8').split('\n')[0]!.trim()); } catch { return undefined; }
  if (!Number.isInteger(pid) || pid <= 0) return undefined;
  const st = readSupervisorState(dataDir);
  if (st?.pid === pid && st.startTicks) return alive(pid, st.startTicks) ? { pid, startTicks: st.startTicks, sid: st.sid } : undefined;
  const now = procStat(pid);
  if (!now || now.state === 'Z') return undefined;
  try {
    const argv = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    const i = argv.indexOf('--data-dir');
    return argv.includes('supervise') && i >= 0 && argv[i + 1] === dataDir ? { pid, startTicks: now.startTicks, sid: now.sid } : undefined;
  } catch { return undefined; }
}

/** {pid, startTicks} pairs anywhere in a node agent's pod record (its layout is the node agent's). */
function pidsInRecord(v: unknown, where: string, out: Recorded[]): void {
  if (!v || typeof v !== 'object') return;
  if (Array.isArray(v)) { for (const x of v) pidsInRecord(x, where, out); return; }
  const o = v as Record<string, unknown>;
  if (typeof o.pid === 'number' && typeof o.startTicks === 'string') out.push({ pid: o.pid, startTicks: o.startTicks, what: `container ${where}`, sessionLeader: true });
  for (const [k, x] of Object.entries(o)) if (k !== 'pid') pidsInRecord(x, k === 'containers' ? where : `${where}/${k}`, out);
}

/** Every pid svcplane recorded for the cluster (alive or not). */
export function recordedProcesses(dataDir: string): Recorded[] {
  const out: Recorded[] = [];
  const st = readSupervisorState(dataDir);
  const sup = runningSupervisor(dataDir);
  if (sup) out.push({ pid: sup.pid, startTicks: sup.startTicks, what: 'supervisor', sessionLeader: sup.sid === sup.pid });
  for (const c of st?.components ?? []) if (c.pid) out.push({ pid: c.pid, startTicks: c.startTicks, what: `component ${c.name}` });
  const pods = join(dataDir, 'pods');
  if (existsSync(pods)) {
    for (const uid of readdirSync(pods)) {
      try { pidsInRecord(JSON.parse(readFileSync(join(pods, uid, 'state.json'), 'utf8')), uid, out); } catch { /* no record (yet) */ }
    }
  }
  // Pods on containerd: each node's containerd records its tasks' init and shim pids.
  const c = loadConfigAt(dataDir);
  const runtimes = join(dataDir, 'containerd');
  if (c && existsSync(runtimes)) {
    for (const node of readdirSync(runtimes)) {
      for (const t of runtimeTasks(dataDir, c.name, node)) {
        const startTicks = procStat(t.pid)?.startTicks;
        if (startTicks) out.push({ pid: t.pid, startTicks, what: t.what });
      }
    }
  }
  return out;
}

/**
 * The cluster's live processes: verified records, the members of their sessions when svcplane
 * made the session (its leader is a record), and descendants. pid → what it is.
 */
export function clusterProcesses(dataDir: string): Map<number, string> {
  const found = new Map<number, string>();
  const recs = recordedProcesses(dataDir);
  const live = recs.filter((r) => alive(r.pid, r.startTicks));
  for (const r of live) found.set(r.pid, r.what);
  const table: ProcStat[] = [];
  for (const d of readdirSync('/proc')) {
    const pid = Number(d);
    if (!pid || pid === process.pid) continue;
    const s = procStat(pid);
    if (s && s.state !== 'Z') table.push(s);
  }
  // Sessions svcplane created: the supervisor's (recorded even after it died) and each container's.
  const st = readSupervisorState(dataDir);
  const leaders = recs.filter((r) => r.sessionLeader && r.startTicks);
  if (st?.pid && st.startTicks && st.sid === st.pid) leaders.push({ pid: st.pid, startTicks: st.startTicks, what: 'supervisor', sessionLeader: true });
  const liveSids = new Set(live.map((r) => procStat(r.pid)?.sid));
  const sessions = new Set<number>();
  for (const l of leaders) {
    const members = table.filter((s) => s.sid === l.pid);
    if (!members.length) continue;
    const leader = procStat(l.pid);
    // Ours when its leader is the recorded process, or a verified record is a member; with the
    // leader gone (killed -9), when its pid is not in use at all (a pid that leads another session
    // is alive) and every member started after the recorded leader did.
    const ours = leader ? leader.startTicks === l.startTicks || liveSids.has(l.pid)
      : members.every((m) => Number(m.startTicks) >= Number(l.startTicks));
    if (ours) sessions.add(l.pid);
  }
  for (const s of table) if (sessions.has(s.sid) && !found.has(s.pid)) found.set(s.pid, `session ${s.sid}`);
  // Descendants (a container's program that started a session of its own).
  const children = new Map<number, number[]>();
  for (const s of table) children.set(s.ppid, [...(children.get(s.ppid) ?? []), s.pid]);
  const queue = [...found.keys()];
  while (queue.length) {
    for (const c of children.get(queue.pop()!) ?? []) if (!found.has(c)) { found.set(c, `child`); queue.push(c); }
  }
  // Never this process or its ancestors (`up` runs the supervisor as its child until it returns).
  for (let p = process.pid; p > 1;) { found.delete(p); const s = procStat(p); if (!s) break; p = s.ppid; }
  return found;
}

/** SIGKILL every process of the cluster and wait until they are gone; returns how many there were. */
export async function killClusterProcesses(dataDir: string, timeoutMs = 5000): Promise<number> {
  const end = Date.now() + timeoutMs;
  let total = 0;
  const seen = new Set<number>();
  // Repeated: a node agent or supervisor killed in the first pass may have started one more.
  for (let round = 0; round < 5; round++) {
    const procs = [...clusterProcesses(dataDir).keys()].filter((p) => !seen.has(p) || !gone(p));
    if (!procs.length) break;
    for (const pid of procs) {
      if (!seen.has(pid)) { seen.add(pid); total++; }
      try { process.kill(pid, 'SIGKILL'); } catch { /* gone */ }
    }
    while (Date.now() < end && !procs.every(gone)) await new Promise((r) => setTimeout(r, 25));
  }
  return total;
}
