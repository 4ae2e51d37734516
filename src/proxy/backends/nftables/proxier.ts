/**
 * @module proxy/backends/nftables/proxier
 * The default backend. One table, `ip svcplane`:
 *
 *   nat-prerouting (dstnat) / nat-output (-100) → services:
 *       ip daddr . l4proto . dport vmap @service-ips        ClusterIPs, externalIPs, LB IPs
 *       fib daddr type local → l4proto . dport vmap @service-nodeports
 *   svc-<id>   one per service port: mark for masquerade when the source is outside the pod
 *              CIDR, then `dnat to numgen random|inc mod N map { i : ip . port }` — the
 *              endpoints live in the rule, not in a chain each (kube-proxy's layout has ~11
 *              chains per service; this one has 1, which is why 10k services load in seconds)
 *   ext-<id>   external traffic: Cluster → mark + goto svc; Local → only this node's endpoints
 *              (no SNAT, client IP kept), or drop when it has none
 *   ClientIP affinity: per-endpoint chains ep-<id>-<i> that record the client in a timeout set
 *   filter-{input,forward,output} (-110): services without endpoints → reject (TCP reset /
 *              ICMP port unreachable), so clients fail fast
 *   nat-postrouting (srcnat): masquerade marked packets and hairpin (pod → own service → itself)
 *
 * Sync is incremental: every map is rewritten in place (flush + elements) but only the chains
 * whose content changed are written, all in ONE `nft -f -` transaction; a failure forces a full
 * rebuild (table deleted and recreated in one transaction) at the next sync.
 */
import { createHash } from 'node:crypto';
import { run } from '../../../net/exec.js';
import type { Provider, ServicePort, SyncStats } from '../../types.js';
import { clusterEndpoints, externalEndpoints } from '../../tracker.js';

export const TABLE = 'svcplane';
const MASQ_MARK = '0x4000';

export interface NftOptions {
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  /** random (default) or rr (round-robin, numgen inc). */
  scheduler: string;
  /** Run `nft` inside this namespace (tests); undefined = the current one. */
  netns?: string;
}

/** A short stable id for a service port's chains (names must stay < 256 chars and unique). */
export function chainId(key: string): string {
  const [nsname] = key.split(':');
  const base = nsname!.replace(/[^a-zA-Z0-9]/g, '_').slice(0, 40);
  return `${base}_${createHash('sha256').update(key).digest('hex').slice(0, 8)}`;
}

function dnatMap(proto: string, eps: { ip: string; port: number }[], sched: string): string {
  if (eps.length === 1) return `meta l4proto ${proto} dnat ip to ${eps[0]!.ip}:${eps[0]!.port}`;
  const gen = sched === 'rr' ? 'inc' : 'random';
  return `meta l4proto ${proto} dnat ip addr . port to numgen ${gen} mod ${eps.length} map { ${eps.map((e, i) => `${i} : ${e.ip} . ${e.port}`).join(', ')} }`;
}

interface Rendered {
  /** chain name → rule lines */
  chains: Map<string, string[]>;
  /** affinity sets: name → timeout seconds */
  sets: Map<string, number>;
  serviceIPs: string[];
  nodePorts: string[];
  noEndpoints: string[];
  noEndpointNodePorts: string[];
  hairpin: string[];
}

export function render(ports: ServicePort[], o: NftOptions): Rendered {
  const r: Rendered = { chains: new Map(), sets: new Map(), serviceIPs: [], nodePorts: [], noEndpoints: [], noEndpointNodePorts: [], hairpin: [] };
  const hairpin = new Set<string>();
  for (const sp of ports) {
    const id = chainId(sp.key);
    const proto = sp.protocol;
    const sched = sp.scheduler ?? o.scheduler;
    const cl = clusterEndpoints(sp, o.nodeName);
    const ex = externalEndpoints(sp, o.nodeName);
    for (const e of sp.endpoints) hairpin.add(`${e.ip} . ${e.ip}`);
    const svcChain = `svc-${id}`;
    const targets = (eps: typeof cl, chainPrefix: string): string[] => {
      if (!sp.affinityTimeout) return [dnatMap(proto, eps, sched)];
      // ClientIP affinity: a client seen recently goes back to its endpoint.
      const lines: string[] = [];
      eps.forEach((e, i) => {
        const set = `aff-${id}-${e.ip.replace(/\./g, '_')}-${e.port}`;
        r.sets.set(set, sp.affinityTimeout!);
        lines.push(`ip saddr @${set} goto ep-${id}-${i}`);
        r.chains.set(`ep-${id}-${i}`, [`update @${set} { ip saddr }`, `meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`]);
      });
      lines.push(eps.length === 1 ? `goto ep-${id}-0` : `numgen ${sched === 'rr' ? 'inc' : 'random'} mod ${eps.length} vmap { ${eps.map((_, i) => `${i} : goto ep-${id}-${i}`).join(', ')} }`);
      void chainPrefix;
      return lines;
    };
    const clusterTargets: string[] = [];
    const dests = [...(sp.clusterIP ? [sp.clusterIP] : [])];
    const extDests = [...sp.externalIPs, ...sp.loadBalancerIPs];
    if (cl.length) {
      r.chains.set(svcChain, ['counter', `ip saddr != ${o.clusterCIDR} meta mark set meta mark | ${MASQ_MARK}`, ...targets(cl, 'svc')]);
      for (const ip of dests) clusterTargets.push(`${ip} . ${proto} . ${sp.port} : goto ${svcChain}`);
    } else {
      for (const ip of dests) r.noEndpoints.push(`${ip} . ${proto} . ${sp.port} : goto reject-chain`);
    }
    r.serviceIPs.push(...clusterTargets);
    const hasExternal = extDests.length > 0 || sp.nodePort !== undefined;
    if (!hasExternal) continue;
    const extChain = `ext-${id}`;
    if (!sp.externalLocal) {
      if (cl.length) r.chains.set(extChain, ['counter', `meta mark set meta mark | ${MASQ_MARK}`, `goto ${svcChain}`]);
    } else {
      // Pods and the node itself are "internal" even when they use an external address.
      const lines = ['counter'];
      if (cl.length) lines.push(`ip saddr ${o.clusterCIDR} goto ${svcChain}`, `fib saddr type local meta mark set meta mark | ${MASQ_MARK} goto ${svcChain}`);
      lines.push(...(ex.length ? [...(sp.affinityTimeout ? targets(ex, 'ext') : [dnatMap(proto, ex, sched)])] : ['drop']));
      r.chains.set(extChain, lines);
    }
    const extTarget = r.chains.has(extChain) ? `goto ${extChain}` : 'goto reject-chain';
    for (const ip of extDests) (extTarget.includes('reject') ? r.noEndpoints : r.serviceIPs).push(`${ip} . ${proto} . ${sp.port} : ${extTarget}`);
    if (sp.nodePort) (extTarget.includes('reject') ? r.noEndpointNodePorts : r.nodePorts).push(`${proto} . ${sp.nodePort} : ${extTarget}`);
  }
  r.hairpin = [...hairpin];
  return r;
}

function baseTable(o: NftOptions): string {
  return [
    `table ip ${TABLE} {`,
    '  map service-ips { type ipv4_addr . inet_proto . inet_service : verdict; }',
    '  map service-nodeports { type inet_proto . inet_service : verdict; }',
    '  map no-endpoint-services { type ipv4_addr . inet_proto . inet_service : verdict; }',
    '  map no-endpoint-nodeports { type inet_proto . inet_service : verdict; }',
    '  set hairpin { type ipv4_addr . ipv4_addr; }',
    '  chain reject-chain { meta l4proto tcp reject with tcp reset; reject; }',
    '  chain services { ip daddr . meta l4proto . th dport vmap @service-ips; fib daddr type local meta l4proto . th dport vmap @service-nodeports; }',
    '  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }',
    '  chain nat-output { type nat hook output priority -100; policy accept; jump services; }',
    `  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark ^ ${MASQ_MARK} masquerade fully-random; ct status dnat ip saddr . ip daddr @hairpin masquerade; }`,
    '  chain filter-endpoints { ip daddr . meta l4proto . th dport vmap @no-endpoint-services; }',
    '  chain filter-input { type filter hook input priority -110; policy accept; jump filter-endpoints; fib daddr type local meta l4proto . th dport vmap @no-endpoint-nodeports; }',
    '  chain filter-forward { type filter hook forward priority -110; policy accept; jump filter-endpoints; }',
    '  chain filter-output { type filter hook output priority -110; policy accept; jump filter-endpoints; }',
    '}',
  ].join('\n') + '\n';
  void o;
}

export class NftablesProxier implements Provider {
  private written = new Map<string, string>();
  private sets = new Map<string, number>();
  private needFull = true;

  constructor(readonly o: NftOptions) {}

  private nft(input: string): Promise<unknown> {
    return run(['nft', '-f', '-'], { input, netns: this.o.netns });
  }

  /** Build the transaction for `ports` against what was written last time. Exposed for tests. */
  transaction(ports: ServicePort[]): { text: string; full: boolean; chainsWritten: number; elements: number; next: Map<string, string>; nextSets: Map<string, number> } {
    const r = render(ports, this.o);
    const full = this.needFull;
    const lines: string[] = [];
    if (full) {
      lines.push(`table ip ${TABLE}`, `delete table ip ${TABLE}`, baseTable(this.o));
    }
    const prev = full ? new Map<string, string>() : this.written;
    const prevSets = full ? new Map<string, number>() : this.sets;
    const next = new Map<string, string>();
    let chainsWritten = 0;
    for (const [set, timeout] of r.sets) {
      if (prevSets.get(set) !== timeout) {
        if (prevSets.has(set)) lines.push(`delete set ip ${TABLE} ${set}`);
        lines.push(`add set ip ${TABLE} ${set} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
      }
    }
    // Chains first (map elements refer to them), only those whose rules changed.
    for (const [chain, rules] of r.chains) {
      const body = rules.join('\n');
      next.set(chain, body);
      if (prev.get(chain) === body) continue;
      chainsWritten++;
      lines.push(`add chain ip ${TABLE} ${chain}`, `flush chain ip ${TABLE} ${chain}`);
      for (const rule of rules) lines.push(`add rule ip ${TABLE} ${chain} ${rule}`);
    }
    const maps: [string, string[]][] = [
      ['service-ips', r.serviceIPs], ['service-nodeports', r.nodePorts], ['no-endpoint-services', r.noEndpoints], ['no-endpoint-nodeports', r.noEndpointNodePorts],
    ];
    for (const [m, elems] of maps) {
      lines.push(`flush map ip ${TABLE} ${m}`);
      if (elems.length) lines.push(`add element ip ${TABLE} ${m} { ${elems.join(', ')} }`);
    }
    lines.push(`flush set ip ${TABLE} hairpin`);
    if (r.hairpin.length) lines.push(`add element ip ${TABLE} hairpin { ${r.hairpin.join(', ')} }`);
    // Chains no longer referenced go last, after the maps stopped pointing at them.
    for (const chain of prev.keys()) if (!next.has(chain)) lines.push(`delete chain ip ${TABLE} ${chain}`);
    for (const set of prevSets.keys()) if (!r.sets.has(set)) lines.push(`delete set ip ${TABLE} ${set}`);
    const elements = r.serviceIPs.length + r.nodePorts.length + r.noEndpoints.length + r.noEndpointNodePorts.length + r.hairpin.length;
    return { text: lines.join('\n') + '\n', full, chainsWritten, elements, next, nextSets: r.sets };
  }

  async sync(ports: ServicePort[]): Promise<SyncStats> {
    const t0 = performance.now();
    const tx = this.transaction(ports);
    try {
      await this.nft(tx.text);
    } catch (e) {
      this.needFull = true;
      throw e;
    }
    this.written = tx.next;
    this.sets = tx.nextSets;
    this.needFull = false;
    return { full: tx.full, chainsWritten: tx.chainsWritten, elements: tx.elements, durationMs: performance.now() - t0 };
  }

  /** Per service-chain packet/byte counters (svc-<id> → counts), for /metrics. */
  async counters(): Promise<Map<string, { packets: number; bytes: number }>> {
    const out = new Map<string, { packets: number; bytes: number }>();
    const r = await run(['nft', 'list', 'table', 'ip', TABLE], { netns: this.o.netns, allowFail: true });
    let chain = '';
    for (const line of r.stdout.split('\n')) {
      const c = /^\s*chain (\S+) \{/.exec(line);
      if (c) { chain = c[1]!; continue; }
      const m = /counter packets (\d+) bytes (\d+)/.exec(line);
      if (m && chain) out.set(chain, { packets: Number(m[1]), bytes: Number(m[2]) });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    await run(['nft', 'delete', 'table', 'ip', TABLE], { netns: this.o.netns, allowFail: true });
    this.needFull = true;
    this.written.clear();
  }
}
