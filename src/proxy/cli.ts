/** @module proxy/cli — `svcplane proxy`. */
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import { startProxy } from './proxy.js';
import { NftablesProxier } from './backends/nftables/proxier.js';

function duration(v: string): number {
  const m = /^(\d+(?:\.\d+)?)(ms|s|m)?$/.exec(v.trim());
  if (!m) throw new Error(`invalid duration "${v}": use e.g. 500ms, 1s, 30s`);
  return Number(m[1]) * (m[2] === 'ms' ? 1 : m[2] === 'm' ? 60_000 : 1000);
}

export function register(program: Command): void {
  program.command('proxy').description('the service proxy for one node (like kube-proxy): programs the kernel for every Service')
    .option('--kubeconfig <path>', 'kubeconfig of the API server (default: in-cluster, else ~/.kube/config)')
    .option('--hostname-override <name>', 'this node\'s name', process.env.HOSTNAME ?? '')
    .option('--node-ip <ip>', 'this node\'s InternalIP', '')
    .option('--proxy-mode <mode>', 'nftables | iptables | userspace | ipvs', 'nftables')
    .option('--scheduler <name>', 'random | rr', 'random')
    .option('--cluster-cidr <cidr>', 'pod CIDR of the cluster (traffic from outside it is masqueraded)', '10.244.0.0/16')
    .option('--min-sync-period <d>', 'minimum time between syncs', '100ms')
    .option('--sync-period <d>', 'full resync period', '30s')
    .option('--healthz-bind-address <addr>', '/healthz address', '0.0.0.0:10256')
    .option('--metrics-bind-address <addr>', '/metrics address', '127.0.0.1:10249')
    .option('--cleanup', 'remove the rules svcplane proxy created and exit')
    .action(async (o) => {
      if (o.cleanup) { await new NftablesProxier({ nodeName: '', nodeIP: '', clusterCIDR: o.clusterCidr, scheduler: 'random' }).cleanup(); return; }
      const client = o.kubeconfig ? Client.fromKubeconfig(o.kubeconfig) : process.env.SVCPLANE_APISERVER_SOCKET || process.env.KUBERNETES_SERVICE_HOST ? Client.inCluster() : Client.fromKubeconfig();
      if (!o.hostnameOverride) throw new Error('--hostname-override is required: the name of the node this proxy runs on');
      const p = await startProxy({
        client, nodeName: o.hostnameOverride, nodeIP: o.nodeIp, mode: o.proxyMode, scheduler: o.scheduler, clusterCIDR: o.clusterCidr,
        minSyncMs: duration(o.minSyncPeriod), syncPeriodMs: duration(o.syncPeriod), healthzBind: o.healthzBindAddress, metricsBind: o.metricsBindAddress,
      });
      const stop = () => { void p.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
