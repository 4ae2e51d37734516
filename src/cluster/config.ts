/**
 * @module cluster/config
 * A cluster's settings, fixed at the first `svcplane up` and saved as <data dir>/cluster.json so
 * that `up` resumes, and `down`, `status`, `exec`, `logs` find everything by name.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
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
}

/** Absolute: components, `down` and the process search all name it the same way. */
export function dataDirFor(name: string, dataDir?: string): string {
  return resolve(dataDir ?? join(DEFAULT_DATA_ROOT, name));
}

export function configPath(dataDir: string): string {
  return join(dataDir, 'cluster.json');
}

export function loadConfig(name: string, dataDir?: string): ClusterConfig | undefined {
  const p = configPath(dataDirFor(name, dataDir));
  if (!existsSync(p)) return undefined;
  return JSON.parse(readFileSync(p, 'utf8')) as ClusterConfig;
}

export function requireConfig(name: string, dataDir?: string): ClusterConfig {
  const c = loadConfig(name, dataDir);
  if (!c) throw new Error(`cluster "${name}" not found (no ${configPath(dataDirFor(name, dataDir))}); create it with: svcplane up --name ${name}`);
  return c;
}

export function saveConfig(c: ClusterConfig): void {
  mkdirSync(c.dataDir, { recursive: true });
  writeFileSync(configPath(c.dataDir), JSON.stringify(c, null, 2) + '\n');
}

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
