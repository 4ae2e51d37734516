/**
 * @module net/iptables
 * Batch runner for iptables: rules go in through one `iptables-restore --noflush` per sync (a
 * process per rule would re-read the whole table each time). Works with both back ends:
 * iptables-nft (rules in nftables tables `ip nat` / `ip filter`) and iptables-legacy (x_tables).
 */
import { run } from './exec.js';

export const IPTABLES_BACKENDS = ['nft', 'legacy'] as const;
export type IptablesBackend = (typeof IPTABLES_BACKENDS)[number];

/** The chain prefix owned by the iptables proxy mode (kube-proxy's). */
export const KUBE_PREFIX = 'KUBE-';

export async function iptablesRestore(b: IptablesBackend, input: string, netns?: string): Promise<void> {
  await run([`iptables-${b}-restore`, '--noflush', '-w', '5'], { input, netns, timeoutMs: 600_000 });
}

export async function iptablesSave(b: IptablesBackend, table: string, netns?: string, counters = false): Promise<string> {
  const r = await run([`iptables-${b}-save`, '-t', table, ...(counters ? ['-c'] : [])], { netns, allowFail: true });
  return r.code === 0 ? r.stdout : '';
}

/** Add `rule` at the top of `chain` unless it is already there. */
export async function ensureRule(b: IptablesBackend, table: string, chain: string, rule: string[], netns?: string): Promise<void> {
  const bin = `iptables-${b}`;
  const c = await run([bin, '-w', '5', '-t', table, '-C', chain, ...rule], { netns, allowFail: true });
  if (c.code !== 0) await run([bin, '-w', '5', '-t', table, '-I', chain, ...rule], { netns });
}

/** Remove every KUBE-* chain and every jump into one from nat and filter. Returns chains removed. */
export async function iptablesCleanup(b: IptablesBackend, netns?: string): Promise<number> {
  let removed = 0;
  for (const table of ['nat', 'filter']) {
    const saved = await iptablesSave(b, table, netns);
    const chains = [...saved.matchAll(/^:(KUBE-\S+)/gm)].map((m) => m[1]!);
    const jumps = saved.split('\n').filter((l) => /^-A (?!KUBE-)\S+ .*-j KUBE-/.test(l));
    if (!chains.length && !jumps.length) continue;
    const lines = [`*${table}`, ...jumps.map((l) => l.replace(/^-A /, '-D ')), ...chains.map((c) => `:${c} - [0:0]`), ...chains.map((c) => `-X ${c}`), 'COMMIT'];
    await iptablesRestore(b, lines.join('\n') + '\n', netns);
    removed += chains.length;
  }
  return removed;
}
