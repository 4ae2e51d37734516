/**
 * nftables backend: rendered transactions compared line by line (order-insensitive where nft
 * does not care), then applied for real to a throw-away namespace across a sequence of
 * changes, comparing the kernel's maps with the model.
 */
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { run, runSync } from '../../../net/exec.js';
import { Desired, makeService, makeSlice } from '../../testing/fixtures.js';
import type { BackendOptions } from '../../types.js';
import { chainId, NftablesProxier, renderServicePort } from './proxier.js';

const O: BackendOptions = { nodeName: 'n0', nodeIP: '172.18.0.2', clusterCIDR: '10.244.0.0/16', scheduler: 'random', nodePortAddresses: [] };
const isRoot = process.getuid?.() === 0;

function lines(text: string): string[] {
  return text.split('\n').filter(Boolean);
}

describe('nftables render', () => {
  it('plain ClusterIP: no chain of its own, elements in the shared group for its endpoint count', () => {
    const d = new Desired([makeService('ns', 'web')], [makeSlice('ns', 'web', [{ ip: '10.244.0.2', node: 'n0' }, { ip: '10.244.1.2', node: 'n1' }])]);
    d.update();
    const f = renderServicePort(d.ports()[0]!, O);
    assert.equal(f.chains.size, 0);
    assert.deepEqual(f.groups, [['tcp', 2]]);
    assert.deepEqual([...f.elems.get('service-ips')!], [['10.96.0.10 . tcp . 80', 'goto group-tcp-2']]);
    assert.deepEqual([...f.elems.get('group-tcp-2')!], [['10.96.0.10 . tcp . 80 . 0', '10.244.0.2 . 8080'], ['10.96.0.10 . tcp . 80 . 1', '10.244.1.2 . 8080']]);
    assert.deepEqual(f.hairpin, ['10.244.0.2 . 10.244.0.2'], 'hairpin only for endpoints on this node');
  });

  it('NodePort with two endpoints: a chain of its own and a block of endpoint slots', () => {
    const d = new Desired([makeService('ns', 'web', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; })], [makeSlice('ns', 'web', [{ ip: '10.244.0.2', node: 'n0' }, { ip: '10.244.1.2', node: 'n1' }])]);
    d.update();
    const f = renderServicePort(d.ports()[0]!, O);
    const id = chainId('ns/web:http/tcp');
    assert.deepEqual([...f.chains][0], [`svc-${id}`, [
      `counter name "svc-${id}"`,
      'ip saddr != 10.244.0.0/16 meta mark set meta mark | 0x4000',
      'meta l4proto tcp dnat ip addr . port to numgen random mod 2 offset 0 map @endpoints-tcp',
    ].join('\n')]);
    assert.deepEqual([...f.slots], [[0, 'tcp 10.244.0.2 . 8080'], [1, 'tcp 10.244.1.2 . 8080']]);
    assert.deepEqual([...f.elems.get('service-ips')!], [['10.96.0.10 . tcp . 80', `goto svc-${id}`]]);
    assert.deepEqual([...f.elems.get('service-nodeports')!], [['tcp . 30080', `goto ext-${id}`]]);
  });

  it('--scheduler rr uses numgen inc; the annotation overrides per Service', () => {
    const d = new Desired([makeService('ns', 'a'), makeService('ns', 'b', (s) => { s.spec!.clusterIP = '10.96.0.11'; s.metadata!.annotations = { 'svcplane.io/scheduler': 'random' }; })],
      [makeSlice('ns', 'a', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }]), makeSlice('ns', 'b', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }])]);
    d.update();
    const [a, b] = d.ports().map((p) => renderServicePort(p, { ...O, scheduler: 'rr' }));
    // Round robin needs a numgen counter of its own: a chain per Service.
    assert.match([...a!.chains.values()][0]!, /numgen inc mod 2 offset \d+ map @endpoints-tcp/);
    assert.deepEqual(b!.groups, [['tcp', 2]], 'random: the shared group');
  });

  it('no endpoints: reject element instead of a chain; NodePort too', () => {
    const d = new Desired([makeService('ns', 'web', (s) => { s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30080; })]);
    d.update();
    const f = renderServicePort(d.ports()[0]!, O);
    assert.equal(f.chains.size, 0);
    assert.deepEqual([...f.elems.get('no-endpoint-services')!], [['10.96.0.10 . tcp . 80', 'goto reject-chain']]);
    assert.deepEqual([...f.elems.get('no-endpoint-nodeports')!], [['tcp . 30080', 'goto reject-chain']]);
  });

  it('externalTrafficPolicy Local without a local endpoint: internal traffic still served, external dropped', () => {
    const d = new Desired([makeService('ns', 'web', (s) => { s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30080; })],
      [makeSlice('ns', 'web', [{ ip: '10.244.1.2', node: 'n1' }])]);
    d.update();
    const id = chainId('ns/web:http/tcp');
    const f = renderServicePort(d.ports()[0]!, O);
    assert.deepEqual(lines(f.chains.get(`ext-${id}`)!), [
      `ip saddr 10.244.0.0/16 goto svc-${id}`,
      `fib saddr type local meta mark set meta mark | 0x4000 goto svc-${id}`,
      `counter name "ext-${id}"`,
      'drop',
    ]);
    assert.equal(f.elems.get('service-nodeports')!.get('tcp . 30080'), `goto ext-${id}`);
  });

  it('ClientIP affinity: per-endpoint chains recording the client in a timeout set', () => {
    const d = new Desired([makeService('ns', 'web', (s) => { s.spec!.sessionAffinity = 'ClientIP'; s.spec!.sessionAffinityConfig = { clientIP: { timeoutSeconds: 30 } }; })],
      [makeSlice('ns', 'web', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }])]);
    d.update();
    const f = renderServicePort(d.ports()[0]!, O);
    assert.equal(f.sets.size, 2);
    assert.ok([...f.sets.values()].every((t) => t === 30));
    const svc = lines(f.chains.get(`svc-${chainId('ns/web:http/tcp')}`)!);
    assert.equal(svc.filter((l) => /^ip saddr @aff-\w+-30 goto ep-/.test(l)).length, 2);
    assert.match(svc.at(-1)!, /^numgen random mod 2 vmap \{ 0 : goto ep-.*, 1 : goto ep-.* \}$/);
  });
});

describe('nftables transactions', () => {
  it('first sync rebuilds the table; an endpoint change of a plain ClusterIP is element operations only', () => {
    const p = new NftablesProxier(O);
    const d = new Desired([makeService('ns', 'a'), makeService('ns', 'b', (s) => { s.spec!.clusterIP = '10.96.0.11'; })],
      [makeSlice('ns', 'a', [{ ip: '10.244.0.2' }]), makeSlice('ns', 'b', [{ ip: '10.244.0.3' }])]);
    d.update();
    const t1 = p.transaction({ ports: d.ports() });
    assert.equal(t1.full, true);
    assert.match(t1.text, /^table ip svcplane\ndelete table ip svcplane\n/);
    // Byte counter elements follow in a second transaction: the rules go live without them.
    assert.doesNotMatch(t1.text, /add element ip svcplane endpoint-traffic/);
    assert.equal(t1.counterText, 'add element ip svcplane endpoint-traffic { 10.244.0.2 . tcp . 8080, 10.244.0.3 . tcp . 8080 }\n');
    t1.commit();
    d.ep.onSlice(makeSlice('ns', 'a', [{ ip: '10.244.0.4' }]));
    const upd = d.update();
    const t2 = p.transaction({ ports: d.ports(), changed: upd.changed });
    assert.match(t1.text, /add map ip svcplane group-tcp-1 \{ typeof ip daddr \. meta l4proto \. tcp dport \. numgen random mod 1 : ip daddr \. tcp dport; counter; \}/);
    assert.deepEqual(lines(t2.text).sort(), [
      'delete element ip svcplane group-tcp-1 { 10.96.0.10 . tcp . 80 . 0 }',
      'add element ip svcplane group-tcp-1 { 10.96.0.10 . tcp . 80 . 0 : 10.244.0.4 . 8080 }',
      'delete element ip svcplane hairpin { 10.244.0.2 . 10.244.0.2 }',
      'delete element ip svcplane endpoint-traffic { 10.244.0.2 . tcp . 8080 }',
      'add element ip svcplane hairpin { 10.244.0.4 . 10.244.0.4 }',
      'add element ip svcplane endpoint-traffic { 10.244.0.4 . tcp . 8080 }',
    ].sort());
    t2.commit();
    assert.equal(p.transaction({ ports: d.ports(), changed: new Set() }).text, '', 'nothing changed → nothing written');
  });

  it('with several endpoints, replacing one is two slot element operations and no rule change', () => {
    const p = new NftablesProxier({ ...O, scheduler: 'rr' });
    const eps = (last: string) => [{ ip: '10.244.1.2', node: 'n1' }, { ip: '10.244.1.3', node: 'n1' }, { ip: last, node: 'n1' }];
    const d = new Desired([makeService('ns', 'a')], [makeSlice('ns', 'a', eps('10.244.1.4'))]);
    d.update();
    p.transaction({ ports: d.ports() }).commit();
    d.ep.onSlice(makeSlice('ns', 'a', eps('10.244.1.9')));
    const { changed } = d.update();
    const t = p.transaction({ ports: d.ports(), changed });
    assert.equal(t.chainsWritten, 0);
    assert.deepEqual(lines(t.text), [
      'delete element ip svcplane endpoints-tcp { 2 }',
      'delete element ip svcplane endpoint-traffic { 10.244.1.4 . tcp . 8080 }',
      'add element ip svcplane endpoints-tcp { 2 : 10.244.1.9 . 8080 }',
      'add element ip svcplane endpoint-traffic { 10.244.1.9 . tcp . 8080 }',
    ]);
  });

  it('a Service losing its last endpoint moves its element to the reject map and drops its chain', () => {
    const p = new NftablesProxier({ ...O, scheduler: 'rr' });
    const d = new Desired([makeService('ns', 'a')], [makeSlice('ns', 'a', [{ ip: '10.244.0.2' }])]);
    d.update();
    p.transaction({ ports: d.ports() }).commit();
    d.ep.onSlice(makeSlice('ns', 'a', []));
    const { changed } = d.update();
    const t = p.transaction({ ports: d.ports(), changed });
    const id = chainId('ns/a:http/tcp');
    const l = lines(t.text);
    assert.ok(l.includes('delete element ip svcplane service-ips { 10.96.0.10 . tcp . 80 }'));
    assert.ok(l.includes('add element ip svcplane no-endpoint-services { 10.96.0.10 . tcp . 80 : goto reject-chain }'));
    assert.ok(l.indexOf(`delete chain ip svcplane svc-${id}`) > l.indexOf('delete element ip svcplane service-ips { 10.96.0.10 . tcp . 80 }'), 'chain deleted after the element pointing at it');
  });
});

describe('nftables on a real kernel', { skip: !isRoot && 'needs root' }, () => {
  const ns = `svp-nftu-${process.pid}`;
  runSync(['ip', 'netns', 'add', ns], { allowFail: true });
  after(() => { runSync(['ip', 'netns', 'del', ns], { allowFail: true }); });

  it('a sequence of incremental syncs keeps the kernel equal to the model; a failure forces a rebuild', async () => {
    const p = new NftablesProxier({ ...O, netns: ns });
    const d = new Desired();
    const sync = async (full = false) => { const u = d.update(); return p.sync({ ports: d.ports(), changed: full ? undefined : u.changed }); };
    for (let i = 0; i < 20; i++) {
      d.svc.onService(makeService('ns', `s${i}`, (s) => { s.spec!.clusterIP = `10.96.1.${i}`; s.spec!.type = 'NodePort'; s.spec!.ports![0]!.nodePort = 30000 + i; }));
      d.ep.onSlice(makeSlice('ns', `s${i}`, [{ ip: `10.244.0.${i + 2}` }, { ip: `10.244.1.${i + 2}` }]));
    }
    assert.equal((await sync(true)).full, true);
    // The byte counter elements follow the full sync in a second transaction.
    await p.idle();
    const traffic = (await run(['nft', 'list', 'set', 'ip', 'svcplane', 'endpoint-traffic'], { netns: ns })).stdout;
    assert.equal([...traffic.matchAll(/10\.244\.[01]\.\d+ \. tcp \. 8080/g)].length, 40);
    // Remove some, empty some, change some.
    for (let i = 0; i < 5; i++) d.svc.onService(makeService('ns', `s${i}`), true);
    for (let i = 5; i < 10; i++) d.ep.onSlice(makeSlice('ns', `s${i}`, []));
    for (let i = 10; i < 15; i++) d.ep.onSlice(makeSlice('ns', `s${i}`, [{ ip: `10.244.2.${i}` }]));
    const st = await sync();
    assert.equal(st.full, false);
    const kernel = (await run(['nft', '-j', 'list', 'map', 'ip', 'svcplane', 'service-ips'], { netns: ns })).stdout;
    const ips = [...kernel.matchAll(/"10\.96\.1\.(\d+)"/g)].map((m) => Number(m[1])).sort((a, b) => a - b);
    assert.deepEqual(ips, [10, 11, 12, 13, 14, 15, 16, 17, 18, 19]);
    const rejects = (await run(['nft', '-j', 'list', 'map', 'ip', 'svcplane', 'no-endpoint-services'], { netns: ns })).stdout;
    assert.deepEqual([...rejects.matchAll(/"10\.96\.1\.(\d+)"/g)].map((m) => Number(m[1])).sort((a, b) => a - b), [5, 6, 7, 8, 9]);
    const chains = (await run(['nft', 'list', 'chains', 'ip'], { netns: ns })).stdout;
    assert.equal([...chains.matchAll(/chain svc-/g)].length, 10);
    // Someone deletes our table: the next incremental sync fails, the one after rebuilds.
    await run(['nft', 'delete', 'table', 'ip', 'svcplane'], { netns: ns });
    d.ep.onSlice(makeSlice('ns', 's19', [{ ip: '10.244.3.1' }]));
    await assert.rejects(sync());
    assert.equal((await sync()).full, true);
    assert.match((await run(['nft', 'list', 'chain', 'ip', 'svcplane', `svc-${chainId('ns/s19:http/tcp')}`], { netns: ns })).stdout, /10\.244\.3\.1:8080/);
    await p.cleanup();
  });
});
