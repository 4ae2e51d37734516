/**
 * @module kubelet/podfiles
 * The files the node agent writes for a pod, as the kubelet does: resolv.conf per dnsPolicy,
 * the Kubernetes-managed /etc/hosts and /etc/hostname.
 */
import { readFileSync } from 'node:fs';
import type { Pod } from '../api/types.js';

export const HOST_RESOLV_CONF = '/etc/resolv.conf';

export interface DnsSettings {
  clusterDNS: string[];
  clusterDomain: string;
}

/** Hostname and FQDN: spec.hostname (else the pod name), with spec.subdomain → a.b.ns.svc.domain. */
export function podHostnames(pod: Pod, clusterDomain: string): { hostname: string; fqdn?: string } {
  const hostname = (pod.spec?.hostname || pod.metadata?.name || 'pod').slice(0, 63);
  const sub = pod.spec?.subdomain;
  return { hostname, fqdn: sub ? `${hostname}.${sub}.${pod.metadata?.namespace ?? 'default'}.svc.${clusterDomain}` : undefined };
}

function hostResolv(): { nameservers: string[]; searches: string[]; options: string[] } {
  let text = '';
  try { text = readFileSync(HOST_RESOLV_CONF, 'utf8'); } catch { /* none */ }
  const out = { nameservers: [] as string[], searches: [] as string[], options: [] as string[] };
  for (const line of text.split('\n')) {
    const [k, ...v] = line.trim().split(/\s+/);
    if (k === 'nameserver' && v[0]) out.nameservers.push(v[0]);
    else if (k === 'search' || k === 'domain') out.searches.push(...v);
    else if (k === 'options') out.options.push(...v);
  }
  return out;
}

export function resolvConf(pod: Pod, dns: DnsSettings): string {
  let policy = pod.spec?.dnsPolicy ?? 'ClusterFirst';
  if (policy === 'ClusterFirst' && pod.spec?.hostNetwork) policy = 'Default';
  if (policy === 'ClusterFirstWithHostNet') policy = 'ClusterFirst';
  let nameservers: string[] = [];
  let searches: string[] = [];
  let options: string[] = [];
  if (policy === 'ClusterFirst' && dns.clusterDNS.length) {
    const ns = pod.metadata?.namespace ?? 'default';
    nameservers = [...dns.clusterDNS];
    searches = [`${ns}.svc.${dns.clusterDomain}`, `svc.${dns.clusterDomain}`, dns.clusterDomain, ...hostResolv().searches];
    options = ['ndots:5'];
  } else if (policy !== 'None') {
    const h = hostResolv();
    nameservers = h.nameservers; searches = h.searches; options = h.options;
  }
  const cfg = pod.spec?.dnsConfig;
  if (cfg) {
    nameservers = [...nameservers, ...(cfg.nameservers ?? [])];
    searches = [...searches, ...(cfg.searches ?? [])];
    for (const o of cfg.options ?? []) {
      if (!o.name) continue;
      options = options.filter((x) => x.split(':')[0] !== o.name);
      options.push(o.value !== undefined ? `${o.name}:${o.value}` : o.name);
    }
  }
  searches = [...new Set(searches)].slice(0, 32);
  const lines: string[] = [];
  if (searches.length) lines.push(`search ${searches.join(' ')}`);
  for (const n of nameservers.slice(0, 3)) lines.push(`nameserver ${n}`);
  if (options.length) lines.push(`options ${options.join(' ')}`);
  return lines.join('\n') + '\n';
}

export function hostsFile(pod: Pod, podIPs: string[], clusterDomain: string): string {
  const { hostname, fqdn } = podHostnames(pod, clusterDomain);
  const lines = [
    '# Kubernetes-managed hosts file.',
    '127.0.0.1\tlocalhost',
    '::1\tlocalhost ip6-localhost ip6-loopback',
    'fe00::0\tip6-localnet',
    'fe00::0\tip6-mcastprefix',
    'fe00::1\tip6-allnodes',
    'fe00::2\tip6-allrouters',
  ];
  if (!pod.spec?.hostNetwork) for (const ip of podIPs) lines.push(fqdn ? `${ip}\t${fqdn}\t${hostname}` : `${ip}\t${hostname}`);
  const aliases = pod.spec?.hostAliases ?? [];
  if (aliases.length) {
    lines.push('', '# Entries added by HostAliases.');
    for (const a of aliases) lines.push(`${a.ip}\t${(a.hostnames ?? []).join('\t')}`);
  }
  return lines.join('\n') + '\n';
}
