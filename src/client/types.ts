/**
 * @module client/types
 * The contract of svcplane's Kubernetes client: REST verbs, watch, informers, work queues.
 * Controllers, the node agent, the proxy and DNS depend on this, never on the server.
 */
import type { KubeObject, KubeList, WatchEvent } from '../api/types.js';
import type { ResourceInfo } from '../api/registry.js';

export interface ClientConfig {
  /** https://127.0.0.1:6443, or http://unix for socketPath */
  server: string;
  /** PEM CA bundle to trust. */
  ca?: string;
  token?: string;
  /** Re-read the token from this file at most once a minute (as client-go does with a projected token the kubelet renews). */
  tokenFile?: string;
  cert?: string;
  key?: string;
  /** Talk HTTP over this unix socket instead (components inside node namespaces). */
  socketPath?: string;
  insecureSkipTLSVerify?: boolean;
  /** Extra servers to fail over to (HA API servers). */
  fallbackServers?: string[];
  userAgent?: string;
}

export interface ListOpts {
  labelSelector?: string;
  fieldSelector?: string;
  limit?: number;
  continue?: string;
  resourceVersion?: string;
}

export interface WatchOpts extends ListOpts {
  allowWatchBookmarks?: boolean;
  timeoutSeconds?: number;
}

export type PatchType = 'strategic' | 'merge' | 'json' | 'apply';

export interface DeleteOpts {
  propagationPolicy?: 'Orphan' | 'Background' | 'Foreground';
  gracePeriodSeconds?: number;
  preconditions?: { uid?: string; resourceVersion?: string };
}

/** Error from the API server, carrying its metav1.Status. */
export class ApiError extends Error {
  constructor(readonly code: number, readonly reason: string, message: string, readonly status?: unknown) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface WatchHandle {
  stop(): void;
  /** Resolves when the stream ends (server closed, error, or stop()). */
  done: Promise<void>;
}

export interface EventHandlers<T> {
  add?(obj: T): void;
  update?(oldObj: T, newObj: T): void;
  delete?(obj: T): void;
}

export type { KubeObject, KubeList, WatchEvent, ResourceInfo };
