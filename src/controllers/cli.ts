/**
 * @module controllers/cli
 * `svcplane controller-manager --kubeconfig P [--leader-elect=true] [--lb-pool RANGE]
 *  [--node-monitor-grace-period 40s] [--controllers '*'] [--max-endpoints-per-slice 100] [--port 10257]`
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import { CONTROLLERS, startControllerManager } from './manager.js';
import { log } from './shared/log.js';

export const DEFAULT_PORT = 10257;

/** "40s", "1m30s", "500ms" or plain seconds → ms. */
export function parseDuration(s: string): number {
  if (/^\d+(\.\d+)?$/.test(s)) return Number(s) * 1000;
  let ms = 0;
  const re = /(\d+(?:\.\d+)?)(ms|h|m|s)/g;
  let m: RegExpExecArray | null;
  let consumed = 0;
  while ((m = re.exec(s))) { ms += Number(m[1]) * { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[m[2] as 'ms']!; consumed += m[0].length; }
  if (!consumed || consumed !== s.length) throw new Error(`invalid duration "${s}" (want e.g. 40s, 1m, 500ms)`);
  return ms;
}

const bool = (v: string) => !['false', '0', 'no'].includes(v.toLowerCase());

export function register(program: Command): void {
  program.command('controller-manager')
    .description(`run the control loops (${Object.keys(CONTROLLERS).join(', ')})`)
    .option('--kubeconfig <path>', 'kubeconfig to reach the API server (default: in-cluster / $KUBECONFIG)')
    .option('--leader-elect [bool]', 'run only while holding the kube-system/kube-controller-manager Lease', 'true')
    .option('--lb-pool <ranges>', 'LoadBalancer IP pool: ranges a-b or CIDRs, comma-separated', '172.18.255.200-172.18.255.250')
    .option('--node-monitor-grace-period <duration>', 'lease age after which a node is NotReady', '40s')
    .option('--controllers <list>', "controllers to run: '*', names, -name to disable", '*')
    .option('--max-endpoints-per-slice <n>', 'endpoints per EndpointSlice', '100')
    .option('--concurrent-syncs <n>', 'workers per controller', '2')
    .option('--port <port>', '/healthz and /metrics port (0 = off)', String(DEFAULT_PORT))
    .option('--root-ca-file <path>', "the cluster CA, published in every namespace as ConfigMap kube-root-ca.crt (default: the kubeconfig's CA)")
    .action(async (o: { rootCaFile?: string; kubeconfig?: string; leaderElect: string | boolean; lbPool: string; nodeMonitorGracePeriod: string; controllers: string; maxEndpointsPerSlice: string; concurrentSyncs: string; port: string }) => {
      // Started beside the API server by `svcplane up`: wait for its kubeconfig and its /readyz.
      const client = o.kubeconfig ? await Client.whenServing(o.kubeconfig) : process.env.KUBECONFIG || !process.env.SVCPLANE_APISERVER_SOCKET ? Client.fromKubeconfig() : Client.inCluster();
      const cm = await startControllerManager(client, {
        leaderElect: typeof o.leaderElect === 'boolean' ? o.leaderElect : bool(o.leaderElect),
        lbPool: o.lbPool,
        nodeMonitorGracePeriodMs: parseDuration(o.nodeMonitorGracePeriod),
        controllers: o.controllers.split(','),
        maxEndpointsPerSlice: Number(o.maxEndpointsPerSlice),
        workers: Number(o.concurrentSyncs),
        port: Number(o.port),
        rootCA: o.rootCaFile ? readFileSync(o.rootCaFile, 'utf8') : client.config.ca,
      });
      log('info', 'kube-controller-manager', 'started', { healthPort: cm.healthPort });
      const stop = () => { void cm.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
