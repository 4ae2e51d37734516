/**
 * @module dns/cli
 * `svcplane dns`: the cluster DNS server. In a svcplane cluster it runs as the `coredns` image of
 * the kube-dns Deployment (in-cluster config: SVCPLANE_APISERVER_SOCKET or the service account);
 * standalone it takes --kubeconfig and serves any Kubernetes API server's Services.
 */
import v8 from 'node:v8';
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import {
  DEFAULT_HEALTH, DEFAULT_LISTEN, DEFAULT_METRICS, DEFAULT_READY, DEFAULT_TTL, DEFAULT_ZONE, startDnsServer, type DnsServer,
} from './server.js';

/**
 * V8 settings for a small, steady heap, applied when `svcplane dns` starts (they are read whenever
 * the heap is resized or collected, so setting them at run time works, unlike
 * --max-semi-space-size or --no-memory-reducer, which only work on node's command line).
 * - --semi-space-growth-factor=1: under a steady query stream V8 grows the young generation from
 *   1 MB to 16 MB per semi-space (48 MB resident, most of this server's memory); this keeps it at
 *   1 MB. Scavenging it takes ~0.3 ms, the hot path allocating little beyond each reply.
 * - --optimize-for-size: the old generation grows less past what is live before the next full
 *   collection (-8 MB at 10k Services under dnsperf, same qps).
 * - --memory-reducer-single-gc: with --optimize-for-size, V8's memory reducer follows a full
 *   collection that grew the heap with three more, ~0.6 s apart, whatever the load; each is a
 *   10–40 ms pause on a busy machine and together they made the p99 under a steady 5000 qps.
 *   One is enough to give the memory back.
 */
export const V8_FLAGS = ['--semi-space-growth-factor=1', '--optimize-for-size', '--memory-reducer-single-gc'];

export interface DnsFlags {
  kubeconfig?: string;
  context?: string;
  inCluster: boolean;
  listen: string;
  zone: string;
  ttl: number;
  upstream?: string[];
  health: string;
  ready: string;
  metrics: string;
  forwardTimeoutMs: number;
  maxConcurrent: number;
  cacheTTL: number;
  endpointPodNames: boolean;
  pods: 'insecure' | 'disabled';
  lameduckMs: number;
}

export { startDnsServer } from './server.js';
export type { DnsServer, DnsServerOptions } from './server.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

function clientFor(f: DnsFlags): Client {
  if (f.kubeconfig) return Client.fromKubeconfig(f.kubeconfig, f.context);
  if (f.inCluster || process.env.SVCPLANE_APISERVER_SOCKET || process.env.KUBERNETES_SERVICE_HOST) return Client.inCluster();
  return Client.fromKubeconfig(undefined, f.context);
}

export function serveFlags(f: DnsFlags): Promise<DnsServer> {
  return startDnsServer({
    client: clientFor(f),
    listen: f.listen, zone: f.zone, ttl: f.ttl,
    upstreams: f.upstream,
    health: f.health, ready: f.ready, metrics: f.metrics,
    forwardTimeoutMs: f.forwardTimeoutMs, maxConcurrent: f.maxConcurrent, cacheTTL: f.cacheTTL,
    endpointPodNames: f.endpointPodNames, pods: f.pods,
  });
}

/** Serve; SIGTERM goes lame duck, SIGINT closes at once. */
async function run(f: DnsFlags): Promise<void> {
  for (const flag of V8_FLAGS) v8.setFlagsFromString(flag);
  const srv = await serveFlags(f);
  process.once('SIGTERM', () => { void srv.lameduck(f.lameduckMs).then(() => process.exit(0)); });
  process.once('SIGINT', () => { void srv.close().then(() => process.exit(0)); });
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
    .action(async (o: Record<string, any>) => {
      const ttl = Number(o.ttl);
      if (!Number.isInteger(ttl) || ttl < 0 || ttl > 3600) throw new Error(`--ttl ${o.ttl}: must be an integer between 0 and 3600`);
      if (o.pods !== 'insecure' && o.pods !== 'disabled') throw new Error(`--pods ${o.pods}: must be insecure or disabled`);
      const lameduck = Number(o.lameduck);
      const f: DnsFlags = {
        kubeconfig: o.kubeconfig, context: o.context, inCluster: !!o.inCluster,
        listen: o.listen, zone: o.zone, ttl, upstream: o.upstream,
        health: o.health, ready: o.ready, metrics: o.metrics,
        forwardTimeoutMs: Number(o.forwardTimeout), maxConcurrent: Number(o.maxConcurrent), cacheTTL: Number(o.cache),
        endpointPodNames: !!o.endpointPodNames, pods: o.pods, lameduckMs: Number.isFinite(lameduck) ? lameduck : 0,
      };
      await run(f);
    });
}
