/**
 * @module net/nft
 * Batch runners for nftables: one `nft -f -` process per transaction, or a long-lived `nft -i`
 * (NftSession) for small ones. nft fetches from the kernel the objects a transaction refers to
 * (rules of whole tables for some commands: seconds at 10k Services), and starting a process
 * costs tens of ms, so callers build one transaction per sync instead of running nft per rule.
 */
import { spawn } from 'node:child_process';
import { run } from './exec.js';

/** Apply a transaction atomically (all or nothing). Throws CommandError naming nft's complaint. */
export async function nftApply(text: string, netns?: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: text, netns, timeoutMs: 600_000 });
}

/** `nft list …` output, or '' when the object does not exist. */
export async function nftList(args: string[], netns?: string): Promise<string> {
  const r = await run(['nft', ...args], { netns, allowFail: true });
  return r.code === 0 ? r.stdout : '';
}

/** Delete a table if it exists (no error when it does not). */
export async function nftDeleteTable(family: string, name: string, netns?: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: `table ${family} ${name}\ndelete table ${family} ${name}\n`, netns, allowFail: true });
}

/**
 * A long-lived `nft -i` process, for small transactions: each one is a single input line (one
 * line is one atomic batch), and no process is started per sync — starting nft (and forking a
 * large Node process to run it) costs tens of ms, while an element update in a running nft
 * takes ~2 ms even next to 100k elements (nft only fetches the objects a command names).
 *
 * nft -i prints nothing on success and "Error: …" on failure, so each transaction is followed
 * by a command that always fails naming a unique marker: everything before the marker's error
 * belongs to the transaction. The process is replaced after SESSION_MAX_BYTES of input, because
 * its line editor keeps every line in its history; HOME points nowhere so no history file is
 * written.
 */
export class NftSession {
  /**
   * Longer transactions go to `nft -f`: the line editor's cost grows faster than linearly with
   * the line (measured: 400 elements, 16 KB, ~as fast as a new nft process; 240 KB 4× slower).
   */
  static readonly MAX_LINE = 16 * 1024;
  private static readonly SESSION_MAX_BYTES = 32 * 1024 * 1024;
  private child?: ReturnType<typeof spawnSession>;
  private out = '';
  private written = 0;
  private seq = 0;
  private waiter?: () => void;
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly netns?: string, private readonly timeoutMs = 120_000) {}

  /** Apply `text` (nft -f syntax, one command per line) atomically; throws with nft's error. */
  apply(text: string): Promise<void> {
    const p = this.queue.then(() => this.applyNow(text));
    this.queue = p.catch(() => {});
    return p;
  }

  private applyNow(text: string): Promise<void> {
    const line = text.split('\n').filter((l) => l.trim()).join('; ');
    if (!line) return Promise.resolve();
    if (this.child && this.written > NftSession.SESSION_MAX_BYTES) this.close();
    const child = this.child ?? this.start();
    const marker = `svcplane-marker-${process.pid}-${++this.seq}`;
    // The marker's error block: its command echoed, then a line of carets under it.
    const done = new RegExp(`${marker}[^\\n]*\\n[ \\t]*\\^[^\\n]*\\n`);
    const input = `${line}\nlist set ip svcplane-session ${marker}\n`;
    this.written += input.length;
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => { this.close(); reject(new Error(`nft -i: no answer within ${this.timeoutMs} ms`)); }, this.timeoutMs);
      this.waiter = () => {
        if (this.child !== child) { clearTimeout(timer); reject(new Error(`nft -i exited: ${this.out.trim().slice(0, 500)}`)); return; }
        if (!done.test(this.out)) return;
        const at = this.out.lastIndexOf('Error:', this.out.indexOf(marker));
        const result = this.out.slice(0, Math.max(at, 0)).trim();
        this.out = '';
        this.waiter = undefined;
        clearTimeout(timer);
        if (result) reject(new Error(`nft: ${result.split('\n').slice(0, 5).map((l) => l.slice(0, 300)).join('; ')}`));
        else resolve();
      };
      child.stdin!.write(input);
    });
  }

  /** Start the process now, so that the first apply() does not pay for it. */
  warm(): void {
    if (!this.child) this.start();
  }

  private start(): ReturnType<typeof spawnSession> {
    const child = spawnSession(this.netns);
    this.child = child;
    this.out = '';
    this.written = 0;
    // Never keeps the process alive by itself (a pending apply holds its timer).
    child.unref();
    (child.stdin as unknown as { unref(): void }).unref();
    (child.stdout as unknown as { unref(): void }).unref();
    child.stdout!.setEncoding('utf8');
    child.stdout!.on('data', (d: string) => { this.out += d; this.waiter?.(); });
    child.stdin!.on('error', () => { /* reported through 'exit' */ });
    child.on('exit', () => { if (this.child === child) { this.child = undefined; this.waiter?.(); } });
    child.on('error', () => { if (this.child === child) { this.child = undefined; this.waiter?.(); } });
    return child;
  }

  /** Stop the process (nft -i exits at the end of its input). */
  close(): void {
    const c = this.child;
    this.child = undefined;
    if (c) { c.stdin!.end(); this.waiter?.(); }
  }
}

function spawnSession(netns?: string) {
  // stderr into stdout, so errors and the marker arrive in order on one pipe.
  const argv = [...(netns ? ['ip', 'netns', 'exec', netns] : []), 'sh', '-c', 'exec nft -i 2>&1'];
  return spawn(argv[0]!, argv.slice(1), { stdio: ['pipe', 'pipe', 'ignore'], env: { ...process.env, HOME: '/nonexistent' } });
}
