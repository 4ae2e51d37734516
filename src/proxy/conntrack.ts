/**
 * @module proxy/conntrack
 * UDP has no connection close: a conntrack entry towards a deleted endpoint keeps sending a
 * client's datagrams into the void until it times out (DNS clients "hang"). After a sync that
 * removed UDP endpoints, their entries are deleted (kube-proxy's conntrack/cleanup.go); entries
 * a UDP Service collected while it had no endpoints (rejected, never DNATed) go too.
 */
import { run } from '../net/exec.js';
import type { UpdateResult } from './service-port-map.js';

export interface ConntrackRunner {
  (argv: string[]): Promise<unknown>;
}

const defaultRunner = (netns?: string): ConntrackRunner => (argv) => run(argv, { netns, allowFail: true });

/** Delete the stale UDP flows named by a sync's update result. Returns the commands run. */
export async function clearStaleUDP(r: Pick<UpdateResult, 'staleUDPEndpoints' | 'staleUDPServiceIPs'>, runner: ConntrackRunner | string | undefined = undefined): Promise<string[][]> {
  const exec = typeof runner === 'function' ? runner : defaultRunner(runner);
  const cmds: string[][] = [];
  for (const e of r.staleUDPEndpoints) {
    // Flows DNATed to the endpoint: their reply source is the endpoint.
    cmds.push(['conntrack', '-D', '-p', 'udp', '--reply-src', e.ip, '--reply-port-src', String(e.port)]);
  }
  for (const v of r.staleUDPServiceIPs) cmds.push(['conntrack', '-D', '-p', 'udp', '--orig-dst', v.ip, '--orig-port-dst', String(v.port)]);
  for (const c of cmds) await exec(c);
  return cmds;
}
