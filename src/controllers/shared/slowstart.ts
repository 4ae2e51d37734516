/**
 * @module controllers/shared/slowstart
 * Bounded bulk work as kube-controller-manager does it (pkg/controller/replicaset: slowStartBatch,
 * BurstReplicas; pkg/controller/controller_utils.go: SlowStartInitialBatchSize). A controller asked
 * for many pods creates at most BURST_REPLICAS in one sync, in batches of 1, 2, 4, … run
 * concurrently; the first batch with a failure ends the sync, so a template the API rejects (quota,
 * admission, a terminating namespace) costs one request, not thousands, and the rest waits for the
 * next sync.
 */

/** Upstream's --concurrent-*-syncs independent cap on creations/deletions per sync. */
export const BURST_REPLICAS = 500;
/** controller.SlowStartInitialBatchSize */
export const SLOW_START_INITIAL_BATCH_SIZE = 1;

export interface SlowStartResult { successes: number; error?: unknown }

/**
 * Call fn `count` times in doubling batches (initialBatchSize, 2×, 4×, … capped by what is left);
 * within a batch the calls run concurrently. After a batch with any failure no further batch
 * starts. Returns how many calls succeeded and the first error.
 */
export async function slowStartBatch(count: number, initialBatchSize: number, fn: () => Promise<void>): Promise<SlowStartResult> {
  let remaining = count;
  let successes = 0;
  for (let size = Math.min(remaining, initialBatchSize); size > 0; size = Math.min(2 * size, remaining)) {
    const results = await Promise.allSettled(Array.from({ length: size }, () => fn()));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    successes += size - failed.length;
    if (failed.length) return { successes, error: failed[0]!.reason };
    remaining -= size;
  }
  return { successes };
}

/** Did the API refuse because the namespace is being deleted (StatusCause NamespaceTerminating)? */
export function isNamespaceTerminating(e: unknown): boolean {
  const causes = (e as { status?: { details?: { causes?: { reason?: string }[] } } })?.status?.details?.causes;
  return !!causes?.some((c) => c.reason === 'NamespaceTerminating');
}
