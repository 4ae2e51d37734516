/**
 * @module images/programs/agnhost/net
 * Resolving and dialing as Go's net package does, for netexec's /dial and connect: names through
 * the system resolver (IPv4 first, as net.ResolveTCPAddr picks), errors in Go's words.
 */
import dgram from 'node:dgram';
import dns from 'node:dns';
import net from 'node:net';
import { errnoText, hostPort, lookupError, lookupPort, splitHostPort } from './go.js';

export interface Resolved { ip: string; port: number; family: 4 | 6 }

/** net.Resolve{TCP,UDP}Addr(network, host:port); rejects with Go's error text. */
export async function resolveAddr(network: 'tcp' | 'udp' | 'sctp', hp: string): Promise<Resolved> {
  const [host, portStr] = splitHostPort(hp);
  const port = lookupPort(network, portStr);
  if (host === '') return { ip: '127.0.0.1', port, family: 4 };
  const h = host.replace(/%.*$/, '');
  const fam = net.isIP(h);
  if (fam) return { ip: h, port, family: fam as 4 | 6 };
  let all: dns.LookupAddress[];
  try { all = await dns.promises.lookup(host, { all: true }); } catch (e) { throw new Error(lookupError(host, (e as NodeJS.ErrnoException).code)); }
  const pick = all.find((a) => a.family === 4) ?? all[0];
  if (!pick) throw new Error(lookupError(host, 'ENOTFOUND'));
  return { ip: pick.address, port, family: pick.family as 4 | 6 };
}

export type DialResult = { ok: true; socket: net.Socket } | { ok: false; timeout: boolean; errno?: string; message: string };

/** net.DialTimeout("tcp", addr, timeout); timeoutNs 0 = none. */
export function dialTCP(to: Resolved, timeoutNs: number): Promise<DialResult> {
  return new Promise((resolve) => {
    const target = hostPort(to.ip, to.port);
    const s = net.connect({ host: to.ip, port: to.port, family: to.family });
    let timer: NodeJS.Timeout | undefined;
    if (timeoutNs > 0) {
      timer = setTimeout(() => { s.destroy(); resolve({ ok: false, timeout: true, message: `dial tcp ${target}: i/o timeout` }); }, Math.max(1, timeoutNs / 1e6));
    }
    s.once('connect', () => { clearTimeout(timer); resolve({ ok: true, socket: s }); });
    s.once('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      resolve({ ok: false, timeout: e.code === 'ETIMEDOUT', errno: e.code, message: `dial tcp ${target}: connect: ${errnoText(e.code)}` });
    });
  });
}

export type UDPResult = { ok: true; data: Buffer } | { ok: false; timeout: boolean; message: string };

/**
 * A connected UDP socket (net.DialUDP): write the payload, read one datagram of at most `bufSize`
 * bytes within the deadline (0 = none). An ICMP port unreachable surfaces as the read's
 * "connection refused", as it does for Go.
 */
export function exchangeUDP(to: Resolved, payload: Buffer, timeoutNs: number, bufSize: number): Promise<UDPResult> {
  return new Promise((resolve) => {
    const s = dgram.createSocket(to.family === 6 ? 'udp6' : 'udp4');
    let timer: NodeJS.Timeout | undefined;
    let local = '';
    const remote = hostPort(to.ip, to.port);
    const done = (r: UDPResult) => { clearTimeout(timer); try { s.close(); } catch { /* closed */ } resolve(r); };
    s.on('error', (e: NodeJS.ErrnoException) => {
      const op = e.syscall === 'send' ? 'write' : 'read';
      done({ ok: false, timeout: false, message: `${op} udp ${local}->${remote}: ${op}: ${errnoText(e.code)}` });
    });
    s.on('message', (m) => done({ ok: true, data: m.subarray(0, bufSize) }));
    s.connect(to.port, to.ip, () => {
      const a = s.address();
      local = hostPort(a.address, a.port);
      if (timeoutNs > 0) timer = setTimeout(() => done({ ok: false, timeout: true, message: `read udp ${local}->${remote}: i/o timeout` }), Math.max(1, timeoutNs / 1e6));
      s.send(payload);
    });
  });
}
