/**
 * @module dns/forward/resolv
 * Upstream addresses: `--upstream ip[:port],…` or the nameservers of /etc/resolv.conf (what
 * `forward . /etc/resolv.conf` means in a Corefile).
 */
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';

export const RESOLV_CONF = '/etc/resolv.conf';
export const DNS_PORT = 53;

export interface Upstream { host: string; port: number }

/** Parse "1.2.3.4", "1.2.3.4:5353", "[fd00::1]:53", "fd00::1". */
export function parseUpstream(s: string): Upstream {
  const t = s.trim().replace(/^dns:\/\//, '');
  let host = t, port = DNS_PORT;
  const v6 = t.match(/^\[([^\]]+)\](?::(\d+))?$/);
  if (v6) { host = v6[1]; if (v6[2]) port = +v6[2]; } else if (isIP(t) !== 6 && t.includes(':')) {
    const i = t.lastIndexOf(':');
    host = t.slice(0, i);
    port = +t.slice(i + 1);
  }
  if (!isIP(host)) throw new Error(`upstream "${s}": not an IP address`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`upstream "${s}": invalid port`);
  return { host, port };
}

export function parseUpstreams(list: string | string[]): Upstream[] {
  const items = (Array.isArray(list) ? list : [list]).flatMap((x) => x.split(',')).map((x) => x.trim()).filter(Boolean);
  return items.map(parseUpstream);
}

/** The nameservers of a resolv.conf ([] when it cannot be read). */
export function resolvConfUpstreams(path = RESOLV_CONF): Upstream[] {
  let text: string;
  try { text = readFileSync(path, 'utf8'); } catch { return []; }
  const out: Upstream[] = [];
  for (const line of text.split('\n')) {
    const m = line.trim().match(/^nameserver\s+(\S+)/);
    if (!m) continue;
    const host = m[1].replace(/%.*$/, ''); // drop an IPv6 zone index
    if (isIP(host)) out.push({ host, port: DNS_PORT });
  }
  return out;
}
