/**
 * @module net/exec
 * The one place svcplane runs system commands (ip, nft, iptables-restore, conntrack, …).
 * Every call is logged on failure with the command line and stderr, so errors say what was run.
 */
import { spawn, spawnSync } from 'node:child_process';
import { accessSync, constants, statSync } from 'node:fs';
import { join } from 'node:path';

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export class CommandError extends Error {
  constructor(readonly argv: string[], readonly result: RunResult) {
    super(`${argv.join(' ')}: exit ${result.code}: ${(result.stderr || result.stdout).trim().split('\n').slice(0, 5).join('; ')}`);
    this.name = 'CommandError';
  }
}

export interface RunOptions {
  /** Text written to the command's stdin (e.g. an `nft -f -` transaction). */
  input?: string;
  /** Run inside this named network namespace (ip netns exec NAME …). */
  netns?: string;
  /** Do not throw on a non-zero exit. */
  allowFail?: boolean;
  env?: NodeJS.ProcessEnv;
  timeoutMs?: number;
}

function wrap(argv: string[], netns?: string): string[] {
  return netns ? ['ip', 'netns', 'exec', netns, ...argv] : argv;
}

/** Run a command asynchronously; resolves with its output, throws CommandError on failure. */
export function run(argv: string[], opts: RunOptions = {}): Promise<RunResult> {
  const full = wrap(argv, opts.netns);
  return new Promise((resolve, reject) => {
    const child = spawn(full[0]!, full.slice(1), { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    let timer: NodeJS.Timeout | undefined;
    if (opts.timeoutMs) timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs);
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', (e) => {
      if (timer) clearTimeout(timer);
      const r = { code: 127, stdout: '', stderr: String(e.message) };
      if (opts.allowFail) resolve(r); else reject(new CommandError(full, r));
    });
    child.on('close', (code, signal) => {
      if (timer) clearTimeout(timer);
      const r = { code: code ?? (signal ? 128 : 1), stdout: Buffer.concat(out).toString(), stderr: Buffer.concat(err).toString() };
      if (r.code !== 0 && !opts.allowFail) reject(new CommandError(full, r)); else resolve(r);
    });
    child.stdin.on('error', () => { /* command exited before reading stdin: reported via exit code */ });
    if (opts.input !== undefined) child.stdin.end(opts.input); else child.stdin.end();
  });
}

/** Synchronous variant for set-up and clean-up paths (and process exit handlers). */
export function runSync(argv: string[], opts: RunOptions = {}): RunResult {
  const full = wrap(argv, opts.netns);
  const r = spawnSync(full[0]!, full.slice(1), { input: opts.input, env: opts.env ?? process.env, encoding: 'utf8', timeout: opts.timeoutMs });
  const res = { code: r.status ?? 1, stdout: r.stdout ?? '', stderr: r.stderr ?? (r.error ? String(r.error.message) : '') };
  if (res.code !== 0 && !opts.allowFail) throw new CommandError(full, res);
  return res;
}

/** True if an executable is on PATH (looked up directly: no shell per question). */
export function haveCommand(name: string): boolean {
  if (name.includes('/')) return executable(name);
  return (process.env.PATH ?? '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin').split(':').some((d) => d && executable(join(d, name)));
}

function executable(path: string): boolean {
  try { accessSync(path, constants.X_OK); return statSync(path).isFile(); } catch { return false; }
}
