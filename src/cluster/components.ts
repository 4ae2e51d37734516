/**
 * @module cluster/components
 * What runs in a cluster: one row per process, with the namespace it runs in and its flags.
 * The supervisor starts them in this order (the API server first) and restarts any that die.
 */
import { CLIENT_IP, POD_SUPERNET } from '../net/topology.js';
import { paths, specOf, type ClusterConfig } from './config.js';

export interface ComponentSpec {
  /** Unique name: also the log file name (logs/<name>.log). */
  name: string;
  /** svcplane subcommand and flags. */
  args: string[];
  /** Network namespace to run in (undefined = the host's). */
  netns?: string;
  /** Started only after the API server answers. */
  needsApi: boolean;
}

export function apiserverPort(c: ClusterConfig, i: number): number {
  return c.apiserverPort + i;
}

export function clusterComponents(c: ClusterConfig): ComponentSpec[] {
  const p = paths(c.dataDir);
  const spec = specOf(c);
  const cp = spec.nodes[0]!;
  const kubeconfig = p.kubeconfigLocal;
  const out: ComponentSpec[] = [];
  for (let i = 0; i < Math.max(1, c.apiservers); i++) {
    const args = ['apiserver', '--data-dir', c.dataDir, '--store', c.store, '--secure-port', String(apiserverPort(c, i)),
      '--advertise-address', cp.ip];
    if (c.etcdServers?.length) args.push('--etcd-servers', c.etcdServers.join(','));
    if (i > 0) args.push('--socket', `${p.apiserverSocket}.${i}`);
    out.push({ name: i === 0 ? 'apiserver' : `apiserver-${i}`, args, needsApi: false });
  }
  out.push(
    // Health/metrics ports follow the API server's: 10257/10259 for the first cluster, +10 per cluster.
    { name: 'controller-manager', args: ['controller-manager', '--kubeconfig', kubeconfig, '--lb-pool', c.lbPool, '--port', String(c.apiserverPort + 3814)], needsApi: true },
    { name: 'scheduler', args: ['scheduler', '--kubeconfig', kubeconfig, '--port', String(c.apiserverPort + 3816)], needsApi: true },
    { name: 'relay', args: ['relay', '--data-dir', c.dataDir, '--listen', `${cp.ip}:6443`], netns: cp.netns, needsApi: true },
    { name: 'speaker', args: ['speaker', '--name', c.name, '--data-dir', c.dataDir], needsApi: true },
    { name: 'outside', args: ['outside', '--data-dir', c.dataDir], netns: spec.clientNetns, needsApi: false },
  );
  for (const n of spec.nodes) {
    out.push({
      name: `kubelet-${n.name}`, netns: n.netns, needsApi: true,
      args: ['kubelet', '--kubeconfig', kubeconfig, '--node-name', n.name, '--node-ip', n.ip, '--pod-cidr', n.podCIDR,
        '--data-dir', c.dataDir, '--cluster-name', c.name, '--socket', p.kubeletSocket(n.name)],
    });
    out.push({
      name: `proxy-${n.name}`, netns: n.netns, needsApi: true,
      args: ['proxy', '--kubeconfig', kubeconfig, '--hostname-override', n.name, '--node-ip', n.ip,
        '--proxy-mode', c.proxyMode, '--scheduler', c.scheduler, '--cluster-cidr', POD_SUPERNET],
    });
  }
  return out;
}

/** The outside world's resolver that cluster DNS forwards to (see cluster/outside.ts). */
export const OUTSIDE_DNS = `${CLIENT_IP}:53`;
