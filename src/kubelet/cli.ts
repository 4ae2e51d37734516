/**
 * @module kubelet/cli
 * `svcplane kubelet …`: the node agent of one node, run inside the node's network namespace.
 */
import { existsSync } from 'node:fs';
import type { Command } from 'commander';
import { defaultKubeconfigPath } from '../client/kubeconfig.js';
import { Client, waitForFile } from '../client/rest.js';
import { registerNode } from './register.js';

function log(msg: string, fields: Record<string, unknown> = {}): void {
  console.error(JSON.stringify({ ts: new Date().toISOString(), component: 'kubelet', msg, ...fields }));
}

export function register(program: Command): void {
  program
    .command('kubelet')
    .description('node agent: registers the node and runs the pods bound to it in their own namespaces')
    .requiredOption('--node-name <name>', 'Node name')
    .requiredOption('--node-ip <ip>', 'InternalIP of the node (lan address)')
    .requiredOption('--pod-cidr <cidr>', 'pod CIDR of this node, e.g. 10.244.1.0/24 (bridge cni0 holds .1)')
    .requiredOption('--data-dir <dir>', 'cluster data dir (pods/<uid>/ and kubelet/<node>/ are kept there)')
    .requiredOption('--cluster-name <name>', 'cluster name (pod netns names svp-<cluster>-p-<uid8>)')
    .option('--kubeconfig <path>', 'kubeconfig of the API server (default: ~/.kube/config)')
    .option('--cluster-dns <ip>', 'cluster DNS Service IP for ClusterFirst pods (comma-separated)', '10.96.0.10')
    .option('--cluster-domain <domain>', 'cluster domain', 'cluster.local')
    .option('--socket <path>', 'node agent API socket (logs, exec); default <data-dir>/kubelet/<node>.sock')
    .option('--healthz-port <port>', '/healthz and /metrics on 127.0.0.1 (0: off)', '10248')
    .option('--container-runtime-endpoint <socket>', "containerd's socket: pods run as containers through the CRI (default: host processes)")
    .option('--registry-port <port>', "serve the built-in images on 127.0.0.1:<port> (containerd's registry mirror)")
    .option('--max-pods <n>', 'pods this node runs (status.allocatable.pods; more are rejected with OutOfpods)', '110')
    .action(async (o: { nodeName: string; nodeIp: string; podCidr: string; dataDir: string; clusterName: string; kubeconfig?: string; clusterDns: string; clusterDomain: string; socket?: string; healthzPort: string; maxPods: string; containerRuntimeEndpoint?: string; registryPort?: string }) => {
      const maxPods = Number(o.maxPods);
      if (!Number.isInteger(maxPods) || maxPods < 1) {
        log('invalid --max-pods: want a whole number of at least 1', { maxPods: o.maxPods });
        process.exit(2);
      }
      // Register the Node (Ready) first, with only the API client loaded; the pod runtime, the
      // socket server and the informers load afterwards. `svcplane up` starts node agents together
      // with the API server, so the kubeconfig may not be written yet.
      const kubeconfig = o.kubeconfig ?? defaultKubeconfigPath();
      if (!existsSync(kubeconfig)) log('waiting for the kubeconfig the API server writes', { kubeconfig });
      await waitForFile(kubeconfig);
      const client = Client.fromKubeconfig(kubeconfig);
      const socket = o.socket ?? `${o.dataDir}/kubelet/${o.nodeName}.sock`;
      await registerNode(client, { nodeName: o.nodeName, nodeIP: o.nodeIp, podCIDR: o.podCidr, socket, maxPods }, log);
      log('node registered', { node: o.nodeName });
      const { startKubelet } = await import('./kubelet.js');
      const k = await startKubelet({
        client, registered: true, nodeName: o.nodeName, nodeIP: o.nodeIp, podCIDR: o.podCidr, dataDir: o.dataDir,
        clusterName: o.clusterName, clusterDNS: o.clusterDns.split(',').filter(Boolean), clusterDomain: o.clusterDomain,
        socket, healthzPort: Number(o.healthzPort) || undefined, maxPods,
        containerdSocket: o.containerRuntimeEndpoint?.replace(/^unix:\/\//, ''), registryPort: Number(o.registryPort) || undefined,
      });
      // Pods keep running when the agent stops: a restarted agent adopts them.
      const exit = () => void k.stop().finally(() => process.exit(0));
      process.on('SIGTERM', exit);
      process.on('SIGINT', exit);
    });
}
