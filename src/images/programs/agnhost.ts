/**
 * @module images/programs/agnhost
 * The e2e test image's subcommands svcplane's users reach for: netexec (HTTP /hostname /clientip
 * /echo?msg= /shell?cmd= /exit and a UDP echo/hostname server), serve-hostname, pause.
 */
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import http from 'node:http';
import { hostname } from 'node:os';

function flag(args: string[], name: string, def: string): string {
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === `--${name}`) return args[i + 1] ?? def;
    if (a.startsWith(`--${name}=`)) return a.slice(name.length + 3);
  }
  return def;
}

function udpServer(port: number, answer: (msg: string, from: string) => string): void {
  const s = dgram.createSocket('udp4');
  s.on('message', (m, r) => {
    const reply = answer(m.toString().trim(), `${r.address}:${r.port}`);
    s.send(reply, r.port, r.address);
  });
  s.bind(port);
}

function netexec(args: string[]): void {
  const httpPort = Number(flag(args, 'http-port', '8080'));
  const udpPort = Number(flag(args, 'udp-port', '8081'));
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const text = (code: number, body: string) => { res.writeHead(code, { 'Content-Type': 'text/plain; charset=utf-8' }); res.end(body); };
    switch (url.pathname) {
      case '/': case '/hostname': return text(200, hostname());
      case '/clientip': return text(200, `${req.socket.remoteAddress?.replace(/^::ffff:/, '')}:${req.socket.remotePort}`);
      case '/echo': return text(200, url.searchParams.get('msg') ?? '');
      case '/healthz': return text(200, 'ok');
      case '/header': return text(200, String(req.headers[(url.searchParams.get('key') ?? '').toLowerCase()] ?? ''));
      case '/exit': { text(200, ''); setTimeout(() => process.exit(Number(url.searchParams.get('code') ?? 0)), 50); return; }
      case '/shell': {
        execFile('sh', ['-c', url.searchParams.get('cmd') ?? ''], (err, stdout, stderr) => {
          res.writeHead(200, { 'Content-Type': 'application/json' });
          res.end(JSON.stringify({ output: stdout, error: err ? `${err.message}${stderr}` : '' }));
        });
        return;
      }
      default: return text(404, '404 page not found\n');
    }
  });
  server.listen(httpPort);
  if (udpPort > 0) {
    udpServer(udpPort, (msg) => {
      if (msg === 'hostname') return hostname();
      if (msg.startsWith('echo ')) return msg.slice(5);
      if (msg === 'clientip') return '';
      return '';
    });
  }
  process.stdout.write(`Started HTTP server on port ${httpPort}\nStarted UDP server on port ${udpPort}\n`);
}

function serveHostname(args: string[]): void {
  const port = Number(flag(args, 'port', '9376'));
  const udp = args.includes('--udp');
  const tcp = args.includes('--tcp');
  if (udp) udpServer(port, () => hostname());
  else if (tcp) {
    // Plain TCP: write the hostname and close.
    import('node:net').then(({ createServer }) => createServer((s) => s.end(hostname())).listen(port));
  } else http.createServer((_q, r) => r.end(hostname())).listen(port);
  process.stdout.write(`Serving on port ${port}.\n`);
}

export function runAgnhost(args: string[]): void {
  const [sub, ...rest] = args;
  process.on('SIGTERM', () => process.exit(0));
  switch (sub) {
    case 'netexec': return netexec(rest);
    case 'serve-hostname': return serveHostname(rest);
    case 'pause': setInterval(() => { /* wait for a signal */ }, 1 << 30); return;
    default:
      process.stdout.write('Usage:\n  agnhost [command]\n\nAvailable Commands (svcplane): netexec, serve-hostname, pause\n');
      process.exit(sub ? 1 : 0);
  }
}
