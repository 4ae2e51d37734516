/**
 * @module proxy/backends/userspace/redirect
 * The kernel part of the userspace mode: table `ip svcplane-userspace` REDIRECTs traffic for a
 * service address (ClusterIP, externalIP, LB IP) to the local port the proxy listens on for it,
 * and rejects service addresses without endpoints (so clients fail fast, as in the other
 * modes). NodePorts need no rule: the proxy binds them directly.
 */
export const USERSPACE_TABLE = 'svcplane-userspace';
const OUTPUT_NAT_PRIORITY = -100;
const FILTER_PRIORITY = -10;

export function redirectTable(): string {
  const redirect = 'meta l4proto { tcp, udp } redirect to : ip daddr . meta l4proto . th dport map @vips';
  const reject = 'ip daddr . meta l4proto . th dport @no-endpoints meta l4proto tcp reject with tcp reset; ip daddr . meta l4proto . th dport @no-endpoints reject';
  return [
    `table ip ${USERSPACE_TABLE} {`,
    '  map vips { type ipv4_addr . inet_proto . inet_service : inet_service; }',
    '  set no-endpoints { type ipv4_addr . inet_proto . inet_service; }',
    `  chain nat-prerouting { type nat hook prerouting priority dstnat; policy accept; ${redirect}; }`,
    `  chain nat-output { type nat hook output priority ${OUTPUT_NAT_PRIORITY}; policy accept; ${redirect}; }`,
    `  chain filter-forward { type filter hook forward priority ${FILTER_PRIORITY}; policy accept; ${reject}; }`,
    `  chain filter-output { type filter hook output priority ${FILTER_PRIORITY}; policy accept; ${reject}; }`,
    '}',
  ].join('\n') + '\n';
}

/** The map contents as one transaction (flush + add: userspace mode targets small clusters). */
export function redirectElements(vips: Map<string, number>, noEndpoints: string[]): string {
  const lines = [`flush map ip ${USERSPACE_TABLE} vips`, `flush set ip ${USERSPACE_TABLE} no-endpoints`];
  if (vips.size) lines.push(`add element ip ${USERSPACE_TABLE} vips { ${[...vips].map(([k, p]) => `${k} : ${p}`).join(', ')} }`);
  if (noEndpoints.length) lines.push(`add element ip ${USERSPACE_TABLE} no-endpoints { ${noEndpoints.join(', ')} }`);
  return lines.join('\n') + '\n';
}
