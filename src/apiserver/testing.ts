/**
 * @module apiserver/testing
 * A small HTTP helper for the API server's tests: requests over the unix socket (trusted) or
 * HTTPS (with or without the token), and watch streams read line by line.
 */
import http from 'node:http';
import https from 'node:https';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

export interface Reply { status: number; headers: http.IncomingHttpHeaders; text: string; json: any }

export interface Conn { socketPath?: string; url?: string; ca?: string; token?: string }

export function socketConn(dataDir: string): Conn {
  return { socketPath: join(dataDir, 'apiserver.sock') };
}

export function httpsConn(dataDir: string, url: string, withToken = true): Conn {
  return { url, ca: readFileSync(join(dataDir, 'pki', 'ca.crt'), 'utf8'), token: withToken ? readFileSync(join(dataDir, 'pki', 'token'), 'utf8').trim() : undefined };
}

function options(c: Conn, method: string, path: string, headers: Record<string, string>): https.RequestOptions {
  const h = { ...headers, ...(c.token ? { Authorization: `Bearer ${c.token}` } : {}) };
  if (c.socketPath) return { socketPath: c.socketPath, path, method, headers: h, agent: false };
  const u = new URL(c.url!);
  return { host: u.hostname, port: u.port, path, method, headers: h, ca: c.ca, servername: 'localhost', agent: false };
}

export function request(c: Conn, method: string, path: string, body?: unknown, headers: Record<string, string> = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.isBuffer(body) ? body : Buffer.from(typeof body === 'string' ? body : JSON.stringify(body));
    const hdrs = { ...(data ? { 'Content-Type': 'application/json', 'Content-Length': String(data.length) } : {}), ...headers };
    const mod = c.socketPath ? http : https;
    const req = mod.request(options(c, method, path, hdrs), (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json: unknown;
        try { json = JSON.parse(text); } catch { json = undefined; }
        resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
      });
    });
    req.on('error', reject);
    if (data) req.write(data);
    req.end();
  });
}

export interface WatchStream {
  events: any[];
  /** Resolves when at least n events arrived (rejects after timeoutMs). */
  waitFor(n: number, timeoutMs?: number): Promise<any[]>;
  headers: Promise<http.IncomingHttpHeaders>;
  close(): void;
}

export function watch(c: Conn, path: string, headers: Record<string, string> = {}): WatchStream {
  const events: any[] = [];
  let buf = '';
  let waiters: (() => void)[] = [];
  let resolveHeaders!: (h: http.IncomingHttpHeaders) => void;
  const headersP = new Promise<http.IncomingHttpHeaders>((r) => { resolveHeaders = r; });
  const mod = c.socketPath ? http : https;
  const req = mod.request(options(c, 'GET', path, headers), (res) => {
    resolveHeaders(res.headers);
    res.on('data', (d: Buffer) => {
      buf += d.toString('utf8');
      let i: number;
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 1);
        if (line.trim()) events.push(JSON.parse(line));
      }
      const w = waiters; waiters = [];
      for (const f of w) f();
    });
    res.on('error', () => {});
  });
  req.on('error', () => {});
  req.end();
  return {
    events,
    headers: headersP,
    async waitFor(n, timeoutMs = 5000) {
      const deadline = Date.now() + timeoutMs;
      while (events.length < n) {
        if (Date.now() > deadline) throw new Error(`watch ${path}: ${events.length} events, wanted ${n}: ${JSON.stringify(events.map((e) => [e.type, e.object?.metadata?.name]))}`);
        await new Promise<void>((r) => { waiters.push(r); setTimeout(r, 50); });
      }
      return events;
    },
    close() { req.destroy(); },
  };
}
