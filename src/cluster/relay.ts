/**
 * @module cluster/relay
 * `svcplane relay`: makes the API server reachable at the control-plane node's address
 * (172.18.0.2:6443, the endpoint of Service `kubernetes` = 10.96.0.1:443) from inside the
 * cluster. The API server itself listens on the host's loopback, which namespaces cannot
 * reach; the relay terminates TLS with the API server's own serving certificate and passes
 * the byte stream to the API server's unix socket (WebSocket upgrades included).
 */
import { existsSync, readFileSync } from 'node:fs';
import net from 'node:net';
import tls from 'node:tls';
import { join } from 'node:path';
import { paths } from './config.js';

/** The serving certificate files the API server writes under pki/ (first match wins). */
const CERT_CANDIDATES = [['apiserver.crt', 'apiserver.key'], ['serving.crt', 'serving.key'], ['server.crt', 'server.key']];

export async function runRelay(opts: { dataDir: string; listen: string }): Promise<void> {
  const p = paths(opts.dataDir);
  const pair = CERT_CANDIDATES.map(([c, k]) => [join(p.pki, c!), join(p.pki, k!)] as const).find(([c, k]) => existsSync(c) && existsSync(k));
  if (!pair) throw new Error(`relay: no serving certificate in ${p.pki}`);
  const [host, port] = [opts.listen.slice(0, opts.listen.lastIndexOf(':')), Number(opts.listen.slice(opts.listen.lastIndexOf(':') + 1))];
  const server = tls.createServer({ cert: readFileSync(pair[0]), key: readFileSync(pair[1]), ALPNProtocols: ['http/1.1'] }, (client) => {
    const upstream = net.connect(p.apiserverSocket);
    client.pipe(upstream).pipe(client);
    const close = () => { client.destroy(); upstream.destroy(); };
    client.on('error', close);
    upstream.on('error', close);
  });
  await new Promise<void>((resolve, reject) => { server.once('error', reject); server.listen(port, host, resolve); });
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'relay', msg: 'listening', listen: opts.listen, to: p.apiserverSocket }));
  await new Promise(() => { /* forever */ });
}
