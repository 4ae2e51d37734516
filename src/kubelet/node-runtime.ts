/**
 * @module kubelet/node-runtime
 * What runs a node's pods: containerd through the CRI (CriRuntime), or host processes in their
 * own namespaces (PodRuntime, for machines without containerd and for fast unit tests).
 */
import type { CriRuntime } from './cri-runtime.js';
import type { PodRuntime } from './runtime.js';

export type NodeRuntime = PodRuntime | CriRuntime;
