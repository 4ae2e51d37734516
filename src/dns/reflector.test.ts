/**
 * The reflector over real HTTP (a scripted API): paged list, watch resumed from the last seen
 * resourceVersion, 410 Gone → re-list delivering what it lists and removing what it no longer has.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import { test } from 'node:test';
import { res } from '../api/registry.js';
import { Client } from '../client/rest.js';
import { Reflector } from './reflector.js';

const svc = (name: string, rv: string) => ({ metadata: { name, namespace: 'default', resourceVersion: rv } });

test('reflector: pages, resume, 410 re-list removes what is gone', async (t) => {
  const listQueries: string[] = [];
  const watchRVs: string[] = [];
  let lists = 0, watches = 0;
  const srv = http.createServer((req, resp) => {
    const u = new URL(req.url!, 'http://x');
    resp.setHeader('Content-Type', 'application/json');
    if (u.searchParams.get('watch')) {
      const n = watches++;
      watchRVs.push(u.searchParams.get('resourceVersion') ?? '');
      resp.writeHead(200);
      if (n === 0) resp.end(JSON.stringify({ type: 'MODIFIED', object: svc('a', '12') }) + '\n' + JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '15' } } }) + '\n');
      else if (n === 1) resp.end(JSON.stringify({ type: 'ERROR', object: { kind: 'Status', code: 410, reason: 'Expired', message: 'too old resource version' } }) + '\n');
      else resp.flushHeaders(); // stay open
      return;
    }
    listQueries.push(`${u.searchParams.get('limit')}/${u.searchParams.get('continue') ?? ''}`);
    const n = lists++;
    if (n === 0) resp.end(JSON.stringify({ metadata: { resourceVersion: '10', continue: 'p2' }, items: [svc('a', '5')] }));
    else if (n === 1) resp.end(JSON.stringify({ metadata: { resourceVersion: '10' }, items: [svc('b', '6')] }));
    else resp.end(JSON.stringify({ metadata: { resourceVersion: '30' }, items: [svc('a', '12'), svc('c', '28')] }));
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const client = new Client({ server: `http://127.0.0.1:${(srv.address() as any).port}` });
  const events: string[] = [];
  const held = new Set<string>();
  const r = new Reflector(client, res('services'), {
    upsert: (o) => { events.push(`upsert ${o.metadata?.name}@${o.metadata?.resourceVersion}`); held.add(`${o.metadata?.namespace}/${o.metadata?.name}`); },
    remove: (ns, name) => { events.push(`remove ${ns}/${name}`); held.delete(`${ns}/${name}`); },
    keys: () => held,
  });
  t.after(() => { r.stop(); client.close(); srv.closeAllConnections(); srv.close(); });
  await r.start();
  assert.ok(r.hasSynced());
  for (let i = 0; i < 100 && watchRVs.length < 3; i++) await new Promise((res2) => setTimeout(res2, 20));
  assert.deepEqual(listQueries, ['100/', '100/p2', '100/']);
  assert.deepEqual(watchRVs, ['10', '15', '30'], 'resumes after the bookmark, then from the re-list');
  // the re-list delivers a and c (the index drops a as unchanged); b is gone
  assert.deepEqual(events, ['upsert a@5', 'upsert b@6', 'upsert a@12', 'upsert a@12', 'upsert c@28', 'remove default/b']);
  assert.deepEqual([...held].sort(), ['default/a', 'default/c']);
});
