/**
 * @module dns/testserver
 * The DNS server over the test plan's index (testdata.ts) in a process of its own, for tests that
 * measure its memory or must see it survive hostile input (an uncaught exception ends the process):
 *
 *   node --import tsx src/dns/testserver.ts '{"tcp":{"readTimeoutMs":500}}'
 *
 * It sets the V8 heap flags `svcplane dns` sets (cli.ts). The argument is JSON merged into
 * startDnsServer's options. It prints one line `{"port":N}` once listening; each line on stdin is
 * answered with one JSON line, `stats` → {tcpConnections, panics, heap, ext, compiled, rss, hwm}
 * (kB; rss and hwm from /proc/self/status; compiled: names in the answer table), `gc` → the same
 * after a full collection. It exits when stdin closes, so a test that dies takes it along.
 */
import { readFileSync } from 'node:fs';
import { createInterface } from 'node:readline';
import v8 from 'node:v8';
import { V8_FLAGS } from './cli.js';
import { startDnsServer, type DnsServerOptions } from './server.js';
import { testIndex } from './testdata.js';

function status(): { rss: number; hwm: number } {
  const s = readFileSync('/proc/self/status', 'utf8');
  const kb = (k: string): number => Number(s.match(new RegExp(`^${k}:\\s+(\\d+)`, 'm'))?.[1] ?? 0);
  return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
}

// The heap settings `svcplane dns` runs with, so memory is measured as it is in a cluster.
for (const flag of V8_FLAGS) v8.setFlagsFromString(flag);
const extra = JSON.parse(process.argv[2] ?? '{}') as DnsServerOptions;
const dns = await startDnsServer({ controller: testIndex(), listen: '127.0.0.1:0', upstreams: [], health: '', ready: '', metrics: '', log: () => {}, ...extra });
process.stdout.write(JSON.stringify({ port: dns.udpPort }) + '\n');
const rl = createInterface({ input: process.stdin });
rl.on('line', (line) => {
  if (line === 'gc') (globalThis as { gc?: () => void }).gc?.();
  process.stdout.write(JSON.stringify({ tcpConnections: dns.tcpConnections?.() ?? -1, panics: dns.metrics.panics, heap: Math.round(process.memoryUsage().heapUsed / 1024), ext: Math.round(process.memoryUsage().arrayBuffers / 1024), compiled: dns.handler.compiledNames, ...status() }) + '\n');
});
rl.on('close', () => { void dns.close().then(() => process.exit(0)); });
