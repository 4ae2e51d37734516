/**
 * @module store/etcd-cluster
 * A local etcd cluster for `svcplane up --store etcd` and for tests: N members (3 by default),
 * each its own `etcd` process (Debian's etcd-server) with its own data dir and loopback
 * client/peer ports derived from one base port (member i: client base+2i, peer base+2i+1).
 * A member that is killed and started again with the same data dir rejoins the cluster.
 * memberStatus() reports each member's health and who leads (for `svcplane status`).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, openSync, closeSync, existsSync } from 'node:fs';
import { createServer } from 'node:net';
import { join } from 'node:path';

export const ETCD_BINARY = 'etcd';
const HOST = '127.0.0.1';
/** How long start() waits for a leader. */
const START_TIMEOUT_MS = 30_000;
const STATUS_DEADLINE_MS = 2_000;
/** Progress notifications let watchers (and the API server's bookmarks) advance while idle. */
const PROGRESS_NOTIFY_INTERVAL = '5s';

export interface EtcdClusterOptions {
  /** Parent of the members' data dirs (<dataDir>/<name>) and logs (<dataDir>/<name>.log). */
  dataDir: string;
  /** Member i listens on client port basePort+2i and peer port basePort+2i+1. */
  basePort: number;
  /** Number of members (default 3). */
  members?: number;
  /** Member name prefix and cluster token (default "svcplane-etcd"). */
  name?: string;
  /** Path of the etcd binary (default: `etcd` on PATH). */
  binary?: string;
}

export interface EtcdMember {
  index: number;
  name: string;
  dataDir: string;
  logFile: string;
  clientURL: string;
  peerURL: string;
}

export interface MemberStatus {
  endpoint: string;
  name?: string;
  id?: string;
  healthy: boolean;
  leader: boolean;
  version?: string;
  /** Revision of the member's store (catches up with the others after a rejoin). */
  revision?: number;
  raftIndex?: number;
  error?: string;
}

/** The etcd binary's path, or null when it is not installed. */
export function findEtcd(binary = ETCD_BINARY): string | null {
  const r = spawnSync('sh', ['-c', `command -v ${binary}`], { encoding: 'utf8' });
  return r.status === 0 && r.stdout.trim() ? r.stdout.trim() : null;
}

export function etcdMembers(o: EtcdClusterOptions): EtcdMember[] {
  const prefix = o.name ?? 'svcplane-etcd';
  return Array.from({ length: o.members ?? 3 }, (_, i) => ({
    index: i,
    name: `${prefix}-${i}`,
    dataDir: join(o.dataDir, `${prefix}-${i}`),
    logFile: join(o.dataDir, `${prefix}-${i}.log`),
    clientURL: `http://${HOST}:${o.basePort + 2 * i}`,
    peerURL: `http://${HOST}:${o.basePort + 2 * i + 1}`,
  }));
}

/** etcd's flags for member i (for a supervisor that runs `etcd` itself). */
export function etcdMemberArgs(o: EtcdClusterOptions, i: number): string[] {
  const all = etcdMembers(o);
  const m = all[i]!;
  return [
    '--name', m.name, '--data-dir', m.dataDir,
    '--listen-client-urls', m.clientURL, '--advertise-client-urls', m.clientURL,
    '--listen-peer-urls', m.peerURL, '--initial-advertise-peer-urls', m.peerURL,
    '--initial-cluster', all.map((x) => `${x.name}=${x.peerURL}`).join(','),
    '--initial-cluster-token', o.name ?? 'svcplane-etcd',
    // Ignored once the data dir holds a member: a restarted member rejoins with its identity.
    '--initial-cluster-state', 'new',
    '--logger', 'zap', '--log-outputs', 'stderr',
    '--experimental-watch-progress-notify-interval', PROGRESS_NOTIFY_INTERVAL,
  ];
}

export class EtcdCluster {
  readonly members: EtcdMember[];
  private readonly procs = new Map<number, ChildProcess>();

  constructor(readonly opts: EtcdClusterOptions) {
    this.members = etcdMembers(opts);
  }

  get endpoints(): string[] {
    return this.members.map((m) => m.clientURL);
  }

  pid(i: number): number | undefined {
    return this.procs.get(i)?.pid;
  }

  /** Start every member and wait until the cluster has a leader and every member answers. */
  async start(timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const bin = this.opts.binary ?? findEtcd();
    if (!bin) throw new Error('etcd not found on PATH (install the etcd-server package)');
    for (const m of this.members) this.spawnMember(m, bin);
    await this.waitHealthy(this.members.map((m) => m.index), timeoutMs);
  }

  /** (Re)start one member; with its old data dir it rejoins. Resolves once it is healthy. */
  async startMember(i: number, timeoutMs = START_TIMEOUT_MS): Promise<void> {
    const bin = this.opts.binary ?? findEtcd();
    if (!bin) throw new Error('etcd not found on PATH (install the etcd-server package)');
    const cur = this.procs.get(i);
    if (cur && cur.exitCode === null && cur.signalCode === null) throw new Error(`etcd member ${this.members[i]!.name} is already running`);
    this.spawnMember(this.members[i]!, bin);
    await this.waitHealthy([i], timeoutMs);
  }

  private spawnMember(m: EtcdMember, bin: string): void {
    mkdirSync(this.opts.dataDir, { recursive: true });
    const log = openSync(m.logFile, 'a');
    try {
      const p = spawn(bin, etcdMemberArgs(this.opts, m.index), { stdio: ['ignore', log, log] });
      p.on('error', () => { /* reported by waitHealthy */ });
      this.procs.set(m.index, p);
    } finally {
      closeSync(log);
    }
  }

  private async waitHealthy(indexes: number[], timeoutMs: number): Promise<void> {
    const end = Date.now() + timeoutMs;
    let last: MemberStatus[] = [];
    while (Date.now() < end) {
      for (const i of indexes) {
        const p = this.procs.get(i);
        if (p && (p.exitCode !== null || p.signalCode !== null)) throw new Error(`etcd member ${this.members[i]!.name} exited (${p.exitCode ?? p.signalCode}) (see ${this.members[i]!.logFile})`);
      }
      last = await memberStatus(indexes.map((i) => this.members[i]!.clientURL));
      if (last.every((s) => s.healthy)) return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`etcd members not healthy within ${timeoutMs / 1000}s: ${last.map((s) => `${s.endpoint} ${s.error ?? (s.healthy ? 'ok' : 'no leader')}`).join('; ')}`);
  }

  /** Kill one member (SIGKILL by default) and wait for it to exit. */
  async killMember(i: number, signal: NodeJS.Signals = 'SIGKILL'): Promise<void> {
    const p = this.procs.get(i);
    if (!p || p.exitCode !== null || p.signalCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill(signal);
    await exited;
  }

  /** Stop every member (SIGTERM, then SIGKILL after 5 s). */
  async stop(): Promise<void> {
    await Promise.all(this.members.map(async (m) => {
      const p = this.procs.get(m.index);
      if (!p || p.exitCode !== null || p.signalCode !== null) return;
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(t);
    }));
  }

  /** True when member i's data dir already holds a member (it will rejoin, not bootstrap). */
  initialized(i: number): boolean {
    return existsSync(join(this.members[i]!.dataDir, 'member'));
  }
}

/**
 * Health and leadership of each endpoint: a member is healthy when it answers a status call
 * and knows a leader. Never throws: an unreachable member is reported with its error.
 */
export async function memberStatus(endpoints: string[], tls?: { ca?: string; cert?: string; key?: string }): Promise<MemberStatus[]> {
  const { readFileSync } = await import('node:fs');
  // Loaded on use: the gRPC client is heavy, and this module is imported by every svcplane command.
  const { Etcd3 } = await import('etcd3');
  const credentials = tls?.ca ? {
    rootCertificate: readFileSync(tls.ca),
    ...(tls.key ? { privateKey: readFileSync(tls.key) } : {}),
    ...(tls.cert ? { certChain: readFileSync(tls.cert) } : {}),
  } : undefined;
  const names = new Map<string, string>();
  const out = await Promise.all(endpoints.map(async (endpoint): Promise<MemberStatus> => {
    const c = new Etcd3({ hosts: endpoint, credentials, dialTimeout: STATUS_DEADLINE_MS, defaultCallOptions: { deadline: Date.now() + STATUS_DEADLINE_MS } });
    try {
      const s = await c.maintenance.status({ deadline: Date.now() + STATUS_DEADLINE_MS });
      const id = s.header.member_id;
      try {
        const ml = await c.cluster.memberList({}, { deadline: Date.now() + STATUS_DEADLINE_MS });
        for (const m of ml.members) names.set(m.ID, m.name);
      } catch { /* names are optional */ }
      const hasLeader = s.leader !== '0' && s.leader !== '';
      return {
        endpoint, id, healthy: hasLeader, leader: hasLeader && s.leader === id, version: s.version,
        revision: Number(s.header.revision), raftIndex: Number(s.raftIndex), ...(hasLeader ? {} : { error: 'no leader' }),
      };
    } catch (e) {
      return { endpoint, healthy: false, leader: false, error: ((e as Error).message ?? String(e)).split('\n')[0]!.replace(/^\w*Error: /, '') };
    } finally {
      c.close();
    }
  }));
  for (const s of out) if (s.id && names.has(s.id)) s.name = names.get(s.id);
  return out;
}

/** A base port with `count` free consecutive ports on loopback (for tests and `svcplane up`). */
export async function freePortBase(count: number, from = 20_000, to = 60_000): Promise<number> {
  for (let attempt = 0; attempt < 50; attempt++) {
    const base = from + Math.floor(Math.random() * (to - from - count));
    let ok = true;
    for (let p = base; p < base + count && ok; p++) ok = await portFree(p);
    if (ok) return base;
  }
  throw new Error(`no ${count} free consecutive ports between ${from} and ${to}`);
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = createServer();
    s.once('error', () => resolve(false));
    s.listen(port, HOST, () => s.close(() => resolve(true)));
  });
}
