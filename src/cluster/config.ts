/**
 * @module cluster/config
 * A cluster's settings, fixed at the first `svcplane up` and saved as <data dir>/cluster.json so
 * that `up` resumes, and `down`, `status`, `exec`, `logs` find everything by name.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { topologySpec, type TopologySpec } from '../net/topology.js';

export const DEFAULT_CLUSTER = 'svcplane';
export const DEFAULT_DATA_ROOT = process.env.SVCPLANE_HOME ?? '/var/lib/svcplane';
export const PROXY_MODES = ['nftables', 'iptables', 'userspace', 'ipvs'] as const;
export type ProxyMode = (typeof PROXY_MODES)[number];

export interface ClusterConfig {
  name: string;
  dataDir: string;
  workers: number;
  proxyMode: ProxyMode;
  scheduler: string;
  store: 'sqlite' | 'etcd' | 'memory';
  /** An existing etcd cluster's client URLs (with --store etcd); unset = a local 3-member cluster. */
  etcdServers?: string[];
  /** PEM files for an etcd cluster served over https. */
  etcdTls?: { ca?: string; cert?: string; key?: string };
  /** Local etcd: member i listens on client port etcdBasePort+2i, peer port etcdBasePort+2i+1. */
  etcdBasePort?: number;
  /** HTTPS port clients use (the API server's, or the load balancer's in front of several). */
  apiserverPort: number;
  /** Number of API servers (HA, with --store etcd). */
  apiservers: number;
  lbPool: string;
  createdAt: string;
  /** What runs pods: containerd (+ runc) per node through the CRI, or host processes. */
  runtime?: 'containerd' | 'process';
}

/** Absolute: components, `down` and the process search all name it the same way. */
export function dataDirFor(name: string, dataDir?: string): string {
  return resolve(dataDir ?? join(DEFAULT_DATA_ROOT, name));
}

export function configPath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

/** A user other than root reading a cluster: its data dir is root's alone (0700). */
export class NeedsRootError extends Error {
  constructor(readonly what: string, readonly path: string) { super(`${what} needs root: ${path} is readable by root only (run it with sudo)`); }
}

export function needsRoot(what: string, path: string): NeedsRootError {
  return new NeedsRootError(what, path);
}

export function loadConfig(name: string, dataDir?: string): ClusterConfig | undefined {
  const p = configPath(dataDirFor(name, dataDir));
  try {
    return JSON.parse(readFileSync(p, 'utf8')) as ClusterConfig;
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') return undefined;
    if (code === 'EACCES' || code === 'EPERM') throw needsRoot(`reading cluster "${name}"`, dirname(p));
    throw e;
  }
}

export function requireConfig(name: string, dataDir?: string): ClusterConfig {
  const c = loadConfig(name, dataDir);
  if (!c) throw new Error(`cluster "${name}" not found (no ${configPath(dataDirFor(name, dataDir))}); create it with: svcplane up --name ${name}`);
  return c;
}

/**
 * The data dir holds the store (Secrets), the CA key and the admin token: 0700 and ours, as etcd
 * keeps its own; the root above the clusters' dirs is not writable by other users (else one could
 * swap a cluster's dir for their own). An existing data dir owned by someone else is refused.
 */
export function ensureDataDir(dataDir: string): void {
  const root = resolve(DEFAULT_DATA_ROOT);
  if (dirname(dataDir) === root) {
    mkdirSync(root, { recursive: true, mode: 0o755 });
    const m = statSync(root).mode & 0o777;
    if (m & 0o022) chmodSync(root, m & ~0o022);
  }
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const st = statSync(dataDir);
  const uid = process.getuid?.();
  if (uid !== undefined && st.uid !== uid) throw new Error(`${dataDir} belongs to uid ${st.uid}, not to this user (uid ${uid}): a cluster's data dir must be its owner's alone`);
  if ((st.mode & 0o777) !== 0o700) chmodSync(dataDir, 0o700);
}

export function saveConfig(c: ClusterConfig): void {
  ensureDataDir(c.dataDir);
  writeFileSync(configPath(c.dataDir), JSON.stringify(c, null, 2) + '\n', { mode: 0o600 });
  recordDataDir(c.dataDir);
}

/**
 * Data dirs outside the default root, one per line, so `svcplane list` finds every cluster on
 * the machine (the ones under the root are found by listing it).
 */
function dataDirRegistry(): string { return join(resolve(DEFAULT_DATA_ROOT), 'data-dirs'); }

export function recordedDataDirs(): string[] {
  try { return readFileSync(dataDirRegistry(), 'utf8').split('\n').filter((l) => l.startsWith('/')); } catch { return []; }
}

function recordDataDir(dataDir: string): void {
  if (dirname(dataDir) === resolve(DEFAULT_DATA_ROOT)) return;
  const known = recordedDataDirs();
  if (known.includes(dataDir)) return;
  try {
    mkdirSync(resolve(DEFAULT_DATA_ROOT), { recursive: true, mode: 0o755 });
    writeFileSync(dataDirRegistry(), [...known.filter((d) => existsSync(configPath(d))), dataDir].join('\n') + '\n', { mode: 0o600 });
  } catch { /* the list is a convenience: a read-only root leaves the cluster usable */ }
}

export function forgetDataDir(dataDir: string): void {
  const known = recordedDataDirs();
  if (!known.includes(dataDir)) return;
  try { writeFileSync(dataDirRegistry(), known.filter((d) => d !== dataDir).map((d) => d + '\n').join(''), { mode: 0o600 }); } catch { /* see recordDataDir */ }
}

/** Every cluster on the machine: the dirs under the default root and the recorded ones. */
export function allDataDirs(): string[] {
  const root = resolve(DEFAULT_DATA_ROOT);
  let under: string[] = [];
  try { under = readdirSync(root, { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => join(root, e.name)); } catch { /* none yet */ }
  return [...new Set([...under, ...recordedDataDirs()])];
}

/** The data dir's cluster.json, by path (its name is inside). */
export function loadConfigAt(dataDir: string): ClusterConfig | undefined {
  try { return JSON.parse(readFileSync(configPath(dataDir), 'utf8')) as ClusterConfig; } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EACCES' || code === 'EPERM') throw needsRoot('svcplane list', dataDir);
    return undefined;
  }
}

/** A count flag (--workers, --apiservers): a whole number within [min, max], or a one-line error. */
export function parseCount(flag: string, v: string, min: number, max: number): number {
  if (!/^\d{1,4}$/.test(v.trim()) || Number(v) < min || Number(v) > max) throw new Error(`${flag} ${JSON.stringify(v)}: must be a whole number from ${min} to ${max}`);
  return Number(v);
}

export const MAX_WORKERS = 50;

export function specOf(c: ClusterConfig): TopologySpec {
  return topologySpec(c.name, c.workers);
}

/** Members of the local etcd cluster `svcplane up --store etcd` runs. */
export const LOCAL_ETCD_MEMBERS = 3;
export const LOCAL_ETCD_NAME = 'etcd';

/** The etcd client URLs a cluster's API servers use (local members unless --etcd-servers). */
export function etcdEndpoints(c: ClusterConfig): string[] {
  if (c.etcdServers?.length) return c.etcdServers;
  if (!c.etcdBasePort) return [];
  return Array.from({ length: LOCAL_ETCD_MEMBERS }, (_, i) => `http://127.0.0.1:${c.etcdBasePort! + 2 * i}`);
}

/** Does `up` run the etcd members itself? */
export function runsLocalEtcd(c: ClusterConfig): boolean {
  return c.store === 'etcd' && !c.etcdServers?.length;
}

/** Paths inside a cluster's data dir, in one place. */
export function paths(dataDir: string) {
  return {
    logs: join(dataDir, 'logs'),
    log: (component: string) => join(dataDir, 'logs', `${component}.log`),
    supervisorPid: join(dataDir, 'supervisor.pid'),
    supervisorState: join(dataDir, 'supervisor-state.json'),
    kubeconfig: join(dataDir, 'kubeconfig'),
    kubeconfigLocal: join(dataDir, 'kubeconfig-local'),
    /** The socket local components use: the API server's own, or the load balancer's with several. */
    apiserverSocket: join(dataDir, 'apiserver.sock'),
    /** HTTPS with the port's authentication, for the in-cluster relay: the API server's own, or the load balancer's with several. */
    apiserverSecureSocket: join(dataDir, 'apiserver-secure.sock'),
    /** API server i's own socket when several run behind the load balancer. */
    apiserverInstanceSocket: (i: number) => join(dataDir, `apiserver-${i}.sock`),
    kubeletSocket: (node: string) => join(dataDir, 'kubelet', `${node}.sock`),
    pki: join(dataDir, 'pki'),
    db: join(dataDir, 'state.db'),
    etcd: join(dataDir, 'etcd'),
  };
}

/** Validate a cluster name: it becomes part of namespace and node names. */
export function validateClusterName(name: string): void {
  if (!/^[a-z]([-a-z0-9]{0,18}[a-z0-9])?$/.test(name)) {
    throw new Error(`invalid cluster name "${name}": use 1-20 lower case letters, digits or '-', starting with a letter`);
  }
}
