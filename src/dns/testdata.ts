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
