/**
 * @module dns/testdata
 * Builders for the objects DNS tests feed the index with, and helpers to ask a handler a question
 * and decode its answer with dns-packet (the reference codec). The test plan:
 *
 *   default/myapp       ClusterIP 10.96.3.215, ports http 38080/TCP, dns 53/UDP
 *   dev/svc-nginx       headless; stateful-nginx-0 10.244.1.5, stateful-nginx-1 10.244.2.6, port web 80
 *   dev/plain-headless  headless, endpoints without hostnames 10.244.1.7, 10.244.2.8, port 8080 unnamed
 *   dev/empty-headless  headless, no ready endpoints (one not ready)
 *   default/ext         ExternalName my.database.example.com
 *   default/ext-fqdn    ExternalName Other.Example.COM. (fully qualified, mixed case)
 *   default/int-alias   ExternalName myapp.default.svc.cluster.local (inside the zone)
 *   default/noports     ClusterIP 10.96.0.77 without ports
 *   default/dual        dual-stack ClusterIPs 10.96.5.5 and fd00:10:96::5, port http 80
 *   kube-system/kube-dns ClusterIP 10.96.0.10, endpoint 10.244.0.3 (this server's own address in tests)
 */
import * as dnsPacket from 'dns-packet';
import type { KubeObject } from '../api/types.js';
import { DnsIndex } from './controller.js';
import type { DnsHandler } from './handler.js';
import { LABEL_SERVICE_NAME } from './objects.js';

export const SERIAL = 1_700_000_000;

type Port = { name?: string; port: number; protocol?: string };

export function service(ns: string, name: string, clusterIP: string, ports: Port[] = [], extra: Record<string, unknown> = {}): KubeObject {
  return {
    apiVersion: 'v1', kind: 'Service',
    metadata: { name, namespace: ns, resourceVersion: '1' },
    spec: { clusterIP, clusterIPs: clusterIP ? [clusterIP] : undefined, ports: ports.map((p) => ({ protocol: 'TCP', ...p })), ...extra },
  } as KubeObject;
}

export function externalName(ns: string, name: string, target: string): KubeObject {
  return { apiVersion: 'v1', kind: 'Service', metadata: { name, namespace: ns }, spec: { type: 'ExternalName', externalName: target } } as KubeObject;
}

export interface Ep { ip: string; hostname?: string; ready?: boolean; pod?: string }

export function slice(ns: string, svc: string, name: string, eps: Ep[], ports: Port[] = []): KubeObject {
  return {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice',
    metadata: { name, namespace: ns, labels: { [LABEL_SERVICE_NAME]: svc }, resourceVersion: '1' },
    addressType: 'IPv4',
    ports: ports.map((p) => ({ protocol: 'TCP', ...p })),
    endpoints: eps.map((e) => ({
      addresses: [e.ip], hostname: e.hostname,
      conditions: e.ready === undefined ? {} : { ready: e.ready },
      targetRef: e.pod ? { kind: 'Pod', name: e.pod, namespace: ns } : undefined,
    })),
  } as KubeObject;
}

/** The index of the test plan above, synced, with a fixed serial. */
export function testIndex(): DnsIndex {
  const idx = new DnsIndex(() => SERIAL);
  for (const ns of ['default', 'dev', 'kube-system']) idx.addNamespace(ns);
  idx.upsertService(service('default', 'myapp', '10.96.3.215', [{ name: 'http', port: 38080 }, { name: 'dns', port: 53, protocol: 'UDP' }]));
  idx.upsertService(service('dev', 'svc-nginx', 'None', [{ name: 'web', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'svc-nginx', 'svc-nginx-a', [{ ip: '10.244.1.5', hostname: 'stateful-nginx-0' }], [{ name: 'web', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'svc-nginx', 'svc-nginx-b', [{ ip: '10.244.2.6', hostname: 'stateful-nginx-1', ready: true }], [{ name: 'web', port: 80 }]));
  idx.upsertService(service('dev', 'plain-headless', 'None', [{ port: 8080 }]));
  idx.upsertEndpointSlice(slice('dev', 'plain-headless', 'plain-headless-x', [{ ip: '10.244.1.7' }, { ip: '10.244.2.8' }], [{ port: 8080 }]));
  idx.upsertService(service('dev', 'empty-headless', 'None', [{ name: 'web', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'empty-headless', 'empty-headless-x', [{ ip: '10.244.1.9', ready: false }], [{ name: 'web', port: 80 }]));
  idx.upsertService(externalName('default', 'ext', 'my.database.example.com'));
  idx.upsertService(externalName('default', 'ext-fqdn', 'Other.Example.COM.'));
  idx.upsertService(externalName('default', 'int-alias', 'myapp.default.svc.cluster.local'));
  idx.upsertService(service('default', 'noports', '10.96.0.77'));
  idx.upsertService(service('default', 'dual', '10.96.5.5', [{ name: 'http', port: 80 }], { clusterIPs: ['10.96.5.5', 'fd00:10:96::5'] }));
  idx.upsertService(service('kube-system', 'kube-dns', '10.96.0.10', [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }]));
  idx.upsertEndpointSlice(slice('kube-system', 'kube-dns', 'kube-dns-x', [{ ip: '10.244.0.3' }], [{ name: 'dns', port: 53, protocol: 'UDP' }, { name: 'dns-tcp', port: 53 }]));
  idx.markSynced();
  return idx;
}

/** dns-packet's decoded packet; its typings leave out the rcode it sets. */
export type Decoded = dnsPacket.DecodedPacket & { rcode: string };
export function decode(b: Buffer): Decoded {
  return dnsPacket.decode(b) as Decoded;
}

export interface AskOpts { id?: number; rd?: boolean; edns?: { udpPayloadSize?: number; version?: number } | false; tcp?: boolean }

export function encodeQuery(name: string, type: string, o: AskOpts = {}): Buffer {
  const edns = o.edns === undefined ? false : o.edns;
  const pkt: dnsPacket.Packet = {
    type: 'query', id: o.id ?? 4242, flags: o.rd === false ? 0 : dnsPacket.RECURSION_DESIRED,
    questions: [{ name, type: type as dnsPacket.RecordType, class: 'IN' }],
  };
  if (edns) pkt.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: edns.udpPayloadSize ?? 1232, flags: 0, options: [], ...(edns.version ? { ednsVersion: edns.version } : {}) } as any];
  return dnsPacket.encode(pkt);
}

/** Ask the handler; resolves with the raw answer (or null when it stays silent). */
export function askRaw(h: DnsHandler, msg: Buffer, tcp = false, waitMs = 3000): Promise<Buffer | null> {
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(null), waitMs);
    h.handle(msg, tcp, false, (b) => { clearTimeout(t); resolve(b); });
  });
}

export async function ask(h: DnsHandler, name: string, type: string, o: AskOpts = {}): Promise<Decoded> {
  const raw = await askRaw(h, encodeQuery(name, type, o), o.tcp);
  if (!raw) throw new Error(`no answer for ${name} ${type}`);
  return decode(raw);
}

/** Flag names set in a decoded packet, in dig's order. */
export function flagNames(p: dnsPacket.DecodedPacket): string {
  const f = p.flags ?? 0;
  const out = ['qr'];
  if (f & dnsPacket.AUTHORITATIVE_ANSWER) out.push('aa');
  if (f & dnsPacket.TRUNCATED_RESPONSE) out.push('tc');
  if (f & dnsPacket.RECURSION_DESIRED) out.push('rd');
  if (f & dnsPacket.RECURSION_AVAILABLE) out.push('ra');
  return out.join(' ');
}

/** Records as comparable one-line strings ("name ttl TYPE data"), OPT left out. */
export function lines(rrs: dnsPacket.Answer[] | undefined): string[] {
  return (rrs ?? []).filter((r) => r.type !== 'OPT').map((r: any) => {
    let d: string;
    switch (r.type) {
      case 'SRV': d = `${r.data.priority} ${r.data.weight} ${r.data.port} ${r.data.target}`; break;
      case 'SOA': d = `${r.data.mname} ${r.data.rname} ${r.data.serial} ${r.data.refresh} ${r.data.retry} ${r.data.expire} ${r.data.minimum}`; break;
      case 'TXT': d = (r.data as Buffer[]).map((b) => JSON.stringify(b.toString())).join(' '); break;
      default: d = String(r.data);
    }
    return `${r.name} ${r.ttl} ${r.type} ${d}`;
  });
}

// ---------- the server as a process, and clients over the wire ----------

export interface ServerStats { tcpConnections: number; panics: number; heap: number; ext: number; compiled: number; rss: number; hwm: number }
export interface ServerProcess {
  port: number;
  pid: number;
  /** Counters and memory (kB) of the server process; `gc` first runs a full collection. */
  stats(gc?: boolean): Promise<ServerStats>;
  /** Reset the process's peak RSS (VmHWM) so a later stats().hwm is the peak since now. */
  resetPeak(): void;
  /** Resolves with the exit code (null: killed) when the process ends. */
  exited: Promise<number | null>;
  stop(): Promise<void>;
}

/** Start testserver.ts (the test plan's index on 127.0.0.1, a free port) in a child process. */
export async function spawnServer(opts: Record<string, unknown> = {}): Promise<ServerProcess> {
  const { spawn } = await import('node:child_process');
  const { writeFileSync } = await import('node:fs');
  const { createInterface } = await import('node:readline');
  const { fileURLToPath } = await import('node:url');
  const script = fileURLToPath(new URL('./testserver.ts', import.meta.url));
  const child = spawn(process.execPath, ['--expose-gc', '--import', 'tsx', script, JSON.stringify(opts)], { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((l: string) => void)[] = [];
  lines.on('line', (l) => waiting.shift()?.(l));
  const next = (): Promise<string> => new Promise((resolve, reject) => {
    waiting.push(resolve);
    void exited.then((c) => reject(new Error(`DNS test server exited (${c})`)));
  });
  const { port } = JSON.parse(await next()) as { port: number };
  return {
    port, pid: child.pid!, exited,
    async stats(gc = false) { const l = next(); child.stdin!.write(gc ? 'gc\n' : 'stats\n'); return JSON.parse(await l) as ServerStats; },
    resetPeak() { writeFileSync(`/proc/${child.pid}/clear_refs`, '5'); },
    async stop() { if (child.exitCode === null && child.signalCode === null) { child.stdin!.end(); const t = setTimeout(() => child.kill('SIGKILL'), 5000); await exited; clearTimeout(t); } },
  };
}

/** A length-prefixed DNS message for TCP. */
export function frame(b: Buffer): Buffer {
  const l = Buffer.allocUnsafe(2);
  l.writeUInt16BE(b.length);
  return Buffer.concat([l, b]);
}

/** Ask over UDP; up to `tries` sends (loopback can drop under a flood) of `waitMs` each. Resolves null when nothing came back. */
export async function udpAsk(port: number, msg: Buffer, tries = 3, waitMs = 1000): Promise<Buffer | null> {
  const { createSocket } = await import('node:dgram');
  const s = createSocket('udp4');
  try {
    for (let i = 0; i < tries; i++) {
      const got = await new Promise<Buffer | null>((resolve) => {
        const t = setTimeout(() => { s.off('message', on); resolve(null); }, waitMs);
        const on = (m: Buffer): void => { if (m.length >= 2 && m.readUInt16BE(0) === msg.readUInt16BE(0)) { clearTimeout(t); s.off('message', on); resolve(m); } };
        s.on('message', on);
        s.send(msg, port, '127.0.0.1');
      });
      if (got) return got;
    }
    return null;
  } finally { s.close(); }
}

/** Ask over a fresh TCP connection; resolves null when the server closes it or `waitMs` passes first. */
export async function tcpAsk(port: number, msg: Buffer, waitMs = 2000): Promise<Buffer | null> {
  const { connect } = await import('node:net');
  return new Promise((resolve) => {
    const sock = connect(port, '127.0.0.1');
    let buf = Buffer.alloc(0);
    const done = (b: Buffer | null): void => { clearTimeout(t); sock.destroy(); resolve(b); };
    const t = setTimeout(() => done(null), waitMs);
    sock.on('error', () => done(null));
    sock.on('close', () => done(null));
    sock.on('data', (d) => {
      buf = Buffer.concat([buf, d]);
      if (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) done(buf.subarray(2, 2 + buf.readUInt16BE(0)));
    });
    sock.write(frame(msg));
  });
}

/** Calls `each` with every length-framed DNS message a TCP stream carries, in order, however the bytes are split. */
export function readFramed(sock: import('node:net').Socket, each: (msg: Buffer) => void): void {
  let buf = Buffer.alloc(0);
  sock.on('data', (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
      const len = buf.readUInt16BE(0);
      const msg = buf.subarray(2, 2 + len);
      buf = buf.subarray(2 + len);
      each(msg);
    }
  });
}

/** A UDP socket and a TCP server on one loopback port (for fake upstreams); retried when TCP finds the port taken. */
export async function listenPair(): Promise<{ udp: import('node:dgram').Socket; tcp: import('node:net').Server; port: number }> {
  const { createSocket } = await import('node:dgram');
  const { createServer } = await import('node:net');
  for (let attempt = 0; ; attempt++) {
    const udp = createSocket('udp4');
    await new Promise<void>((r) => udp.bind(0, '127.0.0.1', () => r()));
    const tcp = createServer();
    const port = udp.address().port;
    const err = await new Promise<Error | null>((r) => { tcp.once('error', r); tcp.listen(port, '127.0.0.1', () => { tcp.off('error', r); r(null); }); });
    if (!err) return { udp, tcp, port };
    udp.close();
    if (attempt >= 10) throw err;
  }
}
