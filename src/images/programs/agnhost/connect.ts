/**
 * @module images/programs/agnhost/connect
 * `agnhost connect host:port [--timeout D] [--protocol tcp|udp|sctp] [--udp-data S]`: silent exit 0
 * when the connection opens; otherwise one line on stderr that tests match on — UNKNOWN (bad
 * address), DNS, TIMEOUT, REFUSED, OTHER — and exit 1, as upstream.
 */
import { type CommandDef, parseDuration, splitHostPort } from './go.js';
import { dialTCP, exchangeUDP, resolveAddr } from './net.js';

export const CONNECT: CommandDef = {
  use: 'connect [host:port]', short: 'Attempts a TCP, UDP or SCTP connection and returns useful errors', args: { exact: 1 },
  flags: {
    timeout: { type: 'duration', def: '0s', usage: 'Maximum time before returning an error' },
    protocol: { type: 'string', def: 'tcp', usage: 'The protocol to use to perform the connection, can be tcp, udp or sctp' },
    'udp-data': { type: 'string', def: 'hostname', usage: 'The UDP payload send to the server' },
  },
};

const fail = (line: string): never => { process.stderr.write(line); process.exit(1); };

export async function runConnect(flags: Record<string, string>, args: string[]): Promise<void> {
  const dest = args[0]!;
  const timeout = parseDuration(flags.timeout!);
  switch (flags.protocol) {
    case '': case 'tcp': {
      try { splitHostPort(dest); } catch (e) { fail(`UNKNOWN: ${(e as Error).message}\n`); }
      let to;
      try { to = await resolveAddr('tcp', dest); } catch (e) { return fail(`DNS: ${(e as Error).message}\n`); }
      const r = await dialTCP(to, timeout);
      if (r.ok) { r.socket.destroy(); process.exit(0); }
      if (r.timeout) fail('TIMEOUT\n');
      if (r.errno === 'ECONNREFUSED') fail('REFUSED\n');
      return fail(`OTHER: ${r.message}\n`);
    }
    case 'udp': {
      let to;
      try { to = await resolveAddr('udp', dest); } catch (e) { return fail(`DNS: ${(e as Error).message}\n`); }
      const r = await exchangeUDP(to, Buffer.from(`${flags['udp-data']}\n`), timeout, 1024);
      if (!r.ok) fail(r.timeout ? `TIMEOUT: ${r.message}\n` : r.message.includes('connection refused') ? `REFUSED: ${r.message}\n` : `UNKNOWN: ${r.message}\n`);
      else if (r.data.length === 0) fail('OTHER: No data received from the server. Cannot guarantee the server received the request.\n');
      process.exit(0);
      break;
    }
    case 'sctp': {
      try { await resolveAddr('sctp', dest); } catch (e) { fail(`DNS: ${(e as Error).message}\n`); }
      // Node.js cannot open SCTP sockets: answered as a kernel without SCTP would answer.
      return fail('OTHER: protocol not supported\n');
    }
    default:
      // fmt.Fprint(os.Stderr, "Unsupported protocol\n", protocol): no separator, no newline.
      fail(`Unsupported protocol\n${flags.protocol}`);
  }
}
