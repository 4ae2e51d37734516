/**
 * Contract between the EndpointSlice controller and DNS: the slices the controller computes for a
 * StatefulSet behind its governing headless Service (pods with spec.hostname and spec.subdomain)
 * give `stateful-nginx-0.svc-nginx.dev.svc.cluster.local`, per-pod SRV targets and PTR records;
 * a not-ready pod drops out; a recreated pod with a new IP is followed.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { EndpointSlice, Service } from '../src/api/types.js';
import { computeSlices, desiredGroups } from '../src/controllers/endpointslice/logic.js';
import { makePod } from '../src/controllers/testing/builders.js';
import { DnsIndex } from '../src/dns/controller.js';
import { DnsHandler } from '../src/dns/handler.js';
import { ask, lines } from '../src/dns/testdata.js';

const svc: Service = {
  apiVersion: 'v1', kind: 'Service',
  metadata: { name: 'svc-nginx', namespace: 'dev', uid: 'uid-svc-nginx' },
  spec: { clusterIP: 'None', clusterIPs: ['None'], selector: { app: 'nginx' }, ports: [{ name: 'web', port: 80, targetPort: 80, protocol: 'TCP' }] },
};

function pods(ips: string[], ready: boolean[] = ips.map(() => true)) {
  return ips.map((ip, i) => makePod(`stateful-nginx-${i}`, {
    ns: 'dev', labels: { app: 'nginx' }, ip, ready: ready[i], node: 'n1',
    hostname: `stateful-nginx-${i}`, subdomain: 'svc-nginx', ports: [{ name: 'web', containerPort: 80 }],
  }));
}

/** What the controller would write, as the API server would store it (named, with a resourceVersion). */
function slicesFor(ips: string[], ready?: boolean[]): EndpointSlice[] {
  const changes = computeSlices(svc, desiredGroups(svc, pods(ips, ready)), []);
  return changes.create.map((s, i) => ({ ...s, metadata: { ...s.metadata, name: `svc-nginx-${i}`, resourceVersion: '1' } }));
}

test('StatefulSet pods behind a headless Service get their DNS names from controller-made slices', async () => {
  const idx = new DnsIndex(() => 1);
  idx.addNamespace('dev');
  idx.upsertService(svc);
  for (const s of slicesFor(['10.244.1.5', '10.244.2.6'])) idx.upsertEndpointSlice(s);
  idx.markSynced();
  const h = new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: idx });

  assert.deepEqual(lines((await ask(h, 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local', 'A')).answers), ['stateful-nginx-0.svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5']);
  assert.deepEqual(lines((await ask(h, 'svc-nginx.dev.svc.cluster.local', 'A')).answers).sort(), [
    'svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5', 'svc-nginx.dev.svc.cluster.local 30 A 10.244.2.6']);
  assert.deepEqual(lines((await ask(h, '_web._tcp.svc-nginx.dev.svc.cluster.local', 'SRV')).answers).sort(), [
    '_web._tcp.svc-nginx.dev.svc.cluster.local 30 SRV 0 50 80 stateful-nginx-0.svc-nginx.dev.svc.cluster.local',
    '_web._tcp.svc-nginx.dev.svc.cluster.local 30 SRV 0 50 80 stateful-nginx-1.svc-nginx.dev.svc.cluster.local']);
  assert.deepEqual(lines((await ask(h, '6.2.244.10.in-addr.arpa', 'PTR')).answers), ['6.2.244.10.in-addr.arpa 30 PTR stateful-nginx-1.svc-nginx.dev.svc.cluster.local']);

  // stateful-nginx-1 not ready: gone from the Service name and its own name
  for (const s of slicesFor(['10.244.1.5', '10.244.2.6'], [true, false])) idx.upsertEndpointSlice(s);
  assert.deepEqual(lines((await ask(h, 'svc-nginx.dev.svc.cluster.local', 'A')).answers), ['svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5']);
  assert.equal((await ask(h, 'stateful-nginx-1.svc-nginx.dev.svc.cluster.local', 'A')).rcode, 'NXDOMAIN');

  // stateful-nginx-0 recreated with a new IP
  for (const s of slicesFor(['10.244.2.9', '10.244.2.6'])) idx.upsertEndpointSlice(s);
  assert.deepEqual(lines((await ask(h, 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local', 'A')).answers), ['stateful-nginx-0.svc-nginx.dev.svc.cluster.local 30 A 10.244.2.9']);
});
