import { test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { Client } from './rest.js';
import { Informer } from './informer.js';
import { res } from '../api/registry.js';

/** A tiny API server: serves one list and scripted watch streams, so the client runs over real HTTP. */
function fakeApi(script: { list: (n: number) => any; watches: ((resp: http.ServerResponse, rv: string) => void)[] }) {
  let lists = 0;
  let watches = 0;
  const srv = http.createServer((req, resp) => {
    const u = new URL(req.url!, 'http://x');
    resp.setHeader('Content-Type', 'application/json');
    if (u.searchParams.get('watch')) {
      const w = script.watches[watches++];
      if (!w) { resp.writeHead(200); return; } // hang: no more scripted watches
      resp.writeHead(200);
      w(resp, u.searchParams.get('resourceVersion') ?? '');
      return;
    }
    resp.end(JSON.stringify(script.list(lists++)));
  });
  return srv;
}

const svc = (name: string, rv: string) => ({ metadata: { name, namespace: 'default', resourceVersion: rv } });

test('informer lists, watches, and re-lists after 410 delivering the difference', async (t) => {
  const events: string[] = [];
  const watchRVs: string[] = [];
  const srv = fakeApi({
    list: (n) => n === 0
      ? { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '10' }, items: [svc('a', '5'), svc('b', '6')] }
      : { kind: 'ServiceList', apiVersion: 'v1', metadata: { resourceVersion: '30' }, items: [svc('a', '25'), svc('c', '28')] },
    watches: [
      (resp, rv) => { watchRVs.push(rv); resp.end(JSON.stringify({ type: 'MODIFIED', object: svc('a', '12') }) + '\n'); },
      (resp, rv) => { watchRVs.push(rv); resp.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n'); },
      (_resp, rv) => { watchRVs.push(rv); },
    ],
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  t.after(() => { srv.closeAllConnections(); srv.close(); });
  const port = (srv.address() as any).port;
  const client = new Client({ server: `http://127.0.0.1:${port}` });
  const inf = new Informer(client, res('services'));
  inf.addHandlers({
    add: (o) => events.push(`add ${o.metadata?.name}@${o.metadata?.resourceVersion}`),
    update: (_o, n) => events.push(`update ${n.metadata?.name}@${n.metadata?.resourceVersion}`),
    delete: (o) => events.push(`delete ${o.metadata?.name}`),
  });
  await inf.start();
  assert.ok(inf.hasSynced());
  for (let i = 0; i < 100 && watchRVs.length < 3; i++) await new Promise((r) => setTimeout(r, 20));
  inf.stop();
  client.close();
  assert.deepEqual(watchRVs, ['10', '12', '30'], 'resumes from the last seen version, then from the re-list');
  assert.deepEqual(events, ['add a@5', 'add b@6', 'update a@12', 'delete b', 'update a@25', 'add c@28']);
  assert.deepEqual(inf.list().map((o) => o.metadata?.name).sort(), ['a', 'c']);
  assert.equal(inf.get('default/c')?.kind, 'Service', 'list items get their kind filled in');
});
