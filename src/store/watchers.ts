/**
 * @module store/watchers
 * In-process watch fan-out shared by the memory and SQLite stores: events are pushed from the
 * write path after commit (no polling), and a watcher that starts from an old revision is
 * first fed the history, then live events, with no gap and no reordering.
 */
import type { StoreEvent, Watcher } from './types.js';

interface Sub {
  prefix: string;
  onEvent: (ev: StoreEvent) => void;
  /** While replaying history, live events are buffered here. */
  pending: StoreEvent[] | null;
  lastRev: number;
  stopped: boolean;
}

export class WatchHub {
  private readonly subs = new Set<Sub>();

  get size(): number { return this.subs.size; }

  /** Deliver a committed event to every matching watcher. */
  publish(ev: StoreEvent): void {
    for (const s of this.subs) {
      if (s.stopped || !ev.key.startsWith(s.prefix)) continue;
      if (s.pending) { s.pending.push(ev); continue; }
      deliver(s, ev);
    }
  }

  /**
   * Subscribe: `history` returns the events after `afterRevision` (already filtered by prefix);
   * it runs synchronously with respect to publish(), so nothing is lost in between.
   */
  subscribe(prefix: string, afterRevision: number, history: () => StoreEvent[], onEvent: (ev: StoreEvent) => void): Watcher {
    const s: Sub = { prefix, onEvent, pending: [], lastRev: afterRevision, stopped: false };
    this.subs.add(s);
    let past: StoreEvent[];
    try { past = history(); } catch (e) { this.subs.delete(s); throw e; }
    // Deliver asynchronously so callers can finish setting up before the first event.
    queueMicrotask(() => {
      for (const ev of past) deliver(s, ev);
      const buffered = s.pending ?? [];
      s.pending = null;
      for (const ev of buffered) deliver(s, ev);
    });
    return { stop: () => { s.stopped = true; this.subs.delete(s); } };
  }

  /** Stop every watcher (the store is closing). */
  clear(): void {
    for (const s of this.subs) s.stopped = true;
    this.subs.clear();
  }
}

function deliver(s: Sub, ev: StoreEvent): void {
  if (s.stopped || ev.revision <= s.lastRev) return;
  s.lastRev = ev.revision;
  // A failing handler must not fail the write that produced the event (it is committed).
  try { s.onEvent(ev); } catch (e) { console.error(JSON.stringify({ level: 'error', component: 'store', msg: 'watch handler threw', error: String(e) })); }
}
