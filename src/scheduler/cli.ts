/** @module scheduler/cli — `svcplane scheduler --kubeconfig P [--leader-elect=true] [--port 10259]` */
import type { Command } from 'commander';
import { Client } from '../client/rest.js';
import { startScheduler } from './index.js';

export const DEFAULT_PORT = 10259;

export function register(program: Command): void {
  program.command('scheduler')
    .description('assign pending pods to nodes (kube-scheduler)')
    .option('--kubeconfig <path>', 'kubeconfig to reach the API server')
    .option('--leader-elect [bool]', 'run only while holding the kube-system/kube-scheduler Lease', 'true')
    .option('--port <port>', '/healthz and /metrics port (0 = off)', String(DEFAULT_PORT))
    .action(async (o: { kubeconfig?: string; leaderElect: string | boolean; port: string }) => {
      // Started beside the API server by `svcplane up`: wait for its kubeconfig and its /readyz.
      const client = o.kubeconfig ? await Client.whenServing(o.kubeconfig) : process.env.KUBECONFIG || !process.env.SVCPLANE_APISERVER_SOCKET ? Client.fromKubeconfig() : Client.inCluster();
      const s = await startScheduler(client, {
        leaderElect: typeof o.leaderElect === 'boolean' ? o.leaderElect : !['false', '0'].includes(o.leaderElect),
        port: Number(o.port),
      });
      const stop = () => { void s.stop().then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
