/**
 * @module kubelet/metrics
 * Prometheus metrics of the node agent (kubelet_* names where the kubelet has one).
 */
import client from 'prom-client';

const registry = new client.Registry();

export const metrics = {
  runningPods: new client.Gauge({ name: 'kubelet_running_pods', help: 'Number of pods that have a running pod sandbox', registers: [registry] }),
  runningContainers: new client.Gauge({ name: 'kubelet_running_containers', help: 'Number of containers currently running', registers: [registry] }),
  podStartDuration: new client.Histogram({ name: 'kubelet_pod_start_duration_seconds', help: 'Duration in seconds from the node agent seeing a pod to its sandbox and first start', buckets: [0.1, 0.25, 0.5, 1, 2, 5, 10, 30], registers: [registry] }),
  syncs: new client.Counter({ name: 'kubelet_pod_worker_syncs_total', help: 'Pod syncs', labelNames: ['result'], registers: [registry] }),
  execs: new client.Counter({ name: 'kubelet_exec_sessions_total', help: 'exec sessions served', registers: [registry] }),
};

export function metricsText(): Promise<string> {
  return registry.metrics();
}
