/**
 * @module dns/worker
 * `svcplane dns` from flags to a running server, in whichever thread runs it: cli.ts starts this
 * module as a worker thread (see WORKER_YOUNG_GENERATION_MB there) or calls serveFlags itself.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Client } from '../client/rest.js';
import { startDnsServer, type DnsServer } from './server.js';

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

export type ToWorker = { type: 'lameduck'; ms: number } | { type: 'close' };
export type FromWorker = { type: 'started' } | { type: 'closed' };

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

if (!isMainThread && parentPort && (workerData as { dnsFlags?: DnsFlags } | undefined)?.dnsFlags) {
  const port = parentPort;
  const f = (workerData as { dnsFlags: DnsFlags }).dnsFlags;
  const srv = await serveFlags(f);
  const tell = (m: FromWorker): void => port.postMessage(m);
  port.on('message', (m: ToWorker) => {
    const done = m.type === 'lameduck' ? srv.lameduck(m.ms) : srv.close();
    void done.then(() => tell({ type: 'closed' }));
  });
  tell({ type: 'started' });
}
