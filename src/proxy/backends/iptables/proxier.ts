/**
 * @module proxy/backends/iptables/proxier
 * kube-proxy's classic iptables layout (./README.md has the picture):
 *
 *   nat PREROUTING, OUTPUT → KUBE-SERVICES:
 *       -d <clusterIP> -p P --dport p            → KUBE-SVC-<h>
 *       -d <externalIP|LB IP> -p P --dport p     → KUBE-EXT-<h>
 *       -m addrtype --dst-type LOCAL             → KUBE-NODEPORTS (-p P --dport nodePort → KUBE-EXT-<h>)
 *   KUBE-SVC-<h>   mark for masquerade unless the source is a pod; affinity (`recent`) checks;
 *                  endpoints with `statistic --mode random --probability 1/(n-i)` (or
 *                  `--mode nth --every n-i` for --scheduler rr) → KUBE-SEP-<h>
 *   KUBE-EXT-<h>   Cluster: mark + KUBE-SVC; Local: pods/node → KUBE-SVC, others → KUBE-SVL-<h>
 *   KUBE-SEP-<h>   hairpin mark when the source is the endpoint itself; DNAT
 *   nat POSTROUTING → KUBE-POSTROUTING: masquerade packets with mark 0x4000
 *   filter INPUT/FORWARD/OUTPUT → KUBE-SERVICES / KUBE-EXTERNAL-SERVICES: REJECT services
 *                  without endpoints, DROP Local-policy external traffic without local endpoints
 *
 * A sync writes, through one `iptables-restore --noflush`, only the chains whose rules changed
 * (the top-level chains are rewritten only when their content changed) and deletes stale ones.
 */
import { createHash } from 'node:crypto';
import { ensureRule, iptablesRestore, iptablesSave, type IptablesBackend } from '../../../net/iptables.js';
import { clusterEndpoints, externalEndpoints } from '../../topology.js';
import type { BackendOptions, Provider, ProxyEndpoint, ServicePort, SyncRequest, SyncStats, TrafficCounters } from '../../types.js';

export const MASQ_MARK = '0x4000';
const C_SERVICES = 'KUBE-SERVICES';
const C_NODEPORTS = 'KUBE-NODEPORTS';
const C_POSTROUTING = 'KUBE-POSTROUTING';
const C_MARK_MASQ = 'KUBE-MARK-MASQ';
const C_EXTERNAL = 'KUBE-EXTERNAL-SERVICES';

export interface IptablesOptions extends BackendOptions {
  backend: IptablesBackend;
}

/** Chain name: prefix + 16 hex digits of a hash (iptables chain names stop at 28 characters). */
export function chainName(prefix: 'KUBE-SVC-' | 'KUBE-EXT-' | 'KUBE-SVL-' | 'KUBE-SEP-', s: string): string {
  return prefix + createHash('sha256').update(s).digest('hex').slice(0, 16).toUpperCase();
}

interface Fragment {
  /** nat chains owned by this port: name → rules (lines without "-A <chain> ") */
  chains: Map<string, string[]>;
  natServices: string[];
  natNodePorts: string[];
  filterServices: string[];
  filterExternal: string[];
  /** KUBE-SEP chain → endpoint key ("ip:port/proto") for counters */
  sep: Map<string, string>;
}

function comment(sp: ServicePort, what = ''): string {
  return `-m comment --comment "${sp.namespace}/${sp.name}${sp.portName ? ':' + sp.portName : ''}${what}"`;
}

export function renderServicePort(sp: ServicePort, o: BackendOptions): Fragment {
  const f: Fragment = { chains: new Map(), natServices: [], natNodePorts: [], filterServices: [], filterExternal: [], sep: new Map() };
  const p = sp.protocol;
  const svc = chainName('KUBE-SVC-', sp.key);
  const ext = chainName('KUBE-EXT-', sp.key);
  const svl = chainName('KUBE-SVL-', sp.key);
  const cl = clusterEndpoints(sp, o.nodeName);
  const ex = externalEndpoints(sp, o.nodeName);
  const rr = (sp.scheduler ?? o.scheduler) === 'rr';
  const c = comment(sp);
  const sepOf = (e: ProxyEndpoint) => chainName('KUBE-SEP-', `${sp.key}|${e.ip}:${e.port}`);
  const epChains = (eps: ProxyEndpoint[]): string[] => {
    const lines: string[] = [];
    if (sp.affinityTimeout) {
      for (const e of eps) lines.push(`${c} -m recent --name ${sepOf(e)} --mask 255.255.255.255 --rsource --rcheck --seconds ${sp.affinityTimeout} --reap -j ${sepOf(e)}`);
    }
    eps.forEach((e, i) => {
      const left = eps.length - i;
      const pick = left === 1 ? '' : rr ? ` -m statistic --mode nth --every ${left} --packet 0` : ` -m statistic --mode random --probability ${(1 / left).toFixed(10)}`;
      lines.push(`${comment(sp, ` -> ${e.ip}:${e.port}`)}${pick} -j ${sepOf(e)}`);
    });
    return lines;
  };
  for (const e of new Set([...cl, ...ex])) {
    const sep = sepOf(e);
    f.sep.set(sep, `${e.ip}:${e.port}/${p}`);
    f.chains.set(sep, [
      `${c} -s ${e.ip}/32 -j ${C_MARK_MASQ}`,
      `${c} -p ${p} ${sp.affinityTimeout ? `-m recent --name ${sep} --mask 255.255.255.255 --rsource --set ` : ''}-m ${p} -j DNAT --to-destination ${e.ip}:${e.port}`,
    ]);
  }
  if (cl.length) f.chains.set(svc, [`${c} ! -s ${o.clusterCIDR} -j ${C_MARK_MASQ}`, ...epChains(cl)]);
  if (sp.clusterIP) {
    const m = `-d ${sp.clusterIP}/32 -p ${p} -m ${p} --dport ${sp.port}`;
    if (cl.length) f.natServices.push(`${comment(sp, ' cluster IP')} ${m} -j ${svc}`);
    else f.filterServices.push(`${comment(sp, ' has no endpoints')} ${m} -j REJECT${p === 'tcp' ? ' --reject-with tcp-reset' : ''}`);
  }
  const extIPs = [...sp.externalIPs, ...sp.loadBalancerIPs];
  if (!extIPs.length && sp.nodePort === undefined) return f;
  let extOK = false;
  if (!sp.externalLocal) {
    if (cl.length) { f.chains.set(ext, [`${comment(sp, ' external')} -j ${C_MARK_MASQ}`, `${c} -j ${svc}`]); extOK = true; }
  } else {
    const lines: string[] = [];
    if (cl.length) {
      // Pods and the node itself are internal even when using an external address.
      lines.push(`${comment(sp, ' pod traffic for external destinations')} -s ${o.clusterCIDR} -j ${svc}`,
        `${comment(sp, ' masquerade LOCAL traffic')} -m addrtype --src-type LOCAL -j ${C_MARK_MASQ}`,
        `${comment(sp, ' route LOCAL traffic to service chain')} -m addrtype --src-type LOCAL -j ${svc}`);
    }
    if (ex.length) { f.chains.set(svl, epChains(ex)); lines.push(`${c} -j ${svl}`); }
    f.chains.set(ext, lines);
    extOK = cl.length > 0 || ex.length > 0;
    if (!ex.length) {
      // External clients with no local endpoint: dropped (not rejected), so a load balancer's
      // health check, not a reset, steers them.
      const drop = `! -s ${o.clusterCIDR} -m addrtype ! --src-type LOCAL`;
      for (const ip of extIPs) f.filterExternal.push(`${comment(sp, ' has no local endpoints')} ${drop} -d ${ip}/32 -p ${p} -m ${p} --dport ${sp.port} -j DROP`);
      if (sp.nodePort !== undefined) f.filterExternal.push(`${comment(sp, ' has no local endpoints')} ${drop} -m addrtype --dst-type LOCAL -p ${p} -m ${p} --dport ${sp.nodePort} -j DROP`);
    }
  }
  for (const ip of extIPs) {
    const m = `-d ${ip}/32 -p ${p} -m ${p} --dport ${sp.port}`;
    if (extOK) f.natServices.push(`${comment(sp, ' external IP')} ${m} -j ${ext}`);
    else f.filterExternal.push(`${comment(sp, ' has no endpoints')} ${m} -j REJECT${p === 'tcp' ? ' --reject-with tcp-reset' : ''}`);
  }
  if (sp.nodePort !== undefined) {
    const m = `-p ${p} -m ${p} --dport ${sp.nodePort}`;
    if (extOK) f.natNodePorts.push(`${c} ${m} -j ${ext}`);
    else f.filterExternal.push(`${comment(sp, ' has no endpoints')} -m addrtype --dst-type LOCAL ${m} -j REJECT${p === 'tcp' ? ' --reject-with tcp-reset' : ''}`);
  }
  return f;
}

export class IptablesProxier implements Provider {
  readonly mode = 'iptables';
  private frags = new Map<string, Fragment>();
  /** "table/chain" → rules as last written */
  private written = new Map<string, string>();
  private needFull = true;

  constructor(readonly o: IptablesOptions) {}

  private topLevel(frags: Map<string, Fragment>): Map<string, string[]> {
    const nodePortMatch = this.o.nodePortAddresses.length ? this.o.nodePortAddresses.map((a) => `-d ${a}`) : ['-m addrtype --dst-type LOCAL'];
    const natSvc: string[] = [];
    const natNP: string[] = [];
    const fSvc: string[] = [];
    const fExt: string[] = [];
    for (const f of frags.values()) { natSvc.push(...f.natServices); natNP.push(...f.natNodePorts); fSvc.push(...f.filterServices); fExt.push(...f.filterExternal); }
    // NodePorts last: a ClusterIP match must win over "any local address".
    for (const m of nodePortMatch) natSvc.push(`-m comment --comment "kubernetes service nodeports" ${m} -j ${C_NODEPORTS}`);
    return new Map([
      [`nat/${C_SERVICES}`, natSvc], [`nat/${C_NODEPORTS}`, natNP],
      [`nat/${C_MARK_MASQ}`, [`-j MARK --set-xmark ${MASQ_MARK}/${MASQ_MARK}`]],
      [`nat/${C_POSTROUTING}`, [`-m mark ! --mark ${MASQ_MARK}/${MASQ_MARK} -j RETURN`, `-j MARK --set-xmark ${MASQ_MARK}/0x0`, '-m comment --comment "kubernetes service traffic requiring SNAT" -j MASQUERADE --random-fully']],
      [`filter/${C_SERVICES}`, fSvc], [`filter/${C_EXTERNAL}`, fExt],
    ]);
  }

  /** The iptables-restore input for `req` (exposed for tests); commit() records it as written. */
  transaction(req: SyncRequest, existing?: Set<string>): { text: string; full: boolean; chainsWritten: number; rules: number; commit(): void } {
    const full = this.needFull;
    const frags = full ? new Map<string, Fragment>() : new Map(this.frags);
    const byKey = new Map(req.ports.map((p) => [p.key, p]));
    const keys = full || !req.changed ? new Set([...this.frags.keys(), ...byKey.keys()]) : req.changed;
    for (const k of keys) {
      const sp = byKey.get(k);
      if (sp) frags.set(k, renderServicePort(sp, this.o)); else frags.delete(k);
    }
    const want = this.topLevel(frags);
    for (const f of frags.values()) for (const [name, rules] of f.chains) want.set(`nat/${name}`, rules);
    const before = full ? new Map<string, string>() : this.written;
    const out: Record<string, { decl: string[]; rules: string[]; del: string[] }> = { nat: { decl: [], rules: [], del: [] }, filter: { decl: [], rules: [], del: [] } };
    const next = new Map<string, string>();
    let chainsWritten = 0;
    let rules = 0;
    for (const [tc, rs] of want) {
      const body = rs.join('\n');
      next.set(tc, body);
      rules += rs.length;
      if (before.get(tc) === body) continue;
      const [table, chain] = tc.split('/') as [string, string];
      chainsWritten++;
      out[table]!.decl.push(`:${chain} - [0:0]`);
      for (const r of rs) out[table]!.rules.push(`-A ${chain} ${r}`);
    }
    // Stale: what we wrote before (or, on a full sync, any KUBE- chain found in the kernel).
    const stale = new Set<string>([...before.keys(), ...(full ? existing ?? [] : [])]);
    for (const tc of stale) {
      if (next.has(tc)) continue;
      const [table, chain] = tc.split('/') as [string, string];
      out[table]!.decl.push(`:${chain} - [0:0]`);
      out[table]!.del.push(`-X ${chain}`);
    }
    const text = ['nat', 'filter'].filter((t) => out[t]!.decl.length)
      .map((t) => [`*${t}`, ...out[t]!.decl, ...out[t]!.rules, ...out[t]!.del, 'COMMIT'].join('\n')).join('\n');
    return { text: text ? text + '\n' : '', full, chainsWritten, rules, commit: () => { this.frags = frags; this.written = next; this.needFull = false; } };
  }

  private async installJumps(): Promise<void> {
    const b = this.o.backend;
    const ns = this.o.netns;
    const newConn = ['-m', 'conntrack', '--ctstate', 'NEW'];
    // Chains must exist before jumps to them.
    await iptablesRestore(b, ['*nat', `:${C_SERVICES} - [0:0]`, `:${C_POSTROUTING} - [0:0]`, 'COMMIT', '*filter', `:${C_SERVICES} - [0:0]`, `:${C_EXTERNAL} - [0:0]`, 'COMMIT'].join('\n') + '\n', ns);
    await ensureRule(b, 'nat', 'PREROUTING', ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', C_SERVICES], ns);
    await ensureRule(b, 'nat', 'OUTPUT', ['-m', 'comment', '--comment', 'kubernetes service portals', '-j', C_SERVICES], ns);
    await ensureRule(b, 'nat', 'POSTROUTING', ['-m', 'comment', '--comment', 'kubernetes postrouting rules', '-j', C_POSTROUTING], ns);
    for (const ch of ['FORWARD', 'OUTPUT']) await ensureRule(b, 'filter', ch, [...newConn, '-m', 'comment', '--comment', 'kubernetes service portals', '-j', C_SERVICES], ns);
    for (const ch of ['INPUT', 'FORWARD']) await ensureRule(b, 'filter', ch, [...newConn, '-m', 'comment', '--comment', 'kubernetes externally-visible service portals', '-j', C_EXTERNAL], ns);
  }

  private async existingChains(): Promise<Set<string>> {
    const s = new Set<string>();
    for (const t of ['nat', 'filter']) for (const m of (await iptablesSave(this.o.backend, t, this.o.netns)).matchAll(/^:(KUBE-\S+)/gm)) s.add(`${t}/${m[1]}`);
    return s;
  }

  async sync(req: SyncRequest): Promise<SyncStats> {
    const t0 = performance.now();
    let existing: Set<string> | undefined;
    if (this.needFull) { await this.installJumps(); existing = await this.existingChains(); }
    const tx = this.transaction(req, existing);
    try {
      if (tx.text) await iptablesRestore(this.o.backend, tx.text, this.o.netns);
    } catch (e) {
      this.needFull = true;
      throw e;
    }
    tx.commit();
    return { full: tx.full, chainsWritten: tx.chainsWritten, elements: tx.rules, durationMs: performance.now() - t0 };
  }

  async counters(): Promise<TrafficCounters> {
    const out: TrafficCounters = { services: new Map(), endpoints: new Map() };
    const saved = await iptablesSave(this.o.backend, 'nat', this.o.netns, true);
    // nat rules see the first packet of each connection: DNAT rule counts = connections.
    const sepConns = new Map<string, number>();
    for (const m of saved.matchAll(/^\[(\d+):(\d+)\] -A (KUBE-SEP-\S+) .*-j DNAT/gm)) sepConns.set(m[3]!, Number(m[1]));
    for (const [key, f] of this.frags) {
      let conns = 0;
      for (const [sep, ep] of f.sep) {
        const n = sepConns.get(sep) ?? 0;
        conns += n;
        const cur = out.endpoints.get(ep) ?? { connections: 0, bytes: 0 };
        cur.connections += n;
        out.endpoints.set(ep, cur);
      }
      out.services.set(key, { connections: conns, bytes: 0 });
    }
    return out;
  }

  async cleanup(): Promise<void> {
    const { iptablesCleanup } = await import('../../../net/iptables.js');
    await iptablesCleanup(this.o.backend, this.o.netns);
    this.needFull = true;
    this.frags.clear();
    this.written.clear();
  }
}
