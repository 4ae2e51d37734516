/** @module proxy/cli — `svcplane proxy`: flags as kube-proxy's, then startProxy(). */
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import type { IptablesBackend } from '../net/iptables.js';
import { cleanupLeftovers } from './cleanup.js';
import { startProxy, validateOptions } from './proxy.js';

/** "500ms", "1s", "30s", "2m" → milliseconds (kube-proxy's Go durations). */
export function parseDuration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m|h)?$/.exec(v.trim());
  if (!m) throw new Error(`invalid duration "${v}": use e.g. 500ms, 1s, 30s`);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] ?? 's']!;
  return Number(m[1]) * unit;
}

export function register(program: Command): void {
  program.command('proxy').description('the service proxy for one node (like kube-proxy): programs the kernel for every Service')
    .option('--kubeconfig <path>', 'kubeconfig of the API server (default: in-cluster, else ~/.kube/config)')
    .option('--hostname-override <name>', 'this node\'s name', process.env.NODE_NAME ?? '')
    .option('--node-ip <ip>', 'this node\'s InternalIP', '')
    .option('--proxy-mode <mode>', 'nftables | iptables | userspace | ipvs', 'nftables')
    .option('--scheduler <name>', 'nftables/iptables: random | rr; userspace: rr wrr lc wlc sh dh sed nq random', 'random')
    .option('--iptables-backend <b>', 'iptables mode: nft (iptables-nft) | legacy (iptables-legacy)', 'nft')
    .option('--cluster-cidr <cidr>', 'pod CIDR of the cluster (traffic to a ClusterIP from outside it is masqueraded)', '10.244.0.0/16')
    .option('--min-sync-period <d>', 'minimum time between syncs (bursts of changes coalesce)', '1s')
    .option('--sync-period <d>', 'maximum time between syncs', '30s')
    .option('--nodeport-addresses <cidrs>', 'comma-separated CIDRs NodePorts answer on (default: every local address, 127.0.0.1 included)', '')
    .option('--healthz-bind-address <addr>', '/healthz address ("" to disable)', '0.0.0.0:10256')
    .option('--metrics-bind-address <addr>', '/metrics address ("" to disable)', '127.0.0.1:10249')
    .option('--endpoint-counters <bool>', 'per-endpoint kernel counters (connections, bytes); turn off at ~100k endpoints', 'true')
    .option('--cleanup', 'remove the rules of every proxy mode and exit')
    .action(async (o) => {
      if (o.cleanup) { const removed = await cleanupLeftovers(undefined); console.error(JSON.stringify({ component: 'proxy', msg: 'cleaned up', removed })); return; }
      try { validateOptions({ mode: o.proxyMode, scheduler: o.scheduler }); } catch (e) { console.error((e as Error).message); process.exit(1); }
      if (!o.hostnameOverride) { console.error('--hostname-override is required: the name of the node this proxy runs on'); process.exit(1); }
      if (o.iptablesBackend !== 'nft' && o.iptablesBackend !== 'legacy') { console.error(`--iptables-backend ${o.iptablesBackend}: must be nft or legacy`); process.exit(1); }
      // Started beside the API server by `svcplane up`: wait for its kubeconfig and its /readyz.
      const client = o.kubeconfig ? await Client.whenServing(o.kubeconfig) : process.env.SVCPLANE_APISERVER_SOCKET || process.env.KUBERNETES_SERVICE_HOST ? Client.inCluster() : Client.fromKubeconfig();
      const p = await startProxy({
        client, nodeName: o.hostnameOverride, nodeIP: o.nodeIp, mode: o.proxyMode, scheduler: o.scheduler, clusterCIDR: o.clusterCidr,
        minSyncMs: parseDuration(o.minSyncPeriod), syncPeriodMs: parseDuration(o.syncPeriod), healthzBind: o.healthzBindAddress, metricsBind: o.metricsBindAddress,
        nodePortAddresses: String(o.nodeportAddresses).split(',').map((s) => s.trim()).filter(Boolean), iptablesBackend: o.iptablesBackend as IptablesBackend,
        endpointCounters: o.endpointCounters !== 'false',
      });
      const stop = () => { void p.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
