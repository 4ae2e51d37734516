/**
 * @module apiserver/allocators
 * ClusterIP and NodePort allocation, as kube-apiserver's ipallocator/portallocator: random
 * free values from the configured ranges, requested values honoured or rejected with
 * upstream's words. The allocated sets are rebuilt from stored Services on start (repair), so
 * they are consistent after a restart.
 */

export function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

export function intToIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export class AllocationError extends Error {
  constructor(readonly kind: 'full' | 'allocated' | 'range', message: string) { super(message); }
}

export class IPAllocator {
  readonly base: number;
  readonly size: number;
  private readonly used = new Set<number>();

  constructor(readonly cidr: string) {
    const [ip, bits] = cidr.split('/');
    const prefix = Number(bits);
    this.size = 2 ** (32 - prefix);
    this.base = ipToInt(ip!) - (ipToInt(ip!) % this.size);
  }

  contains(ip: string): boolean {
    const n = ipToInt(ip);
    // Network and broadcast addresses are never handed out.
    return n > this.base && n < this.base + this.size - 1;
  }

  has(ip: string): boolean { return this.used.has(ipToInt(ip)); }

  allocate(ip: string): void {
    if (!this.contains(ip)) throw new AllocationError('range', `failed to allocate IP ${ip}: provided IP is not in the valid range. The range of valid IPs is ${this.cidr}`);
    if (this.used.has(ipToInt(ip))) throw new AllocationError('allocated', `failed to allocate IP ${ip}: provided IP is already allocated`);
    this.used.add(ipToInt(ip));
  }

  allocateNext(): string {
    const span = this.size - 2;
    if (this.used.size >= span) throw new AllocationError('full', 'failed to allocate a serviceIP: range is full');
    // Like upstream, prefer the upper part of the range for dynamic allocation; requested
    // (static) IPs such as 10.96.0.10 usually come from the bottom.
    const offset = Math.min(Math.max(16, Math.floor(span / 16)), 256);
    for (;;) {
      const n = this.base + 1 + offset + Math.floor(Math.random() * (span - offset));
      if (!this.used.has(n)) { this.used.add(n); return intToIp(n); }
    }
  }

  release(ip: string): void { this.used.delete(ipToInt(ip)); }

  /** Replace the allocated set (a rebuild from stored Services). */
  resetTo(ips: string[]): void { this.used.clear(); for (const ip of ips) this.used.add(ipToInt(ip)); }
}

export class PortAllocator {
  private readonly used = new Set<number>();
  constructor(readonly min: number, readonly max: number) {}

  static parse(range: string): PortAllocator {
    const m = /^(\d+)-(\d+)$/.exec(range.trim());
    if (!m) throw new Error(`invalid --service-node-port-range "${range}": use MIN-MAX, e.g. 30000-32767`);
    return new PortAllocator(Number(m[1]), Number(m[2]));
  }

  get range(): string { return `${this.min}-${this.max}`; }
  has(p: number): boolean { return this.used.has(p); }

  allocate(p: number): void {
    if (p < this.min || p > this.max) throw new AllocationError('range', `provided port is not in the valid range. The range of valid ports is ${this.range}`);
    if (this.used.has(p)) throw new AllocationError('allocated', 'provided port is already allocated');
    this.used.add(p);
  }

  allocateNext(): number {
    if (this.used.size > this.max - this.min) throw new AllocationError('full', 'range is full');
    for (;;) {
      const p = this.min + Math.floor(Math.random() * (this.max - this.min + 1));
      if (!this.used.has(p)) { this.used.add(p); return p; }
    }
  }

  release(p: number): void { this.used.delete(p); }

  /** Replace the allocated set (a rebuild from stored Services). */
  resetTo(ports: number[]): void { this.used.clear(); for (const p of ports) this.used.add(p); }
}
