/**
 * @module net/nft
 * Batch runner for nftables: one `nft -f -` process per transaction. Every nft process
 * re-reads the whole ruleset before applying anything (seconds at 10k Services), so callers
 * build one transaction per sync instead of running nft per rule.
 */
import { run } from './exec.js';

/** Apply a transaction atomically (all or nothing). Throws CommandError naming nft's complaint. */
export async function nftApply(text: string, netns?: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: text, netns, timeoutMs: 600_000 });
}

/** `nft list …` output, or '' when the object does not exist. */
export async function nftList(args: string[], netns?: string): Promise<string> {
  const r = await run(['nft', ...args], { netns, allowFail: true });
  return r.code === 0 ? r.stdout : '';
}

/** Delete a table if it exists (no error when it does not). */
export async function nftDeleteTable(family: string, name: string, netns?: string): Promise<void> {
  await run(['nft', '-f', '-'], { input: `table ${family} ${name}\ndelete table ${family} ${name}\n`, netns, allowFail: true });
}
