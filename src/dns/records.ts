/**
 * @module dns/records
 * Answers for names in the cluster zone, following the Kubernetes DNS-Based Service Discovery spec
 * 1.1.0 the way CoreDNS's kubernetes plugin does (kubernetes.go findServices/findPods, handler.go,
 * plugin/backend_lookup.go): which records a name has, and how A, AAAA, SRV, TXT, CNAME, NS, SOA
 * and the negative answers are assembled from them.
 */
import { isIP } from 'node:net';
import type { DnsController } from './controller.js';
import { endpointHostname, isHeadless } from './objects.js';
import { POD, parseRequest, inZone, trimZone } from './parse.js';
import { RCODE, type RR, TYPE } from './wire.js';

/** Version of the spec served at dns-version.<zone>. */
export const DNS_SCHEMA_VERSION = '1.1.0';
/** CoreDNS answers dns-version with this TTL, whatever the zone TTL. */
const DNS_VERSION_TTL = 28800;
const SOA_REFRESH = 7200;
const SOA_RETRY = 1800;
const SOA_EXPIRE = 86400;
/** The SOA TTL never exceeds this (RFC 2308 negative caching stays short). */
const SOA_MAX_TTL = 300;
const HOSTMASTER = 'hostmaster';
const NS_NAME = 'ns.dns';
const MAX_CNAME_CHAIN = 10;

export interface ZoneOptions {
  zone: string;
  ttl: number;
  /** Name endpoints without a hostname after their pod (CoreDNS endpoint_pod_names). */
  endpointPodNames?: boolean;
  /** Answer a-b-c-d.<ns>.pod.<zone> ("insecure": from the name, without checking a pod exists) or not at all. */
  pods?: 'insecure' | 'disabled';
  /** This server's own addresses, for NS and ns.dns.<zone> when its Service cannot be found. */
  localIPs?: () => string[];
}

/** What one name resolves to before it is shaped into records of the asked type. */
interface Target {
  /** An IP (A/AAAA) or a name (ExternalName → CNAME). */
  host: string;
  port: number;
  /** The record's own name: service.ns.svc.zone or endpoint.service.ns.svc.zone. */
  owner: string;
}

/** NXDOMAIN-class failure (CoreDNS errNoItems / errNsNotExposed / errInvalidRequest). */
const NAME_ERROR = Symbol('name error');
type Lookup = Target[] | typeof NAME_ERROR;

export interface Answer {
  rcode: number;
  answer: RR[];
  authority: RR[];
  additional: RR[];
  /** An ExternalName's target outside the zone: resolve it upstream and append what comes back. */
  external?: { name: string; qtype: number };
  /** False when the answer depends on more than the name's own Service (do not keep it compiled). */
  cacheable: boolean;
}

export class ZoneRecords {
  readonly zone: string;
  readonly ttl: number;

  constructor(private readonly ctl: DnsController, private readonly opts: ZoneOptions) {
    this.zone = opts.zone.toLowerCase().replace(/\.$/, '');
    this.ttl = opts.ttl;
  }

  /** The SOA for negative answers and SOA queries (CoreDNS plugin.SOA). */
  soa(zone = this.zone): RR {
    const z = zone;
    return {
      name: z, type: TYPE.SOA, ttl: Math.min(this.ttl, SOA_MAX_TTL),
      data: {
        mname: join(NS_NAME, z), rname: join(HOSTMASTER, z), serial: this.ctl.modified(),
        refresh: SOA_REFRESH, retry: SOA_RETRY, expire: SOA_EXPIRE, minimum: this.ttl,
      },
    };
  }

  /** Answer qname (lower-case, in the zone) for qtype. */
  answer(qname: string, qtype: number): Answer {
    const out: Answer = { rcode: RCODE.NOERROR, answer: [], authority: [], additional: [], cacheable: true };
    let err = false;
    switch (qtype) {
      case TYPE.A:
      case TYPE.AAAA: {
        const r = this.address(qname, qtype, [], out);
        if (r === NAME_ERROR) err = true; else out.answer = r;
        break;
      }
      case TYPE.TXT: {
        const base = trimZone(qname, this.zone);
        if (base === 'dns-version') {
          out.answer = [{ name: qname, type: TYPE.TXT, ttl: DNS_VERSION_TTL, data: [DNS_SCHEMA_VERSION] }];
          break;
        }
        // TXT exists nowhere else: NODATA for names that exist, NXDOMAIN for the rest.
        if (this.records(qname) === NAME_ERROR) err = true;
        break;
      }
      case TYPE.CNAME: {
        const r = this.records(qname);
        if (r === NAME_ERROR) { err = true; break; }
        const first = r[0];
        if (first && !isIP(first.host)) out.answer = [{ name: qname, type: TYPE.CNAME, ttl: this.ttl, data: first.host }];
        break;
      }
      case TYPE.SRV: {
        const r = this.records(qname);
        if (r === NAME_ERROR) { err = true; break; }
        this.srv(qname, r.filter((t) => isIP(t.host)), out);
        break;
      }
      case TYPE.SOA:
        if (qname === this.zone) out.answer = [this.soa()];
        break;
      case TYPE.AXFR:
      case TYPE.IXFR:
        out.rcode = RCODE.REFUSED;
        return out;
      case TYPE.NS:
        if (qname === this.zone) {
          out.cacheable = false;
          const ns = join(NS_NAME, this.zone);
          for (const a of this.nsAddrs()) {
            if (!out.answer.some((r) => r.data === a.name)) out.answer.push({ name: qname, type: TYPE.NS, ttl: this.ttl, data: a.name });
            out.additional.push({ name: a.name, type: isIP(a.ip) === 6 ? TYPE.AAAA : TYPE.A, ttl: this.ttl, data: a.ip });
          }
          if (!out.answer.length) out.answer.push({ name: qname, type: TYPE.NS, ttl: this.ttl, data: ns });
          break;
        }
      // fall through: NS below the apex is like any other type
      default: {
        // A fake A lookup tells NODATA from NXDOMAIN.
        if (this.address(qname, TYPE.A, [], out) === NAME_ERROR) err = true;
        out.answer = [];
        out.additional = [];
        out.external = undefined;
      }
    }
    if (err) {
      // Before the caches have synced "does not exist" is unknown: SERVFAIL, not a cacheable NXDOMAIN.
      out.rcode = this.ctl.hasSynced() ? RCODE.NXDOMAIN : RCODE.SERVFAIL;
      if (!this.ctl.hasSynced()) out.cacheable = false;
      out.answer = [];
      out.additional = [];
      out.external = undefined;
      out.authority = [this.soa()];
      return out;
    }
    if (!out.answer.length && !out.external) out.authority = [this.soa()];
    return out;
  }

  /** A or AAAA for qname, chasing in-zone CNAMEs (ExternalName pointing into the cluster). */
  private address(qname: string, qtype: number, chain: RR[], out: Answer): RR[] | typeof NAME_ERROR {
    let targets: Lookup;
    if (qname === join(NS_NAME, this.zone)) {
      out.cacheable = false;
      targets = this.nsAddrs().map((a) => ({ host: a.ip, port: 0, owner: qname }));
    } else targets = this.records(qname);
    if (targets === NAME_ERROR) return NAME_ERROR;
    const want = qtype === TYPE.A ? 4 : 6;
    const records: RR[] = [];
    const seen = new Set<string>();
    for (const t of targets) {
      const fam = isIP(t.host);
      if (fam === 0) {
        const target = t.host.toLowerCase().replace(/\.$/, '');
        if (target === qname) continue; // x CNAME x is a loop
        const cname: RR = { name: qname, type: TYPE.CNAME, ttl: this.ttl, data: target };
        if (chain.length > MAX_CNAME_CHAIN || chain.some((c) => c.name === qname && c.data === target)) continue;
        if (inZone(target, this.zone)) {
          out.cacheable = false; // depends on another Service
          const next = this.address(target, qtype, [...chain, cname], out);
          if (next !== NAME_ERROR && next.length) records.push(cname, ...next);
          continue;
        }
        // Outside the zone: the handler resolves the target upstream and appends its records.
        records.push(cname);
        out.external = { name: target, qtype };
        continue;
      }
      if (fam === want && !seen.has(t.host)) {
        seen.add(t.host);
        records.push({ name: qname, type: qtype as typeof TYPE.A, ttl: this.ttl, data: t.host });
      }
    }
    return records;
  }

  /** SRV records and the A/AAAA of their targets (plugin.SRV). */
  private srv(qname: string, targets: Target[], out: Answer): void {
    // Every target has priority 0 and weight 100, so each gets floor(100 / n), at least 1.
    const weight = Math.max(1, Math.floor(100 / Math.max(1, targets.length)));
    const seenSrv = new Set<string>();
    const seenAddr = new Set<string>();
    for (const t of targets) {
      if (t.port === -1) continue;
      const k = `${t.owner}|${t.port}`;
      if (!seenSrv.has(k)) {
        seenSrv.add(k);
        out.answer.push({ name: qname, type: TYPE.SRV, ttl: this.ttl, data: { priority: 0, weight, port: t.port, target: t.owner } });
      }
      const a = `${t.owner}|${t.host}`;
      if (!seenAddr.has(a)) {
        seenAddr.add(a);
        out.additional.push({ name: t.owner, type: isIP(t.host) === 6 ? TYPE.AAAA : TYPE.A, ttl: this.ttl, data: t.host });
      }
    }
  }

  /** Where a name points: CoreDNS Records → findServices / findPods. */
  records(qname: string): Lookup {
    const r = parseRequest(qname, this.zone);
    if (!r) return NAME_ERROR;
    if (r.podOrSvc === '') return [];
    if (!r.namespace) return [];
    if (!this.ctl.namespaceExists(r.namespace)) return NAME_ERROR;
    if (r.podOrSvc === POD) return this.pods(r.service, r.namespace);
    if (!r.service) return []; // <ns>.svc.<zone>: the namespace exists, NODATA
    const svc = this.ctl.service(r.namespace, r.service);
    if (!svc) return NAME_ERROR;
    const owner = [svc.name, svc.namespace, 'svc', this.zone].join('.');
    const out: Target[] = [];
    let found = false;
    if (svc.type === 'ExternalName') {
      // No endpoints, no ports: only the bare name, as a CNAME (never to an IP).
      if (r.endpoint || r.port || r.protocol || !svc.externalName || isIP(svc.externalName)) return NAME_ERROR;
      return [{ host: svc.externalName, port: 0, owner }];
    }
    if (isHeadless(svc) || r.endpoint) {
      for (const eps of this.ctl.endpoints(svc.namespace, svc.name)) {
        for (const a of eps.addresses) {
          const host = endpointHostname(a, this.opts.endpointPodNames).toLowerCase();
          if (r.endpoint && r.endpoint !== host) continue;
          for (const p of eps.ports) {
            if (!matchPort(r.port, p.name, r.protocol, p.protocol)) continue;
            found = true;
            out.push({ host: a.ip, port: p.port, owner: `${host}.${owner}` });
          }
        }
      }
      return found ? out : NAME_ERROR;
    }
    for (const p of svc.ports) {
      if (!matchPort(r.port, p.name, r.protocol, p.protocol)) continue;
      found = true;
      for (const ip of svc.clusterIPs) if (ip) out.push({ host: ip, port: p.port, owner });
    }
    return found ? out : NAME_ERROR;
  }

  /** a-b-c-d.<ns>.pod.<zone> in insecure mode: the address is the name (CoreDNS findPods). */
  private pods(podname: string, _ns: string): Lookup {
    if (this.opts.pods === 'disabled') return NAME_ERROR;
    if (!podname) return [];
    const dashes = podname.split('-').length - 1;
    const ip = dashes === 3 && !podname.includes('--') ? podname.replaceAll('-', '.') : podname.replaceAll('-', ':');
    if (!isIP(ip)) return NAME_ERROR;
    return [{ host: ip, port: 0, owner: podname }];
  }

  /** This server's addresses: its Service's ClusterIPs when its endpoints are ours, else the local IPs. */
  nsAddrs(): { name: string; ip: string }[] {
    const local = this.opts.localIPs?.() ?? [];
    const out: { name: string; ip: string }[] = [];
    for (const ip of local) {
      for (const eps of this.ctl.endpointsByIP(ip)) {
        const svc = this.ctl.service(eps.namespace, eps.service);
        if (!svc) continue;
        const svcName = [svc.name, svc.namespace, 'svc', this.zone].join('.');
        if (isHeadless(svc)) {
          for (const a of eps.addresses) out.push({ name: `${endpointHostname(a, this.opts.endpointPodNames)}.${svcName}`, ip: a.ip });
        } else for (const c of svc.clusterIPs) out.push({ name: svcName, ip: c });
      }
    }
    if (out.length) return out;
    return local.map((ip) => ({ name: join(NS_NAME, this.zone), ip }));
  }
}

function matchPort(wantPort: string, port: string, wantProto: string, proto: string): boolean {
  return (wantPort === '' || wantPort === port.toLowerCase()) && (wantProto === '' || wantProto === proto.toLowerCase());
}

function join(a: string, zone: string): string {
  return zone ? `${a}.${zone}` : a;
}
