/**
 * @module store/history
 * Reads at an old revision for the stores that keep the current state plus an event log
 * (memory, SQLite). The state at revision R is the current state with every key changed after
 * R put back as it was: the first change after R tells what the key held at R (its previous
 * value and revision, or nothing when that change created it). Cost: the number of changes
 * since R, which stays small while a client pages through a list.
 */
import { StoreError, type StoreEntry, type StoreEvent } from './types.js';

/** A logged event plus what the key held before it (needed to rebuild older states). */
export interface LoggedEvent extends StoreEvent {
  /** modRevision of the key before this event (0 when this event created it). */
  prevRevision: number;
  /** createRevision of the key this event touched. */
  createRevision: number;
}

/** What a key held at R, from the first event after R that touched it. */
export function stateBefore(ev: LoggedEvent): StoreEntry | null {
  if (ev.created || ev.prevValue === undefined) return null;
  return { key: ev.key, value: ev.prevValue, modRevision: ev.prevRevision, createRevision: ev.createRevision };
}

export interface Rewind {
  /** State at R of each key changed after R (null: absent at R). */
  atR: Map<string, StoreEntry | null>;
  /** Keys among those that exist now. */
  existNow: Set<string>;
}

/** First event after R per key, from events in revision order. */
export function rewindFrom(events: Iterable<LoggedEvent>, existsNow: (key: string) => boolean): Rewind {
  const atR = new Map<string, StoreEntry | null>();
  const existNow = new Set<string>();
  for (const ev of events) {
    if (atR.has(ev.key)) continue;
    atR.set(ev.key, stateBefore(ev));
    if (existsNow(ev.key)) existNow.add(ev.key);
  }
  return { atR, existNow };
}

/**
 * One page of the state at R. `current(after, n)` returns current entries of the range with key
 * > after (all of the range when after is undefined), in key order, at most n; `countAfter(k)`
 * counts current entries of the range with key > k. The rewind covers keys > startAfter only.
 */
export function pageAt(rw: Rewind, startAfter: string | undefined, limit: number,
  current: (after: string | undefined, n: number) => StoreEntry[], countAfter: (key: string) => number,
): { entries: StoreEntry[]; more: boolean; remaining: number } {
  const want = limit > 0 ? limit + 1 : Infinity;
  const restored = [...rw.atR.values()].filter((e): e is StoreEntry => e !== null).sort((a, b) => cmp(a.key, b.key));
  // At most rw.atR.size current entries are skipped, so this many always fill the page.
  const now = current(startAfter, want === Infinity ? Infinity : want + rw.atR.size).filter((e) => !rw.atR.has(e.key));
  const merged: StoreEntry[] = [];
  let i = 0;
  let j = 0;
  while (merged.length < want && (i < now.length || j < restored.length)) {
    if (j >= restored.length || (i < now.length && now[i]!.key < restored[j]!.key)) merged.push(now[i++]!);
    else merged.push(restored[j++]!);
  }
  const more = merged.length > limit && limit > 0;
  const entries = more ? merged.slice(0, limit) : merged;
  if (!more) return { entries, more, remaining: 0 };
  const last = entries[entries.length - 1]!.key;
  let remaining = countAfter(last);
  for (const k of rw.existNow) if (k > last) remaining--;
  for (const e of restored) if (e.key > last) remaining++;
  return { entries, more, remaining };
}

export function tooOld(rev: number, compacted: number): StoreError {
  return new StoreError('Gone', `too old resource version: ${rev} (${compacted})`, undefined, compacted);
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
