/**
 * Which processes are a cluster's: from the records only, with pids pinned by start time, the
 * sessions svcplane made (also after their leader was killed -9), and nothing else.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { paths } from './config.js';
import { clusterProcesses, killClusterProcesses, procStat } from './procs.js';

const started: ChildProcess[] = [];
const dirs: string[] = [];
after(() => {
  for (const c of started) { try { process.kill(-c.pid!, 'SIGKILL'); } catch { /* gone */ } }
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

/** A detached bash (own session, as the supervisor and containers are) with two sleeping children. */
async function session(extraEnv: Record<string, string> = {}): Promise<{ leader: number; kids: number[] }> {
  const c = spawn('bash', ['-c', 'sleep 1000 & sleep 1000 & wait'], { detached: true, stdio: 'ignore', env: { ...process.env, ...extraEnv } });
  started.push(c);
  for (let i = 0; i < 200; i++) {
    let kids: number[] = [];
    try { kids = readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number); } catch { /* not yet */ }
    if (kids.length === 2) return { leader: c.pid!, kids };
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error('bash did not start its children');
}

function dataDir(): string {
  const d = mkdtempSync(join(tmpdir(), 'svp-procs-'));
  dirs.push(d);
  return d;
}

function recordSupervisor(dir: string, pid: number, startTicks: string, components: { name: string; pid: number; startTicks?: string }[] = []): void {
  writeFileSync(paths(dir).supervisorState, JSON.stringify({ pid, startTicks, sid: pid, components: components.map((c) => ({ ...c, restarts: 0 })) }));
  writeFileSync(paths(dir).supervisorPid, `${pid}\n`);
}

async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const s = procStat(pid);
    if (!s || s.state === 'Z') return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return false;
}

describe('cluster processes', () => {
  it('are the recorded session and its members, not a process whose environment names the data dir', async () => {
    const dir = dataDir();
    const sup = await session();
    const bystander = await session({ KUBECONFIG: `${dir}/kubeconfig` });
    recordSupervisor(dir, sup.leader, procStat(sup.leader)!.startTicks);
    const found = clusterProcesses(dir);
    assert.deepEqual([...found.keys()].sort(), [sup.leader, ...sup.kids].sort());
    assert.ok(readFileSync(`/proc/${bystander.kids[0]}/environ`, 'utf8').includes(`KUBECONFIG=${dir}/kubeconfig`));
    for (const p of [bystander.leader, ...bystander.kids]) assert.equal(found.has(p), false);
  });

  it('a recorded pid whose start time differs (reused) is not the cluster\'s', async () => {
    const dir = dataDir();
    const other = await session();
    recordSupervisor(dir, other.leader, String(Number(procStat(other.leader)!.startTicks) + 1), [{ name: 'apiserver', pid: other.kids[0]!, startTicks: '1' }]);
    assert.deepEqual([...clusterProcesses(dir).keys()], []);
  });

  it('the session of a supervisor killed -9 is still found through its members, and killed with them', async () => {
    const dir = dataDir();
    const sup = await session();
    const bystander = await session();
    const ticks = procStat(sup.leader)!.startTicks;
    recordSupervisor(dir, sup.leader, ticks, [{ name: 'apiserver', pid: sup.kids[0]!, startTicks: procStat(sup.kids[0]!)!.startTicks }]);
    process.kill(sup.leader, 'SIGKILL');
    assert.ok(await gone(sup.leader));
    assert.deepEqual([...clusterProcesses(dir).keys()].sort(), [...sup.kids].sort());
    // Not even the component recorded: members of a session whose leader's pid is unused.
    recordSupervisor(dir, sup.leader, ticks);
    assert.deepEqual([...clusterProcesses(dir).keys()].sort(), [...sup.kids].sort());
    assert.equal(await killClusterProcesses(dir), 2);
    for (const k of sup.kids) assert.ok(await gone(k));
    for (const p of [bystander.leader, ...bystander.kids]) assert.equal(procStat(p)?.state !== 'Z' && !!procStat(p), true, `bystander ${p} alive`);
  });

  it('pods\' containers come from the node agents\' records, with their sessions', async () => {
    const dir = dataDir();
    const ctr = await session();
    mkdirSync(join(dir, 'pods', 'uid-1'), { recursive: true });
    writeFileSync(join(dir, 'pods', 'uid-1', 'state.json'), JSON.stringify({ uid: 'uid-1', containers: { web: { state: 'running', pid: ctr.leader, startTicks: procStat(ctr.leader)!.startTicks } } }));
    const found = clusterProcesses(dir);
    assert.deepEqual([...found.keys()].sort(), [ctr.leader, ...ctr.kids].sort());
    assert.equal(found.get(ctr.leader), 'container uid-1/web');
  });
});
