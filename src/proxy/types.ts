/**
 * @module proxy/types
 * The backend-neutral model of what a node must program, as kube-proxy's ServicePort and
 * Endpoint: one ServicePort per (Service, port), with the endpoints that traffic may use.
 */
export type Protocol = 'tcp' | 'udp' | 'sctp';

export interface ProxyEndpoint {
  ip: string;
  port: number;
  nodeName?: string;
  ready: boolean;
  serving: boolean;
  terminating: boolean;
}

export interface ServicePort {
  /** namespace/name:portName/protocol — unique and stable. */
  key: string;
  namespace: string;
  name: string;
  portName: string;
  protocol: Protocol;
  port: number;
  clusterIP?: string;
  nodePort?: number;
  externalIPs: string[];
  loadBalancerIPs: string[];
  /** ClientIP affinity timeout in seconds, when sessionAffinity is ClientIP. */
  affinityTimeout?: number;
  externalLocal: boolean;
  internalLocal: boolean;
  healthCheckNodePort?: number;
  /** Per-service scheduler override (annotation svcplane.io/scheduler). */
  scheduler?: string;
  endpoints: ProxyEndpoint[];
}

export interface Provider {
  /** Program the desired state; resolves once the kernel has it. */
  sync(ports: ServicePort[]): Promise<SyncStats>;
  cleanup(): Promise<void>;
}

export interface SyncStats { full: boolean; chainsWritten: number; elements: number; durationMs: number }
