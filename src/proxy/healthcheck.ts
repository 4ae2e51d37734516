/**
 * @module proxy/healthcheck
 * kube-proxy's health servers: /healthz on :10256 (the proxy itself: 200 once it has synced
 * recently) and one HTTP server per Service with externalTrafficPolicy Local on its
 * healthCheckNodePort, answering 200 when this node has local endpoints and 503 when not, with
 * the JSON body kube-proxy sends, so an external load balancer can pick nodes.
 */
import http from 'node:http';

export class ServiceHealthServers {
  private readonly servers = new Map<number, { server: http.Server; ns: string; name: string; local: number }>();

  constructor(private readonly bind = '0.0.0.0') {}

  /** Desired state: port → {service, local endpoint count}. */
  sync(want: Map<number, { ns: string; name: string; local: number }>): void {
    for (const [port, s] of this.servers) if (!want.has(port)) { s.server.close(); this.servers.delete(port); }
    for (const [port, w] of want) {
      const cur = this.servers.get(port);
      if (cur) { cur.local = w.local; cur.ns = w.ns; cur.name = w.name; continue; }
      const entry = { ...w, server: http.createServer((_req, res) => {
        const e = this.servers.get(port)!;
        res.writeHead(e.local > 0 ? 200 : 503, { 'Content-Type': 'application/json', 'X-Content-Type-Options': 'nosniff', 'X-Load-Balancing-Endpoint-Weight': String(e.local) });
        res.end(JSON.stringify({ service: { namespace: e.ns, name: e.name }, localEndpoints: e.local, serviceProxyHealthy: true }));
      }) };
      entry.server.on('error', () => { /* port taken: reported by the absence of answers */ });
      entry.server.listen(port, this.bind);
      this.servers.set(port, entry);
    }
  }

  close(): void {
    for (const s of this.servers.values()) s.server.close();
    this.servers.clear();
  }
}
