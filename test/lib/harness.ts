/**
 * End-to-end harness: a real svcplane cluster per test file (unique name and data dir), stock
 * kubectl with a fresh --cache-dir, commands inside the cluster's namespaces, and clean-up that
 * runs even when the test fails (t.after / process exit).
 */
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { down, up } from '../../src/cluster/lifecycle.js';
import { paths, type ClusterConfig, type ProxyMode } from '../../src/cluster/config.js';
import { resolveHost } from '../../src/cluster/cli.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const EXAMPLES = join(ROOT, 'examples');

export interface Cmd { code: number; out: string; err: string }

function result(r: SpawnSyncReturns<string>): Cmd {
  return { code: r.status ?? 1, out: r.stdout ?? '', err: (r.stderr ?? '') + (r.error ? String(r.error) : '') };
}

export function isRoot(): boolean {
  return process.getuid?.() === 0;
}

export class TestCluster {
  readonly cacheDir: string;
  readonly kubeconfig: string;
  constructor(readonly config: ClusterConfig) {
    this.cacheDir = mkdtempSync(join(tmpdir(), 'svp-kcache-'));
    this.kubeconfig = paths(config.dataDir).kubeconfig;
  }

  get name(): string { return this.config.name; }

  /** Run stock kubectl against the cluster. */
  kubectl(args: string[], opts: { input?: string; env?: NodeJS.ProcessEnv; timeoutMs?: number } = {}): Cmd {
    return result(spawnSync('kubectl', ['--kubeconfig', this.kubeconfig, '--cache-dir', this.cacheDir, ...args], {
      encoding: 'utf8', input: opts.input, env: { ...process.env, ...opts.env }, timeout: opts.timeoutMs ?? 60_000,
    }));
  }

  /** kubectl that must succeed; returns stdout. */
  k(...args: string[]): string {
    const r = this.kubectl(args);
    if (r.code !== 0) throw new Error(`kubectl ${args.join(' ')} failed (${r.code}): ${r.err || r.out}`);
    return r.out;
  }

  /** Run a command on a node ("control-plane", "worker", "worker2") or the outside "client" host. */
  exec(host: string, argv: string[], timeoutMs = 20_000): Cmd {
    const ns = resolveHost(host, this.config.name, this.config.workers);
    return result(spawnSync('ip', ['netns', 'exec', ns, ...argv], { encoding: 'utf8', timeout: timeoutMs }));
  }

  /** curl from a host; returns the body ('' on failure). */
  curl(host: string, url: string, extra: string[] = []): Cmd {
    return this.exec(host, ['curl', '-s', '-m', '5', ...extra, url]);
  }

  /** Poll until fn returns a truthy value, or throw with the last value seen. */
  async eventually<T>(what: string, fn: () => T | undefined | null | false | Promise<T | undefined | null | false>, timeoutMs = 60_000, stepMs = 250): Promise<T> {
    const end = Date.now() + timeoutMs;
    let last: unknown;
    for (;;) {
      try {
        const v = await fn();
        if (v) return v;
        last = v;
      } catch (e) {
        last = e;
      }
      if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}; last: ${last instanceof Error ? last.message : JSON.stringify(last)}`);
      await new Promise((r) => setTimeout(r, stepMs));
    }
  }

  /** Wait until every pod matching a selector is Running and Ready; returns them. */
  async podsReady(selector: string, count: number, namespace = 'default', timeoutMs = 90_000): Promise<any[]> {
    return this.eventually<any[]>(`${count} ready pods ${selector} in ${namespace}`, () => {
      const pods = JSON.parse(this.k('get', 'pods', '-n', namespace, '-l', selector, '-o', 'json')).items as any[];
      const ready = pods.filter((p) => !p.metadata.deletionTimestamp && p.status?.conditions?.some((c: any) => c.type === 'Ready' && c.status === 'True'));
      return ready.length === count && pods.length === count ? ready : undefined;
    }, timeoutMs, 500);
  }

  async destroy(): Promise<void> {
    await down({ name: this.config.name, dataDir: this.config.dataDir, purge: true, out: () => {} });
    rmSync(this.cacheDir, { recursive: true, force: true });
  }
}

let counter = 0;

/** Bring up a fresh cluster for this test file; it is torn down by the returned object's destroy(). */
export async function startCluster(opts: { proxyMode?: ProxyMode; scheduler?: string; workers?: number; store?: 'sqlite' | 'etcd'; apiservers?: number; etcdServers?: string[]; runtime?: 'containerd' | 'process' } = {}): Promise<TestCluster> {
  const name = `t${process.pid % 100000}${counter++}`;
  const dataDir = mkdtempSync(join(tmpdir(), `svp-${name}-`));
  const lines: string[] = [];
  let c: ClusterConfig;
  const cleanupOnExit = () => { spawnSync(process.execPath, ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'down', '--name', name, '--data-dir', dataDir, '--purge'], { stdio: 'ignore' }); };
  process.once('exit', cleanupOnExit);
  try {
    c = await up({ name, dataDir, workers: opts.workers ?? 2, proxyMode: opts.proxyMode, scheduler: opts.scheduler, store: opts.store, apiservers: opts.apiservers, etcdServers: opts.etcdServers, runtime: opts.runtime, out: (l) => lines.push(l), waitMs: 120_000 });
  } catch (e) {
    await down({ name, dataDir, purge: false, out: () => {} }).catch(() => {});
    const logs = spawnSync('sh', ['-c', `tail -n 30 ${dataDir}/logs/*.log`], { encoding: 'utf8' }).stdout;
    rmSync(dataDir, { recursive: true, force: true });
    throw new Error(`svcplane up failed: ${(e as Error).message}\n${lines.join('\n')}\n${logs}`);
  }
  const tc = new TestCluster(c);
  const origDestroy = tc.destroy.bind(tc);
  tc.destroy = async () => { process.removeListener('exit', cleanupOnExit); await origDestroy(); };
  return tc;
}
