/**
 * @module client/rest
 * svcplane's typed REST client for the Kubernetes API: verbs, subresources, patches and watch
 * streams, over HTTPS (bearer token, CA) or HTTP on a unix socket. Keep-alive agents; failover
 * across several API servers for HA control planes.
 */
import http from 'node:http';
import https from 'node:https';
import { URL } from 'node:url';
import { existsSync, readFileSync } from 'node:fs';
import type { KubeList, KubeObject, MetaObject, WatchEvent } from '../api/types.js';
import { resourcePath, type ResourceInfo } from '../api/registry.js';
import { inClusterConfig, loadKubeconfig } from './kubeconfig.js';
import { ApiError, type ClientConfig, type DeleteOpts, type ListOpts, type PatchType, type WatchHandle, type WatchOpts } from './types.js';

const PATCH_CONTENT_TYPES: Record<PatchType, string> = {
  strategic: 'application/strategic-merge-patch+json',
  merge: 'application/merge-patch+json',
  json: 'application/json-patch+json',
  apply: 'application/apply-patch+yaml',
};

/** How long a token read from a file is used before the file is read again (client-go: a minute). */
const TOKEN_FILE_REREAD_MS = 60_000;

/** Errors that mean "this API server is not there": try the next one. */
const FAILOVER_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EHOSTUNREACH', 'ENOENT', 'ETIMEDOUT', 'EPIPE']);

export interface RequestOptions {
  body?: unknown;
  /** Content-Type of body; objects are JSON-encoded unless body is a string/Buffer. */
  contentType?: string;
  query?: Record<string, string | number | boolean | undefined>;
  accept?: string;
  timeoutMs?: number;
}

export interface RawResponse {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: Buffer;
}

function queryString(q: Record<string, string | number | boolean | undefined> | undefined): string {
  if (!q) return '';
  const p = new URLSearchParams();
  for (const [k, v] of Object.entries(q)) if (v !== undefined && v !== '') p.append(k, String(v));
  const s = p.toString();
  return s ? `?${s}` : '';
}

function listQuery(opts: ListOpts | undefined): Record<string, string | number | undefined> {
  return {
    labelSelector: opts?.labelSelector,
    fieldSelector: opts?.fieldSelector,
    limit: opts?.limit,
    continue: opts?.continue,
    resourceVersion: opts?.resourceVersion,
  };
}

function toApiError(status: number, body: Buffer): ApiError {
  let parsed: any;
  try { parsed = JSON.parse(body.toString()); } catch { /* not a Status */ }
  if (parsed?.kind === 'Status') return new ApiError(parsed.code ?? status, parsed.reason ?? 'Unknown', parsed.message ?? `HTTP ${status}`, parsed);
  return new ApiError(status, http.STATUS_CODES[status] ?? 'Unknown', `HTTP ${status}: ${body.toString().slice(0, 200)}`);
}

/**
 * The API server writes the kubeconfig once it serves; a component started alongside it waits
 * for the file (a resumed cluster's is already there).
 */
export async function waitForFile(path: string, stepMs = 50): Promise<void> {
  while (!existsSync(path)) await new Promise((r) => setTimeout(r, stepMs));
}

export class Client {
  private servers: string[];
  private current = 0;
  private readonly agent: http.Agent;
  /** Watches hold their connection for minutes: they get their own uncapped agent so they
   *  can never use up the sockets that ordinary requests need. */
  private readonly watchAgent: http.Agent;

  constructor(readonly config: ClientConfig) {
    this.servers = [config.server, ...(config.fallbackServers ?? [])];
    if (config.socketPath) {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 64, socketPath: config.socketPath } as http.AgentOptions);
    } else if (config.server.startsWith('https:')) {
      this.agent = new https.Agent({
        keepAlive: true, maxSockets: 64, ca: config.ca, cert: config.cert, key: config.key,
        rejectUnauthorized: !config.insecureSkipTLSVerify,
      });
    } else {
      this.agent = new http.Agent({ keepAlive: true, maxSockets: 64 });
    }
    const AgentClass = this.agent instanceof https.Agent ? https.Agent : http.Agent;
    this.watchAgent = new AgentClass({ ...(this.agent as unknown as { options: object }).options, keepAlive: false, maxSockets: Infinity });
  }

  static fromKubeconfig(path?: string, context?: string): Client {
    return new Client(loadKubeconfig(path, context));
  }

  static inCluster(): Client {
    return new Client(inClusterConfig());
  }

  /**
   * For a component started beside the API server (as `svcplane up` starts them, so their module
   * loading overlaps its start): wait for the kubeconfig it writes, then until /readyz answers 200,
   * polling every stepMs. A resumed cluster's file is there and its API answers at once.
   */
  static async whenServing(path: string, stepMs = 50): Promise<Client> {
    await waitForFile(path, stepMs);
    const client = Client.fromKubeconfig(path);
    for (;;) {
      const status = await client.requestOnce('GET', '/readyz', { timeoutMs: 2000 }).then((r) => r.status, () => 0);
      if (status === 200) return client;
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }

  private tokenReadAt = 0;
  private tokenFromFile?: string;

  /** The bearer token: from tokenFile when there is one (re-read after a minute), else the fixed one. */
  private bearer(): string | undefined {
    const file = this.config.tokenFile;
    if (!file) return this.config.token;
    if (this.tokenFromFile === undefined || Date.now() - this.tokenReadAt > TOKEN_FILE_REREAD_MS) {
      try { this.tokenFromFile = readFileSync(file, 'utf8').trim(); this.tokenReadAt = Date.now(); } catch { /* keep the last one read */ }
    }
    return this.tokenFromFile ?? this.config.token;
  }

  /** One HTTP request; resolves with the raw response (any status). */
  request(method: string, path: string, opts: RequestOptions = {}): Promise<RawResponse> {
    return this.withFailover(() => this.requestOnce(method, path, opts));
  }

  private async withFailover<T>(fn: () => Promise<T>): Promise<T> {
    let lastErr: unknown;
    for (let i = 0; i < this.servers.length; i++) {
      try {
        return await fn();
      } catch (e) {
        lastErr = e;
        if (!FAILOVER_CODES.has((e as NodeJS.ErrnoException).code ?? '') || this.servers.length === 1) throw e;
        this.current = (this.current + 1) % this.servers.length;
      }
    }
    throw lastErr;
  }

  private open(method: string, path: string, opts: RequestOptions & { watch?: boolean }, onResponse: (res: http.IncomingMessage) => void, onError: (e: Error) => void): http.ClientRequest {
    const base = new URL(this.servers[this.current]!);
    const headers: Record<string, string> = {
      Accept: opts.accept ?? 'application/json',
      'User-Agent': this.config.userAgent ?? 'svcplane/0.1.0',
    };
    const token = this.bearer();
    if (token) headers.Authorization = `Bearer ${token}`;
    let payload: Buffer | undefined;
    if (opts.body !== undefined) {
      payload = Buffer.isBuffer(opts.body) ? opts.body : Buffer.from(typeof opts.body === 'string' ? opts.body : JSON.stringify(opts.body));
      headers['Content-Type'] = opts.contentType ?? 'application/json';
      headers['Content-Length'] = String(payload.length);
    }
    const mod = base.protocol === 'https:' && !this.config.socketPath ? https : http;
    const req = mod.request({
      method,
      host: this.config.socketPath ? undefined : base.hostname,
      port: this.config.socketPath ? undefined : base.port || (base.protocol === 'https:' ? 443 : 80),
      socketPath: this.config.socketPath,
      path: path + queryString(opts.query),
      headers,
      agent: opts.watch ? this.watchAgent : this.agent,
      timeout: opts.timeoutMs,
    }, onResponse);
    req.on('error', onError);
    if (opts.timeoutMs) req.on('timeout', () => req.destroy(Object.assign(new Error(`${method} ${path}: timed out after ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    req.end(payload);
    return req;
  }

  private requestOnce(method: string, path: string, opts: RequestOptions): Promise<RawResponse> {
    return new Promise((resolve, reject) => {
      this.open(method, path, opts, (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      }, reject);
    });
  }

  /** A request that must succeed (2xx); returns the parsed JSON body or throws ApiError. */
  async json<T>(method: string, path: string, opts: RequestOptions = {}): Promise<T> {
    const res = await this.request(method, path, opts);
    if (res.status < 200 || res.status >= 300) throw toApiError(res.status, res.body);
    return (res.body.length ? JSON.parse(res.body.toString()) : {}) as T;
  }

  get<T = KubeObject>(r: ResourceInfo, ns: string | undefined, name: string, subresource?: string): Promise<T> {
    return this.json<T>('GET', resourcePath(r, ns, name, subresource));
  }

  list<T = KubeObject>(r: ResourceInfo, ns?: string, opts?: ListOpts): Promise<KubeList<T>> {
    return this.json<KubeList<T>>('GET', resourcePath(r, ns), { query: listQuery(opts) });
  }

  create<T = KubeObject>(r: ResourceInfo, ns: string | undefined, obj: unknown, opts: { dryRun?: boolean; fieldManager?: string; subresource?: string; name?: string } = {}): Promise<T> {
    const path = opts.subresource ? resourcePath(r, ns, opts.name, opts.subresource) : resourcePath(r, ns);
    return this.json<T>('POST', path, { body: obj, query: { dryRun: opts.dryRun ? 'All' : undefined, fieldManager: opts.fieldManager } });
  }

  update<T = KubeObject>(r: ResourceInfo, ns: string | undefined, obj: MetaObject, subresource?: string): Promise<T> {
    const name = obj.metadata?.name;
    if (!name) throw new Error('update: object has no metadata.name');
    return this.json<T>('PUT', resourcePath(r, ns, name, subresource), { body: obj });
  }

  updateStatus<T = KubeObject>(r: ResourceInfo, ns: string | undefined, obj: MetaObject): Promise<T> {
    return this.update<T>(r, ns, obj, 'status');
  }

  patch<T = KubeObject>(r: ResourceInfo, ns: string | undefined, name: string, patch: unknown, type: PatchType = 'merge', subresource?: string, opts: { fieldManager?: string; force?: boolean } = {}): Promise<T> {
    return this.json<T>('PATCH', resourcePath(r, ns, name, subresource), {
      body: typeof patch === 'string' ? patch : JSON.stringify(patch),
      contentType: PATCH_CONTENT_TYPES[type],
      query: { fieldManager: opts.fieldManager ?? (type === 'apply' ? 'svcplane' : undefined), force: opts.force || undefined },
    });
  }

  delete<T = unknown>(r: ResourceInfo, ns: string | undefined, name: string, opts: DeleteOpts = {}): Promise<T> {
    const body: Record<string, unknown> = { kind: 'DeleteOptions', apiVersion: 'v1' };
    if (opts.propagationPolicy) body.propagationPolicy = opts.propagationPolicy;
    if (opts.gracePeriodSeconds !== undefined) body.gracePeriodSeconds = opts.gracePeriodSeconds;
    if (opts.preconditions) body.preconditions = opts.preconditions;
    return this.json<T>('DELETE', resourcePath(r, ns, name), { body });
  }

  /**
   * Stream a watch. Events are delivered in order; `done` resolves when the server ends the
   * stream, on error (ERROR events are delivered to onEvent first), or after stop().
   */
  watch<T = KubeObject>(r: ResourceInfo, ns: string | undefined, opts: WatchOpts, onEvent: (ev: WatchEvent<T>) => void): WatchHandle {
    let req: http.ClientRequest | undefined;
    let stopped = false;
    let resolveDone!: () => void;
    const done = new Promise<void>((res) => { resolveDone = res; });
    const query = {
      ...listQuery(opts),
      watch: 1,
      allowWatchBookmarks: opts.allowWatchBookmarks ? 'true' : undefined,
      timeoutSeconds: opts.timeoutSeconds,
    };
    req = this.open('GET', resourcePath(r, ns), { query, watch: true }, (res) => {
      if ((res.statusCode ?? 0) >= 300) {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const err = toApiError(res.statusCode ?? 0, Buffer.concat(chunks));
          if (!stopped) onEvent({ type: 'ERROR', object: (err.status ?? { kind: 'Status', code: err.code, reason: err.reason, message: err.message }) as T });
          resolveDone();
        });
        return;
      }
      let buf = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        buf += chunk;
        let nl: number;
        while ((nl = buf.indexOf('\n')) >= 0) {
          const line = buf.slice(0, nl).trim();
          buf = buf.slice(nl + 1);
          if (!line || stopped) continue;
          try {
            onEvent(JSON.parse(line) as WatchEvent<T>);
          } catch (e) {
            if (e instanceof SyntaxError) continue;
            throw e;
          }
        }
      });
      res.on('end', () => resolveDone());
      res.on('error', () => resolveDone());
      res.on('close', () => resolveDone());
    }, () => resolveDone());
    return {
      stop() {
        stopped = true;
        req?.destroy();
        resolveDone();
      },
      done,
    };
  }

  /** Release keep-alive sockets. */
  close(): void {
    this.agent.destroy();
    this.watchAgent.destroy();
  }
}

export { ApiError };
