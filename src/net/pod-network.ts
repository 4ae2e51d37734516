/**
 * @module net/pod-network
 * A pod's network sandbox, the way a CNI bridge plugin builds it: a network namespace, a veth
 * pair with one end (eth0) in the pod and the other enslaved to the node's cni0 bridge (hairpin
 * on, so a pod can reach itself through its Service), an address from the node's pod CIDR,
 * lo up and a default route via the bridge.
 *
 * The namespace is pinned by a bind mount on /run/netns/<name>, and that mount must live in the
 * host's mount namespace: the node agent runs under `ip netns exec <node>`, which gives it a
 * private mount namespace (slave of the host's), so an `ip netns add` run from there would pin the
 * pod's namespace only for that one agent process. A restarted agent (or the host) would then find
 * an empty file and could never start a container in the pod again. "The host's" is the mount
 * namespace of the nearest ancestor process outside ours (the supervisor, or the shell that ran
 * `ip netns exec`); it is held open from the first use, so it stays reachable when that process
 * exits. The pin made there reaches this process through /run/netns's propagation (shared on the
 * host, slave here), or, where it does not, through a bind mount of the host's pin.
 */
import { existsSync, openSync, readFileSync, readlinkSync, statSync } from 'node:fs';
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

export const NETNS_DIR = '/run/netns';

interface HostMount { ns: string; root: string }
let hostMount: HostMount | null | undefined;

function parentOf(pid: number): number {
  try {
    const st = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(st.slice(st.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return 0;
  }
}

/**
 * The host's mount namespace as paths usable by this process and its children (open descriptors
 * under /proc/<self>/fd), or null when this process is in it already (or no ancestor outside it
 * can be read: then this process is as close to the host as it gets).
 */
export function hostMountNs(): HostMount | null {
  if (hostMount !== undefined) return hostMount;
  hostMount = null;
  let own: string;
  try { own = readlinkSync('/proc/self/ns/mnt'); } catch { return hostMount; }
  for (let pid = parentOf(process.pid), hops = 0; pid > 0 && hops < 64; pid = parentOf(pid), hops++) {
    let ns: string;
    try { ns = readlinkSync(`/proc/${pid}/ns/mnt`); } catch { continue; }
    if (ns === own) continue;
    try {
      const nsFd = openSync(`/proc/${pid}/ns/mnt`, 'r');
      const rootFd = openSync(`/proc/${pid}/root`, 'r');
      hostMount = { ns: `/proc/${process.pid}/fd/${nsFd}`, root: `/proc/${process.pid}/fd/${rootFd}` };
    } catch { /* gone or not ours to open: keep looking further up */ continue; }
    break;
  }
  return hostMount;
}

/** argv prefix that runs a command in the host's mount namespace ([] when this process is in it). */
export function hostMountPrefix(): string[] {
  const h = hostMountNs();
  return h ? ['nsenter', `--mount=${h.ns}`, '--'] : [];
}

export function podNetnsExists(netns: string): boolean {
  return existsSync(`${NETNS_DIR}/${netns}`);
}

/**
 * Is /run/netns/<name> a live namespace in this process's view (a mount on the file, not the
 * empty file a pin in another mount namespace leaves behind)?
 */
export function podNetnsMounted(netns: string): boolean {
  try {
    return statSync(`${NETNS_DIR}/${netns}`).dev !== statSync(NETNS_DIR).dev;
  } catch {
    return false;
  }
}

/** Make the host's pin of a namespace visible here when propagation did not bring it. */
async function ensureVisible(netns: string): Promise<void> {
  const h = hostMountNs();
  if (!h || podNetnsMounted(netns)) return;
  await run(['mount', '--bind', `${h.root}${NETNS_DIR}/${netns}`, `${NETNS_DIR}/${netns}`]);
  if (!podNetnsMounted(netns)) throw new Error(`network namespace ${netns} is not visible in this mount namespace`);
}

/** ip netns add, in the host's mount namespace (see the module comment). */
export async function addNetns(netns: string): Promise<void> {
  await run([...hostMountPrefix(), 'ip', 'netns', 'add', netns]);
  await ensureVisible(netns);
}

/**
 * Pin again a pod namespace whose pin is gone (made by an agent that ran before the pin moved to
 * the host's mount namespace) from a process still inside it. True when the namespace is usable.
 */
export function repinPodNetns(netns: string, pid: number): boolean {
  if (podNetnsMounted(netns)) return true;
  const h = hostMountNs();
  const file = `${NETNS_DIR}/${netns}`;
  runSync([...hostMountPrefix(), 'sh', '-c', 'mkdir -p "$1" && touch "$2" && mount --bind "/proc/$3/ns/net" "$2"', 'repin', NETNS_DIR, file, String(pid)], { allowFail: true });
  if (h && !podNetnsMounted(netns)) runSync(['mount', '--bind', `${h.root}${file}`, file], { allowFail: true });
  return podNetnsMounted(netns);
}

function delArgv(netns: string): string[] {
  return [...hostMountPrefix(), 'ip', 'netns', 'del', netns];
}

/** Create the sandbox; a leftover namespace or veth of the same name is replaced. */
export async function createPodNetwork(s: PodNetworkSpec): Promise<void> {
  const ip = ipArgs(s.nodeNetns);
  if (podNetnsExists(s.netns)) await run(delArgv(s.netns), { allowFail: true });
  await run([...ip, 'link', 'del', s.hostVeth], { allowFail: true });
  await addNetns(s.netns);
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
  if (podNetnsExists(netns)) await run(delArgv(netns), { allowFail: true });
  if (hostVeth) await run([...ipArgs(nodeNetns), 'link', 'del', hostVeth], { allowFail: true });
}

export function deletePodNetworkSync(netns: string, hostVeth?: string, nodeNetns?: string): void {
  if (podNetnsExists(netns)) runSync(delArgv(netns), { allowFail: true });
  if (hostVeth) runSync([...ipArgs(nodeNetns), 'link', 'del', hostVeth], { allowFail: true });
}

/** Pod network namespaces of a cluster (svp-<cluster>-p-*), for orphan clean-up. */
export function listPodNetns(cluster: string): string[] {
  const r = runSync(['ip', 'netns', 'list'], { allowFail: true });
  const prefix = `svp-${cluster}-p-`;
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter((n) => n.startsWith(prefix));
}
