/**
 * @module dns/cli
 * `svcplane dns`: the cluster DNS server. In a svcplane cluster it runs as the `coredns` image of
 * the kube-dns Deployment (in-cluster config: SVCPLANE_APISERVER_SOCKET or the service account);
 * standalone it takes --kubeconfig and serves any Kubernetes API server's Services.
 */
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import {
  DEFAULT_HEALTH, DEFAULT_LISTEN, DEFAULT_METRICS, DEFAULT_READY, DEFAULT_TTL, DEFAULT_ZONE, startDnsServer,
} from './server.js';

export { startDnsServer } from './server.js';
export type { DnsServer, DnsServerOptions } from './server.js';

interface Flags {
  kubeconfig?: string;
  context?: string;
  inCluster?: boolean;
  listen: string;
  zone: string;
  ttl: string;
  upstream?: string[];
  health: string;
  ready: string;
  metrics: string;
  forwardTimeout: string;
  maxConcurrent: string;
  cache: string;
  endpointPodNames?: boolean;
  pods: string;
  lameduck: string;
}

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function clientFor(f: Flags): Client {
  if (f.kubeconfig) return Client.fromKubeconfig(f.kubeconfig, f.context);
  if (f.inCluster || process.env.SVCPLANE_APISERVER_SOCKET || process.env.KUBERNETES_SERVICE_HOST) return Client.inCluster();
  return Client.fromKubeconfig(undefined, f.context);
}

export function register(program: Command): void {
  program
    .command('dns')
    .description('cluster DNS server: the Kubernetes DNS spec for Services and pods, everything else forwarded')
    .option('--kubeconfig <path>', 'kubeconfig of the API server to watch (default: in-cluster, else ~/.kube/config)')
    .option('--context <name>', 'kubeconfig context')
    .option('--in-cluster', 'use the in-cluster configuration (SVCPLANE_APISERVER_SOCKET or the service account)')
    .option('--listen <host:port>', 'DNS address (UDP and TCP)', DEFAULT_LISTEN)
    .option('--zone <domain>', 'cluster domain', DEFAULT_ZONE)
    .option('--ttl <seconds>', 'TTL of cluster answers', String(DEFAULT_TTL))
    .option('--upstream <ip[:port],...>', 'upstream resolvers for other names (repeatable; default: /etc/resolv.conf)', collect)
    .option('--health <host:port>', '/health address ("" to disable)', DEFAULT_HEALTH)
    .option('--ready <host:port>', '/ready address ("" to disable)', DEFAULT_READY)
    .option('--metrics <host:port>', '/metrics address ("" to disable)', DEFAULT_METRICS)
    .option('--forward-timeout <ms>', 'SERVFAIL after this long without an upstream answer', '2000')
    .option('--max-concurrent <n>', 'forwarded queries in flight at most (over it: REFUSED)', '1000')
    .option('--cache <seconds>', 'cap on cached upstream answers (0: no cache)', '30')
    .option('--endpoint-pod-names', 'name endpoints without a hostname after their pod, not their IP')
    .option('--pods <mode>', 'pod records a-b-c-d.<ns>.pod.<zone>: insecure | disabled', 'insecure')
    .option('--lameduck <ms>', 'on SIGTERM: report not ready and keep answering this long before exiting', '5000')
    .action(async (f: Flags) => {
      const ttl = Number(f.ttl);
      if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) throw new Error(`--ttl ${f.ttl}: must be an integer between 0 and 3600`);
      if (f.pods !== 'insecure' && f.pods !== 'disabled') throw new Error(`--pods ${f.pods}: must be insecure or disabled`);
      const srv = await startDnsServer({
        client: clientFor(f),
        listen: f.listen, zone: f.zone, ttl,
        upstreams: f.upstream,
        health: f.health, ready: f.ready, metrics: f.metrics,
        forwardTimeoutMs: Number(f.forwardTimeout), maxConcurrent: Number(f.maxConcurrent), cacheTTL: Number(f.cache),
        endpointPodNames: !!f.endpointPodNames, pods: f.pods,
      });
      const lameduck = Number(f.lameduck);
      process.once('SIGTERM', () => { void srv.lameduck(Number.isFinite(lameduck) ? lameduck : 0).then(() => process.exit(0)); });
      process.once('SIGINT', () => { void srv.close().then(() => process.exit(0)); });
    });
}
