/**
 * @module net/pod-network
 * A pod's network sandbox, the way a CNI bridge plugin builds it: a network namespace, a veth
 * pair with one end (eth0) in the pod and the other enslaved to the node's cni0 bridge (hairpin
 * on, so a pod can reach itself through its Service), an address from the node's pod CIDR,
 * lo up and a default route via the bridge.
 */
import { existsSync } from 'node:fs';
import { run, runSync } from './exec.js';

export const POD_BRIDGE = 'cni0';
export const POD_IFNAME = 'eth0';

export interface PodNetworkSpec {
  /** Pod netns name, e.g. svp-dev-p-1a2b3c4d. */
  netns: string;
  /** Node-side veth name (≤ 15 characters). */
  hostVeth: string;
  ip: string;
  prefixLength: number;
  gateway: string;
  bridge?: string;
  /** Netns holding the bridge, when the caller is not already inside it (tests). */
  nodeNetns?: string;
}

function ipArgs(nodeNetns?: string): string[] {
  return nodeNetns ? ['ip', '-n', nodeNetns] : ['ip'];
}

export function podNetnsExists(netns: string): boolean {
  return existsSync(`/run/netns/${netns}`);
}

/** Create the sandbox; a leftover namespace or veth of the same name is replaced. */
export async function createPodNetwork(s: PodNetworkSpec): Promise<void> {
  const ip = ipArgs(s.nodeNetns);
  if (podNetnsExists(s.netns)) await run(['ip', 'netns', 'del', s.netns], { allowFail: true });
  await run([...ip, 'link', 'del', s.hostVeth], { allowFail: true });
  await run(['ip', 'netns', 'add', s.netns]);
  try {
    await run([...ip, '-batch', '-'], {
      input: [
        `link add ${s.hostVeth} type veth peer name ${POD_IFNAME} netns ${s.netns}`,
        `link set ${s.hostVeth} master ${s.bridge ?? POD_BRIDGE}`,
        `link set ${s.hostVeth} type bridge_slave hairpin on`,
        `link set ${s.hostVeth} up`,
      ].join('\n') + '\n',
    });
    await run(['ip', '-n', s.netns, '-batch', '-'], {
      input: [
        'link set lo up',
        `addr add ${s.ip}/${s.prefixLength} dev ${POD_IFNAME}`,
        `link set ${POD_IFNAME} up`,
        `route add default via ${s.gateway} dev ${POD_IFNAME}`,
      ].join('\n') + '\n',
    });
  } catch (e) {
    await deletePodNetwork(s.netns, s.hostVeth, s.nodeNetns);
    throw e;
  }
}

/** Remove the sandbox (idempotent): deleting the netns removes eth0 and with it the veth pair. */
export async function deletePodNetwork(netns: string, hostVeth?: string, nodeNetns?: string): Promise<void> {
  if (podNetnsExists(netns)) await run(['ip', 'netns', 'del', netns], { allowFail: true });
  if (hostVeth) await run([...ipArgs(nodeNetns), 'link', 'del', hostVeth], { allowFail: true });
}

export function deletePodNetworkSync(netns: string, hostVeth?: string, nodeNetns?: string): void {
  if (podNetnsExists(netns)) runSync(['ip', 'netns', 'del', netns], { allowFail: true });
  if (hostVeth) runSync([...ipArgs(nodeNetns), 'link', 'del', hostVeth], { allowFail: true });
}

/** Pod network namespaces of a cluster (svp-<cluster>-p-*), for orphan clean-up. */
export function listPodNetns(cluster: string): string[] {
  const r = runSync(['ip', 'netns', 'list'], { allowFail: true });
  const prefix = `svp-${cluster}-p-`;
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));
}
