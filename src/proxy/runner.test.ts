import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedFrequencyRunner, type Clock } from './runner.js';

/** A clock whose time only moves when the test says so. */
class FakeClock implements Clock {
  t = 0;
  private timers: { at: number; fn: () => void; id: number }[] = [];
  private seq = 0;
  now() { return this.t; }
  setTimeout(fn: () => void, ms: number) { const id = ++this.seq; this.timers.push({ at: this.t + ms, fn, id }); return id; }
  clearTimeout(id: unknown) { this.timers = this.timers.filter((x) => x.id !== id); }
  /** Advance time, firing due timers in order (and letting the async sync finish). */
  async advance(ms: number) {
    const end = this.t + ms;
    for (;;) {
      this.timers.sort((a, b) => a.at - b.at);
      const next = this.timers[0];
      if (!next || next.at > end) break;
      this.timers.shift();
      this.t = next.at;
      next.fn();
      for (let i = 0; i < 5; i++) await Promise.resolve();
    }
    this.t = end;
  }
}

describe('BoundedFrequencyRunner', () => {
  it('syncs at start, coalesces a burst, keeps min interval, resyncs at max interval', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const r = new BoundedFrequencyRunner(async () => { runs.push(clock.now()); }, 1000, 30_000, 500, clock);
    r.start();
    await clock.advance(0);
    assert.deepEqual(runs, [0]);
    for (let i = 0; i < 50; i++) { r.run(); await clock.advance(10); }
    // 50 requests over 500 ms → one sync at the 1 s mark.
    await clock.advance(1000);
    assert.deepEqual(runs, [0, 1000]);
    r.run();
    await clock.advance(0);
    assert.deepEqual(runs, [0, 1000], 'not before the min interval');
    await clock.advance(1000);
    assert.deepEqual(runs, [0, 1000, 2000]);
    await clock.advance(30_000);
    assert.deepEqual(runs, [0, 1000, 2000, 32_000], 'periodic resync at max interval');
    r.stop();
  });

  it('an isolated change after a quiet period syncs at once', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    const r = new BoundedFrequencyRunner(async () => { runs.push(clock.now()); }, 1000, 60_000, 500, clock);
    r.start();
    await clock.advance(5000);
    r.run();
    await clock.advance(0);
    assert.deepEqual(runs, [0, 5000]);
    r.stop();
  });

  it('retries a failed sync after the retry interval', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    let fail = true;
    const r = new BoundedFrequencyRunner(async () => { runs.push(clock.now()); if (fail) { fail = false; throw new Error('x'); } }, 100, 60_000, 2000, clock);
    r.start();
    await clock.advance(2500);
    assert.deepEqual(runs, [0, 2000]);
    r.stop();
  });

  it('a request during a sync runs once more afterwards', async () => {
    const clock = new FakeClock();
    const runs: number[] = [];
    let release!: () => void;
    const r = new BoundedFrequencyRunner(async () => { runs.push(clock.now()); if (runs.length === 1) await new Promise<void>((res) => { release = res; }); }, 100, 60_000, 500, clock);
    r.start();
    await clock.advance(0);
    r.run(); r.run();
    release();
    for (let i = 0; i < 5; i++) await Promise.resolve();
    await clock.advance(200);
    assert.deepEqual(runs, [0, 100]);
    r.stop();
  });
});
