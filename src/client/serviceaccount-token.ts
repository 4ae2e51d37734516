/**
 * @module client/serviceaccount-token
 * What the kubelet does for a pod's `kube-api-access` projected volume: a token bound to the pod
 * from the TokenRequest API, and the three files a container finds at
 * /var/run/secrets/kubernetes.io/serviceaccount (token, ca.crt, namespace), which
 * inClusterConfig() reads back inside the pod.
 */
import { chmodSync, mkdirSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { res } from '../api/registry.js';
import type { Pod } from '../api/types.js';
import type { Client } from './rest.js';

/** Where containers find the files (client-go's rest.InClusterConfig reads them there). */
export const SERVICE_ACCOUNT_MOUNT = '/var/run/secrets/kubernetes.io/serviceaccount';

/**
 * What the kubelet asks for a projected token: 3607 s, upstream's WarnOnlyBoundTokenExpirationSeconds,
 * which the API server extends to a year (warning after the hour) for pod-bound tokens.
 */
export const POD_TOKEN_EXPIRATION_SECONDS = 3607;

export interface PodToken { token: string; expirationTimestamp: string }

interface TokenRequest { status?: { token?: string; expirationTimestamp?: string } }

/**
 * A token of the pod's ServiceAccount bound to the pod (by name and uid): it stops
 * authenticating once the pod is deleted. The API server's audiences (the default).
 */
export async function requestPodToken(client: Client, pod: Pod, expirationSeconds = POD_TOKEN_EXPIRATION_SECONDS, audiences?: string[]): Promise<PodToken> {
  const ns = pod.metadata?.namespace ?? 'default';
  const sa = pod.spec?.serviceAccountName || 'default';
  const tr = await client.create<TokenRequest>(res('serviceaccounts'), ns, {
    apiVersion: 'authentication.k8s.io/v1', kind: 'TokenRequest',
    spec: { expirationSeconds, ...(audiences ? { audiences } : {}), boundObjectRef: { kind: 'Pod', apiVersion: 'v1', name: pod.metadata?.name, uid: pod.metadata?.uid } },
  }, { subresource: 'token', name: sa });
  const token = tr.status?.token;
  const expirationTimestamp = tr.status?.expirationTimestamp;
  if (!token || !expirationTimestamp) throw new Error(`TokenRequest for serviceaccount ${ns}/${sa} (pod ${pod.metadata?.name}) returned no token`);
  return { token, expirationTimestamp };
}

/**
 * When the kubelet's token manager renews a token: past 80% of its lifetime or older than 24 h
 * (pkg/kubelet/token/token_manager.go requiresRefresh). `issuedAt` and the result are ms since
 * the epoch.
 */
export function tokenRefreshAt(issuedAt: number, expirationTimestamp: string): number {
  const exp = Date.parse(expirationTimestamp);
  return Math.min(issuedAt + 0.8 * (exp - issuedAt), issuedAt + 24 * 3600_000);
}

/**
 * Write (or rewrite) the projected volume's files into `dir`: `token`, `ca.crt`, `namespace`,
 * 0644 in a 0755 directory, as a container on Kubernetes sees them. Each file is replaced by a
 * rename, so a reader (the bind mount shows the directory, not the files) never sees half a token.
 */
export function writeServiceAccountFiles(dir: string, files: { token: string; ca: string; namespace: string }): void {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  for (const [name, text] of [['ca.crt', files.ca], ['namespace', files.namespace], ['token', files.token]] as const) {
    const tmp = join(dir, `.${name}.tmp`);
    writeFileSync(tmp, text, { mode: 0o644 });
    chmodSync(tmp, 0o644); // the umask may have taken bits away
    renameSync(tmp, join(dir, name));
  }
}
