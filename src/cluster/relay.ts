/**
 * @module cluster/relay
 * `svcplane relay`: makes the API server reachable at the control-plane node's address
 * (172.18.0.2:6443, the endpoint of Service `kubernetes` = 10.96.0.1:443) from inside the
 * cluster. The API server listens on the host's loopback, which namespaces cannot reach, so the
 * relay passes each connection's bytes, TLS and all, to the API server's secure unix socket
 * (HTTPS with the same authentication as its port; the load balancer's in front of several).
 * It never terminates TLS and never reaches the trusted component socket, so a client inside
 * the cluster gets exactly what it would get on https://127.0.0.1:6443: 401 without a token or a
 * client certificate.
 */
import net from 'node:net';
import { paths } from './config.js';

export async function runRelay(opts: { dataDir: string; listen: string }): Promise<void> {
  const target = paths(opts.dataDir).apiserverSecureSocket;
  const [host, port] = [opts.listen.slice(0, opts.listen.lastIndexOf(':')), Number(opts.listen.slice(opts.listen.lastIndexOf(':') + 1))];
  const server = net.createServer({ noDelay: true }, (client) => {
    client.pause();
    const upstream = net.connect(target);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
    client.on('close', close);
    upstream.on('close', close);
    upstream.once('connect', () => { client.pipe(upstream).pipe(client); client.resume(); });
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'relay', msg: 'listening', listen: opts.listen, to: target }));
  await new Promise(() => { /* forever */ });
}
