/**
 * A running cluster against a local user and a careless one, through bin/svcplane and kubectl:
 * its secrets unreadable and its API socket unreachable for an unprivileged user; `down` stopping
 * exactly what the cluster started (a shell that exported KUBECONFIG into the data dir survives);
 * kill -9 of the supervisor: `status` truthful, the next `up` leaves one serving API server; and
 * the CLI's answers (unknown cluster, bad --workers, stopped cluster, unknown log, list).
 * One cluster (1 worker) in the default data root serves every check, in order.
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { ROOT, isRoot } from './lib/harness.js';
import { clusterNetns } from '../src/cluster/lifecycle.js';
import { DEFAULT_DATA_ROOT, paths } from '../src/cluster/config.js';
import { clusterProcesses, procStat, readSupervisorState } from '../src/cluster/procs.js';
import type { SupervisorState } from '../src/cluster/supervisor.js';

const CLI = join(ROOT, 'bin', 'svcplane');
const NAME = `hc${process.pid % 100000}`;
const DATA = join(DEFAULT_DATA_ROOT, NAME);
const P = paths(DATA);
const NOBODY = ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'];

interface Cmd { code: number; out: string; err: string }
function svcplane(args: string[], opts: { as?: string[]; timeoutMs?: number } = {}): Cmd {
  const argv = [...(opts.as ?? []), CLI, ...args];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: 'utf8', timeout: opts.timeoutMs ?? 180_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}
function kubectl(...args: string[]): Cmd {
  const r = spawnSync('kubectl', ['--kubeconfig', P.kubeconfig, ...args], { encoding: 'utf8', timeout: 30_000 });
  return { code: r.status ?? 1, out: r.stdout ?? '', err: r.stderr ?? '' };
}
/** One line on stderr, nothing on stdout, exit 1: how every refusal must look. */
function assertOneLineError(r: Cmd, re: RegExp): void {
  assert.equal(r.code, 1, `exit code; stdout: ${r.out} stderr: ${r.err}`);
  assert.equal(r.out, '');
  assert.equal(r.err.trimEnd().split('\n').length, 1, `one line: ${r.err}`);
  assert.match(r.err, re);
}
async function eventually<T>(what: string, fn: () => T | undefined | false, timeoutMs = 60_000): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
/** The same process still (pid + start time), not a zombie. */
function sameProcess(pid: number, ticks: string): boolean {
  const s = procStat(pid);
  return !!s && s.state !== 'Z' && s.startTicks === ticks;
}
/** API server processes of this cluster, from /proc (read only: to count them). */
function apiservers(): number[] {
  return readdirSync('/proc').filter((d) => /^\d+$/.test(d)).filter((d) => {
    try {
      const argv = readFileSync(`/proc/${d}/cmdline`, 'utf8').split('\0');
      const i = argv.indexOf('apiserver');
      return i >= 0 && argv[argv.indexOf('--data-dir') + 1] === DATA && procStat(Number(d))?.state !== 'Z';
    } catch { return false; }
  }).map(Number);
}
function state(): SupervisorState { return readSupervisorState(DATA) as SupervisorState; }
/** The kube-dns pods' containers: processes the cluster started that the supervisor does not know. */
function kubeDnsRunning(): Promise<boolean> {
  return eventually('kube-dns pods running', () => {
    const pods = JSON.parse(kubectl('get', 'pods', '-n', 'kube-system', '-o', 'json').out || '{"items":[]}').items as any[];
    return pods.length > 0 && pods.every((p) => p.status?.phase === 'Running');
  }, 90_000);
}
function apiPort(): number { return JSON.parse(readFileSync(join(DATA, 'cluster.json'), 'utf8')).apiserverPort; }

const skip = !isRoot() && 'needs root (network namespaces, and root to compare with an unprivileged user)';

describe('cluster hardening: file modes, down/up after kill -9, CLI answers', { skip, timeout: 420_000 }, () => {
  const bystanders: ChildProcess[] = [];
  before(() => {
    const r = svcplane(['up', '--name', NAME, '--workers', '1']);
    if (r.code !== 0) throw new Error(`svcplane up failed (${r.code}): ${r.err}`);
  });
  after(() => {
    for (const b of bystanders) { try { process.kill(-b.pid!, 'SIGKILL'); } catch { /* gone */ } }
    svcplane(['down', '--name', NAME, '--purge']);
  });

  it('refuses bad input and unknown clusters with one line and exit 1, creating nothing', () => {
    const ghost = `${NAME}x`;
    assertOneLineError(svcplane(['down', '--name', ghost]), new RegExp(`cluster "${ghost}" not found`));
    for (const w of ['abc', '-1', '51', '1.5', '']) {
      assertOneLineError(svcplane(['up', '--name', ghost, '--workers', w]), /--workers .*must be a whole number from 0 to 50/);
    }
    assertOneLineError(svcplane(['up', '--name', ghost, '--apiservers', 'two']), /--apiservers .*must be a whole number from 1 to 5/);
    assert.equal(existsSync(join(DEFAULT_DATA_ROOT, ghost)), false, 'no data dir made');
    assert.deepEqual(clusterNetns(ghost), [], 'no namespace made');
    assertOneLineError(svcplane(['get', 'pods']), /only "svcplane get clusters"/);
  });

  it('keeps the store, its WAL, keys, token, logs and API socket from an unprivileged user', () => {
    const root = statSync(DEFAULT_DATA_ROOT).mode & 0o777;
    assert.equal(root & 0o022, 0, `${DEFAULT_DATA_ROOT} not writable by group/others (${root.toString(8)})`);
    assert.equal(statSync(DATA).mode & 0o777, 0o700, 'data dir 0700');
    const secrets = [P.db, `${P.db}-wal`, join(P.pki, 'token'), join(P.pki, 'ca.key'), join(P.pki, 'apiserver.key'), P.kubeconfig, P.kubeconfigLocal, P.log('apiserver'), P.log('supervisor')];
    for (const f of secrets) {
      assert.ok(existsSync(f), `${f} exists`);
      assert.equal(statSync(f).mode & 0o077, 0, `${f} is its owner's alone (${(statSync(f).mode & 0o777).toString(8)})`);
      const r = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), 'cat', f], { encoding: 'utf8' });
      assert.notEqual(r.status, 0, `nobody read ${f}`);
      assert.match(r.stderr, /Permission denied/);
    }
    // The trusted socket (no authentication) and the others: connect(2) as nobody is refused.
    for (const sock of [P.apiserverSocket, P.apiserverSecureSocket]) {
      assert.ok(existsSync(sock), `${sock} exists`);
      const r = spawnSync(NOBODY[0]!, [...NOBODY.slice(1), process.execPath, '-e',
        `require('net').connect(${JSON.stringify(sock)}).on('connect', () => { console.log('connected'); process.exit(0); }).on('error', (e) => { console.log(e.code); process.exit(3); })`], { encoding: 'utf8' });
      assert.equal(r.stdout.trim(), 'EACCES', `${sock}: ${r.stdout} ${r.stderr}`);
    }
    // …while root still gets in through the kubeconfig.
    assert.equal(kubectl('get', 'nodes').code, 0);
  });

  it('status, list and logs answer truthfully, as root and as another user', () => {
    const st = svcplane(['status', '--name', NAME]);
    assert.equal(st.code, 0, st.err);
    const asNobody = svcplane(['status', '--name', NAME], { as: NOBODY });
    assert.notEqual(asNobody.code, 0);
    assert.doesNotMatch(asNobody.out + asNobody.err, /stopped/);
    assertOneLineError(asNobody, /svcplane status needs root/);
    for (const args of [['list'], ['get', 'clusters']]) {
      const l = svcplane(args);
      assert.equal(l.code, 0, l.err);
      const [hdr, ...rows] = l.out.trimEnd().split('\n');
      assert.match(hdr!, /^NAME\s+STATUS\s+NODES\s+API\s+KUBECONFIG$/);
      const mine = rows.map((r) => r.split(/\s+/)).find((r) => r[0] === NAME);
      assert.deepEqual(mine, [NAME, 'Running', '2', `https://127.0.0.1:${apiPort()}`, P.kubeconfig]);
    }
    const bad = svcplane(['logs', '--name', NAME, 'nope']);
    assertOneLineError(bad, /unknown component "nope"/);
    const names = bad.err.split('use one of ')[1]!.trim().split(', ');
    for (const n of ['apiserver', 'scheduler', `kubelet-${NAME}-control-plane`, `proxy-${NAME}-worker`]) assert.ok(names.includes(n), `${n} listed`);
    for (const n of names.filter((x) => x === 'apiserver' || x === 'supervisor')) assert.equal(svcplane(['logs', '--name', NAME, n, '--tail', '1']).code, 0);
  });

  it('after kill -9 of the supervisor: status tells the truth, up leaves one serving API server', async () => {
    await kubeDnsRunning();
    const before = state();
    const oldApi = before.components.find((c) => c.name === 'apiserver')!;
    assert.deepEqual(apiservers(), [oldApi.pid]);
    process.kill(before.pid, 'SIGKILL');
    await eventually('the supervisor gone', () => !sameProcess(before.pid, before.startTicks!), 10_000);
    // Its components run on, unsupervised, and still serve: status must say so.
    assert.equal(kubectl('get', 'nodes').code, 0, 'the API still serves');
    const st = svcplane(['status', '--name', NAME]);
    assert.equal(st.code, 1, 'not healthy: nothing supervises it');
    assert.doesNotMatch(st.out, /: stopped/);
    assert.match(st.out, /Supervisor: not running/);
    assert.match(st.out, new RegExp(`^apiserver\\s+Running\\s+${oldApi.pid}\\s`, 'm'));
    assert.match(st.out, new RegExp(`^${NAME}-worker\\s+Ready`, 'm'), 'nodes listed from the API');
    assert.match(svcplane(['list']).out, new RegExp(`^${NAME}\\s+Unsupervised\\s`, 'm'));

    const up = svcplane(['up', '--name', NAME]);
    assert.equal(up.code, 0, up.err);
    // One API server, the new supervisor's, serving on the port the kubeconfig names.
    const now = state();
    assert.notEqual(now.pid, before.pid);
    const api = now.components.find((c) => c.name === 'apiserver')!;
    assert.deepEqual(apiservers(), [api.pid]);
    assert.equal(sameProcess(oldApi.pid!, oldApi.startTicks!), false, 'the orphaned API server was stopped');
    const server = readFileSync(P.kubeconfig, 'utf8').match(/server: (\S+)/)![1];
    assert.equal(server, `https://127.0.0.1:${apiPort()}`);
    const ss = spawnSync('ss', ['-ltnpH', `sport = :${apiPort()}`], { encoding: 'utf8' }).stdout;
    assert.match(ss, new RegExp(`pid=${api.pid},`), `the port is the recorded API server's: ${ss}`);
    const nodes = kubectl('get', 'nodes', '-o', 'name');
    assert.equal(nodes.code, 0, nodes.err);
    assert.deepEqual(nodes.out.trim().split('\n').sort(), [`node/${NAME}-control-plane`, `node/${NAME}-worker`]);
    const st2 = svcplane(['status', '--name', NAME]);
    assert.equal(st2.code, 0, st2.out + st2.err);
    assert.equal(state().components.find((c) => c.name === 'apiserver')!.restarts, 0, 'the API server is not crash-looping');
    assert.equal(api.pid, apiservers()[0]);
  });

  it('down stops every process the cluster started and nothing else', async () => {
    // A user's shell that exported the kubeconfig (own process group), and a process naming the data dir.
    const shell = spawn('bash', ['-c', `export KUBECONFIG=${P.kubeconfig}; sleep 1000; exit 0`], { detached: true, stdio: 'ignore' });
    const named = spawn('bash', ['-c', `sleep 1000; : ${DATA}`], { detached: true, stdio: 'ignore' });
    bystanders.push(shell, named);
    // Each bash waits on its sleep, which carries the exported KUBECONFIG in its environment.
    const kids = await eventually('the bystanders\' sleep', () => {
      const k = [shell, named].map((c) => { try { return Number(readFileSync(`/proc/${c.pid}/task/${c.pid}/children`, 'utf8').trim()); } catch { return 0; } });
      return k.every((x) => x > 0) && k;
    }, 5000);
    assert.match(readFileSync(`/proc/${kids[0]}/environ`, 'utf8'), new RegExp(`KUBECONFIG=${P.kubeconfig}\0`));
    assert.ok(readFileSync(`/proc/${named.pid}/cmdline`, 'utf8').includes(DATA));
    const ids = [shell.pid!, named.pid!, ...kids].map((pid) => ({ pid, ticks: procStat(pid)!.startTicks }));
    // What the cluster runs: supervisor, components, pods' containers (recorded with start times).
    await kubeDnsRunning();
    const recorded = await eventually('containers among the recorded processes', () => {
      const m = clusterProcesses(DATA);
      return [...m.values()].some((w) => w.startsWith('container ')) && m;
    }, 30_000);
    const st = state();
    const tracked = [{ pid: st.pid, ticks: st.startTicks! }, ...st.components.filter((c) => c.pid).map((c) => ({ pid: c.pid!, ticks: c.startTicks! }))];
    const containers = [...recorded].filter(([, w]) => w.startsWith('container ')).map(([pid]) => ({ pid, ticks: procStat(pid)?.startTicks ?? '' }));
    assert.ok(containers.length >= 1, 'kube-dns containers are among the recorded processes');
    const everything = [...recorded.keys()].map((pid) => ({ pid, ticks: procStat(pid)?.startTicks ?? '' }));

    const r = svcplane(['down', '--name', NAME]);
    assert.equal(r.code, 0, r.err);
    for (const b of ids) assert.ok(sameProcess(b.pid, b.ticks), `bystander ${b.pid} survived down`);
    for (const p of [...tracked, ...containers, ...everything]) assert.equal(sameProcess(p.pid, p.ticks), false, `cluster process ${p.pid} (${recorded.get(p.pid) ?? 'component'}) stopped`);
    assert.deepEqual(apiservers(), []);
    assert.deepEqual(clusterNetns(NAME), []);
    for (const b of bystanders) process.kill(-b.pid!, 'SIGKILL');
  });

  it('a stopped cluster: exec names it and says it is not running; status and list say stopped', () => {
    assertOneLineError(svcplane(['exec', '--name', NAME, 'client', '--', 'true']), new RegExp(`cluster "${NAME}" is not running`));
    const st = svcplane(['status', '--name', NAME]);
    assert.equal(st.code, 1);
    assert.match(st.out, new RegExp(`^Cluster ${NAME}: stopped`));
    assert.match(svcplane(['list']).out, new RegExp(`^${NAME}\\s+Stopped\\s`, 'm'));
  });
});
