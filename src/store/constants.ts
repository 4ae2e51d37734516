/** @module store/constants — names shared by the backends and the migration tools. */

/** Where the etcd store records the compacted revision (kube-apiserver's key name). */
export const COMPACT_KEY = 'compact_rev_key';
