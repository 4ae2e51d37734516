/** @module apiserver/cli — `svcplane apiserver`. */
import { join } from 'node:path';
import type { Command } from 'commander';
import { createStore } from '../store/index.js';
import { startApiServer } from './server.js';

export function register(program: Command): void {
  program.command('apiserver').description('the Kubernetes API server (HTTPS on --bind-address:--secure-port and a unix socket)')
    .requiredOption('--data-dir <dir>', 'data directory: store, pki/, kubeconfigs, apiserver.sock')
    .option('--store <backend>', 'sqlite | memory | etcd', 'sqlite')
    .option('--etcd-servers <urls>', 'etcd client URLs, comma-separated (with --store etcd)')
    .option('--bind-address <ip>', 'HTTPS address', '127.0.0.1')
    .option('--secure-port <port>', 'HTTPS port', '6443')
    .option('--socket <path>', 'unix socket (default <data-dir>/apiserver.sock)')
    .option('--service-cluster-ip-range <cidr>', 'Service IP range', '10.96.0.0/12')
    .option('--service-node-port-range <range>', 'NodePort range', '30000-32767')
    .option('--advertise-address <ip>', 'address in Service kubernetes\' endpoints', '172.18.0.2')
    .action(async (o) => {
      const store = await createStore({ backend: o.store, path: join(o.dataDir, 'state.db'), etcdServers: o.etcdServers?.split(',') });
      const srv = await startApiServer({
        dataDir: o.dataDir, store, host: o.bindAddress, port: Number(o.securePort), socketPath: o.socket,
        serviceCIDR: o.serviceClusterIpRange, nodePortRange: o.serviceNodePortRange, advertiseAddress: o.advertiseAddress,
      });
      const stop = () => { void srv.close().then(() => store.close()).then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
