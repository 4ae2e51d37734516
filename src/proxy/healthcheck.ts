/**
 * @module proxy/healthcheck
 * kube-proxy's health servers (pkg/proxy/healthcheck):
 * - ProxyHealthServer: /healthz (default :10256), 200 while syncs keep succeeding, 503 once a
 *   requested sync is overdue (so a stuck proxy takes its node out of load balancers);
 * - ServiceHealthServers: one HTTP server per Service with externalTrafficPolicy Local on its
 *   healthCheckNodePort, 200 when this node has local endpoints and 503 when not, with the JSON
 *   body kube-proxy sends, so an external load balancer sends traffic only where it is kept.
 */
import http from 'node:http';

function splitBind(bind: string): { host: string; port: number } {
  const i = bind.lastIndexOf(':');
  return { host: bind.slice(0, i) || '0.0.0.0', port: Number(bind.slice(i + 1)) };
}

export function listen(server: http.Server, bind: string, onError: (e: Error) => void): Promise<void> {
  const { host, port } = splitBind(bind);
  return new Promise((resolve) => {
    server.once('error', (e) => { onError(e); resolve(); });
    server.listen(port, host, () => resolve());
  });
}

export class ProxyHealthServer {
  private lastUpdated = 0;
  /** When a sync was asked for and not yet done (0 = none outstanding). */
  private queuedAt = 0;
  readonly server: http.Server;

  constructor(private readonly staleAfterMs: number, private readonly now: () => number = Date.now) {
    this.server = http.createServer((req, res) => {
      const h = this.healthy();
      res.writeHead(h ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff' });
      res.end(JSON.stringify({ lastUpdated: new Date(this.lastUpdated).toISOString(), currentTime: new Date(this.now()).toISOString(), nodeEligible: true }));
      void req;
    });
  }

  queued(): void { if (!this.queuedAt) this.queuedAt = this.now(); }
  updated(): void { this.lastUpdated = this.now(); this.queuedAt = 0; }

  healthy(): boolean {
    if (!this.lastUpdated) return false;
    return !this.queuedAt || this.now() - this.queuedAt < this.staleAfterMs;
  }

  close(): void { this.server.close(); }
}

export interface ServiceHealth { namespace: string; name: string; localEndpoints: number }

export class ServiceHealthServers {
  private readonly servers = new Map<number, { server: http.Server; s: ServiceHealth }>();

  constructor(private readonly host = '0.0.0.0', private readonly onError: (port: number, e: Error) => void = () => {}) {}

  /** Desired state: healthCheckNodePort → service and its local endpoint count. */
  sync(want: Map<number, ServiceHealth>): void {
    for (const [port, e] of this.servers) if (!want.has(port)) { e.server.close(); this.servers.delete(port); }
    for (const [port, s] of want) {
      const cur = this.servers.get(port);
      if (cur) { cur.s = s; continue; }
      const entry = { s, server: http.createServer((_req, res) => {
        const { s: e } = this.servers.get(port) ?? entry;
        res.writeHead(e.localEndpoints > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'X-Load-Balancing-Endpoint-Weight': String(e.localEndpoints) });
        res.end(JSON.stringify({ service: { namespace: e.namespace, name: e.name }, localEndpoints: e.localEndpoints, serviceProxyHealthy: true }));
      }) };
      entry.server.on('error', (e) => this.onError(port, e));
      entry.server.listen(port, this.host);
      this.servers.set(port, entry);
    }
  }

  ports(): number[] { return [...this.servers.keys()]; }

  close(): void {
    for (const e of this.servers.values()) e.server.close();
    this.servers.clear();
  }
}
