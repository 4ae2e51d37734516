/**
 * @module cluster/speaker
 * `svcplane speaker`: announces LoadBalancer IPs in the lan, as MetalLB would. For every
 * allocated ingress IP it installs a /32 route on the outside client host and on the lan router
 * with one next hop per eligible node (ECMP): every Ready node for externalTrafficPolicy
 * Cluster, only nodes with a ready endpoint for Local. Routes follow endpoint moves; IPs no
 * longer allocated are withdrawn. Runs in the host namespace and programs the lan's namespaces
 * with `ip -n` (it never touches the host's own routes).
 */
import type { EndpointSlice, Node, Service } from '../api/types.js';
import { res } from '../api/registry.js';
import { Client } from '../client/rest.js';
import { Informer } from '../client/informer.js';
import { run } from '../net/exec.js';
import { specOf, paths, type ClusterConfig } from './config.js';

const RESYNC_MS = 30_000;

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'speaker', msg, ...extra }));
}

/** ip → node IPs that should receive its traffic. Pure, for tests. */
export function desiredRoutes(services: Service[], slices: EndpointSlice[], nodes: Node[]): Map<string, string[]> {
  const nodeIP = new Map<string, string>();
  for (const n of nodes) {
    const ready = n.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True');
    const ip = n.status?.addresses?.find((a) => a.type === 'InternalIP')?.address;
    if (ready && ip) nodeIP.set(n.metadata!.name!, ip);
  }
  const out = new Map<string, string[]>();
  for (const s of services) {
    if (s.spec?.type !== 'LoadBalancer') continue;
    const ips = (s.status?.loadBalancer?.ingress ?? []).map((i) => i.ip).filter((x): x is string => !!x);
    if (!ips.length) continue;
    let hops: string[];
    if (s.spec.externalTrafficPolicy === 'Local') {
      const nodesWithEp = new Set<string>();
      for (const sl of slices) {
        if (sl.metadata?.namespace !== s.metadata?.namespace || sl.metadata?.labels?.['kubernetes.io/service-name'] !== s.metadata?.name) continue;
        for (const ep of sl.endpoints ?? []) if (ep.conditions?.ready !== false && ep.nodeName) nodesWithEp.add(ep.nodeName);
      }
      hops = [...nodesWithEp].map((n) => nodeIP.get(n)).filter((x): x is string => !!x);
    } else {
      hops = [...nodeIP.values()];
    }
    hops.sort();
    for (const ip of ips) if (hops.length) out.set(ip, hops);
  }
  return out;
}

function routeArgs(ip: string, hops: string[]): string[] {
  return hops.length === 1 ? ['route', 'replace', `${ip}/32`, 'via', hops[0]!] : ['route', 'replace', `${ip}/32`, ...hops.flatMap((h) => ['nexthop', 'via', h])];
}

export async function runSpeaker(c: ClusterConfig): Promise<void> {
  const spec = specOf(c);
  const targets = [spec.clientNetns, spec.lanNetns];
  const client = Client.fromKubeconfig(paths(c.dataDir).kubeconfigLocal);
  const svcs = new Informer<Service>(client, res('services'));
  const slices = new Informer<EndpointSlice>(client, res('endpointslices'));
  const nodes = new Informer<Node>(client, res('nodes'));
  const current = new Map<string, string>();
  let pending: NodeJS.Timeout | undefined;
  const sync = async () => {
    const want = desiredRoutes(svcs.list(), slices.list(), nodes.list());
    for (const [ip, hops] of want) {
      const key = hops.join(',');
      if (current.get(ip) === key) continue;
      for (const ns of targets) await run(['ip', '-n', ns, ...routeArgs(ip, hops)], { allowFail: true });
      current.set(ip, key);
      log('announced', { ip, via: hops });
    }
    for (const ip of [...current.keys()]) {
      if (want.has(ip)) continue;
      for (const ns of targets) await run(['ip', '-n', ns, 'route', 'del', `${ip}/32`], { allowFail: true });
      current.delete(ip);
      log('withdrawn', { ip });
    }
  };
  const kick = () => {
    if (pending) return;
    pending = setTimeout(() => { pending = undefined; sync().catch((e) => log('sync failed', { error: String(e) })); }, 50);
  };
  for (const inf of [svcs, slices, nodes] as Informer<any>[]) inf.addHandlers({ add: kick, update: kick, delete: kick });
  await Promise.all([svcs.start(), slices.start(), nodes.start()]);
  kick();
  setInterval(kick, RESYNC_MS);
  await new Promise(() => { /* forever */ });
}
