/** @module controllers/shared/health — /healthz and /metrics for the controller-manager and scheduler. */
import http from 'node:http';
import { registry } from './metrics.js';
import { log } from './log.js';

export interface HealthServer { port: number; close(): Promise<void> }

export async function startHealthServer(port: number, healthy: () => boolean = () => true, host = '127.0.0.1'): Promise<HealthServer | undefined> {
  if (!port && port !== -1) return undefined;
  const srv = http.createServer(async (req, res) => {
    const path = (req.url ?? '/').split('?')[0];
    if (path === '/healthz' || path === '/livez' || path === '/readyz') {
      const ok = healthy();
      res.writeHead(ok ? 200 : 500, { 'Content-Type': 'text/plain' }).end(ok ? 'ok' : 'unhealthy');
    } else if (path === '/metrics') {
      res.writeHead(200, { 'Content-Type': registry.contentType }).end(await registry.metrics());
    } else res.writeHead(404).end('not found');
  });
  // -1 asks for an ephemeral port (tests).
  try {
    await new Promise<void>((resolve, reject) => { srv.once('error', reject); srv.listen(port === -1 ? 0 : port, host, resolve); });
  } catch (e) {
    // Several clusters on one machine share 127.0.0.1: a taken port must not stop the loops.
    log('warn', 'health', 'cannot serve /healthz and /metrics', { port, error: String((e as Error).message) });
    return undefined;
  }
  return { port: (srv.address() as { port: number }).port, close: () => new Promise((r) => srv.close(() => r())) };
}
