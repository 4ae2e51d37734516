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
    .option('--etcd-cafile <file>', 'CA bundle that signs the etcd servers\' certificates')
    .option('--etcd-certfile <file>', 'client certificate for etcd')
    .option('--etcd-keyfile <file>', 'client key for etcd')
    .option('--kubeconfig-server <url>', 'server URL written into the kubeconfigs (a load balancer in front of several API servers)')
    .option('--kubeconfig-socket <path>', 'unix socket written into the local kubeconfig (with --kubeconfig-server)')
    .option('--bind-address <ip>', 'HTTPS address', '127.0.0.1')
    .option('--secure-port <port>', 'HTTPS port', '6443')
    .option('--socket <path>', 'unix socket (default <data-dir>/apiserver.sock)')
    .option('--service-cluster-ip-range <cidr>', 'Service IP range', '10.96.0.0/12')
    .option('--service-node-port-range <range>', 'NodePort range', '30000-32767')
    .option('--advertise-address <ip>', 'address in Service kubernetes\' endpoints', '172.18.0.2')
    .option('--token <token>', 'bearer token clients must send over HTTPS (default: generated into <data-dir>/pki/token)')
    .action(async (o) => {
      const fail = (msg: string): never => { console.error(`svcplane apiserver: ${msg}`); process.exit(1); };
      if (!/^\d+\.\d+\.\d+\.\d+\/\d+$/.test(o.serviceClusterIpRange)) fail(`invalid --service-cluster-ip-range "${o.serviceClusterIpRange}": use an IPv4 CIDR such as 10.96.0.0/12`);
      if (!/^\d+-\d+$/.test(o.serviceNodePortRange)) fail(`invalid --service-node-port-range "${o.serviceNodePortRange}": use MIN-MAX such as 30000-32767`);
      const port = Number(o.securePort);
      if (!Number.isInteger(port) || port < 0 || port > 65535) fail(`invalid --secure-port "${o.securePort}"`);
      let store;
      try {
        store = await createStore({ backend: o.store, path: join(o.dataDir, 'state.db'), etcdServers: o.etcdServers?.split(','),
          etcdTls: o.etcdCafile || o.etcdCertfile || o.etcdKeyfile ? { ca: o.etcdCafile, cert: o.etcdCertfile, key: o.etcdKeyfile } : undefined });
      } catch (e) {
        return fail(`cannot open the ${o.store} store: ${(e as Error).message}`);
      }
      let srv;
      try {
        srv = await startApiServer({
          dataDir: o.dataDir, store, host: o.bindAddress, port, socketPath: o.socket,
          serviceCIDR: o.serviceClusterIpRange, nodePortRange: o.serviceNodePortRange, advertiseAddress: o.advertiseAddress, token: o.token,
          kubeconfigServer: o.kubeconfigServer, kubeconfigSocket: o.kubeconfigSocket,
        });
      } catch (e) {
        const err = e as NodeJS.ErrnoException;
        if (err.code === 'EADDRINUSE') return fail(`cannot listen on ${o.bindAddress}:${port}: address already in use (another API server running? pick --secure-port)`);
        return fail(err.message);
      }
      const s = srv;
      const st = store;
      const stop = () => { void s.close().then(() => st.close()).then(() => process.exit(0)); };
      process.once('SIGTERM', stop);
      process.once('SIGINT', stop);
    });
}
