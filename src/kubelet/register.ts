/**
 * @module kubelet/register
 * Node registration, the first thing a node agent does: create the Node (or bring an existing one
 * up to date) and post its conditions. It needs only the API client and the Node object, so the
 * agent's CLI runs it before loading the pod runtime, the socket server and the informers: a
 * cluster's nodes turn Ready as soon as the API answers, not after every agent's slow set-up.
 */
import type { Node } from '../api/types.js';
import { res } from '../api/registry.js';
import type { Client } from '../client/rest.js';
import { ApiError } from '../client/types.js';
import { nodeObject, nodeStatus, type NodeIdentity } from './node.js';

/** Retry quickly while the API server is starting (it usually answers within a few seconds)… */
const FAST_RETRY_MS = 100;
const FAST_RETRY_FOR_MS = 15_000;
/** …then back off. */
const SLOW_RETRY_MS = 2000;

/** Create or update the Node and post Ready. One attempt; throws what the API answered. */
export async function registerOnce(client: Client, id: NodeIdentity): Promise<void> {
  const nodes = res('nodes');
  try {
    const existing = await client.get<Node>(nodes, undefined, id.nodeName);
    const want = nodeObject(id, existing);
    await client.update<Node>(nodes, undefined, { ...want, status: existing.status } as Node & { metadata: object });
    await client.patch(nodes, undefined, id.nodeName, { status: nodeStatus(id, existing.status?.conditions, true) }, 'merge', 'status');
  } catch (e) {
    if (!(e instanceof ApiError) || e.code !== 404) throw e;
    const created = await client.create<Node>(nodes, undefined, nodeObject(id));
    await client.patch(nodes, undefined, id.nodeName, { status: nodeObject(id, created).status }, 'merge', 'status').catch(() => undefined);
  }
}

/** Register, retrying until the API server takes it. */
export async function registerNode(client: Client, id: NodeIdentity, log: (msg: string, f?: Record<string, unknown>) => void): Promise<void> {
  const t0 = Date.now();
  for (let i = 0; ; i++) {
    try { await registerOnce(client, id); return; } catch (e) {
      if (i % 20 === 0) log('registering node failed, retrying', { err: (e as Error).message });
      await new Promise((r) => setTimeout(r, Date.now() - t0 < FAST_RETRY_FOR_MS ? FAST_RETRY_MS : SLOW_RETRY_MS));
    }
  }
}
