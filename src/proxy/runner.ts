/**
 * @module proxy/runner
 * Bounded-frequency runner, as kube-proxy's: run() requests a sync; bursts of requests
 * coalesce into one; syncs are at least minIntervalMs apart and at most maxIntervalMs apart
 * (periodic resync); a failed sync is retried after retryMs.
 */
export class BoundedFrequencyRunner {
  private timer?: NodeJS.Timeout;
  private running = false;
  private pending = false;
  private last = 0;
  private stopped = false;

  constructor(private readonly fn: () => Promise<void>, readonly minIntervalMs: number, readonly maxIntervalMs: number, readonly retryMs = 1000,
    private readonly clock: () => number = Date.now) {}

  start(): void {
    this.schedule(0);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
  }

  /** Ask for a sync as soon as the minimum interval allows. */
  run(): void {
    if (this.running) { this.pending = true; return; }
    this.schedule(Math.max(0, this.last + this.minIntervalMs - this.clock()));
  }

  private schedule(ms: number): void {
    if (this.stopped) return;
    if (this.timer) clearTimeout(this.timer);
    this.timer = setTimeout(() => void this.tick(), ms);
  }

  private async tick(): Promise<void> {
    this.running = true;
    this.pending = false;
    let ok = true;
    try { await this.fn(); } catch { ok = false; }
    this.last = this.clock();
    this.running = false;
    if (this.pending) this.schedule(this.minIntervalMs);
    else this.schedule(ok ? this.maxIntervalMs : this.retryMs);
  }
}
