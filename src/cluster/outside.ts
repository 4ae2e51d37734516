/**
 * @module cluster/outside
 * `svcplane outside`: the world outside the cluster, inside the lan, so the notes' external
 * examples work offline. Runs in the outside client host's namespace (172.18.0.100):
 *  - 192.0.2.42:9376 — the notes' selector-less Service endpoint (TEST-NET address)
 *  - a web server for www.example.com on 172.18.0.100:80
 *  - an authoritative resolver for example.com on 172.18.0.100:53 that cluster DNS forwards
 *    to; every other name gets NXDOMAIN at once (so www.google.com fails fast, not hangs).
 */
import dgram from 'node:dgram';
import http from 'node:http';
import net from 'node:net';
import * as dnsPacket from 'dns-packet';
import { CLIENT_IP, EXTERNAL_IP } from '../net/topology.js';

export const EXTERNAL_ZONE = 'example.com';
export const EXTERNAL_RECORDS: Record<string, string> = {
  'example.com': CLIENT_IP,
  'www.example.com': CLIENT_IP,
  'my.database.example.com': EXTERNAL_IP,
  'external-backend.example.com': EXTERNAL_IP,
};
const TTL = 60;
const RCODE_NOERROR = 0;
const RCODE_NXDOMAIN = 3;

function log(msg: string, extra: Record<string, unknown> = {}): void {
  console.log(JSON.stringify({ time: new Date().toISOString(), component: 'outside', msg, ...extra }));
}

/** Answer one DNS query for the outside zone. */
export function answerOutside(query: dnsPacket.Packet): Buffer {
  const q = query.questions?.[0];
  const name = (q?.name ?? '').toLowerCase().replace(/\.$/, '');
  const ip = EXTERNAL_RECORDS[name];
  const soa: dnsPacket.Answer = {
    type: 'SOA', name: EXTERNAL_ZONE, ttl: TTL, class: 'IN',
    data: { mname: `ns.${EXTERNAL_ZONE}`, rname: `hostmaster.${EXTERNAL_ZONE}`, serial: 1, refresh: 7200, retry: 1800, expire: 86400, minimum: TTL },
  };
  const known = ip !== undefined;
  const answers: dnsPacket.Answer[] = known && q?.type === 'A' ? [{ type: 'A', name: q.name, ttl: TTL, class: 'IN', data: ip }] : [];
  return dnsPacket.encode({
    type: 'response', id: query.id,
    // dns-packet encodes the rcode from the low 4 bits of flags.
    flags: (known || name.endsWith(EXTERNAL_ZONE) ? dnsPacket.AUTHORITATIVE_ANSWER : 0) | dnsPacket.RECURSION_DESIRED | dnsPacket.RECURSION_AVAILABLE
      | (known ? RCODE_NOERROR : RCODE_NXDOMAIN),
    questions: query.questions, answers, authorities: answers.length ? [] : [soa],
  } as dnsPacket.Packet);
}

export async function runOutside(opts: { dnsPort?: number; httpPort?: number; backendPort?: number } = {}): Promise<void> {
  const backend = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/plain');
    res.end(`Hello from the outside world at ${EXTERNAL_IP}:${opts.backendPort ?? 9376} (client ${req.socket.remoteAddress}, path ${req.url})\n`);
  });
  backend.listen(opts.backendPort ?? 9376, EXTERNAL_IP);
  const web = http.createServer((req, res) => {
    res.setHeader('Content-Type', 'text/html; charset=UTF-8');
    res.end(`<!doctype html>\n<html>\n<head><title>Example Domain</title></head>\n<body>\n<h1>Example Domain</h1>\n<p>This domain is served by the svcplane outside host (${CLIENT_IP}) for host ${req.headers.host}.</p>\n</body>\n</html>\n`);
  });
  web.listen(opts.httpPort ?? 80, CLIENT_IP);
  const udp = dgram.createSocket('udp4');
  udp.on('message', (msg, rinfo) => {
    try { udp.send(answerOutside(dnsPacket.decode(msg)), rinfo.port, rinfo.address); } catch { /* malformed: drop */ }
  });
  udp.bind(opts.dnsPort ?? 53, CLIENT_IP);
  const tcp = net.createServer((sock) => {
    let buf = Buffer.alloc(0);
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
        const len = buf.readUInt16BE(0);
        try {
          const ans = answerOutside(dnsPacket.decode(buf.subarray(2, 2 + len)));
          const hdr = Buffer.alloc(2); hdr.writeUInt16BE(ans.length);
          sock.write(Buffer.concat([hdr, ans]));
        } catch { sock.destroy(); return; }
        buf = buf.subarray(2 + len);
      }
    });
    sock.on('error', () => sock.destroy());
  });
  tcp.listen(opts.dnsPort ?? 53, CLIENT_IP);
  log('serving', { backend: `${EXTERNAL_IP}:9376`, web: `${CLIENT_IP}:80`, dns: `${CLIENT_IP}:53`, zone: EXTERNAL_ZONE });
  await new Promise(() => { /* forever */ });
}
