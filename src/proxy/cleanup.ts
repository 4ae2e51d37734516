/**
 * @module proxy/cleanup
 * Starting in one mode removes what another mode left behind (kube-proxy's CleanupLeftovers):
 * the nftables table, the userspace redirect table, and the KUBE-* chains of the iptables mode
 * in both iptables back ends (nft and legacy), including the jumps into them from the built-in
 * chains.
 */
import { haveCommand, run } from '../net/exec.js';
import { nftDeleteTable } from '../net/nft.js';
import { iptablesCleanup, IPTABLES_BACKENDS } from '../net/iptables.js';
import { FAMILY, TABLE } from './backends/nftables/proxier.js';
import { USERSPACE_TABLE } from './backends/userspace/redirect.js';

export type ProxyModeName = 'nftables' | 'iptables' | 'userspace' | 'ipvs';

/** Remove every mode's rules except `keep`'s (all of them when keep is undefined). */
export async function cleanupLeftovers(keep: ProxyModeName | undefined, netns?: string, keepIptablesBackend?: string): Promise<string[]> {
  const removed: string[] = [];
  if (keep !== 'nftables') { await nftDeleteTable(FAMILY, TABLE, netns); removed.push(`nft table ${FAMILY} ${TABLE}`); }
  if (keep !== 'userspace') { await nftDeleteTable('ip', USERSPACE_TABLE, netns); removed.push(`nft table ip ${USERSPACE_TABLE}`); }
  for (const b of IPTABLES_BACKENDS) {
    if (keep === 'iptables' && b === keepIptablesBackend) continue;
    if (!haveCommand(`iptables-${b}-restore`)) continue;
    const n = await iptablesCleanup(b, netns);
    if (n) removed.push(`${n} KUBE-* chains (iptables-${b})`);
  }
  // IPVS state would be here; this kernel has none (ipvs mode refuses to start).
  void run;
  return removed;
}
