/**
 * @module proxy/types
 * The backend-neutral model of what a node must program, as kube-proxy's ServicePort and
 * Endpoint: one ServicePort per (Service, port), with the endpoints that traffic may use, and
 * the Provider interface every backend (nftables, iptables, userspace) implements.
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
  /** Per-endpoint weights for weighted schedulers (annotation svcplane.io/weights, "ip=w,…"). */
  weights?: Record<string, number>;
  endpoints: ProxyEndpoint[];
}

/** What changed since the last sync: service-port keys added, changed or removed. */
export interface SyncRequest {
  /** The whole desired state, sorted by key. */
  ports: ServicePort[];
  /** Keys whose state differs from the previous sync; undefined means "everything" (full sync). */
  changed?: Set<string>;
}

export interface SyncStats {
  full: boolean;
  /** Chains (or userspace listeners) written by this sync. */
  chainsWritten: number;
  /** Map/set elements (nft) or rules (iptables) currently programmed. */
  elements: number;
  durationMs: number;
}

/** Per service port / endpoint traffic counters, as the backend can see them. */
export interface TrafficCounters {
  /** service-port key → new connections (first packets) and bytes towards the service. */
  services: Map<string, { connections: number; bytes: number }>;
  /** "ip:port/proto" → connections and bytes towards that endpoint. */
  endpoints: Map<string, { connections: number; bytes: number }>;
}

export interface Provider {
  readonly mode: string;
  /** Program the desired state; resolves once the kernel (or the listener set) has it. */
  sync(req: SyncRequest): Promise<SyncStats>;
  /** Counters for /metrics. */
  counters(): Promise<TrafficCounters>;
  /** Remove everything this backend programmed (mode switch, --cleanup, stop). */
  cleanup(): Promise<void>;
  /** Stop helper processes, leaving what was programmed in place (proxy stop without cleanup). */
  close?(): void;
}

export interface BackendOptions {
  nodeName: string;
  nodeIP: string;
  clusterCIDR: string;
  /** random (default) or rr for nft; any IPVS scheduler name for userspace. */
  scheduler: string;
  /** Addresses NodePorts answer on, as CIDRs (kube-proxy's --nodeport-addresses); empty = every local address. */
  nodePortAddresses: string[];
  /**
   * Per-endpoint kernel counters (nftables: connections on every endpoint map element, bytes in
   * a set matched on every forwarded packet). Default on; at ~100k endpoints they make syncs
   * and scrapes markedly slower (bench/results/proxy.md), so they can be turned off
   * (per-Service connection counters stay).
   */
  endpointCounters?: boolean;
  /** Run system commands inside this namespace (tests); undefined = the current one. */
  netns?: string;
}

export function endpointKey(e: { ip: string; port: number }, proto: Protocol): string {
  return `${e.ip}:${e.port}/${proto}`;
}
