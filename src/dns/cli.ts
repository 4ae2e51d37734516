/**
 * @module dns/cli
 * `svcplane dns`: the cluster DNS server. In a svcplane cluster it runs as the `coredns` image of
 * the kube-dns Deployment (in-cluster config: SVCPLANE_APISERVER_SOCKET or the service account);
 * standalone it takes --kubeconfig and serves any Kubernetes API server's Services.
 */
import { extname } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Command } from 'commander';
import {
  DEFAULT_HEALTH, DEFAULT_LISTEN, DEFAULT_METRICS, DEFAULT_READY, DEFAULT_TTL, DEFAULT_ZONE,
} from './server.js';
import { type DnsFlags, serveFlags, type ToWorker, type FromWorker } from './worker.js';

/**
 * The young generation of the worker's heap, MB. Node's default lets it grow to 48 MB under a
 * steady stream of queries, which is most of this server's memory; the flag that caps it
 * (--max-semi-space-size) only works on node's command line, a worker's resourceLimits work anywhere.
 */
const WORKER_YOUNG_GENERATION_MB = 4;
/** SVCPLANE_DNS_WORKER=0 serves from the main thread. */
const WORKER_ENV = 'SVCPLANE_DNS_WORKER';

export { startDnsServer } from './server.js';
export type { DnsServer, DnsServerOptions } from './server.js';

function collect(v: string, prev: string[] = []): string[] {
  return [...prev, v];
}

/** Serve from this thread; signals go straight to the server. */
async function runHere(f: DnsFlags): Promise<void> {
  const srv = await serveFlags(f);
  process.once('SIGTERM', () => { void srv.lameduck(f.lameduckMs).then(() => process.exit(0)); });
  process.once('SIGINT', () => { void srv.close().then(() => process.exit(0)); });
}

/** Serve from a worker thread with a small young generation; this thread relays signals and exit. */
async function runInWorker(f: DnsFlags): Promise<void> {
  const ext = extname(fileURLToPath(import.meta.url));
  const entry = new URL(`./worker${ext}`, import.meta.url);
  // Run from sources (tsx): loader hooks do not reach workers in node 20, so the worker registers tsx itself.
  const script = ext === '.ts'
    ? `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((t) => { t.register(); return import(${JSON.stringify(entry.href)}); })`
    : entry;
  const w = new Worker(script, {
    eval: ext === '.ts',
    workerData: { dnsFlags: f },
    // --input-type (and -e) describe the main script only; a worker given them refuses its file.
    execArgv: process.execArgv.filter((a) => !a.startsWith('--input-type')),
    resourceLimits: { maxYoungGenerationSizeMb: WORKER_YOUNG_GENERATION_MB },
  });
  const tell = (m: ToWorker): void => w.postMessage(m);
  await new Promise<void>((resolve, reject) => {
    w.on('message', (m: FromWorker) => {
      if (m.type === 'started') resolve();
      if (m.type === 'closed') process.exit(0);
    });
    w.once('error', (e) => {
      console.error(JSON.stringify({ level: 'error', component: 'dns', msg: 'server failed', error: String(e?.stack ?? e) }));
      reject(e);
      process.exit(1);
    });
    w.once('exit', (code) => { reject(new Error(`dns worker exited (${code})`)); process.exit(code || 1); });
  });
  process.once('SIGTERM', () => tell({ type: 'lameduck', ms: f.lameduckMs }));
  process.once('SIGINT', () => tell({ type: 'close' }));
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
      const flagged = process.execArgv.some((a) => a.startsWith('--max-semi-space-size'));
      if (process.env[WORKER_ENV] === '0' || flagged) await runHere(f);
      else await runInWorker(f);
    });
}
