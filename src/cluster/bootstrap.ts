/**
 * @module cluster/bootstrap
 * Cluster add-ons created once the API server answers, like kubeadm's: the kube-dns Deployment
 * (image coredns, which svcplane runs as its own DNS server) and Service kube-dns at 10.96.0.10.
 * Existing objects are left as they are, so a resumed cluster keeps user changes.
 */
import type { KubeObject } from '../api/types.js';
import { res, resourceForKind } from '../api/registry.js';
import { Client } from '../client/rest.js';
import { ApiError } from '../client/types.js';
import { paths, type ClusterConfig } from './config.js';
import { OUTSIDE_DNS } from './components.js';

export const KUBE_DNS_IP = '10.96.0.10';
export const COREDNS_IMAGE = 'registry.k8s.io/coredns/coredns:v1.11.3';

export function addonManifests(): KubeObject[] {
  const labels = { 'k8s-app': 'kube-dns' };
  return [
    {
      apiVersion: 'apps/v1', kind: 'Deployment',
      metadata: { name: 'coredns', namespace: 'kube-system', labels },
      spec: {
        replicas: 2,
        selector: { matchLabels: labels },
        strategy: { type: 'RollingUpdate', rollingUpdate: { maxUnavailable: 1, maxSurge: '25%' } },
        template: {
          metadata: { labels },
          spec: {
            dnsPolicy: 'Default',
            priorityClassName: 'system-cluster-critical',
            tolerations: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }],
            containers: [{
              name: 'coredns', image: COREDNS_IMAGE,
              args: ['--listen', '0.0.0.0:53', '--upstream', OUTSIDE_DNS, '--zone', 'cluster.local'],
              ports: [
                { name: 'dns', containerPort: 53, protocol: 'UDP' },
                { name: 'dns-tcp', containerPort: 53, protocol: 'TCP' },
                { name: 'metrics', containerPort: 9153, protocol: 'TCP' },
              ],
              readinessProbe: { httpGet: { path: '/ready', port: 8181 }, periodSeconds: 1 },
              livenessProbe: { httpGet: { path: '/health', port: 8080 }, initialDelaySeconds: 10, periodSeconds: 10, failureThreshold: 5 },
            }],
          },
        },
      },
    },
    {
      apiVersion: 'v1', kind: 'Service',
      metadata: { name: 'kube-dns', namespace: 'kube-system', labels: { ...labels, 'kubernetes.io/name': 'CoreDNS' } },
      spec: {
        selector: labels, clusterIP: KUBE_DNS_IP,
        ports: [
          { name: 'dns', port: 53, protocol: 'UDP', targetPort: 53 },
          { name: 'dns-tcp', port: 53, protocol: 'TCP', targetPort: 53 },
          { name: 'metrics', port: 9153, protocol: 'TCP', targetPort: 9153 },
        ],
      },
    },
  ];
}

/** Create what is missing; never overwrite. */
export async function ensureObjects(client: Client, objs: KubeObject[]): Promise<void> {
  for (const o of objs) {
    const info = resourceForKind(o.apiVersion!, o.kind!);
    if (!info) throw new Error(`unknown kind ${o.apiVersion}/${o.kind}`);
    try {
      await client.create(info, o.metadata?.namespace, o);
    } catch (e) {
      if (!(e instanceof ApiError && e.code === 409)) throw e;
    }
  }
}

export async function bootstrapCluster(c: ClusterConfig): Promise<void> {
  const client = Client.fromKubeconfig(paths(c.dataDir).kubeconfigLocal);
  try {
    await client.get(res('namespaces'), undefined, 'kube-system');
    await ensureObjects(client, addonManifests());
  } finally {
    client.close();
  }
}
