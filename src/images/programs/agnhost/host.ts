/**
 * @module images/programs/agnhost/host
 * agnhost's subcommands that report on the pod itself: pause, dns-suffix, dns-server-list,
 * etc-hosts (read from the pod's own /etc/resolv.conf and /etc/hosts, printed as upstream).
 */
import { readFileSync } from 'node:fs';
import type { CommandDef } from './go.js';

export const PAUSE: CommandDef = {
  use: 'pause', short: 'Pauses the execution', args: { max: 0 },
  flags: { 'delay-shutdown': { type: 'int', def: '0', usage: 'Number of seconds to delay shutdown when receiving SIGTERM/SIGINT.' } },
};

/** Prints "Paused"; SIGINT exits 1, SIGTERM exits 2, after --delay-shutdown seconds. */
export function runPause(flags: Record<string, string>): void {
  const delay = Number(flags['delay-shutdown']);
  const keep = setInterval(() => undefined, 1 << 30);
  let done = false;
  const on = (result: number) => () => {
    if (done) return;
    done = true;
    const bye = () => { clearInterval(keep); process.stdout.write(`exiting ${result}\n`, () => process.exit(result)); };
    if (delay > 0) { process.stdout.write(`Sleeping ${delay} seconds before exit ...`); setTimeout(bye, delay * 1000); } else bye();
  };
  process.on('SIGINT', on(1));
  process.on('SIGTERM', on(2));
  // After the handlers: a caller that saw "Paused" may signal at once.
  process.stdout.write('Paused\n');
}

const simple = (use: string, short: string): CommandDef => ({ use, short, args: { max: 0 }, flags: {} });
export const DNS_SUFFIX = simple('dns-suffix', "Prints the host's DNS suffix list");
export const DNS_SERVER_LIST = simple('dns-server-list', "Prints the host's DNS Server list");
export const ETC_HOSTS = simple('etc-hosts', "Prints the host's /etc/hosts file");

/** Go's panic: the value on stderr, exit status 2. */
function panic(msg: string): never {
  process.stderr.write(`panic: ${msg}\n\ngoroutine 1 [running]:\nmain.main()\n`);
  process.exit(2);
}

function readFile(name: string): string {
  try { return readFileSync(name, 'utf8'); } catch (e) {
    const er = e as NodeJS.ErrnoException;
    return panic(`open ${name}: ${er.code === 'ENOENT' ? 'no such file or directory' : er.code === 'EACCES' ? 'permission denied' : er.message}`);
  }
}

/** The words after the first line starting with `prefix`, split on single spaces (as upstream). */
function firstLine(prefix: string): string[] {
  for (const line of readFile('/etc/resolv.conf').split('\n')) if (line.startsWith(prefix)) return line.split(' ').slice(1);
  return panic('Could not find DNS search list!');
}

export function runDnsSuffix(): void { process.stdout.write(`${firstLine('search').join(',')}\n`); }
export function runDnsServerList(): void { process.stdout.write(`${firstLine('nameserver').join(',')}\n`); }
export function runEtcHosts(): void { process.stdout.write(`${readFile('/etc/hosts')}\n`); }
