/**
 * @module images/programs/agnhost
 * The e2e test image's `/agnhost` (registry.k8s.io/e2e-test-images/agnhost): the subcommands the
 * upstream network tests use, answering as upstream's Go binary does (its cobra command line, its
 * endpoints, its output and exit codes). One file per group under ./agnhost/:
 * netexec, serve-hostname / porter / liveness / test-webserver, connect, grpc-health-checking,
 * pause / dns-suffix / dns-server-list / etc-hosts.
 */
import { CONNECT, runConnect } from './agnhost/connect.js';
import { type CommandDef, HelpRequest, UsageError, commandUsage, parseFlags } from './agnhost/go.js';
import { GRPC_HEALTH, runGrpcHealthChecking } from './agnhost/grpc.js';
import { DNS_SERVER_LIST, DNS_SUFFIX, ETC_HOSTS, PAUSE, runDnsServerList, runDnsSuffix, runEtcHosts, runPause } from './agnhost/host.js';
import { NETEXEC, runNetexec } from './agnhost/netexec.js';
import { LIVENESS, PORTER, SERVE_HOSTNAME, TEST_WEBSERVER, runLiveness, runPorter, runServeHostname, runTestWebserver } from './agnhost/servers.js';

/** The version the image reports (`/agnhost --version`), the agnhost release it follows. */
export const AGNHOST_VERSION = '2.53';

type Run = (flags: Record<string, string>, args: string[]) => void | Promise<void>;

const COMMANDS: [CommandDef, Run][] = [
  [CONNECT, runConnect],
  [DNS_SERVER_LIST, runDnsServerList],
  [DNS_SUFFIX, runDnsSuffix],
  [ETC_HOSTS, runEtcHosts],
  [GRPC_HEALTH, runGrpcHealthChecking],
  [LIVENESS, runLiveness],
  [NETEXEC, runNetexec],
  [PAUSE, runPause],
  [PORTER, runPorter],
  [SERVE_HOSTNAME, runServeHostname],
  [TEST_WEBSERVER, runTestWebserver],
];

const nameOf = (c: CommandDef) => c.use.split(' ')[0]!;

function rootHelp(): string {
  const rows: [string, string][] = [...COMMANDS.map(([c]): [string, string] => [nameOf(c), c.short]), ['help', 'Help about any command'] as [string, string]];
  rows.sort(([a], [b]) => a.localeCompare(b));
  const w = Math.max(...rows.map(([n]) => n.length));
  return `Usage:\n  app [command]\n\nAvailable Commands:\n${rows.map(([n, s]) => `  ${n.padEnd(w)} ${s}\n`).join('')}\nFlags:\n  -h, --help      help for app\n      --version   version for app\n\nUse "app [command] --help" for more information about a command.\n`;
}

function levenshtein(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0]![j] = j;
  for (let i = 1; i <= a.length; i++) for (let j = 1; j <= b.length; j++) {
    d[i]![j] = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length]![b.length]!;
}

/**
 * Runs `/agnhost <subcommand> [flags]`. A bad command line prints cobra's error and usage on stderr
 * and exits 1 (upstream's main ignores cobra's error and exits 0; a failing exit is what a caller
 * of a mistyped command should see).
 */
export function runAgnhost(argv: string[]): void {
  // Root-level flags before the subcommand: --help, --version, and klog's flags.
  let i = 0;
  for (; i < argv.length && argv[i]!.startsWith('-'); i++) {
    const a = argv[i]!;
    if (a === '--help' || a === '-h') { process.stdout.write(rootHelp()); return; }
    if (a === '--version') { process.stdout.write(`app version ${AGNHOST_VERSION}\n`); return; }
    if (/^--(v|vmodule|log_dir|log_file|log_file_max_size|log_backtrace_at|stderrthreshold)$/.test(a)) i++;
  }
  const sub = argv[i];
  const rest = [...argv.slice(0, i), ...argv.slice(i + 1)];
  if (sub === undefined) { process.stdout.write(rootHelp()); return; }
  if (sub === 'help') {
    const target = COMMANDS.find(([c]) => nameOf(c) === rest.find((a) => !a.startsWith('-')));
    process.stdout.write(target ? `${target[0].short}\n\n${commandUsage(target[0])}` : rootHelp());
    return;
  }
  const found = COMMANDS.find(([c]) => nameOf(c) === sub);
  if (!found) {
    const near = COMMANDS.map(([c]) => nameOf(c)).filter((n) => levenshtein(n, sub) <= 2 || n.startsWith(sub));
    process.stderr.write(`Error: unknown command ${JSON.stringify(sub)} for "app"\n${near.length ? `\nDid you mean this?\n${near.map((n) => `\t${n}\n`).join('')}\n` : ''}Run 'app --help' for usage.\n`);
    process.exit(1);
  }
  const [cmd, run] = found;
  let parsed;
  try { parsed = parseFlags(cmd, rest); } catch (e) {
    if (e instanceof HelpRequest) { process.stdout.write(`${cmd.short}\n\n${commandUsage(cmd)}`); return; }
    if (e instanceof UsageError) { process.stderr.write(`Error: ${e.message}\n${commandUsage(cmd)}\n`); process.exit(1); }
    throw e;
  }
  Promise.resolve(run(parsed.flags, parsed.args)).catch((e: Error) => {
    process.stderr.write(`panic: ${e.message}\n`);
    process.exit(2);
  });
}
