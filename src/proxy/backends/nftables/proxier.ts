/**
 * @module proxy/backends/nftables/proxier
 * The default backend: one table `ip svcplane` (layout and hooks in ./README.md).
 *
 * Every service port renders to a Fragment (its chains, map elements, endpoint slots, affinity
 * sets and counters). The proxier remembers the fragments it wrote; a sync re-renders only the
 * service ports the tracker reports as changed and writes the difference — changed chains,
 * deleted/added map elements — as ONE `nft -f -` transaction. The first sync, and the one after
 * a failure, deletes and recreates the whole table in one transaction instead (kube-proxy's
 * needFullSync).
 *
 * Endpoints live in ONE shared map, `endpoints` (slot → ip . port, with per-element counters):
 * each service port owns a block of consecutive slots and picks one with
 * `numgen random|inc mod N offset <block>`. Anonymous per-rule maps would cost the kernel a set
 * object per Service (10k sets make loading and every `nft` cache fetch slow); with a shared map
 * an endpoint change is two element operations and no rule change.
 */
import { createHash } from 'node:crypto';
import { NftSession, nftApply, nftDeleteTable, nftList } from '../../../net/nft.js';
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
/** Endpoint maps, one per protocol: nft 1.0.6 refuses a later rule on a `th dport` typed map. */
const PROTOCOLS = ['tcp', 'udp', 'sctp'] as const;
const endpointsMap = (proto: string) => `endpoints-${proto}`;
const SET_HAIRPIN = 'hairpin';
const SET_EP_TRAFFIC = 'endpoint-traffic';
const CHAIN_REJECT = 'reject-chain';
const MAPS = [MAP_SERVICE_IPS, MAP_NODEPORTS, MAP_NOEP_IPS, MAP_NOEP_NODEPORTS] as const;
/** Group chain and map for plain ClusterIP service ports of one protocol and endpoint count. */
const groupName = (proto: string, n: number) => `group-${proto}-${n}`;

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

/**
 * Blocks of consecutive slots in the endpoints map. A block is kept while it is big enough, so
 * an endpoint change rewrites slot values only; capacities are powers of two and freed blocks
 * are reused by size.
 */
export class SlotAllocator {
  private next = 0;
  private readonly free = new Map<number, number[]>();
  private readonly blocks = new Map<string, { base: number; cap: number }>();

  get(id: string, n: number): number {
    const b = this.blocks.get(id);
    if (b && b.cap >= n) return b.base;
    this.release(id);
    const cap = 2 ** Math.ceil(Math.log2(Math.max(n, 1)));
    let base = this.free.get(cap)?.pop();
    if (base === undefined) { base = this.next; this.next += cap; }
    this.blocks.set(id, { base, cap });
    return base;
  }

  release(id: string): void {
    const b = this.blocks.get(id);
    if (!b) return;
    this.blocks.delete(id);
    let l = this.free.get(b.cap);
    if (!l) this.free.set(b.cap, (l = []));
    l.push(b.base);
  }
}

export interface Fragment {
  /** chain name → rules, one per line */
  chains: Map<string, string>;
  /** named counters (one per svc-/ext-/ep- chain that counts) */
  counters: string[];
  /** affinity set name → timeout seconds */
  sets: Map<string, number>;
  /** map name → key → value (service maps, and group maps for plain ClusterIPs) */
  elems: Map<string, Map<string, string>>;
  /** group chains/maps this port uses ([proto, endpoint count]) */
  groups: [string, number][];
  /** endpoints maps: slot → "proto ip . port" */
  slots: Map<number, string>;
  /** slot blocks held (allocator ids) */
  blocks: string[];
  /**
   * endpoint ("ip:port/proto") → where its connections are counted: a slot, a named counter, or
   * [group map, key] (group elements are not listed here: counters() derives them from `elems`)
   */
  conns: [string, number | string | [string, string]][];
  hairpin: string[];
  traffic: string[];
}

/** numgen generator for a scheduler name: rr → inc (true round robin), anything else → random. */
function generator(sched: string): string {
  return sched === 'rr' ? 'inc' : 'random';
}

/** Render one service port; `alloc` hands out endpoint slots. Pure apart from the allocator. */
export function renderServicePort(sp: ServicePort, o: NftOptions, alloc: SlotAllocator = new SlotAllocator()): Fragment {
  const f: Fragment = {
    chains: new Map(), counters: [], sets: new Map(), elems: new Map(), groups: [],
    slots: new Map(), blocks: [], conns: [], hairpin: [], traffic: [],
  };
  const el = (m: string) => { let x = f.elems.get(m); if (!x) f.elems.set(m, (x = new Map())); return x; };
  const proto = sp.protocol;
  const gen = generator(sp.scheduler ?? o.scheduler);
  const extIPs = sp.externalIPs.length || sp.loadBalancerIPs.length ? [...sp.externalIPs, ...sp.loadBalancerIPs] : [];
  const external = extIPs.length > 0 || sp.nodePort !== undefined;
  const cl = clusterEndpoints(sp, o.nodeName);
  const ex = external ? externalEndpoints(sp, o.nodeName) : [];
  for (const e of ex.length ? new Set([...cl, ...ex]) : cl) {
    // Only a pod on this node can reach itself through this node's rules.
    if (!e.nodeName || e.nodeName === o.nodeName) f.hairpin.push(`${e.ip} . ${e.ip}`);
    if (o.endpointCounters !== false) f.traffic.push(`${e.ip} . ${proto} . ${e.port}`);
  }
  /** Rules (in chain `counter`'s chain) that pick an endpoint of `eps` and DNAT to it. */
  const pick = (eps: ProxyEndpoint[], which: string, counter: string): string[] => {
    if (sp.affinityTimeout) {
      // ClientIP affinity: one chain per endpoint records the client in a timeout set; a client
      // found in an endpoint's set goes straight back to it (kube-proxy's affinity sets).
      const lines: string[] = [];
      const epChains = eps.map((e) => {
        const h = hash(`${sp.key}|${e.ip}:${e.port}`);
        const set = `aff-${h}-${sp.affinityTimeout}`;
        const chain = `ep-${id}-${h}`;
        f.sets.set(set, sp.affinityTimeout!);
        if (!f.chains.has(chain)) {
          f.counters.push(chain);
          f.conns.push([`${e.ip}:${e.port}/${proto}`, chain]);
        }
        f.chains.set(chain, [`counter name "${chain}"`, `update @${set} { ip saddr }`, `meta l4proto ${proto} dnat ip to ${e.ip}:${e.port}`].join('\n'));
        lines.push(`ip saddr @${set} goto ${chain}`);
        return chain;
      });
      lines.push(epChains.length === 1 ? `goto ${epChains[0]}` : `numgen ${gen} mod ${epChains.length} vmap { ${epChains.map((c, i) => `${i} : goto ${c}`).join(', ')} }`);
      return lines;
    }
    if (eps.length === 1) {
      f.conns.push([`${eps[0]!.ip}:${eps[0]!.port}/${proto}`, counter]);
      return [`meta l4proto ${proto} dnat ip to ${eps[0]!.ip}:${eps[0]!.port}`];
    }
    const blockId = `${sp.key}|${which}`;
    const base = alloc.get(blockId, eps.length);
    f.blocks.push(blockId);
    eps.forEach((e, i) => { f.slots.set(base + i, `${proto} ${e.ip} . ${e.port}`); f.conns.push([`${e.ip}:${e.port}/${proto}`, base + i]); });
    return [`meta l4proto ${proto} dnat ip addr . port to numgen ${gen} mod ${eps.length} offset ${base} map @${endpointsMap(proto)}`];
  };
  const plain = !external && !sp.affinityTimeout && gen === 'random' && sp.clusterIP !== undefined;
  if (plain && cl.length) {
    // The common case, a ClusterIP with random choice: no chain of its own. Its element points at
    // the shared chain for its protocol and endpoint count, which looks the endpoint up by
    // (ClusterIP . proto . port . numgen) in that group's map — so 10k Services make a few
    // chains, not 10k, and every nft run (which re-reads all chains) stays fast.
    const g = groupName(proto, cl.length);
    f.groups.push([proto, cl.length]);
    el(MAP_SERVICE_IPS).set(`${sp.clusterIP} . ${proto} . ${sp.port}`, `goto ${g}`);
    // (Connections per endpoint are read from these elements' counters: see counters().)
    const gm = el(g);
    for (let i = 0; i < cl.length; i++) gm.set(`${sp.clusterIP} . ${proto} . ${sp.port} . ${i}`, `${cl[i]!.ip} . ${cl[i]!.port}`);
    return f;
  }
  const id = chainId(sp.key);
  const svcChain = `svc-${id}`;
  if (cl.length) {
    // Traffic from outside the pod network (the node itself, the lan) is masqueraded so replies
    // come back through this node; pod-to-service traffic keeps its source.
    f.counters.push(svcChain);
    f.chains.set(svcChain, [`counter name "${svcChain}"`, `ip saddr != ${o.clusterCIDR} meta mark set meta mark | ${MASQ_MARK}`, ...pick(cl, 'cluster', svcChain)].join('\n'));
  }
  if (sp.clusterIP) {
    const k = `${sp.clusterIP} . ${proto} . ${sp.port}`;
    if (cl.length) el(MAP_SERVICE_IPS).set(k, `goto ${svcChain}`); else el(MAP_NOEP_IPS).set(k, `goto ${CHAIN_REJECT}`);
  }
  if (!external) return f;
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
    f.counters.push(extChain);
    lines.push(`counter name "${extChain}"`, ...(ex.length ? pick(ex, 'external', extChain) : ['drop']));
    f.chains.set(extChain, lines.join('\n'));
    extTarget = `goto ${extChain}`;
  }
  for (const ip of extIPs) {
    const k = `${ip} . ${proto} . ${sp.port}`;
    if (extTarget) el(MAP_SERVICE_IPS).set(k, extTarget); else el(MAP_NOEP_IPS).set(k, `goto ${CHAIN_REJECT}`);
  }
  if (sp.nodePort !== undefined) {
    const k = `${proto} . ${sp.nodePort}`;
    if (extTarget) el(MAP_NODEPORTS).set(k, extTarget); else el(MAP_NOEP_NODEPORTS).set(k, `goto ${CHAIN_REJECT}`);
  }
  return f;
}

/** The table skeleton: maps, sets, base chains and hooks (README.md explains each). */
export function baseTable(o: NftOptions): string {
  const nodePortMatch = o.nodePortAddresses.length ? `ip daddr { ${o.nodePortAddresses.join(', ')} }` : 'fib daddr type local';
  return [
    `table ${FAMILY} ${TABLE} {`,
    // counter: connections per service address (plain ClusterIPs have no chain to count in).
    `  map ${MAP_SERVICE_IPS} { type ipv4_addr . inet_proto . inet_service : verdict; counter; }`,
    `  map ${MAP_NODEPORTS} { type inet_proto . inet_service : verdict; }`,
    `  map ${MAP_NOEP_IPS} { type ipv4_addr . inet_proto . inet_service : verdict; }`,
    `  map ${MAP_NOEP_NODEPORTS} { type inet_proto . inet_service : verdict; }`,
    // typeof: nft has no named type for numgen's integer.
    ...PROTOCOLS.map((p) => `  map ${endpointsMap(p)} { typeof numgen inc mod 2 : ip daddr . ${p} dport;${o.endpointCounters === false ? '' : ' counter;'} }`),
    `  set ${SET_HAIRPIN} { type ipv4_addr . ipv4_addr; }`,
    `  set ${SET_EP_TRAFFIC} { type ipv4_addr . inet_proto . inet_service; counter; }`,
    `  chain ${CHAIN_REJECT} { meta l4proto tcp reject with tcp reset; reject; }`,
    `  chain services { ip daddr . meta l4proto . th dport vmap @${MAP_SERVICE_IPS}; ${nodePortMatch} meta l4proto . th dport vmap @${MAP_NODEPORTS}; }`,
    '  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; jump services; }',
    `  chain nat-output { type nat hook output priority ${OUTPUT_NAT_PRIORITY}; policy accept; jump services; }`,
    '  chain nat-postrouting { type nat hook postrouting priority srcnat; policy accept; ' +
      `meta mark & ${MASQ_MARK} == ${MASQ_MARK} meta mark set meta mark ^ ${MASQ_MARK} masquerade fully-random; ` +
      `ct status dnat ip saddr . ip daddr @${SET_HAIRPIN} masquerade; }`,
    `  chain filter-no-endpoints { ip daddr . meta l4proto . th dport vmap @${MAP_NOEP_IPS}; }`,
    `  chain filter-input { type filter hook input priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ${nodePortMatch} meta l4proto . th dport vmap @${MAP_NOEP_NODEPORTS}; }`,
    `  chain filter-forward { type filter hook forward priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ct direction original ct status dnat ip daddr . meta l4proto . th dport @${SET_EP_TRAFFIC}; }`,
    `  chain filter-output { type filter hook output priority ${FILTER_PRIORITY}; policy accept; jump filter-no-endpoints; ct direction original ct status dnat ip daddr . meta l4proto . th dport @${SET_EP_TRAFFIC}; }`,
    '}',
  ].join('\n') + '\n';
}

/** A group's map and chain (created on first use, kept: they cost nothing when empty). */
function groupObjects(proto: string, n: number, o: NftOptions): string[] {
  const g = groupName(proto, n);
  return [
    `add map ${FAMILY} ${TABLE} ${g} { typeof ip daddr . meta l4proto . ${proto} dport . numgen random mod ${n} : ip daddr . ${proto} dport;${o.endpointCounters === false ? '' : ' counter;'} }`,
    `add chain ${FAMILY} ${TABLE} ${g}`,
    `add rule ${FAMILY} ${TABLE} ${g} ip saddr != ${o.clusterCIDR} meta mark set meta mark | ${MASQ_MARK}`,
    `add rule ${FAMILY} ${TABLE} ${g} meta l4proto ${proto} dnat ip addr . port to ip daddr . meta l4proto . ${proto} dport . numgen random mod ${n} map @${g}`,
  ];
}

/** What the kernel holds, as the proxier last wrote it. */
interface Written {
  frags: Map<string, Fragment>;
  /** map → key → [value, owning service port] */
  elems: Map<string, Map<string, [string, string]>>;
  groups: Set<string>;
  slots: Map<number, string>;
  /** reference counts of shared set elements */
  hairpin: Map<string, number>;
  traffic: Map<string, number>;
  alloc: SlotAllocator;
}

function emptyWritten(): Written {
  return {
    frags: new Map(),
    elems: new Map(MAPS.map((m) => [m, new Map()])), groups: new Set(),
    slots: new Map(), hairpin: new Map(), traffic: new Map(), alloc: new SlotAllocator(),
  };
}

/** Reference-counted set elements: records each element's presence before its first change. */
class RefDiff {
  readonly before = new Map<string, boolean>();
  constructor(readonly counts: Map<string, number>) {}
  change(e: string, delta: 1 | -1): void {
    const n = this.counts.get(e) ?? 0;
    if (!this.before.has(e)) this.before.set(e, n > 0);
    if (n + delta > 0) this.counts.set(e, n + delta); else this.counts.delete(e);
  }
  /** [deleted, added] */
  result(): [string[], string[]] {
    const del: string[] = [];
    const add: string[] = [];
    for (const [e, was] of this.before) {
      const now = this.counts.has(e);
      if (was && !now) del.push(e);
      if (!was && now) add.push(e);
    }
    return [del, add];
  }
}

export interface Transaction {
  text: string;
  /**
   * Full syncs only: the per-endpoint byte counter elements (endpoint-traffic), applied after
   * `text` in a second transaction. They count, they do not forward, so the rules go live
   * without waiting for nft to parse and load them (~100k elements at 10k Services).
   */
  counterText?: string;
  full: boolean;
  chainsWritten: number;
  commit(): void;
}

/** Long element lists in slices keep each nft command line reasonable. */
function addElements(lines: string[], name: string, elems: string[]): void {
  for (let i = 0; i < elems.length; i += 5000) lines.push(`add element ${FAMILY} ${TABLE} ${name} { ${elems.slice(i, i + 5000).join(', ')} }`);
}

export class NftablesProxier implements Provider {
  readonly mode = 'nftables';
  private w: Written = emptyWritten();
  private needFull = true;
  /** Partial syncs go to a long-lived nft (no process start per sync); full ones to `nft -f`. */
  private readonly session: NftSession;
  private counterLoad: Promise<void> = Promise.resolve();

  constructor(readonly o: NftOptions) {
    this.session = new NftSession(o.netns);
  }

  /**
   * The transaction taking the kernel from what was written to `req`. The model is updated in
   * place; until commit() (called once nft accepted the text) the proxier counts as
   * out of sync, so a transaction that is not applied makes the next one a full rebuild.
   */
  transaction(req: SyncRequest): Transaction {
    const full = this.needFull || (req.changed === undefined && this.w.frags.size === 0);
    this.needFull = true;
    if (full) return this.fullTransaction(req);
    const w = this.w;
    // Only the changed ports are looked up (a Map of all 10k ports would cost more than the rest).
    const byKey = new Map<string, ServicePort>();
    for (const p of req.ports) if (!req.changed || req.changed.has(p.key)) byKey.set(p.key, p);
    const keys = !req.changed ? new Set([...w.frags.keys(), ...byKey.keys()]) : req.changed;

    const addChains: string[] = [];
    const chainRules: string[] = [];
    const staleChains: string[] = [];
    const addSets: string[] = [];
    const staleSets: string[] = [];
    const addCounters: string[] = [];
    const staleCounters: string[] = [];
    let chainsWritten = 0;
    const elemBefore = new Map<string, Map<string, string | undefined>>();
    const addGroups: string[] = [];
    const slotBefore = new Map<number, string | undefined>();
    const hairpin = new RefDiff(w.hairpin);
    const traffic = new RefDiff(w.traffic);

    for (const key of keys) {
      const prev = w.frags.get(key);
      const sp = byKey.get(key);
      for (const s of prev?.slots.keys() ?? []) { if (!slotBefore.has(s)) slotBefore.set(s, w.slots.get(s)); w.slots.delete(s); }
      const next = sp ? renderServicePort(sp, this.o, w.alloc) : undefined;
      for (const b of prev?.blocks ?? []) if (!next?.blocks.includes(b)) w.alloc.release(b);
      for (const [s, v] of next?.slots ?? []) { if (!slotBefore.has(s)) slotBefore.set(s, w.slots.get(s)); w.slots.set(s, v); }
      if (next) w.frags.set(key, next); else w.frags.delete(key);
      // Chains: write new/changed ones, drop the ones this port no longer has.
      for (const c of next?.counters ?? []) if (!prev?.counters.includes(c)) addCounters.push(`add counter ${FAMILY} ${TABLE} ${c}`);
      for (const c of prev?.counters ?? []) if (!next?.counters.includes(c)) staleCounters.push(c);
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
      // Map elements, with an owner, so two ports sharing a key (a conflict the API should
      // have refused) cannot delete each other's element.
      for (const [proto, n] of next?.groups ?? []) {
        const g = groupName(proto, n);
        if (!w.groups.has(g)) { w.groups.add(g); addGroups.push(...groupObjects(proto, n, this.o)); }
      }
      for (const m of new Set([...(prev?.elems.keys() ?? []), ...(next?.elems.keys() ?? [])])) {
        let em = w.elems.get(m);
        if (!em) w.elems.set(m, (em = new Map()));
        let before = elemBefore.get(m);
        if (!before) elemBefore.set(m, (before = new Map()));
        const nm = next?.elems.get(m);
        for (const k of prev?.elems.get(m)?.keys() ?? []) {
          if (em.get(k)?.[1] !== key || nm?.has(k)) continue;
          if (!before.has(k)) before.set(k, em.get(k)![0]);
          em.delete(k);
        }
        for (const [k, v] of nm ?? []) {
          if (!before.has(k)) before.set(k, em.get(k)?.[0]);
          em.set(k, [v, key]);
        }
      }
      for (const e of prev?.hairpin ?? []) hairpin.change(e, -1);
      for (const e of next?.hairpin ?? []) hairpin.change(e, 1);
      for (const e of prev?.traffic ?? []) traffic.change(e, -1);
      for (const e of next?.traffic ?? []) traffic.change(e, 1);
    }

    const delElems: string[] = [];
    const lines: string[] = [];
    lines.push(...addGroups, ...addSets, ...addCounters, ...addChains, ...chainRules);
    const adds: [string, string[]][] = [];
    for (const [m, before] of elemBefore) {
      const add: string[] = [];
      for (const [k, was] of before) {
        const now = w.elems.get(m)!.get(k)?.[0];
        if (was === now) continue;
        if (was !== undefined) delElems.push(`delete element ${FAMILY} ${TABLE} ${m} { ${k} }`);
        if (now !== undefined) add.push(`${k} : ${now}`);
      }
      adds.push([m, add]);
    }
    const slotAdds = new Map<string, string[]>(PROTOCOLS.map((p) => [p, []]));
    for (const [s, was] of slotBefore) {
      const now = w.slots.get(s);
      if (was === now) continue;
      if (was !== undefined) delElems.push(`delete element ${FAMILY} ${TABLE} ${endpointsMap(was.split(' ')[0]!)} { ${s} }`);
      if (now !== undefined) { const sp = now.indexOf(' '); slotAdds.get(now.slice(0, sp))!.push(`${s} : ${now.slice(sp + 1)}`); }
    }
    for (const [p, add] of slotAdds) adds.push([endpointsMap(p), add]);
    for (const [name, d] of [[SET_HAIRPIN, hairpin], [SET_EP_TRAFFIC, traffic]] as const) {
      const [del, add] = d.result();
      for (const e of del) delElems.push(`delete element ${FAMILY} ${TABLE} ${name} { ${e} }`);
      adds.push([name, add]);
    }
    lines.push(...delElems);
    for (const [name, add] of adds) addElements(lines, name, add);
    // Unreferenced now: flush all first (one stale chain may jump to another), then delete.
    for (const c of staleChains) lines.push(`flush chain ${FAMILY} ${TABLE} ${c}`);
    for (const c of staleChains) lines.push(`delete chain ${FAMILY} ${TABLE} ${c}`);
    for (const s of staleSets) lines.push(`delete set ${FAMILY} ${TABLE} ${s}`);
    for (const c of staleCounters) lines.push(`delete counter ${FAMILY} ${TABLE} ${c}`);
    return {
      text: lines.length ? lines.join('\n') + '\n' : '',
      full: false, chainsWritten,
      commit: () => { this.w = w; this.needFull = false; },
    };
  }

  /**
   * The whole table from scratch: delete and recreate it in one transaction (the kernel swaps
   * the old ruleset for the new one atomically). Nothing is diffed: every element is new, so the
   * model is filled and the text emitted from it in one pass (at 10k Services × 10 endpoints the
   * text is ~8 MB and ~200k elements; nft's own parsing of it is the larger cost).
   */
  private fullTransaction(req: SyncRequest): Transaction {
    const w = emptyWritten();
    const lines: string[] = [`table ${FAMILY} ${TABLE}`, `delete table ${FAMILY} ${TABLE}`, baseTable(this.o)];
    const chainLines: string[] = [];
    let chainsWritten = 0;
    for (const sp of req.ports) {
      const f = renderServicePort(sp, this.o, w.alloc);
      w.frags.set(sp.key, f);
      for (const [proto, n] of f.groups) {
        const g = groupName(proto, n);
        if (!w.groups.has(g)) { w.groups.add(g); lines.push(...groupObjects(proto, n, this.o)); }
      }
      for (const [set, timeout] of f.sets) lines.push(`add set ${FAMILY} ${TABLE} ${set} { type ipv4_addr; flags dynamic,timeout; timeout ${timeout}s; }`);
      for (const c of f.counters) lines.push(`add counter ${FAMILY} ${TABLE} ${c}`);
      for (const [name, body] of f.chains) {
        chainsWritten++;
        lines.push(`add chain ${FAMILY} ${TABLE} ${name}`);
        for (const r of body.split('\n')) chainLines.push(`add rule ${FAMILY} ${TABLE} ${name} ${r}`);
      }
      for (const [m, em] of f.elems) {
        let wm = w.elems.get(m);
        if (!wm) w.elems.set(m, (wm = new Map()));
        for (const [k, v] of em) wm.set(k, [v, sp.key]);
      }
      for (const [slot, v] of f.slots) w.slots.set(slot, v);
      for (const e of f.hairpin) w.hairpin.set(e, (w.hairpin.get(e) ?? 0) + 1);
      for (const e of f.traffic) w.traffic.set(e, (w.traffic.get(e) ?? 0) + 1);
    }
    lines.push(...chainLines);
    for (const [m, em] of w.elems) {
      const add: string[] = [];
      for (const [k, [v]] of em) add.push(`${k} : ${v}`);
      addElements(lines, m, add);
    }
    const slotAdds = new Map<string, string[]>(PROTOCOLS.map((p) => [p, []]));
    for (const [slot, v] of w.slots) { const i = v.indexOf(' '); slotAdds.get(v.slice(0, i))!.push(`${slot} : ${v.slice(i + 1)}`); }
    for (const [p, add] of slotAdds) addElements(lines, endpointsMap(p), add);
    addElements(lines, SET_HAIRPIN, [...w.hairpin.keys()]);
    const counterLines: string[] = [];
    addElements(counterLines, SET_EP_TRAFFIC, [...w.traffic.keys()]);
    return {
      text: lines.join('\n') + '\n', counterText: counterLines.length ? counterLines.join('\n') + '\n' : undefined,
      full: true, chainsWritten, commit: () => { this.w = w; this.needFull = false; },
    };
  }

  /** Resolves once the counter elements of the last full sync are loaded (or failed). */
  idle(): Promise<void> {
    return this.counterLoad;
  }

  async sync(req: SyncRequest): Promise<SyncStats> {
    const t0 = performance.now();
    // A partial sync may change endpoint-traffic elements: the full sync's must be in first.
    await this.counterLoad;
    const tx = this.transaction(req);
    // On failure needFull stays set: the next sync rebuilds the table.
    if (tx.text && !tx.full && tx.text.length <= NftSession.MAX_LINE) await this.session.apply(tx.text);
    else if (tx.text) await nftApply(tx.text, this.o.netns);
    tx.commit();
    if (tx.counterText) {
      const text = tx.counterText;
      // If they cannot be loaded, the next sync rebuilds the table (the model says they are there).
      this.counterLoad = nftApply(text, this.o.netns).catch(() => { this.needFull = true; });
    }
    if (tx.full) this.session.warm();
    return { full: tx.full, chainsWritten: tx.chainsWritten, elements: this.elementCount(), durationMs: performance.now() - t0 };
  }

  /** Force the next sync to rebuild the table (e.g. someone else changed it). */
  invalidate(): void {
    this.needFull = true;
  }

  elementCount(): number {
    let n = this.w.slots.size + this.w.hairpin.size + this.w.traffic.size;
    for (const m of this.w.elems.values()) n += m.size;
    return n;
  }

  /**
   * Counters without listing the table (at 10k Services `nft list table` takes many seconds):
   * the named counters, the endpoints map's element counters and the endpoint-traffic set.
   */
  async counters(): Promise<TrafficCounters> {
    const out: TrafficCounters = { services: new Map(), endpoints: new Map() };
    const groups = [...this.w.groups];
    const [named, traffic, svcIPs, ...maps] = await Promise.all([
      nftList(['list', 'counters', 'table', FAMILY, TABLE], this.o.netns),
      this.o.endpointCounters === false ? Promise.resolve('') : nftList(['list', 'set', FAMILY, TABLE, SET_EP_TRAFFIC], this.o.netns),
      nftList(['list', 'map', FAMILY, TABLE, MAP_SERVICE_IPS], this.o.netns),
      ...PROTOCOLS.map((p) => (this.o.endpointCounters === false ? Promise.resolve('') : nftList(['list', 'map', FAMILY, TABLE, endpointsMap(p)], this.o.netns))),
      ...groups.map((g) => (this.o.endpointCounters === false ? Promise.resolve('') : nftList(['list', 'map', FAMILY, TABLE, g], this.o.netns))),
    ]);
    const slots = maps.slice(0, PROTOCOLS.length).join('\n');
    // "key counter packets N bytes B : value" → key → packets
    const elementCounts = (text: string) => {
      const m = new Map<string, number>();
      for (const x of text.matchAll(/([\d.]+(?: \. \w+)*) counter packets (\d+) bytes \d+ :/g)) m.set(x[1]!, Number(x[2]));
      return m;
    };
    const perVIP = elementCounts(svcIPs);
    const perGroup = new Map(groups.map((g, i) => [g, elementCounts(maps[PROTOCOLS.length + i]!)]));
    const counter = new Map<string, number>();
    for (const m of named.matchAll(/counter (\S+) \{\s*packets (\d+) bytes (\d+)/g)) counter.set(m[1]!, Number(m[2]));
    const slot = new Map<number, number>();
    for (const m of slots.matchAll(/(\d+) counter packets (\d+) bytes \d+ :/g)) slot.set(Number(m[1]), Number(m[2]));
    const bytes = new Map<string, number>();
    for (const m of traffic.matchAll(/(\d+\.\d+\.\d+\.\d+) \. (\w+) \. (\d+) counter packets \d+ bytes (\d+)/g)) bytes.set(`${m[1]}:${m[3]}/${m[2]}`, Number(m[4]));
    for (const [key, f] of this.w.frags) {
      const id = chainId(key);
      let svcBytes = 0;
      for (const e of f.traffic) {
        const [ip, proto, port] = e.split(' . ');
        svcBytes += bytes.get(`${ip}:${port}/${proto}`) ?? 0;
      }
      let conns = (counter.get(`svc-${id}`) ?? 0) + (counter.get(`ext-${id}`) ?? 0);
      if (f.groups.length) for (const k of f.elems.get(MAP_SERVICE_IPS)?.keys() ?? []) conns += perVIP.get(k) ?? 0;
      out.services.set(key, { connections: conns, bytes: svcBytes });
      const where: Fragment['conns'] = [...f.conns];
      for (const [proto, n] of f.groups) {
        const g = groupName(proto, n);
        for (const [k, v] of f.elems.get(g) ?? []) where.push([`${v.replace(' . ', ':')}/${proto}`, [g, k]]);
      }
      for (const [ep, where1] of where) {
        const where = where1;
        const cur = out.endpoints.get(ep) ?? { connections: 0, bytes: bytes.get(ep) ?? 0 };
        cur.connections += (typeof where === 'number' ? slot.get(where) : typeof where === 'string' ? counter.get(where) : perGroup.get(where[0])?.get(where[1])) ?? 0;
        out.endpoints.set(ep, cur);
      }
    }
    return out;
  }

  close(): void {
    this.session.close();
  }

  async cleanup(): Promise<void> {
    this.session.close();
    await nftDeleteTable(FAMILY, TABLE, this.o.netns);
    this.needFull = true;
    this.w = emptyWritten();
  }
}
