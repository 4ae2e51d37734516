/**
 * @module images/programs/nginx
 * The nginx image's behaviour svcplane needs: a static server for /usr/share/nginx/html on :80
 * (per pod: the node agent bind-mounts a pod-private directory there), first filled with the
 * stock welcome page, answering with nginx's Server header, index.html, 404 and 405 pages, and
 * the access log line format on stdout.
 */
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import { extname, join, normalize } from 'node:path';

export const NGINX_ROOT = '/usr/share/nginx/html';
export const NGINX_PORT = 80;
export const NGINX_SERVER = 'nginx/1.27.3';

export const NGINX_WELCOME = `<!DOCTYPE html>
<html>
<head>
<title>Welcome to nginx!</title>
<style>
html { color-scheme: light dark; }
body { width: 35em; margin: 0 auto;
font-family: Tahoma, Verdana, Arial, sans-serif; }
</style>
</head>
<body>
<h1>Welcome to nginx!</h1>
<p>If you see this page, the nginx web server is successfully installed and
working. Further configuration is required.</p>

<p>For online documentation and support please refer to
<a href="http://nginx.org/">nginx.org</a>.<br/>
Commercial support is available at
<a href="http://nginx.com/">nginx.com</a>.</p>

<p><em>Thank you for using nginx.</em></p>
</body>
</html>
`;

const FIFTY_X = `<!DOCTYPE html>
<html>
<head>
<title>Error</title>
</head>
<body>
<h1>An error occurred.</h1>
<p>Sorry, the page you are looking for is currently unavailable.<br/>
Please try again later.</p>
</body>
</html>
`;

const TYPES: Record<string, string> = {
  '.html': 'text/html', '.htm': 'text/html', '.css': 'text/css', '.js': 'application/javascript',
  '.json': 'application/json', '.txt': 'text/plain', '.png': 'image/png', '.jpg': 'image/jpeg', '.svg': 'image/svg+xml',
};

function errorPage(code: number, text: string): string {
  return `<html>\r\n<head><title>${code} ${text}</title></head>\r\n<body>\r\n<center><h1>${code} ${text}</h1></center>\r\n<hr><center>${NGINX_SERVER}</center>\r\n</body>\r\n</html>\r\n`;
}

/** Fill an empty document root the way the image ships it. */
export function initRoot(root: string): void {
  mkdirSync(root, { recursive: true });
  if (!existsSync(join(root, 'index.html'))) writeFileSync(join(root, 'index.html'), NGINX_WELCOME);
  if (!existsSync(join(root, '50x.html'))) writeFileSync(join(root, '50x.html'), FIFTY_X);
}

export function runNginx(root = NGINX_ROOT, port = NGINX_PORT): http.Server {
  initRoot(root);
  const server = http.createServer((req, res) => {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (code: number, body: string | Buffer, type = 'text/html', extra: Record<string, string> = {}) => {
      res.writeHead(code, { Server: NGINX_SERVER, Date: new Date().toUTCString(), 'Content-Type': type, 'Content-Length': String(Buffer.byteLength(body)), ...extra });
      res.end(req.method === 'HEAD' ? undefined : body);
      const ip = req.socket.remoteAddress?.replace(/^::ffff:/, '') ?? '-';
      process.stdout.write(`${ip} - - [${new Date().toUTCString()}] "${req.method} ${req.url} HTTP/${req.httpVersion}" ${code} ${Buffer.byteLength(body)} "-" "${req.headers['user-agent'] ?? '-'}" "-"\n`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return send(405, errorPage(405, 'Not Allowed'));
    let p = normalize(decodeURIComponent(url.pathname));
    if (p.includes('..')) return send(400, errorPage(400, 'Bad Request'));
    let file = join(root, p);
    try {
      if (statSync(file).isDirectory()) {
        if (!p.endsWith('/')) return send(301, errorPage(301, 'Moved Permanently'), 'text/html', { Location: `${p}/` });
        file = join(file, 'index.html');
        p = join(p, 'index.html');
      }
      const body = readFileSync(file);
      return send(200, body, TYPES[extname(file)] ?? 'application/octet-stream');
    } catch {
      return send(404, errorPage(404, 'Not Found'));
    }
  });
  server.listen(port);
  // nginx's fast shutdown on SIGTERM, graceful on SIGQUIT.
  process.on('SIGTERM', () => process.exit(0));
  process.on('SIGQUIT', () => server.close(() => process.exit(0)));
  return server;
}
