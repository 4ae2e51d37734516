/**
 * The whole server on loopback: list+watch over real HTTP (a scripted API server serving list and
 * watch), dig and nslookup over UDP and TCP, /health, /ready (503 until synced) and /metrics.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import http from 'node:http';
import { test } from 'node:test';
import { promisify } from 'node:util';
import { Client } from '../client/rest.js';
import { startDnsServer } from './server.js';
import { frame, readFramed, service, slice } from './testdata.js';

const run = promisify(execFile);

/** Lists for Services, EndpointSlices and Namespaces; watches stay open and get pushed events. */
function fakeApi(objects: Record<string, any[]>) {
  const watchers: { path: string; resp: http.ServerResponse }[] = [];
  let release!: () => void;
  const listsAllowed = new Promise<void>((r) => { release = r; });
  const srv = http.createServer(async (req, resp) => {
    const u = new URL(req.url!, 'http://x');
    resp.setHeader('Content-Type', 'application/json');
    const path = u.pathname;
    if (u.searchParams.get('watch')) {
      resp.writeHead(200);
      resp.flushHeaders();
      watchers.push({ path, resp });
      return;
    }
    await listsAllowed;
    resp.end(JSON.stringify({ kind: 'List', apiVersion: 'v1', metadata: { resourceVersion: '100' }, items: objects[path] ?? [] }));
  });
  return {
    srv, release,
    push(path: string, type: string, object: unknown) {
      for (const w of watchers) if (w.path === path) w.resp.write(JSON.stringify({ type, object }) + '\n');
    },
  };
}

const SVC = '/api/v1/services';
const EPS = '/apis/discovery.k8s.io/v1/endpointslices';
const NS = '/api/v1/namespaces';

async function hasDig(): Promise<boolean> {
  try { await run('dig', ['-v']); return true; } catch { return false; }
}

test('svcplane dns on loopback: dig/nslookup over UDP and TCP, ready after sync, live updates, metrics', async (t) => {
  if (!(await hasDig())) return t.skip('dig not installed');
  const api = fakeApi({
    [NS]: ['default', 'dev'].map((name) => ({ metadata: { name, resourceVersion: '1' } })),
    [SVC]: [service('default', 'myapp', '10.96.3.215', [{ name: 'http', port: 38080 }]), service('dev', 'svc-nginx', 'None', [{ name: 'web', port: 80 }])],
    [EPS]: [slice('dev', 'svc-nginx', 'svc-nginx-a', [{ ip: '10.244.1.5', hostname: 'stateful-nginx-0' }], [{ name: 'web', port: 80 }])],
  });
  await new Promise<void>((r) => api.srv.listen(0, '127.0.0.1', r));
  const client = new Client({ server: `http://127.0.0.1:${(api.srv.address() as any).port}` });
  const dns = await startDnsServer({
    client, listen: '127.0.0.1:0', upstreams: [],
    health: '127.0.0.1:0', ready: '127.0.0.1:0', metrics: '127.0.0.1:0', log: () => {},
  });
  t.after(async () => { await dns.close(); client.close(); api.srv.closeAllConnections(); api.srv.close(); });
  const port = String(dns.udpPort);
  const dig = async (...args: string[]): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', port, '+time=2', '+tries=1', ...args])).stdout.trim();
  const get = async (p: number, path: string): Promise<{ status: number; body: string }> => {
    const r = await fetch(`http://127.0.0.1:${p}${path}`);
    return { status: r.status, body: await r.text() };
  };

  assert.equal(dns.tcpPort, dns.udpPort);
  assert.equal((await get(dns.httpPorts.health, '/health')).body, 'OK');
  assert.equal((await get(dns.httpPorts.ready, '/ready')).status, 503, 'not ready before the lists are in');
  assert.match(await dig('myapp.default.svc.cluster.local', '+noall', '+comments'), /status: SERVFAIL/);

  api.release();
  await dns.synced;
  assert.equal((await get(dns.httpPorts.ready, '/ready')).status, 200);
  assert.equal(await dig('+short', 'myapp.default.svc.cluster.local'), '10.96.3.215');
  assert.equal(await dig('+short', '+tcp', 'myapp.default.svc.cluster.local'), '10.96.3.215');
  assert.equal(await dig('+short', 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local'), '10.244.1.5');
  assert.equal(await dig('+short', '-x', '10.96.3.215'), 'myapp.default.svc.cluster.local.');
  assert.match(await dig('nope.default.svc.cluster.local', '+noall', '+comments'), /status: NXDOMAIN/);
  const ns = await run('nslookup', ['-port=' + port, 'myapp.default.svc.cluster.local', '127.0.0.1']).then((r) => r.stdout, (e) => String(e.stdout));
  assert.match(ns, /Address: 10\.96\.3\.215/);

  // The StatefulSet pod comes back with a new IP: the answer follows the watch.
  api.push(EPS, 'MODIFIED', slice('dev', 'svc-nginx', 'svc-nginx-a', [{ ip: '10.244.2.9', hostname: 'stateful-nginx-0' }], [{ name: 'web', port: 80 }]));
  let got = '';
  for (let i = 0; i < 50 && got !== '10.244.2.9'; i++) {
    got = await dig('+short', 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local');
    if (got !== '10.244.2.9') await new Promise((r) => setTimeout(r, 50));
  }
  assert.equal(got, '10.244.2.9');
  api.push(SVC, 'DELETED', service('default', 'myapp', '10.96.3.215'));
  for (let i = 0; i < 50 && !/NXDOMAIN/.test(got); i++) {
    got = await dig('myapp.default.svc.cluster.local', '+noall', '+comments');
    if (!/NXDOMAIN/.test(got)) await new Promise((r) => setTimeout(r, 50));
  }
  assert.match(got, /status: NXDOMAIN/);

  const m = (await get(dns.httpPorts.metrics, '/metrics')).body;
  assert.match(m, new RegExp(String.raw`coredns_dns_requests_total\{server="dns:\/\/127\.0\.0\.1:${port}",zone="\.",view="",proto="udp",family="1",type="A"\} \d+`));
  assert.match(m, /coredns_dns_requests_total\{[^}]*proto="tcp"[^}]*type="A"\} 1/);
  assert.match(m, /coredns_dns_responses_total\{[^}]*rcode="NXDOMAIN"[^}]*\} [1-9]/);
  assert.match(m, /coredns_dns_request_duration_seconds_bucket\{[^}]*le="0.00025"\} \d+/);
  assert.match(m, /coredns_dns_request_duration_seconds_count\{[^}]*\} \d+/);
  assert.match(m, /coredns_kubernetes_synced 1/);
});

test('lameduck: not ready at once, still answering, then closed', async (t) => {
  if (!(await hasDig())) return t.skip('dig not installed');
  const { DnsIndex } = await import('./controller.js');
  const idx = new DnsIndex();
  idx.addNamespace('default');
  idx.upsertService(service('default', 'myapp', '10.96.3.215', [{ name: 'http', port: 80 }]));
  idx.markSynced();
  const dns = await startDnsServer({ controller: idx, listen: '127.0.0.1:0', upstreams: [], health: '', ready: '127.0.0.1:0', metrics: '', log: () => {} });
  t.after(() => dns.close());
  const ready = async (): Promise<number> => (await fetch(`http://127.0.0.1:${dns.httpPorts.ready}/ready`)).status;
  const dig = async (): Promise<string> => (await run('dig', ['@127.0.0.1', '-p', String(dns.udpPort), '+time=1', '+tries=1', '+short', 'myapp.default.svc.cluster.local']).catch((e) => e)).stdout?.trim() ?? '';
  assert.equal(await ready(), 200);
  // Long enough for a dig process to start and answer on a loaded machine.
  const done = dns.lameduck(2000);
  assert.equal(await ready(), 503);
  assert.equal(await dig(), '10.96.3.215');
  await done;
  assert.notEqual(await dig(), '10.96.3.215');
});

test('DNS over TCP: pipelined queries in one write, a query split across writes', async (t) => {
  const { DnsIndex } = await import('./controller.js');
  const { encodeQuery, decode } = await import('./testdata.js');
  const { connect } = await import('node:net');
  const idx = new DnsIndex();
  idx.addNamespace('default');
  idx.upsertService(service('default', 'myapp', '10.96.3.215', [{ name: 'http', port: 80 }]));
  idx.markSynced();
  const dns = await startDnsServer({ controller: idx, listen: '127.0.0.1:0', upstreams: [], health: '', ready: '', metrics: '', log: () => {} });
  t.after(() => dns.close());
  const sock = connect(dns.tcpPort, '127.0.0.1');
  t.after(() => sock.destroy());
  const answers: ReturnType<typeof decode>[] = [];
  const got = new Promise<void>((resolve) => readFramed(sock, (m) => {
    answers.push(decode(m));
    if (answers.length === 3) resolve();
  }));
  await new Promise<void>((r) => sock.once('connect', () => r()));
  sock.write(Buffer.concat([frame(encodeQuery('myapp.default.svc.cluster.local', 'A', { id: 1 })), frame(encodeQuery('nope.default.svc.cluster.local', 'A', { id: 2 }))]));
  const third = frame(encodeQuery('myapp.default.svc.cluster.local', 'SRV', { id: 3 }));
  sock.write(third.subarray(0, 5));
  await new Promise((r) => setTimeout(r, 50));
  sock.write(third.subarray(5));
  await got;
  assert.deepEqual(answers.map((a) => [a.id, a.rcode, a.answers?.length]), [[1, 'NOERROR', 1], [2, 'NXDOMAIN', 0], [3, 'NOERROR', 1]]);
});
