/**
 * @module images/programs/bootcamp
 * jocatalin/kubernetes-bootcamp: the Kubernetes tutorial's app. Every request on :8080 gets
 * exactly `Hello Kubernetes bootcamp! | Running on: <hostname> | v=1` and a newline; like the
 * original it counts requests and logs them.
 */
import http from 'node:http';
import { hostname } from 'node:os';

export const BOOTCAMP_PORT = 8080;

export function bootcampLine(name: string, version: string): string {
  return `Hello Kubernetes bootcamp! | Running on: ${name} | v=${version}\n`;
}

export function runBootcamp(version = '1', port = BOOTCAMP_PORT): http.Server {
  const started = new Date();
  let requests = 0;
  const name = hostname();
  const server = http.createServer((req, res) => {
    requests++;
    process.stdout.write(`Running On: ${name} | Total Requests: ${requests} | App Uptime: ${(Date.now() - started.getTime()) / 1000} seconds | Log Time: ${new Date().toString()}\n`);
    res.writeHead(200, { 'Content-Type': 'text/plain' });
    res.end(bootcampLine(name, version));
  });
  server.listen(port, () => process.stdout.write(`Kubernetes Bootcamp App Started At: ${started.toString()} | Running On:  ${name} \n\n`));
  process.on('SIGTERM', () => process.exit(0));
  return server;
}
