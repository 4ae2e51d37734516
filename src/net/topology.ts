/**
 * @module net/topology
 * The cluster's network, built from network namespaces only (nothing is added to the host's
 * own namespace):
 *
 *   svp-<c>-lan     bridge br0 172.18.0.1/16 — the network the nodes sit on (kind's docker network);
 *                   its router has no way out: traffic for anywhere else is refused at once
 *   svp-<node>      eth0 172.18.0.{2,3,4}/16 on the lan; cni0 10.244.N.1/24 for its pods;
 *                   host-gw routes to the other nodes' pod CIDRs; default route via 172.18.0.1
 *   svp-<c>-client  eth0 172.18.0.100/16 (+ 192.0.2.42/32, the notes' "external" endpoint):
 *                   a host outside the cluster, for NodePort / LoadBalancer traffic
 */
import { existsSync } from 'node:fs';
import { run, runSync } from './exec.js';

export const LAN_PREFIX = '172.18';
export const LAN_GATEWAY = '172.18.0.1';
export const CLIENT_IP = '172.18.0.100';
export const EXTERNAL_IP = '192.0.2.42';
export const POD_SUPERNET = '10.244.0.0/16';
export const SERVICE_CIDR = '10.96.0.0/12';

export interface NodeSpec {
  name: string;
  /** Network namespace holding the node. */
  netns: string;
  ip: string;
  podCIDR: string;
  /** cni0's address: the pods' gateway. */
  gateway: string;
  index: number;
  role: 'control-plane' | 'worker';
}

export interface TopologySpec {
  cluster: string;
  lanNetns: string;
  clientNetns: string;
  nodes: NodeSpec[];
}

/** kind's naming: <name>-control-plane, <name>-worker, <name>-worker2, … */
export function nodeNames(cluster: string, workers: number): string[] {
  const names = [`${cluster}-control-plane`];
  for (let i = 1; i <= workers; i++) names.push(i === 1 ? `${cluster}-worker` : `${cluster}-worker${i}`);
  return names;
}

export function topologySpec(cluster: string, workers: number): TopologySpec {
  if (workers < 0 || workers > 50) throw new Error(`--workers ${workers}: must be between 0 and 50`);
  const nodes = nodeNames(cluster, workers).map((name, i): NodeSpec => ({
    name, netns: `svp-${name}`, ip: `${LAN_PREFIX}.0.${i + 2}`, podCIDR: `10.244.${i}.0/24`, gateway: `10.244.${i}.1`,
    index: i, role: i === 0 ? 'control-plane' : 'worker',
  }));
  return { cluster, lanNetns: `svp-${cluster}-lan`, clientNetns: `svp-${cluster}-client`, nodes };
}

/** Every namespace that belongs to the cluster, including pods' (svp-<c>-p-*). */
export function clusterNetnsNames(spec: TopologySpec): string[] {
  const all = listNetns();
  const own = new Set([spec.lanNetns, spec.clientNetns, ...spec.nodes.map((n) => n.netns)]);
  return all.filter((n) => own.has(n) || n.startsWith(`svp-${spec.cluster}-p-`));
}

export function listNetns(): string[] {
  const r = runSync(['ip', 'netns', 'list'], { allowFail: true });
  return r.stdout.split('\n').map((l) => l.split(' ')[0]!).filter(Boolean);
}

export function netnsExists(name: string): boolean {
  return existsSync(`/run/netns/${name}`);
}

/** ip commands run against a namespace with `ip -n`, batched per namespace. */
async function ipBatch(netns: string, lines: string[]): Promise<void> {
  await run(['ip', '-n', netns, '-batch', '-'], { input: lines.join('\n') + '\n' });
}

/** sysctls, then an nft ruleset, in one `ip netns exec`. */
async function sysctlAndRules(netns: string, settings: Record<string, string>, nftRules: string): Promise<void> {
  const args = Object.entries(settings).map(([k, v]) => `${k}=${v}`).join(' ');
  await run(['sh', '-c', `sysctl -q -w ${args} && exec nft -f -`], { netns, input: nftRules });
}

/**
 * The lan router has no link beyond the cluster. A packet for anywhere else (the internet, a
 * registry, the host's resolver) is refused with ICMP admin-prohibited, which a connected socket
 * sees at once as "no route to host": an offline pull or lookup fails in milliseconds instead of
 * waiting out resolver timeouts (a route that is merely missing is answered by the kernel's own
 * rate-limited errors, which lose most of a burst of DNS questions).
 */
function lanRules(): string {
  return [
    'table ip svcplane-lan {',
    '  chain input {',
    '    type filter hook input priority 0; policy accept;',
    '    iifname "lo" accept',
    `    ip daddr ${LAN_GATEWAY} accept`,
    '    reject with icmp type admin-prohibited',
    '  }',
    '}',
  ].join('\n') + '\n';
}

/** Node-level masquerade for pod traffic leaving the cluster networks (what ip-masq-agent does in kind). */
function masqueradeRules(): string {
  return [
    'table ip svcplane-node {',
    '  chain postrouting {',
    '    type nat hook postrouting priority 100; policy accept;',
    `    ip saddr ${POD_SUPERNET} ip daddr != { ${POD_SUPERNET}, ${SERVICE_CIDR} } oifname "eth0" masquerade;`,
    '  }',
    '}',
  ].join('\n') + '\n';
}

/**
 * Create the whole topology. Idempotent only in the sense that it first removes leftovers.
 * Few processes: one `ip -batch` adds every namespace, one per namespace configures it (`ip -n`,
 * no `ip netns exec`), and one `ip netns exec` per node sets its sysctls and masquerade rule.
 */
export async function createTopology(spec: TopologySpec): Promise<void> {
  const all = [spec.lanNetns, spec.clientNetns, ...spec.nodes.map((n) => n.netns)];
  for (const ns of all) if (netnsExists(ns)) runSync(['ip', 'netns', 'del', ns], { allowFail: true });
  await run(['ip', '-batch', '-'], { input: all.map((ns) => `netns add ${ns}`).join('\n') + '\n' });
  const hosts = [
    ...spec.nodes.map((n) => ({ netns: n.netns, ip: n.ip, tag: `n${n.index}` })),
    { netns: spec.clientNetns, ip: CLIENT_IP, tag: 'client' },
  ];
  // The lan: bridge br0, one veth pair per host (the far end moved into the host's namespace as
  // eth0), routes from the lan router to each node's pod CIDR (so the outside client can reach pods
  // through it, like a kind host with routes) and to the outside host's extra address.
  await ipBatch(spec.lanNetns, [
    'link set lo up',
    'link add br0 type bridge',
    `addr add ${LAN_GATEWAY}/16 dev br0`,
    'link set br0 up',
    ...hosts.flatMap((h) => [
      `link add v-${h.tag} type veth peer name eth0 netns ${h.netns}`,
      `link set v-${h.tag} master br0`,
      `link set v-${h.tag} up`,
    ]),
    ...spec.nodes.map((n) => `route add ${n.podCIDR} via ${n.ip}`),
    `route add ${EXTERNAL_IP}/32 via ${CLIENT_IP}`,
    // No way out (see lanRules): everything else is taken in here and refused at once.
    'route add local default dev lo table main',
  ]);
  await Promise.all([
    ...spec.nodes.map(async (n) => {
      await ipBatch(n.netns, [
        'link set lo up',
        `addr add ${n.ip}/16 dev eth0`,
        'link set eth0 up',
        'link add cni0 type bridge',
        `addr add ${n.gateway}/24 dev cni0`,
        'link set cni0 up',
        `route add default via ${LAN_GATEWAY}`,
        ...spec.nodes.filter((o) => o !== n).map((o) => `route add ${o.podCIDR} via ${o.ip}`),
      ]);
      await sysctlAndRules(n.netns, {
        'net.ipv4.ip_forward': '1',
        'net.ipv4.conf.all.route_localnet': '1',
        'net.ipv4.conf.all.rp_filter': '0',
        'net.ipv4.conf.default.rp_filter': '0',
        'net.bridge.bridge-nf-call-iptables': '1',
      }, masqueradeRules());
    }),
    ipBatch(spec.clientNetns, [
      'link set lo up',
      `addr add ${CLIENT_IP}/16 dev eth0`,
      `addr add ${EXTERNAL_IP}/32 dev lo`,
      'link set eth0 up',
      `route add default via ${LAN_GATEWAY}`,
    ]),
    // Nodes reach the outside host's 192.0.2.42 through the lan router (their default route).
    // Every refusal is sent: a resolver asks many questions at once, and each must fail fast.
    sysctlAndRules(spec.lanNetns, { 'net.ipv4.ip_forward': '1', 'net.ipv4.icmp_ratelimit': '0' }, lanRules()),
  ]);
}

/** Kill every process in a namespace, then delete it. */
export function deleteNetns(name: string): void {
  const pids = runSync(['ip', 'netns', 'pids', name], { allowFail: true }).stdout.split('\n').filter(Boolean);
  for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ } }
  runSync(['ip', 'netns', 'del', name], { allowFail: true });
  runSync(['rm', '-rf', `/etc/netns/${name}`], { allowFail: true });
}

/** Remove everything the topology (and pods in it) created. Safe to call on a half-built cluster. */
export function destroyTopology(spec: TopologySpec): void {
  for (const ns of clusterNetnsNames(spec)) deleteNetns(ns);
}
