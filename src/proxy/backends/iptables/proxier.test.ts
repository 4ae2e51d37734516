import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Desired, makeService, makeSlice } from '../../testing/fixtures.js';
import type { BackendOptions } from '../../types.js';
import { chainName, IptablesProxier } from './proxier.js';

const O: BackendOptions & { backend: 'nft' } = { nodeName: 'n0', nodeIP: '172.18.0.2', clusterCIDR: '10.244.0.0/16', scheduler: 'random', nodePortAddresses: [], backend: 'nft' };

describe('iptables render', () => {
  it('KUBE-SVC picks endpoints with statistic probabilities 1/n, 1/(n-1), …; rr uses nth', () => {
    const d = new Desired([makeService('ns', 'web')], [makeSlice('ns', 'web', [{ ip: '10.244.0.2' }, { ip: '10.244.0.3' }, { ip: '10.244.0.4' }])]);
    d.update();
    const svc = chainName('KUBE-SVC-', 'ns/web:http/tcp');
    const text = new IptablesProxier(O).transaction({ ports: d.ports() }).text;
    const rules = text.split('\n').filter((l) => l.startsWith(`-A ${svc} `));
    assert.equal(rules.length, 4);
    assert.match(rules[0]!, /! -s 10\.244\.0\.0\/16 -j KUBE-MARK-MASQ$/);
    assert.match(rules[1]!, /--mode random --probability 0\.3333333333 -j KUBE-SEP-/);
    assert.match(rules[2]!, /--mode random --probability 0\.5000000000 -j KUBE-SEP-/);
    assert.doesNotMatch(rules[3]!, /statistic/);
    const rr = new IptablesProxier({ ...O, scheduler: 'rr' }).transaction({ ports: d.ports() }).text.split('\n').filter((l) => l.startsWith(`-A ${svc} `));
    assert.match(rr[1]!, /--mode nth --every 3 --packet 0/);
    assert.match(rr[2]!, /--mode nth --every 2 --packet 0/);
    assert.match(text, new RegExp(`-A KUBE-SERVICES .* -d 10\\.96\\.0\\.10/32 -p tcp -m tcp --dport 80 -j ${svc}`));
    assert.match(text, /-A KUBE-SEP-\w+ .* -p tcp -m tcp -j DNAT --to-destination 10\.244\.0\.2:8080/);
  });

  it('a partial sync rewrites only the changed chains; removed ones are flushed and deleted', () => {
    const p = new IptablesProxier(O);
    const d = new Desired([makeService('ns', 'a'), makeService('ns', 'b', (s) => { s.spec!.clusterIP = '10.96.0.11'; })],
      [makeSlice('ns', 'a', [{ ip: '10.244.0.2' }]), makeSlice('ns', 'b', [{ ip: '10.244.0.3' }])]);
    d.update();
    p.transaction({ ports: d.ports() }).commit();
    d.ep.onSlice(makeSlice('ns', 'a', [{ ip: '10.244.0.4' }]));
    const { changed } = d.update();
    const t = p.transaction({ ports: d.ports(), changed });
    const oldSep = chainName('KUBE-SEP-', 'ns/a:http/tcp|10.244.0.2:8080');
    const newSep = chainName('KUBE-SEP-', 'ns/a:http/tcp|10.244.0.4:8080');
    const svc = chainName('KUBE-SVC-', 'ns/a:http/tcp');
    const decl = t.text.split('\n').filter((l) => l.startsWith(':')).sort();
    assert.deepEqual(decl, [`:${oldSep} - [0:0]`, `:${newSep} - [0:0]`, `:${svc} - [0:0]`].sort());
    assert.match(t.text, new RegExp(`-X ${oldSep}`));
    assert.doesNotMatch(t.text, /KUBE-SERVICES/, 'top-level chain unchanged, not rewritten');
  });

  it('no endpoints: REJECT in filter KUBE-SERVICES; Local without local endpoints: DROP for outside sources', () => {
    const d = new Desired([
      makeService('ns', 'empty'),
      makeService('ns', 'loc', (s) => { s.spec!.clusterIP = '10.96.0.11'; s.spec!.type = 'NodePort'; s.spec!.externalTrafficPolicy = 'Local'; s.spec!.ports![0]!.nodePort = 30080; }),
    ], [makeSlice('ns', 'loc', [{ ip: '10.244.1.2', node: 'n1' }])]);
    d.update();
    const text = new IptablesProxier(O).transaction({ ports: d.ports() }).text;
    assert.match(text, /-A KUBE-SERVICES .*-d 10\.96\.0\.10\/32 -p tcp -m tcp --dport 80 -j REJECT --reject-with tcp-reset/);
    assert.match(text, /-A KUBE-EXTERNAL-SERVICES .*! -s 10\.244\.0\.0\/16 -m addrtype ! --src-type LOCAL -m addrtype --dst-type LOCAL -p tcp -m tcp --dport 30080 -j DROP/);
  });
});
