/**
 * @module proxy/runner
 * Bounded-frequency runner, as kube-proxy's runner/bounded_frequency_runner.go:
 * - run() asks for a sync; calls made while one is waiting or running coalesce into one;
 * - syncs start at least minIntervalMs apart (a burst of events costs one sync per interval);
 * - at most maxIntervalMs passes without a sync (periodic resync);
 * - a failed sync is retried after retryMs (unless a run() asks sooner).
 * The clock and timers are injected so tests step time instead of sleeping.
 */
export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(t: unknown): void;
}

export const realClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
};

export class BoundedFrequencyRunner {
  private timer: unknown;
  private dueAt = Infinity;
  private running = false;
  private pending = false;
  private last = -Infinity;
  private stopped = true;

  constructor(
    private readonly fn: () => Promise<void>,
    readonly minIntervalMs: number,
    readonly maxIntervalMs: number,
    readonly retryMs = 1000,
    private readonly clock: Clock = realClock,
  ) {}

  /** Start the loop: one sync right away. */
  start(): void {
    this.stopped = false;
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Ask for a sync as soon as the minimum interval allows. */
  run(): void {
    if (this.running) { this.pending = true; return; }
    this.schedule(Math.max(0, this.last + this.minIntervalMs - this.clock.now()));
  }

  /** Schedule the next tick in `ms` unless one is already due sooner. */
  private schedule(ms: number): void {
    if (this.stopped) return;
    const at = this.clock.now() + ms;
    if (this.timer !== undefined && this.dueAt <= at) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.dueAt = at;
    this.timer = this.clock.setTimeout(() => { this.timer = undefined; this.dueAt = Infinity; void this.tick(); }, ms);
  }

  private async tick(): Promise<void> {
    if (this.stopped) return;
    this.running = true;
    this.pending = false;
    let ok = true;
    this.last = this.clock.now();
    try { await this.fn(); } catch { ok = false; }
    this.running = false;
    if (this.pending) this.schedule(Math.max(0, this.last + this.minIntervalMs - this.clock.now()));
    this.schedule(ok ? this.maxIntervalMs : this.retryMs);
  }
}
