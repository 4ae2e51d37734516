/**
 * @module apiserver/bootstrap
 * What kube-apiserver creates on first start: the system namespaces and Service `kubernetes`
 * (10.96.0.1:443) with its Endpoints and EndpointSlice pointing at the advertised address, and
 * ServiceAccount "default" in each system namespace.
 */
import { res } from '../api/registry.js';
import { HttpError } from './errors.js';
import type { Storage } from './storage.js';

export const SYSTEM_NAMESPACES = ['default', 'kube-system', 'kube-public', 'kube-node-lease'];

async function ensure(fn: () => Promise<unknown>): Promise<void> {
  try { await fn(); } catch (e) { if (!(e instanceof HttpError && e.code === 409)) throw e; }
}

export async function bootstrap(storage: Storage, advertise: string): Promise<void> {
  for (const ns of SYSTEM_NAMESPACES) {
    await ensure(() => storage.create(res('namespaces'), undefined, { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } }, { fieldManager: 'kube-apiserver' }));
    // Before any controller manager runs: tokens for kube-system and default can be issued at once.
    await storage.ensureDefaultServiceAccount(ns);
  }
  const labels = { component: 'apiserver', provider: 'kubernetes' };
  await ensure(() => storage.create(res('services'), 'default', {
    apiVersion: 'v1', kind: 'Service', metadata: { name: 'kubernetes', namespace: 'default', labels },
    spec: { clusterIP: '10.96.0.1', ports: [{ name: 'https', port: 443, protocol: 'TCP', targetPort: 6443 }], sessionAffinity: 'None', type: 'ClusterIP' },
  }, { fieldManager: 'kube-apiserver' }));
  await ensure(() => storage.create(res('endpoints'), 'default', {
    apiVersion: 'v1', kind: 'Endpoints', metadata: { name: 'kubernetes', namespace: 'default', labels: { 'endpointslice.kubernetes.io/skip-mirror': 'true' } },
    subsets: [{ addresses: [{ ip: advertise }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }] }],
  }, { fieldManager: 'kube-apiserver' }));
  await ensure(() => storage.create(res('endpointslices'), 'default', {
    apiVersion: 'discovery.k8s.io/v1', kind: 'EndpointSlice', metadata: { name: 'kubernetes', namespace: 'default', labels: { 'kubernetes.io/service-name': 'kubernetes' } },
    addressType: 'IPv4', endpoints: [{ addresses: [advertise], conditions: { ready: true } }], ports: [{ name: 'https', port: 6443, protocol: 'TCP' }],
  }, { fieldManager: 'kube-apiserver' }));
}
