/**
 * @module kubelet/ipam
 * Host-local IPAM for one node's pod CIDR, persisted under the data dir so a restarted node agent
 * keeps its allocations. An address is never handed out again while its pod holds it; freed
 * addresses are reused last (allocation continues after the last one given, like host-local).
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

interface IpamState {
  cidr: string;
  /** ip → owner (pod uid) */
  allocated: Record<string, string>;
  last?: string;
}

function ipToInt(ip: string): number {
  return ip.split('.').reduce((a, o) => a * 256 + Number(o), 0);
}

function intToIp(n: number): string {
  return [24, 16, 8, 0].map((s) => Math.floor(n / 2 ** s) % 256).join('.');
}

export function parseCidr(cidr: string): { base: number; prefix: number; size: number } {
  const [ip, p] = cidr.split('/');
  const prefix = Number(p);
  if (!ip || !/^\d+\.\d+\.\d+\.\d+$/.test(ip) || !(prefix >= 8 && prefix <= 30)) throw new Error(`invalid pod CIDR "${cidr}"`);
  const size = 2 ** (32 - prefix);
  return { base: Math.floor(ipToInt(ip) / size) * size, prefix, size };
}

/** The bridge's address: first host of the CIDR (10.244.N.1). */
export function gatewayOf(cidr: string): string {
  return intToIp(parseCidr(cidr).base + 1);
}

/** host-local's answer when every address of the range is taken (CNI's error text). */
export class IpamExhaustedError extends Error {
  constructor(readonly rangeSet: string) {
    super(`failed to allocate for range 0: no IP addresses available in range set: ${rangeSet}`);
    this.name = 'IpamExhaustedError';
  }
}

export class Ipam {
  private state: IpamState;
  private readonly range: { base: number; prefix: number; size: number };

  constructor(readonly file: string, readonly cidr: string) {
    this.range = parseCidr(cidr);
    this.state = { cidr, allocated: {} };
    if (existsSync(file)) {
      try {
        const s = JSON.parse(readFileSync(file, 'utf8')) as IpamState;
        if (s.cidr === cidr) this.state = s;
      } catch { /* unreadable: start empty; adoption re-reserves addresses in use */ }
    }
  }

  get prefixLength(): number {
    return this.range.prefix;
  }

  /** host-local's default range set: network+1 (the gateway, never handed out) to broadcast-1. */
  get rangeSet(): string {
    return `${intToIp(this.range.base + 1)}-${intToIp(this.range.base + this.range.size - 2)}`;
  }

  /** Addresses in use. */
  get used(): number {
    return Object.keys(this.state.allocated).length;
  }

  private save(): void {
    mkdirSync(dirname(this.file), { recursive: true });
    writeFileSync(`${this.file}.tmp`, JSON.stringify(this.state));
    renameSync(`${this.file}.tmp`, this.file);
  }

  /** The owner's address, allocating one if it has none. */
  allocate(owner: string): string {
    for (const [ip, o] of Object.entries(this.state.allocated)) if (o === owner) return ip;
    const first = this.range.base + 2; // .0 network, .1 gateway
    const last = this.range.base + this.range.size - 2; // broadcast excluded
    const count = last - first + 1;
    const start = this.state.last ? ipToInt(this.state.last) + 1 : first;
    for (let i = 0; i < count; i++) {
      const n = first + ((start - first + i) % count + count) % count;
      const ip = intToIp(n);
      if (!this.state.allocated[ip]) {
        this.state.allocated[ip] = owner;
        this.state.last = ip;
        this.save();
        return ip;
      }
    }
    throw new IpamExhaustedError(this.rangeSet);
  }

  /** Record an address already in use (adopted pods). */
  reserve(owner: string, ip: string): void {
    this.state.allocated[ip] = owner;
    this.save();
  }

  release(owner: string): void {
    let changed = false;
    for (const [ip, o] of Object.entries(this.state.allocated)) if (o === owner) { delete this.state.allocated[ip]; changed = true; }
    if (changed) this.save();
  }

  owners(): Map<string, string> {
    return new Map(Object.entries(this.state.allocated).map(([ip, o]) => [o, ip]));
  }
}
