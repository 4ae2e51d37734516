/**
 * @module controllers/loadbalancer/pool
 * An IPv4 address pool like MetalLB's IPAddressPool: ranges "a.b.c.d-a.b.c.e" and CIDRs,
 * comma-separated; allocation picks the lowest free address or a requested one.
 */
export function ipToInt(ip: string): number {
  const p = ip.split('.').map(Number);
  if (p.length !== 4 || p.some((x) => !Number.isInteger(x) || x < 0 || x > 255)) throw new Error(`invalid IPv4 address "${ip}"`);
  return ((p[0]! << 24) >>> 0) + (p[1]! << 16) + (p[2]! << 8) + p[3]!;
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class IPPool {
  private readonly ranges: [number, number][] = [];

  constructor(readonly spec: string) {
    for (const part of spec.split(',').map((s) => s.trim()).filter(Boolean)) {
      if (part.includes('/')) {
        const [ip, bits] = part.split('/');
        const b = Number(bits);
        const base = ipToInt(ip!) & (b === 0 ? 0 : (~0 << (32 - b)) >>> 0);
        this.ranges.push([base >>> 0, (base + 2 ** (32 - b) - 1) >>> 0]);
      } else if (part.includes('-')) {
        const [a, z] = part.split('-');
        const lo = ipToInt(a!.trim()), hi = ipToInt(z!.trim());
        if (hi < lo) throw new Error(`invalid pool range "${part}": end before start`);
        this.ranges.push([lo, hi]);
      } else {
        const x = ipToInt(part);
        this.ranges.push([x, x]);
      }
    }
    if (!this.ranges.length) throw new Error('empty LoadBalancer IP pool');
  }

  contains(ip: string): boolean {
    let n: number;
    try { n = ipToInt(ip); } catch { return false; }
    return this.ranges.some(([lo, hi]) => n >= lo && n <= hi);
  }

  size(): number {
    return this.ranges.reduce((s, [lo, hi]) => s + hi - lo + 1, 0);
  }

  /** The lowest address not in `used`, or undefined when the pool is exhausted. */
  firstFree(used: Set<string>): string | undefined {
    for (const [lo, hi] of this.ranges) for (let n = lo; n <= hi; n++) { const ip = intToIp(n); if (!used.has(ip)) return ip; }
    return undefined;
  }
}
