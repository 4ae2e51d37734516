/**
 * @module kubelet/node
 * The Node object this agent registers and keeps fresh, and its Lease in kube-node-lease.
 */
import { readFileSync } from 'node:fs';
import os from 'node:os';
import type { Node, NodeCondition } from '../api/types.js';

export const KUBELET_VERSION = 'v1.32.5';
export const CONTAINER_RUNTIME_VERSION = 'svcplane://0.1.0';
export const SOCKET_ANNOTATION = 'svcplane.io/kubelet-socket';
export const LEASE_NAMESPACE = 'kube-node-lease';
export const LEASE_DURATION_S = 40;
export const LEASE_RENEW_MS = 10_000;
/** The kubelet's --max-pods default: status.capacity/allocatable.pods, and its admission limit. */
export const MAX_PODS = 110;

export interface NodeIdentity {
  nodeName: string;
  nodeIP: string;
  podCIDR: string;
  socket?: string;
  /** --max-pods (default 110). */
  maxPods?: number;
}

function osImage(): string {
  try {
    return /^PRETTY_NAME="?([^"\n]*)"?/m.exec(readFileSync('/etc/os-release', 'utf8'))?.[1] ?? 'Linux';
  } catch {
    return 'Linux';
  }
}

export const microTime = () => new Date().toISOString().replace(/Z$/, '000Z');
const now = () => new Date().toISOString().replace(/\.\d+Z$/, 'Z');

export function nodeConditions(prev: NodeCondition[] | undefined, ready: boolean): NodeCondition[] {
  const t = now();
  const old = new Map((prev ?? []).map((c) => [c.type, c]));
  const c = (type: string, status: string, reason: string, message: string): NodeCondition => ({
    type, status, reason, message, lastHeartbeatTime: t,
    lastTransitionTime: old.get(type)?.status === status ? old.get(type)!.lastTransitionTime : t,
  });
  return [
    c('MemoryPressure', 'False', 'KubeletHasSufficientMemory', 'kubelet has sufficient memory available'),
    c('DiskPressure', 'False', 'KubeletHasNoDiskPressure', 'kubelet has no disk pressure'),
    c('PIDPressure', 'False', 'KubeletHasSufficientPID', 'kubelet has sufficient PID available'),
    c('Ready', ready ? 'True' : 'False', ready ? 'KubeletReady' : 'KubeletNotReady', ready ? 'kubelet is posting ready status' : 'container runtime is starting'),
  ];
}

export function nodeObject(id: NodeIdentity, prev?: Node): Node {
  const memKi = `${Math.floor(os.totalmem() / 1024)}Ki`;
  const labels: Record<string, string> = {
    'beta.kubernetes.io/arch': 'amd64', 'beta.kubernetes.io/os': 'linux',
    'kubernetes.io/arch': process.arch === 'x64' ? 'amd64' : process.arch, 'kubernetes.io/hostname': id.nodeName, 'kubernetes.io/os': 'linux',
    ...(id.nodeName.endsWith('-control-plane') ? { 'node-role.kubernetes.io/control-plane': '' } : {}),
  };
  const resources = { cpu: String(os.cpus().length), memory: memKi, pods: String(id.maxPods ?? MAX_PODS), 'ephemeral-storage': '10Gi' };
  return {
    apiVersion: 'v1', kind: 'Node',
    metadata: {
      ...(prev?.metadata ?? {}),
      name: id.nodeName,
      labels: { ...(prev?.metadata?.labels ?? {}), ...labels },
      annotations: { ...(prev?.metadata?.annotations ?? {}), ...(id.socket ? { [SOCKET_ANNOTATION]: id.socket } : {}), 'node.alpha.kubernetes.io/ttl': '0' },
    },
    spec: { ...(prev?.spec ?? {}), podCIDR: id.podCIDR, podCIDRs: [id.podCIDR], providerID: `svcplane://${id.nodeName}` },
    status: nodeStatus(id, prev?.status?.conditions, true, resources),
  };
}

export function nodeStatus(id: NodeIdentity, prev: NodeCondition[] | undefined, ready: boolean, resources?: Record<string, string>): Node['status'] {
  const res = resources ?? { cpu: String(os.cpus().length), memory: `${Math.floor(os.totalmem() / 1024)}Ki`, pods: String(id.maxPods ?? MAX_PODS), 'ephemeral-storage': '10Gi' };
  return {
    capacity: res,
    allocatable: res,
    conditions: nodeConditions(prev, ready),
    addresses: [{ type: 'InternalIP', address: id.nodeIP }, { type: 'Hostname', address: id.nodeName }],
    daemonEndpoints: { kubeletEndpoint: { Port: 10250 } },
    nodeInfo: {
      machineID: id.nodeName, systemUUID: id.nodeName, bootID: '',
      kernelVersion: os.release(), osImage: osImage(), containerRuntimeVersion: CONTAINER_RUNTIME_VERSION,
      kubeletVersion: KUBELET_VERSION, kubeProxyVersion: KUBELET_VERSION, operatingSystem: 'linux', architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    },
  };
}
