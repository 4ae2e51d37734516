/**
 * @module cluster/components
 * What runs in a cluster: one row per process, with the namespace it runs in and its flags.
 * The supervisor starts them in this order (the API server first) and restarts any that die.
 */
import { join } from 'node:path';
import { CLIENT_IP, POD_SUPERNET } from '../net/topology.js';
import { etcdMemberArgs, findEtcd } from '../store/etcd-cluster.js';
import {
  LOCAL_ETCD_MEMBERS, LOCAL_ETCD_NAME, etcdEndpoints, paths, runsLocalEtcd, specOf, type ClusterConfig,
} from './config.js';
import { containerdPaths, REGISTRY_PORT } from './containerd.js';

export interface ComponentSpec {
  /** Unique name: also the log file name (logs/<name>.log). */
  name: string;
  /** svcplane subcommand and flags (or the flags of `command`). */
  args: string[];
  /** A program other than svcplane (etcd). */
  command?: string;
  /** Part of the store (etcd members): started before everything else. */
  store?: boolean;
  /** Network namespace to run in (undefined = the host's). */
  netns?: string;
  /** Join only the netns, keeping the host's mount namespace (containerd: cgroups, pod mounts). */
  hostMounts?: boolean;
  /** Started only after the API server answers. */
  needsApi: boolean;
}

/** Several API servers run behind a load balancer that owns the client-facing port and socket. */
export function apiserverCount(c: ClusterConfig): number {
  return Math.max(1, c.apiservers ?? 1);
}

/** HTTPS port of API server i: the cluster's port itself, or the ones after it behind the load balancer. */
export function apiserverPort(c: ClusterConfig, i: number): number {
  return apiserverCount(c) > 1 ? c.apiserverPort + 1 + i : c.apiserverPort + i;
}

/** The etcd options a cluster's local members are started with. */
export function localEtcdOptions(c: ClusterConfig) {
  return { dataDir: paths(c.dataDir).etcd, basePort: c.etcdBasePort!, members: LOCAL_ETCD_MEMBERS, name: LOCAL_ETCD_NAME };
}

export function clusterComponents(c: ClusterConfig): ComponentSpec[] {
  const p = paths(c.dataDir);
  const spec = specOf(c);
  const cp = spec.nodes[0]!;
  const kubeconfig = p.kubeconfigLocal;
  const out: ComponentSpec[] = [];
  if (runsLocalEtcd(c)) {
    const bin = findEtcd() ?? 'etcd';
    const eo = localEtcdOptions(c);
    for (let i = 0; i < LOCAL_ETCD_MEMBERS; i++) {
      out.push({ name: `${LOCAL_ETCD_NAME}-${i}`, command: bin, args: etcdMemberArgs(eo, i), needsApi: false, store: true });
    }
  }
  const n = apiserverCount(c);
  for (let i = 0; i < n; i++) {
    const args = ['apiserver', '--data-dir', c.dataDir, '--store', c.store, '--secure-port', String(apiserverPort(c, i)),
      '--advertise-address', cp.ip];
    if (c.store === 'etcd') {
      args.push('--etcd-servers', etcdEndpoints(c).join(','));
      if (c.etcdTls?.ca) args.push('--etcd-cafile', c.etcdTls.ca);
      if (c.etcdTls?.cert) args.push('--etcd-certfile', c.etcdTls.cert);
      if (c.etcdTls?.key) args.push('--etcd-keyfile', c.etcdTls.key);
    }
    if (n > 1) {
      args.push('--socket', p.apiserverInstanceSocket(i));
      // The first one writes the kubeconfigs, naming the load balancer's port and socket.
      if (i === 0) args.push('--kubeconfig-server', `https://127.0.0.1:${c.apiserverPort}`, '--kubeconfig-socket', p.apiserverSocket);
    }
    // The first API server creates the certificates; the others start once it answers.
    out.push({ name: n > 1 ? `apiserver-${i}` : 'apiserver', args, needsApi: i > 0 });
  }
  if (n > 1) {
    out.push({
      name: 'apiserver-lb', needsApi: false,
      args: ['apiserver-lb', '--listen', `127.0.0.1:${c.apiserverPort}`, '--socket', p.apiserverSocket, '--secure-socket', p.apiserverSecureSocket,
        '--backends', Array.from({ length: n }, (_, i) => `127.0.0.1:${apiserverPort(c, i)}`).join(','),
        '--backend-sockets', Array.from({ length: n }, (_, i) => p.apiserverInstanceSocket(i)).join(',')],
    });
  }
  out.push(
    // Health/metrics ports follow the API server's: 10257/10259 for the first cluster, +10 per cluster.
    // Started with the API server (they wait for its kubeconfig and /readyz): their module loading
    // overlaps its start, and the first pods (kube-dns) are created and placed as soon as it serves.
    { name: 'controller-manager', args: ['controller-manager', '--kubeconfig', kubeconfig, '--lb-pool', c.lbPool, '--port', String(c.apiserverPort + 3814), '--root-ca-file', join(p.pki, 'ca.crt')], needsApi: false },
    { name: 'scheduler', args: ['scheduler', '--kubeconfig', kubeconfig, '--port', String(c.apiserverPort + 3816)], needsApi: false },
    { name: 'relay', args: ['relay', '--data-dir', c.dataDir, '--listen', `${cp.ip}:6443`], netns: cp.netns, needsApi: true },
    { name: 'speaker', args: ['speaker', '--name', c.name, '--data-dir', c.dataDir], needsApi: true },
    // Not needed for nodes to turn Ready: it starts once the API answers, leaving the CPU to those that are.
    { name: 'outside', args: ['outside', '--data-dir', c.dataDir], netns: spec.clientNetns, needsApi: true },
  );
  for (const n of spec.nodes) {
    const containerd = c.runtime === 'containerd';
    // The node's containerd, in its network namespace beside the node agent (its config is
    // written by the supervisor, see cluster/containerd.ts).
    // In a UTS namespace of its own named after the node, as a kind node container is: hostNetwork
    // pods (which share it) see the node's name as their hostname, not the machine's.
    if (containerd) {
      out.push({
        name: `containerd-${n.name}`, command: 'unshare', netns: n.netns, hostMounts: true, needsApi: false,
        args: ['--uts', '--', 'sh', '-c', 'hostname "$0" && exec containerd --config "$1"', n.name, containerdPaths(c.dataDir, n.name).config],
      });
    }
    out.push({
      // Started with the API server: it waits for the kubeconfig and registers its Node as soon as
      // the API answers, its module loading overlapping the API server's start.
      // On containerd it keeps the host's mount namespace, as containerd does: the tmpfs of a
      // Memory emptyDir it mounts must be what runc bind-mounts into the container.
      name: `kubelet-${n.name}`, netns: n.netns, hostMounts: containerd, needsApi: false,
      args: ['kubelet', '--kubeconfig', kubeconfig, '--node-name', n.name, '--node-ip', n.ip, '--pod-cidr', n.podCIDR,
        '--data-dir', c.dataDir, '--cluster-name', c.name, '--socket', p.kubeletSocket(n.name),
        ...(containerd ? ['--container-runtime-endpoint', `unix://${containerdPaths(c.dataDir, n.name).socket}`, '--registry-port', String(REGISTRY_PORT)] : [])],
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
