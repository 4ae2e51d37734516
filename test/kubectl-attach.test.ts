/**
 * kubectl attach and `kubectl run -i/-it` on containerd, through a real pseudo-terminal
 * (util-linux script) where a terminal is needed: kubectl 1.32 → API server pods/<p>/attach →
 * the node agent's /attach → CRI Attach on the node's containerd → the container's stdin/pty.
 * The shell's answers (42, its hostname, `stty size` after kubectl's resize) come from inside
 * the container; stdin's end reaches a stdinOnce container; --rm deletes the pod afterwards.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { after, before, describe, it } from 'node:test';
import { isRoot, startCluster, type TestCluster } from './lib/harness.js';

let c: TestCluster;

interface Proc { child: ChildProcess; out: () => string; code: Promise<number | null> }

/** Start kubectl (under script(1) when it needs a terminal), collecting everything it prints. */
function kubectl(args: string[], o: { tty?: { cols: number; rows: number } } = {}): Proc {
  const argv = ['kubectl', '--kubeconfig', c.kubeconfig, '--cache-dir', c.cacheDir, ...args];
  const quoted = argv.map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(' ');
  // script gives kubectl a pty of a known size; -e passes kubectl's exit code on.
  const child = o.tty
    ? spawn('script', ['-q', '-e', '-c', `stty cols ${o.tty.cols} rows ${o.tty.rows}; exec ${quoted}`, '/dev/null'], { stdio: ['pipe', 'pipe', 'pipe'] })
    : spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] });
  let buf = '';
  child.stdout!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stderr!.on('data', (d: Buffer) => { buf += d.toString(); });
  child.stdin!.on('error', () => undefined);
  const code = new Promise<number | null>((r) => child.on('close', (x) => r(x)));
  return { child, out: () => buf, code };
}

/** Output split at line ends and carriage returns (a shell redraws its line after a CR). */
const lines = (s: string) => s.split(/[\r\n]+/).map((l) => l.trim());

async function waitOut(p: Proc, what: string, test: (lines: string[]) => boolean, timeoutMs = 30_000): Promise<void> {
  await c.eventually(`${what} in kubectl's output: ${JSON.stringify(p.out().slice(-400))}`, () => test(lines(p.out())), timeoutMs, 100);
}

async function exited(p: Proc, timeoutMs = 30_000): Promise<number | null> {
  const t = setTimeout(() => p.child.kill('SIGKILL'), timeoutMs);
  try { return await p.code; } finally { clearTimeout(t); }
}

function podJson(name: string): any { return JSON.parse(c.k('get', 'pod', name, '-o', 'json')); }

describe('kubectl attach and run -it on containerd', { skip: !isRoot() && 'needs root', concurrency: false, timeout: 150_000 }, () => {
  const procs: Proc[] = [];
  before(async () => {
    c = await startCluster({ runtime: 'containerd', workers: 1 });
    const pod = (name: string, container: object) => ({ apiVersion: 'v1', kind: 'Pod', metadata: { name }, spec: { terminationGracePeriodSeconds: 1, containers: [{ name: 'c', image: 'busybox', ...container }] } });
    c.kubectl(['apply', '-f', '-'], { input: JSON.stringify({ apiVersion: 'v1', kind: 'List', items: [
      pod('counter', { command: ['sh', '-c', 'i=0; while true; do echo n$i; i=$((i+1)); sleep 0.2; done'] }),
      pod('reader', { stdin: true, command: ['sh', '-c', 'while read l; do echo got:$l; done'] }),
      pod('ttysh', { stdin: true, tty: true, command: ['sh'] }),
    ] }) });
    await c.eventually('counter, reader, ttysh Ready', () => ['counter', 'reader', 'ttysh'].every((n) => podJson(n).status?.conditions?.some((x: any) => x.type === 'Ready' && x.status === 'True')), 60_000, 250);
  });
  after(async () => {
    for (const p of procs) if (p.child.exitCode === null) p.child.kill('SIGKILL');
    await c?.destroy();
  });

  it('run --rm -it busybox -- sh: a shell on the pod\'s pty (prompt, commands, resize), exit code 0, the pod deleted', { timeout: 60_000 }, async () => {
    const p = kubectl(['run', '--rm', '-it', 'shell', '--image=busybox', '--restart=Never', '--', 'sh'], { tty: { cols: 123, rows: 45 } });
    procs.push(p);
    p.child.stdin!.write('echo $((6*7)); hostname\n');
    // kubectl sends its size +1 then its size (to force a redraw): asked once the shell has answered.
    await waitOut(p, '42', (l) => l.includes('42'));
    p.child.stdin!.write('stty size; exit\n');
    assert.equal(await exited(p, 45_000), 0, p.out());
    const l = lines(p.out());
    assert.ok(l.includes('42'), `the shell computed 6*7: ${JSON.stringify(p.out())}`);
    assert.ok(l.includes('shell'), `the pod's hostname: ${JSON.stringify(p.out())}`);
    assert.ok(l.includes('45 123'), `the container's tty has kubectl's terminal size: ${JSON.stringify(p.out())}`);
    assert.ok(l.some((x) => /^\/ # /.test(x)), `busybox's prompt: ${JSON.stringify(p.out())}`);
    await c.eventually('pod shell deleted', () => c.kubectl(['get', 'pod', 'shell']).err.includes('NotFound'), 30_000);
  });

  it('run -i without a tty: stdin\'s end reaches the stdinOnce container, its exit code is kubectl\'s', { timeout: 60_000 }, async () => {
    const p = kubectl(['run', '--rm', '-i', 'cat', '--image=busybox', '--restart=Never', '--', 'sh', '-c', 'cat; echo after-eof; exit 3']);
    procs.push(p);
    p.child.stdin!.end('hello\nworld\n');
    assert.equal(await exited(p, 45_000), 3, p.out());
    const l = lines(p.out());
    assert.ok(l.includes('hello') && l.includes('world') && l.includes('after-eof'), `cat saw stdin end: ${JSON.stringify(p.out())}`);
    await c.eventually('pod cat deleted', () => c.kubectl(['get', 'pod', 'cat']).err.includes('NotFound'), 30_000);
  });

  it('attach -i to a container reading stdin: each line answered; detaching leaves its stdin open', { timeout: 60_000 }, async () => {
    for (const word of ['one', 'two']) {
      const p = kubectl(['attach', '-i', 'reader']);
      procs.push(p);
      p.child.stdin!.write(`${word}\n`);
      await waitOut(p, `got:${word}`, (l) => l.includes(`got:${word}`));
      p.child.stdin!.end();
      assert.equal(await exited(p), 0, p.out());
    }
    assert.equal(podJson('reader').status.containerStatuses[0].restartCount, 0, 'the reader kept running across both attaches');
  });

  it('attach without -i streams a running container\'s output as it prints it', { timeout: 60_000 }, async () => {
    const p = kubectl(['attach', 'counter']);
    procs.push(p);
    const seen = () => lines(p.out()).filter((x) => /^n\d+$/.test(x)).map((x) => Number(x.slice(1)));
    await waitOut(p, 'three counter lines', () => seen().length >= 3);
    const s = seen();
    assert.ok(s.every((n, i) => i === 0 || n === s[i - 1]! + 1), `consecutive lines: ${s.join(',')}`);
    p.child.kill('SIGTERM');
    await exited(p);
  });

  it('attach -it to a tty container: a live shell, and kubectl logs shows what the tty printed', { timeout: 60_000 }, async () => {
    const p = kubectl(['attach', '-it', 'ttysh'], { tty: { cols: 80, rows: 24 } });
    procs.push(p);
    p.child.stdin!.write('echo tty-$((20+3))\n');
    await waitOut(p, 'tty-23', (l) => l.includes('tty-23'));
    await c.eventually('tty-23 in kubectl logs', () => lines(c.k('logs', 'ttysh')).includes('tty-23'), 20_000);
    p.child.stdin!.write('exit\n');
    assert.equal(await exited(p), 0, p.out());
  });
});
