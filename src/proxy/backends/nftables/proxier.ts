/**
 * @module proxy/backends/nftables/proxier
 * The default backend: one table `ip svcplane` (layout and hooks in ./README.md).
 *
 * Every service port renders to a Fragment (its chains, map elements, affinity sets and the
 * endpoints it counts). The proxier remembers the fragments it wrote; a sync re-renders only
 * the service ports the tracker reports as changed and writes the difference — changed chains,
 * deleted/added map elements — as ONE `nft -f -` transaction. The first sync, and the one after
 * a failure, deletes and recreates the whole table in one transaction instead (kube-proxy's
 * needFullSync).
 */
import { createHash } from 'node:crypto';
import { nftApply, nftDeleteTable, nftList } from '../../../net/nft.js';
import { clusterEndpoints, externalEndpoints } from '../../topology.js';
import type { BackendOptions, Provider, ProxyEndpoint, ServicePort, SyncRequest, SyncStats, TrafficCounters } from '../../types.js';

export const TABLE = 'svcplane';
export const FAMILY = 'ip';
/** Packets with this mark bit are masqueraded in nat-postrouting (kube-proxy's 0x4000). */
export const MASQ_MARK = '0x4000';
/** nat output cannot say `priority dstnat` in nft 1.0.6; -100 is the same number. */
export const OUTPUT_NAT_PRIORITY = -100;
/** Reject/drop before the distro's filter chains (priority 0) can accept the packet. */
export const FILTER_PRIORITY = -10;

const MAP_SERVICE_IPS = 'service-ips';
const MAP_NODEPORTS = 'service-nodeports';
const MAP_NOEP_IPS = 'no-endpoint-services';
const MAP_NOEP_NODEPORTS = 'no-endpoint-nodeports';
const SET_HAIRPIN = 'hairpin';
const SET_EP_CONNS = 'endpoint-connections';
const SET_EP_TRAFFIC = 'endpoint-traffic';
const CHAIN_REJECT = 'reject-chain';
const MAPS = [MAP_SERVICE_IPS, MAP_NODEPORTS, MAP_NOEP_IPS, MAP_NOEP_NODEPORTS] as const;
type MapName = (typeof MAPS)[number];
const COUNTED_SETS = [SET_HAIRPIN, SET_EP_CONNS, SET_EP_TRAFFIC] as const;
type CountedSet = (typeof COUNTED_SETS)[number];

export interface NftOptions extends BackendOptions {}

/**
 * A short stable id for a service port's chains: readable prefix + hash, because chain names
 * must stay short (nft allows 256) and unique across namespaces with long names.
 */
export function chainId(key: string): string {
  const [nsname] = key.split(':');
  const base = nsname!.replace(/[^a-zA-Z0-9]/g, '_').slice(0, 40);
  return `${base}_${hash(key)}`;
}

function hash(s: string): string {
  return createHash('sha256').update(s).digest('hex').slice(0, 8);
}

export interface Fragment {
  /** chain name → rules, one per line */
  chains: Map<string, string>;
  /** affinity set name → timeout seconds */
  sets: Map<string, number>;
  elems: Record<MapName, Map<string, string>>;
  counted: Record<CountedSet, string[]>;
}

function dnatRule(proto: string, eps: ProxyEndpoint[], gen: string): string {
  if (eps.length === 1) return `meta l4proto ${proto} dnat ip to ${eps[0]!.ip}:${eps[0]!.port}`;
  return `meta l4proto ${proto} dnat ip addr . port to numgen ${gen} mod ${eps.length} map { ${eps.map((e, i) => `${i} : ${e.ip} . ${e.port}`).join(', ')} }`;
}

/** numgen generator for a scheduler name: rr → inc (true round robin), anything else → random. */
function generator(sched: string): string {
  return sched === 'rr' ? 'inc' : 'random';
}

/** Render one service port. Pure: the unit tests compare its output. */
export function renderServicePort(sp: ServicePort, o: NftOptions): Fragment {
  const f: Fragment = {
    chains: new Map(), sets: new Map(),
    elems: { [MAP_SERVICE_IPS]: new Map(), [MAP_NODEPORTS]: new Map(), [MAP_NOEP_IPS]: new Map(), [MAP_NOEP_NODEPORTS]: new Map() },
    counted: { [SET_HAIRPIN]: [], [SET_EP_CONNS]: [], [SET_EP_TRAFFIC]: [] },
  };
  const id = chainId(sp.key);
  const proto = sp.protocol;
  const gen = generator(sp.scheduler ?? o.scheduler);
  const cl = clusterEndpoints(sp, o.nodeName);
  const ex = externalEndpoints(sp, o.nodeName);
  for (const e of new Set([...cl, ...ex])) {
    f.counted[SET_HAIRPIN].push(`${e.ip} . ${e.ip}`);
    f.counted[SET_EP_CONNS].push(`${e.ip} . ${proto} . ${e.port}`);
    f.counted[SET_EP_TRAFFIC].push(`${e.ip} . ${proto} . ${e.port}`);
  }
  /** Rules that pick an endpoint of `eps` and DNAT to it (with ClientIP affinity when asked). */
  const pick = (eps: ProxyEndpoint[]): string[] => {
    if (!sp.affinityTimeout) return [dnatRule(proto, eps, gen)];
    // ClientIP affinity: one chain per endpoint records the client in a timeout set; a client
    // found in an endpoint's set goes straight back to it (kube-proxy's affinity sets).
    const lines: string[] = [];
    const epChains = eps.map((e) => {
      const h = hash(`${sp.key}|${e.ip}:${e.port}`);
      const set = `aff-${h}-${sp.affinityTimeout}`;
      const chain = `ep-${id}-${h}`;
      f.sets.set(set, sp.affinityTimeout!);
      f.chains.set(chain, [`update @${set} { ip saddr }`, `meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`].join('\n'));
      lines.push(`ip saddr @${set} goto ${chain}`);
      return chain;
    });
    lines.push(epChains.length === 1 ? `goto ${epChains[0]}` : `numgen ${gen} mod ${epChains.length} vmap { ${epChains.map((c, i) => `${i} : goto ${c}`).join(', ')} }`);
    return lines;
  };
  const svcChain = `svc-${id}`;
  if (cl.length) {
    // Traffic from outside the pod network (the node itself, the lan) is masqueraded so replies
    // come back through this node; pod-to-service traffic keeps its source.
    f.chains.set(svcChain, ['counter', `ip saddr != ${o.clusterCIDR} meta mark set meta mark | ${MASQ_MARK}`, ...pick(cl)].join('\n'));
  }
  if (sp.clusterIP) {
    const k = `${sp.clusterIP} . ${proto} . ${sp.port}`;
    if (cl.length) f.elems[MAP_SERVICE_IPS].set(k, `goto ${svcChain}`); else f.elems[MAP_NOEP_IPS].set(k, `goto ${CHAIN_REJECT}`);
  }
  const extIPs = [...sp.externalIPs, ...sp.loadBalancerIPs];
  if (!extIPs.length && sp.nodePort === undefined) return f;
  const extChain = `ext-${id}`;
  let extTarget: string | undefined;
  if (!sp.externalLocal) {
    // Cluster policy: any node's endpoint; masquerade so the reply returns via this node.
    if (cl.length) { f.chains.set(extChain, [`meta mark set meta mark | ${MASQ_MARK}`, `goto ${svcChain}`].join('\n')); extTarget = `goto ${extChain}`; }
  } else {
    // Local policy: pods and the node itself are "internal" even when they use an external
    // address (kube-proxy's short-circuit); real outside clients keep their source IP and only
    // reach this node's endpoints — or are dropped, so a load balancer's health check decides.
    const lines: string[] = [];
    if (cl.length) lines.push(`ip saddr ${o.clusterCIDR} goto ${svcChain}`, `fib saddr type local meta mark set meta mark | ${MASQ_MARK} goto ${svcChain}`);
    lines.push('counter', ...(ex.length ? pick(ex) : ['drop']));
    f.chains.set(extChain, lines.join('\n'));
    extTarget = `goto ${extChain}`;
  }
  for (const ip of extIPs) {
    const k = `${ip} . ${proto} . ${sp.port}`;
    if (extTarget) f.elems[MAP_SERVICE_IPS].set(k, extTarget); else f.elems[MAP_NOEP_IPS].set(k, `goto ${CHAIN_REJECT}`);
  }
  if (sp.nodePort !== undefined) {
    const k = `${proto} . ${sp.nodePort}`;
    if (extTarget) f.elems[MAP_NODEPORTS].set(k, extTarget); else f.elems[MAP_NOEP_NODEPORTS].set(k, `goto ${CHAIN_REJECT}`);
  }
  return f;
}

/** The table skeleton: maps, sets, base chains and hooks (README.md explains each). */
export function baseTable(o: NftOptions): string {
  const nodePortMatch = o.nodePortAddresses.length ? `ip daddr { ${o.nodePortAddresses.join(', ')} }` : 'fib daddr type local';
  const epSet = 'type ipv4_addr . inet_proto . inet_service; counter;';
  return [
    `table ${FAMILY} ${TABLE} {`,
    `  map ${MAP_SERVICE_IPS} { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `  map ${MAP_NODEPORTS} { type inet_proto . inet_service : verdict; }`,
    `  map ${MAP_NOEP_IPS} { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `  map ${MAP_NOEP_NODEPORTS} { type inet_proto . inet_service : verdict; }`,
    `  set ${SET_HAIRPIN} { type ipv4_addr . ipv4_addr; }`,
    `  set ${SET_EP_CONNS} { ${epSet} }`,
    `  set ${SET_EP_TRAFFIC} { ${epSet} }`,
    `  chain ${CHAIN_REJECT} { meta l4proto tcp reject with tcp reset; reject; }`,
    `  chain services { ip daddr . meta l4proto . th dport vmap @${MAP_SERVICE_IPS}; ${nodePortMatch} meta l4proto . th dport vmap @${MAP_NODEPORTS}; }`,
    '  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }',
    `  chain nat-output { type nat hook output priority ${OUTPUT_NAT_PRIORITY}; policy accept; jump services; }`,
    '  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; ' +
      `ct status dnat ip daddr . meta l4proto . th dport @${SET_EP_CONNS}; ` +
      `meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark ^ ${MASQ_MARK} masquerade fully-random; ` +
      `ct status dnat ip saddr . ip daddr @${SET_HAIRPIN} masquerade; }`,
    `  chain filter-no-endpoints { ip daddr . meta l4proto . th dport vmap @${MAP_NOEP_IPS}; }`,
    `  chain filter-input { type filter hook input priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ${nodePortMatch} meta l4proto . th dport vmap @${MAP_NOEP_NODEPORTS}; }`,
    `  chain filter-forward { type filter hook forward priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ct direction original ct status dnat ip daddr . meta l4proto . th dport @${SET_EP_TRAFFIC}; }`,
    `  chain filter-output { type filter hook output priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ct direction original ct status dnat ip daddr . meta l4proto . th dport @${SET_EP_TRAFFIC}; }`,
    '}',
  ].join('\n') + '\n';
}

/** What the kernel holds, as the proxier last wrote it. */
interface Written {
  frags: Map<string, Fragment>;
  /** map → key → [value, owning service port] */
  elems: Record<MapName, Map<string, [string, string]>>;
  /** counted set → element → references */
  counted: Record<CountedSet, Map<string, number>>;
}

function emptyWritten(): Written {
  return {
    frags: new Map(),
    elems: { [MAP_SERVICE_IPS]: new Map(), [MAP_NODEPORTS]: new Map(), [MAP_NOEP_IPS]: new Map(), [MAP_NOEP_NODEPORTS]: new Map() },
    counted: { [SET_HAIRPIN]: new Map(), [SET_EP_CONNS]: new Map(), [SET_EP_TRAFFIC]: new Map() },
  };
}

export interface Transaction {
  text: string;
  full: boolean;
  chainsWritten: number;
  commit(): void;
}

export class NftablesProxier implements Provider {
  readonly mode = 'nftables';
  private w: Written = emptyWritten();
  private needFull = true;

  constructor(readonly o: NftOptions) {}

  /**
   * The transaction taking the kernel from what was written to `req`. Nothing is remembered until
   * commit() (called once nft accepted it), so a failed sync leaves the model untouched.
   */
  transaction(req: SyncRequest): Transaction {
    const full = this.needFull || req.changed === undefined && this.w.frags.size === 0;
    const base = full ? emptyWritten() : this.w;
    // Copy-on-write of the bookkeeping: cheap shallow copies of the maps we touch.
    const frags = new Map(base.frags);
    const elems = Object.fromEntries(MAPS.map((m) => [m, new Map(base.elems[m])])) as Written['elems'];
    const counted = Object.fromEntries(COUNTED_SETS.map((s) => [s, new Map(base.counted[s])])) as Written['counted'];
    const byKey = new Map(req.ports.map((p) => [p.key, p]));
    const keys = full || !req.changed ? new Set([...frags.keys(), ...byKey.keys()]) : req.changed;

    const head: string[] = [];
    if (full) head.push(`table ${FAMILY} ${TABLE}`, `delete table ${FAMILY} ${TABLE}`, baseTable(this.o));
    const addChains: string[] = [];
    const chainRules: string[] = [];
    const delElems: string[] = [];
    const addElems: Record<string, string[]> = {};
    const staleChains: string[] = [];
    const addSets: string[] = [];
    const staleSets: string[] = [];
    let chainsWritten = 0;
    const touched: Record<MapName, Set<string>> = Object.fromEntries(MAPS.map((m) => [m, new Set<string>()])) as never;
    const before = new Map<string, number>();
    const countedTouched = new Set<string>();

    for (const key of keys) {
      const prev = frags.get(key);
      const sp = byKey.get(key);
      const next = sp ? renderServicePort(sp, this.o) : undefined;
      if (next) frags.set(key, next); else frags.delete(key);
      // Chains: write new/changed ones, drop the ones this port no longer has.
      for (const [name, body] of next?.chains ?? []) {
        if (prev?.chains.get(name) === body) continue;
        chainsWritten++;
        if (!prev?.chains.has(name)) addChains.push(`add chain ${FAMILY} ${TABLE} ${name}`);
        else chainRules.push(`flush chain ${FAMILY} ${TABLE} ${name}`);
        for (const r of body.split('\n')) chainRules.push(`add rule ${FAMILY} ${TABLE} ${name} ${r}`);
      }
      for (const name of prev?.chains.keys() ?? []) if (!next?.chains.has(name)) staleChains.push(name);
      for (const [set, timeout] of next?.sets ?? []) if (!prev?.sets.has(set)) addSets.push(`add set ${FAMILY} ${TABLE} ${set} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
      for (const set of prev?.sets.keys() ?? []) if (!next?.sets.has(set)) staleSets.push(set);
      // Map elements: ownership, so two ports sharing a key (a conflict the API should have
      // refused) cannot delete each other's element.
      for (const m of MAPS) {
        for (const k of prev?.elems[m].keys() ?? []) {
          if (elems[m].get(k)?.[1] === key && !next?.elems[m].has(k)) { elems[m].delete(k); touched[m].add(k); }
        }
        for (const [k, v] of next?.elems[m] ?? []) { elems[m].set(k, [v, key]); touched[m].add(k); }
      }
      for (const s of COUNTED_SETS) {
        for (const e of prev?.counted[s] ?? []) {
          const id = `${s}|${e}`;
          if (!before.has(id)) before.set(id, counted[s].get(e) ?? 0);
          const n = (counted[s].get(e) ?? 0) - 1;
          if (n > 0) counted[s].set(e, n); else counted[s].delete(e);
          countedTouched.add(id);
        }
        for (const e of next?.counted[s] ?? []) {
          const id = `${s}|${e}`;
          if (!before.has(id)) before.set(id, counted[s].get(e) ?? 0);
          counted[s].set(e, (counted[s].get(e) ?? 0) + 1);
          countedTouched.add(id);
        }
      }
    }
    // Element diffs against what the kernel has.
    for (const m of MAPS) {
      for (const k of touched[m]) {
        const was = full ? undefined : this.w.elems[m].get(k)?.[0];
        const now = elems[m].get(k)?.[0];
        if (was === now) continue;
        if (was !== undefined) delElems.push(`delete element ${FAMILY} ${TABLE} ${m} { ${k} }`);
        if (now !== undefined) (addElems[m] ??= []).push(`${k} : ${now}`);
      }
    }
    for (const id of countedTouched) {
      const [s, e] = id.split('|') as [CountedSet, string];
      const was = full ? 0 : before.get(id)!;
      const now = counted[s].get(e) ?? 0;
      if (was > 0 && now === 0) delElems.push(`delete element ${FAMILY} ${TABLE} ${s} { ${e} }`);
      if (was === 0 && now > 0) (addElems[s] ??= []).push(e);
    }
    const lines = [...head, ...addSets, ...addChains, ...chainRules, ...delElems];
    for (const [m, es] of Object.entries(addElems)) {
      // Large element lists in slices keep each nft command line reasonable.
      for (let i = 0; i < es.length; i += 5000) lines.push(`add element ${FAMILY} ${TABLE} ${m} { ${es.slice(i, i + 5000).join(', ')} }`);
    }
    if (!full) {
      // Unreferenced now: flush all first (one stale chain may jump to another), then delete.
      for (const c of staleChains) lines.push(`flush chain ${FAMILY} ${TABLE} ${c}`);
      for (const c of staleChains) lines.push(`delete chain ${FAMILY} ${TABLE} ${c}`);
      for (const s of staleSets) lines.push(`delete set ${FAMILY} ${TABLE} ${s}`);
    }
    return {
      text: lines.length ? lines.join('\n') + '\n' : '',
      full, chainsWritten,
      commit: () => { this.w = { frags, elems, counted }; this.needFull = false; },
    };
  }

  async sync(req: SyncRequest): Promise<SyncStats> {
    const t0 = performance.now();
    const tx = this.transaction(req);
    try {
      if (tx.text) await nftApply(tx.text, this.o.netns);
    } catch (e) {
      this.needFull = true;
      throw e;
    }
    tx.commit();
    return { full: tx.full, chainsWritten: tx.chainsWritten, elements: this.elementCount(), durationMs: performance.now() - t0 };
  }

  /** Force the next sync to rebuild the table (e.g. someone else changed it). */
  invalidate(): void {
    this.needFull = true;
  }

  elementCount(): number {
    let n = 0;
    for (const m of MAPS) n += this.w.elems[m].size;
    for (const s of COUNTED_SETS) n += this.w.counted[s].size;
    return n;
  }

  async counters(): Promise<TrafficCounters> {
    const out: TrafficCounters = { services: new Map(), endpoints: new Map() };
    const text = await nftList(['list', 'table', FAMILY, TABLE], this.o.netns);
    // Chain counters (nat: first packet of each connection) → connections per service port.
    const chainConns = new Map<string, number>();
    let chain = '';
    let inSet = '';
    for (const line of text.split('\n')) {
      const c = /^\s*chain (\S+) \{/.exec(line);
      if (c) { chain = c[1]!; inSet = ''; continue; }
      const s = /^\s*set (\S+) \{/.exec(line);
      if (s) { inSet = s[1]!; chain = ''; continue; }
      if (chain) {
        const m = /^\s*counter packets (\d+) bytes (\d+)/.exec(line);
        if (m) chainConns.set(chain, (chainConns.get(chain) ?? 0) + Number(m[1]));
      } else if (inSet === SET_EP_CONNS || inSet === SET_EP_TRAFFIC) {
        for (const m of line.matchAll(/(\d+\.\d+\.\d+\.\d+) \. (\w+) \. (\d+) counter packets (\d+) bytes (\d+)/g)) {
          const k = `${m[1]}:${m[3]}/${m[2]}`;
          const cur = out.endpoints.get(k) ?? { connections: 0, bytes: 0 };
          if (inSet === SET_EP_CONNS) cur.connections = Number(m[4]); else cur.bytes = Number(m[5]);
          out.endpoints.set(k, cur);
        }
      }
    }
    for (const [key, f] of this.w.frags) {
      const id = chainId(key);
      const conns = (chainConns.get(`svc-${id}`) ?? 0) + (chainConns.get(`ext-${id}`) ?? 0);
      let bytes = 0;
      for (const e of f.counted[SET_EP_TRAFFIC]) {
        const [ip, proto, port] = e.split(' . ');
        bytes += out.endpoints.get(`${ip}:${port}/${proto}`)?.bytes ?? 0;
      }
      out.services.set(key, { connections: conns, bytes });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    await nftDeleteTable(FAMILY, TABLE, this.o.netns);
    this.needFull = true;
    this.w = emptyWritten();
  }
}
