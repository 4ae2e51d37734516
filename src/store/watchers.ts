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
      if (ev.revision <= s.lastRev) continue;
      s.lastRev = ev.revision;
      s.onEvent(ev);
    }
  }

  /**
   * Subscribe: `history` returns the events after `afterRevision` (already filtered by prefix);
   * it runs synchronously with respect to publish(), so nothing is lost in between.
   */
  subscribe(prefix: string, afterRevision: number, history: () => StoreEvent[], onEvent: (ev: StoreEvent) => void): Watcher {
    const s: Sub = { prefix, onEvent, pending: [], lastRev: afterRevision, stopped: false };
    this.subs.add(s);
    const past = history();
    const flush = () => {
      for (const ev of past) { if (s.stopped) return; if (ev.revision > s.lastRev) { s.lastRev = ev.revision; onEvent(ev); } }
      const buffered = s.pending ?? [];
      s.pending = null;
      for (const ev of buffered) { if (s.stopped) return; if (ev.revision > s.lastRev) { s.lastRev = ev.revision; onEvent(ev); } }
    };
    // Deliver asynchronously so callers can finish setting up before the first event.
    queueMicrotask(flush);
    return { stop: () => { s.stopped = true; this.subs.delete(s); } };
  }
}
