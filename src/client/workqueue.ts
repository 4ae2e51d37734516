/**
 * @module client/workqueue
 * A rate-limited work queue as in client-go: a key is processed by at most one worker at a
 * time, a key added while in flight is processed again after, duplicates collapse, and a
 * handler that throws is retried with per-key exponential back-off (5 ms doubling to 1000 s,
 * like DefaultControllerRateLimiter's item back-off).
 */

const BASE_DELAY_MS = 5;
const MAX_DELAY_MS = 1000_000;

export type WorkHandler = (key: string) => Promise<void>;

export class WorkQueue {
  private readonly queue: string[] = [];
  private readonly dirty = new Set<string>();
  private readonly processing = new Set<string>();
  private readonly failures = new Map<string, number>();
  private readonly timers = new Set<NodeJS.Timeout>();
  private waiters: (() => void)[] = [];
  private shuttingDown = false;

  constructor(readonly name: string, private readonly onError?: (key: string, err: unknown) => void) {}

  add(key: string): void {
    if (this.shuttingDown || this.dirty.has(key)) return;
    this.dirty.add(key);
    if (this.processing.has(key)) return;
    this.queue.push(key);
    const w = this.waiters.shift();
    w?.();
  }

  addAfter(key: string, ms: number): void {
    if (ms <= 0) return this.add(key);
    const t = setTimeout(() => { this.timers.delete(t); this.add(key); }, ms);
    t.unref();
    this.timers.add(t);
  }

  addRateLimited(key: string): void {
    const n = this.failures.get(key) ?? 0;
    this.failures.set(key, n + 1);
    this.addAfter(key, Math.min(BASE_DELAY_MS * 2 ** n, MAX_DELAY_MS));
  }

  forget(key: string): void {
    this.failures.delete(key);
  }

  numRequeues(key: string): number {
    return this.failures.get(key) ?? 0;
  }

  len(): number {
    return this.queue.length;
  }

  private async next(): Promise<string | undefined> {
    while (!this.queue.length) {
      if (this.shuttingDown) return undefined;
      await new Promise<void>((r) => this.waiters.push(r));
    }
    const key = this.queue.shift()!;
    this.dirty.delete(key);
    this.processing.add(key);
    return key;
  }

  private done(key: string): void {
    this.processing.delete(key);
    if (this.dirty.has(key)) {
      this.queue.push(key);
      this.waiters.shift()?.();
    }
  }

  /** Run `workers` loops calling handler for each key; returns when the queue shuts down. */
  async run(handler: WorkHandler, workers = 1): Promise<void> {
    const loop = async () => {
      for (;;) {
        const key = await this.next();
        if (key === undefined) return;
        try {
          await handler(key);
          this.forget(key);
        } catch (err) {
          this.onError?.(key, err);
          this.addRateLimited(key);
        } finally {
          this.done(key);
        }
      }
    };
    await Promise.all(Array.from({ length: workers }, loop));
  }

  shutdown(): void {
    this.shuttingDown = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const w of this.waiters.splice(0)) w();
  }
}
