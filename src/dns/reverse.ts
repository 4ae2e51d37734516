/**
 * @module dns/reverse
 * PTR answers (CoreDNS plugin/kubernetes/reverse.go): a ClusterIP maps to its Service's name, an
 * endpoint address to <hostname>.<service>.<ns>.svc.<zone> (the hostname, or the address with dashes
 * when the endpoint has none, as CoreDNS does for every endpoint). Addresses we do not know fall
 * through to the upstream resolvers, as kubeadm's `fallthrough in-addr.arpa ip6.arpa` does.
 */
import type { DnsController } from './controller.js';
import { endpointHostname } from './objects.js';
import { type RR, TYPE } from './wire.js';

export const REVERSE_ZONES = ['in-addr.arpa', 'ip6.arpa'] as const;
const V4_SUFFIX = '.in-addr.arpa';
const V6_SUFFIX = '.ip6.arpa';

export function isReverse(name: string): boolean {
  return name.endsWith(V4_SUFFIX) || name.endsWith(V6_SUFFIX) || name === 'in-addr.arpa' || name === 'ip6.arpa';
}

/** The address a full reverse name stands for ('' when it is not a whole address). */
export function addressFromReverse(name: string): string {
  if (name.endsWith(V4_SUFFIX)) {
    const parts = name.slice(0, -V4_SUFFIX.length).split('.');
    if (parts.length !== 4 || parts.some((p) => !/^\d{1,3}$/.test(p) || +p > 255)) return '';
    return parts.reverse().map((p) => String(+p)).join('.');
  }
  if (name.endsWith(V6_SUFFIX)) {
    const nibbles = name.slice(0, -V6_SUFFIX.length).split('.');
    if (nibbles.length !== 32 || nibbles.some((n) => !/^[0-9a-f]$/.test(n))) return '';
    const hex = nibbles.reverse().join('');
    const words: string[] = [];
    for (let i = 0; i < 32; i += 4) words.push(hex.slice(i, i + 4).replace(/^0+(?=.)/, ''));
    return compressV6(words);
  }
  return '';
}

function compressV6(words: string[]): string {
  // Longest run of zero words becomes "::" (RFC 5952), to match how addresses appear in API objects.
  let best = -1, bestLen = 0;
  for (let i = 0; i < 8;) {
    if (words[i] !== '0') { i++; continue; }
    let j = i;
    while (j < 8 && words[j] === '0') j++;
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i; }
    i = j;
  }
  if (best < 0) return words.join(':');
  return `${words.slice(0, best).join(':')}::${words.slice(best + bestLen).join(':')}`;
}

/** PTR records for a reverse name, or null when the address is not ours. */
export function reverseRecords(ctl: DnsController, zone: string, ttl: number, qname: string, endpointPodNames = false): RR[] | null {
  const ip = addressFromReverse(qname);
  if (!ip) return null;
  for (const svc of ctl.servicesByIP(ip)) {
    return [{ name: qname, type: TYPE.PTR, ttl, data: [svc.name, svc.namespace, 'svc', zone].join('.') }];
  }
  const out: RR[] = [];
  const seen = new Set<string>();
  for (const eps of ctl.endpointsByIP(ip)) {
    if (!eps.service) continue;
    for (const a of eps.addresses) {
      if (a.ip !== ip) continue;
      const target = [endpointHostname(a, endpointPodNames), eps.service, eps.namespace, 'svc', zone].join('.').toLowerCase();
      if (seen.has(target)) continue;
      seen.add(target);
      out.push({ name: qname, type: TYPE.PTR, ttl, data: target });
    }
  }
  return out.length ? out : null;
}
