/**
 * @module proxy/backends/userspace/schedulers
 * The IPVS scheduler set (ipvsadm -s): one small strategy each, picking a backend index from
 * the live per-backend state. Weights come from the annotation svcplane.io/weights
 * ("10.244.1.5=3,10.244.2.7=1", see service-port-map.ts); unlisted backends weigh 1.
 */
export const SCHEDULERS = ['rr', 'wrr', 'lc', 'wlc', 'sh', 'dh', 'sed', 'nq', 'random'] as const;
export type SchedulerName = (typeof SCHEDULERS)[number];

export interface BackendState {
  ip: string;
  port: number;
  weight: number;
  /** Connections open right now (TCP) or live sessions (UDP). */
  active: number;
}

export interface Scheduler {
  /** Index of the backend to use, or -1 when none is usable. `exclude`: already tried. */
  pick(backends: BackendState[], client: string, exclude: Set<number>, vip: string): number;
}

function hash32(s: string): number {
  // FNV-1a: stable across processes, so sh/dh keep their mapping over proxy restarts.
  let h = 0x811c9dc5;
  for (let i = 0; i < s.length; i++) { h ^= s.charCodeAt(i); h = Math.imul(h, 0x01000193) >>> 0; }
  return h;
}

function candidates(b: BackendState[], exclude: Set<number>): number[] {
  const out: number[] = [];
  for (let i = 0; i < b.length; i++) if (!exclude.has(i) && b[i]!.weight > 0) out.push(i);
  return out;
}

/** Lowest cost wins; ties go to the first (stable, like IPVS's list walk). */
function minBy(c: number[], cost: (i: number) => number): number {
  let best = -1;
  let bestCost = Infinity;
  for (const i of c) { const v = cost(i); if (v < bestCost) { best = i; bestCost = v; } }
  return best;
}

class RoundRobin implements Scheduler {
  private next = 0;
  pick(b: BackendState[], _c: string, ex: Set<number>): number {
    for (let n = 0; n < b.length; n++) {
      const i = (this.next + n) % b.length;
      if (!ex.has(i) && b[i]!.weight > 0) { this.next = i + 1; return i; }
    }
    return -1;
  }
}

/** Weighted round robin, IPVS's interleaved algorithm (gcd steps of the current weight). */
class WeightedRoundRobin implements Scheduler {
  private i = -1;
  private cw = 0;
  pick(b: BackendState[], _c: string, ex: Set<number>): number {
    const c = candidates(b, ex);
    if (!c.length) return -1;
    const max = Math.max(...c.map((i) => b[i]!.weight));
    const gcd = c.map((i) => b[i]!.weight).reduce((a, w) => { let x = a, y = w; while (y) [x, y] = [y, x % y]; return x; });
    for (let guard = 0; guard < b.length * (max / gcd + 1) + 1; guard++) {
      this.i = (this.i + 1) % b.length;
      if (this.i === 0) { this.cw -= gcd; if (this.cw <= 0) this.cw = max; }
      if (!ex.has(this.i) && b[this.i]!.weight >= this.cw) return this.i;
    }
    return c[0]!;
  }
}

const leastConn: Scheduler = { pick: (b, _c, ex) => minBy(candidates(b, ex), (i) => b[i]!.active) };
const weightedLeastConn: Scheduler = { pick: (b, _c, ex) => minBy(candidates(b, ex), (i) => b[i]!.active / b[i]!.weight) };
/** Shortest expected delay: (active + 1) / weight. */
const shortestExpectedDelay: Scheduler = { pick: (b, _c, ex) => minBy(candidates(b, ex), (i) => (b[i]!.active + 1) / b[i]!.weight) };
/** Never queue: an idle backend if there is one, else shortest expected delay. */
const neverQueue: Scheduler = {
  pick(b, c, ex) {
    const idle = candidates(b, ex).find((i) => b[i]!.active === 0);
    return idle ?? shortestExpectedDelay.pick(b, c, ex, '');
  },
};

/** Hash over the candidates; on exclusion, the next one in order (IPVS sh's fallback). */
function hashed(key: (client: string, vip: string) => string): Scheduler {
  return {
    pick(b, client, ex, vip) {
      if (!b.length) return -1;
      const start = hash32(key(client, vip)) % b.length;
      for (let n = 0; n < b.length; n++) { const i = (start + n) % b.length; if (!ex.has(i) && b[i]!.weight > 0) return i; }
      return -1;
    },
  };
}

const random: Scheduler = { pick: (b, _c, ex) => { const c = candidates(b, ex); return c.length ? c[Math.floor(Math.random() * c.length)]! : -1; } };

export function isScheduler(s: string): s is SchedulerName {
  return (SCHEDULERS as readonly string[]).includes(s);
}

/** A new scheduler instance (stateful ones keep their position per service port). */
export function newScheduler(name: string): Scheduler {
  switch (name) {
    case 'rr': return new RoundRobin();
    case 'wrr': return new WeightedRoundRobin();
    case 'lc': return leastConn;
    case 'wlc': return weightedLeastConn;
    case 'sh': return hashed((c) => c);
    case 'dh': return hashed((_c, v) => v);
    case 'sed': return shortestExpectedDelay;
    case 'nq': return neverQueue;
    case 'random': return random;
    default: throw new Error(`scheduler "${name}": must be one of ${SCHEDULERS.join(', ')}`);
  }
}
