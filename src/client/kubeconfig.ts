/**
 * @module client/kubeconfig
 * Reads a kubeconfig (the current context, or a named one) into a ClientConfig, including
 * svcplane's unix-socket extension (cluster extension "svcplane.io/socket").
 */
import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { ClientConfig } from './types.js';

/**
 * yaml is loaded on first use: in-cluster clients (the kube-dns pods) never read a kubeconfig, and
 * loading it costs a process 4–5 MB resident.
 */
const requireLazily = createRequire(import.meta.url);
function parse(text: string): any {
  return (requireLazily('yaml') as typeof import('yaml')).parse(text);
}

export const SOCKET_EXTENSION = 'svcplane.io/socket';

interface NamedExt { name: string; extension: unknown }

function b64(s: string | undefined): string | undefined {
  return s ? Buffer.from(s, 'base64').toString('utf8') : undefined;
}

function fileOrData(file: string | undefined, data: string | undefined): string | undefined {
  if (data) return b64(data);
  if (file) return readFileSync(file, 'utf8');
  return undefined;
}

/** Path of the kubeconfig kubectl would use: $KUBECONFIG (first entry) or ~/.kube/config. */
export function defaultKubeconfigPath(): string {
  const env = process.env.KUBECONFIG?.split(':').filter(Boolean)[0];
  return env ?? join(homedir(), '.kube', 'config');
}

export function loadKubeconfig(path = defaultKubeconfigPath(), context?: string): ClientConfig {
  let doc: any;
  try {
    doc = parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`cannot read kubeconfig ${path}: ${(e as Error).message}`);
  }
  const ctxName = context ?? doc['current-context'];
  const ctx = (doc.contexts ?? []).find((c: any) => c.name === ctxName)?.context;
  if (!ctx) throw new Error(`kubeconfig ${path}: context "${ctxName}" not found`);
  const cluster = (doc.clusters ?? []).find((c: any) => c.name === ctx.cluster)?.cluster;
  if (!cluster) throw new Error(`kubeconfig ${path}: cluster "${ctx.cluster}" not found`);
  const user = (doc.users ?? []).find((u: any) => u.name === ctx.user)?.user ?? {};
  const ext = (cluster.extensions as NamedExt[] | undefined)?.find((e) => e.name === SOCKET_EXTENSION)?.extension as any;
  const socketPath: string | undefined = typeof ext === 'string' ? ext : ext?.path;
  return {
    server: cluster.server,
    ca: fileOrData(cluster['certificate-authority'], cluster['certificate-authority-data']),
    insecureSkipTLSVerify: cluster['insecure-skip-tls-verify'] === true,
    token: user.token ?? (user.tokenFile ? readFileSync(user.tokenFile, 'utf8').trim() : undefined),
    cert: fileOrData(user['client-certificate'], user['client-certificate-data']),
    key: fileOrData(user['client-key'], user['client-key-data']),
    socketPath,
  };
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * In-cluster configuration. With SVCPLANE_APISERVER_SOCKET (the API server's unix socket, for
 * svcplane's own components) that socket; otherwise as client-go's rest.InClusterConfig:
 * https://KUBERNETES_SERVICE_HOST:KUBERNETES_SERVICE_PORT with the service account files the
 * kubelet projects into the pod (`dir`), the token re-read from its file as the kubelet renews it.
 */
export function inClusterConfig(dir = SA_DIR): ClientConfig {
  const sock = process.env.SVCPLANE_APISERVER_SOCKET;
  if (sock) return { server: 'http://localhost', socketPath: sock };
  const host = process.env.KUBERNETES_SERVICE_HOST;
  const port = process.env.KUBERNETES_SERVICE_PORT ?? '443';
  if (!host) throw new Error('not running in a cluster: KUBERNETES_SERVICE_HOST and SVCPLANE_APISERVER_SOCKET are unset; pass --kubeconfig');
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    ca: readFileSync(join(dir, 'ca.crt'), 'utf8'),
    token: readFileSync(join(dir, 'token'), 'utf8').trim(),
    tokenFile: join(dir, 'token'),
  };
}
