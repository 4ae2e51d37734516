/**
 * Cluster DNS against svcplane's own API server (memory store): Services and EndpointSlices are
 * created and changed through the client, and dig asks the DNS server on a loopback port.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { res } from '../src/api/registry.js';
import type { KubeObject } from '../src/api/types.js';
import { startApiServer } from '../src/apiserver/server.js';
import { Client } from '../src/client/rest.js';
import { MemoryStore } from '../src/store/memory.js';
import { startDnsServer } from '../src/dns/server.js';
import { service, slice } from '../src/dns/testdata.js';

const run = promisify(execFile);

/** The API server on the memory store in a temporary data dir; the DNS server talks to it over its unix socket. */
async function startApi(): Promise<{ client: Client; close(): Promise<void> }> {
  const dataDir = mkdtempSync(join(tmpdir(), `svcplane-dns-api-${process.pid}-`));
  const socketPath = join(dataDir, 'apiserver.sock');
  const api = await startApiServer({ dataDir, store: new MemoryStore(), host: '127.0.0.1', port: 0, socketPath });
  const client = new Client({ server: 'http://localhost', socketPath });
  return { client, close: async () => { client.close(); await api.close(); rmSync(dataDir, { recursive: true, force: true }); } };
}

async function ensure(client: Client, kind: 'namespaces' | 'services' | 'endpointslices', obj: KubeObject): Promise<void> {
  try { await client.create(res(kind), obj.metadata?.namespace, obj); } catch (e) { if ((e as { code?: number }).code !== 409) throw e; }
}

test('dig against svcplane dns fed by the svcplane API server', async (t) => {
  try { await run('dig', ['-v']); } catch { return t.skip('dig not installed'); }
  const api = await startApi();
  t.after(() => api.close());
  const { client } = api;
  for (const ns of ['dev', 'default']) await ensure(client, 'namespaces', { apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  await ensure(client, 'services', service('default', 'myapp', '', [{ name: 'http', port: 38080 }]) as KubeObject);
  await ensure(client, 'services', service('dev', 'svc-nginx', 'None', [{ name: 'web', port: 80 }]));
  await ensure(client, 'endpointslices', slice('dev', 'svc-nginx', 'svc-nginx-a', [{ ip: '10.244.1.5', hostname: 'stateful-nginx-0' }], [{ name: 'web', port: 80 }]));

  const dns = await startDnsServer({ client, listen: '127.0.0.1:0', upstreams: [], health: '', ready: '', metrics: '', log: () => {} });
  t.after(() => dns.close());
  await dns.synced;
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(dns.udpPort), '+time=2', '+tries=1', ...args])).stdout.trim();

  const svc = await client.get<any>(res('services'), 'default', 'myapp');
  assert.match(svc.spec.clusterIP, /^10\./, 'the API server allocated a ClusterIP');
  assert.equal(await dig('+short', 'myapp.default.svc.cluster.local'), svc.spec.clusterIP);
  assert.equal(await dig('+short', 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local'), '10.244.1.5');
  assert.match(await dig('+short', '_http._tcp.myapp.default.svc.cluster.local', 'SRV'), /^0 100 38080 myapp\.default\.svc\.cluster\.local\.$/);
  assert.match(await dig('nope.default.svc.cluster.local', '+noall', '+comments'), /status: NXDOMAIN/);

  // the StatefulSet pod is recreated with a new IP
  const cur = await client.get<any>(res('endpointslices'), 'dev', 'svc-nginx-a');
  cur.endpoints[0].addresses = ['10.244.2.17'];
  await client.update(res('endpointslices'), 'dev', cur);
  let got = '';
  for (let i = 0; i < 60 && got !== '10.244.2.17'; i++) {
    got = await dig('+short', 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local');
    if (got !== '10.244.2.17') await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(got, '10.244.2.17');
});
