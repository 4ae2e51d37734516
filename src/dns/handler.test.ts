/**
 * Table tests over the in-memory index (CoreDNS plugin/kubernetes/handler_test.go style): every row
 * is one question and the whole answer it must get — rcode, flags, the three sections and TTLs.
 * The test plan (names and addresses) is in testdata.ts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { DnsIndex } from './controller.js';
import { DnsHandler } from './handler.js';
import { ask, flagNames, lines, SERIAL, service, slice, testIndex } from './testdata.js';

const SOA = `cluster.local 30 SOA ns.dns.cluster.local hostmaster.cluster.local ${SERIAL} 7200 1800 86400 30`;
const AA = 'qr aa rd';

interface Case {
  qname: string;
  qtype: string;
  rcode: string;
  flags?: string;
  answer?: string[];
  authority?: string[];
  additional?: string[];
}

const CASES: Case[] = [
  // ClusterIP Services
  { qname: 'myapp.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['myapp.default.svc.cluster.local 30 A 10.96.3.215'] },
  { qname: 'myapp.default.svc.cluster.local', qtype: 'AAAA', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'myapp.default.svc.cluster.local', qtype: 'MX', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'myapp.default.svc.cluster.local', qtype: 'SOA', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'noports.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['noports.default.svc.cluster.local 30 A 10.96.0.77'] },
  // dual-stack
  { qname: 'dual.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['dual.default.svc.cluster.local 30 A 10.96.5.5'] },
  { qname: 'dual.default.svc.cluster.local', qtype: 'AAAA', rcode: 'NOERROR', answer: ['dual.default.svc.cluster.local 30 AAAA fd00:10:96::5'] },
  {
    qname: '5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa', qtype: 'PTR', rcode: 'NOERROR',
    answer: ['5.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.6.9.0.0.0.1.0.0.0.0.d.f.ip6.arpa 30 PTR dual.default.svc.cluster.local'],
  },
  // missing Service / namespace / malformed names
  { qname: 'nope.default.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'nope.default.svc.cluster.local', qtype: 'AAAA', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'myapp.nons.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'nons.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'foo.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'a.b.c.myapp.default.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'x.myapp.default.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  // existing namespace, the apex, svc and pod: NODATA
  { qname: 'default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'svc.cluster.local', qtype: 'A', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'pod.cluster.local', qtype: 'A', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'cluster.local', qtype: 'A', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'cluster.local', qtype: 'SOA', rcode: 'NOERROR', answer: [SOA] },
  {
    qname: 'cluster.local', qtype: 'NS', rcode: 'NOERROR',
    answer: ['cluster.local 30 NS kube-dns.kube-system.svc.cluster.local'],
    additional: ['kube-dns.kube-system.svc.cluster.local 30 A 10.96.0.10'],
  },
  { qname: 'ns.dns.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['ns.dns.cluster.local 30 A 10.96.0.10'] },
  { qname: 'cluster.local', qtype: 'AXFR', rcode: 'REFUSED', flags: 'qr rd' },
  // headless
  {
    qname: 'svc-nginx.dev.svc.cluster.local', qtype: 'A', rcode: 'NOERROR',
    answer: ['svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5', 'svc-nginx.dev.svc.cluster.local 30 A 10.244.2.6'],
  },
  { qname: 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['stateful-nginx-0.svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5'] },
  { qname: 'stateful-nginx-1.svc-nginx.dev.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['stateful-nginx-1.svc-nginx.dev.svc.cluster.local 30 A 10.244.2.6'] },
  { qname: 'stateful-nginx-1.svc-nginx.dev.svc.cluster.local', qtype: 'AAAA', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'stateful-nginx-9.svc-nginx.dev.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: '10-244-1-7.plain-headless.dev.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['10-244-1-7.plain-headless.dev.svc.cluster.local 30 A 10.244.1.7'] },
  { qname: 'empty-headless.dev.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: '10-244-1-9.empty-headless.dev.svc.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  // SRV
  {
    qname: '_http._tcp.myapp.default.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR',
    answer: ['_http._tcp.myapp.default.svc.cluster.local 30 SRV 0 100 38080 myapp.default.svc.cluster.local'],
    additional: ['myapp.default.svc.cluster.local 30 A 10.96.3.215'],
  },
  {
    qname: '_dns._udp.myapp.default.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR',
    answer: ['_dns._udp.myapp.default.svc.cluster.local 30 SRV 0 100 53 myapp.default.svc.cluster.local'],
    additional: ['myapp.default.svc.cluster.local 30 A 10.96.3.215'],
  },
  { qname: '_http._udp.myapp.default.svc.cluster.local', qtype: 'SRV', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: '_nope._tcp.myapp.default.svc.cluster.local', qtype: 'SRV', rcode: 'NXDOMAIN', authority: [SOA] },
  {
    qname: 'myapp.default.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR',
    answer: [
      'myapp.default.svc.cluster.local 30 SRV 0 50 38080 myapp.default.svc.cluster.local',
      'myapp.default.svc.cluster.local 30 SRV 0 50 53 myapp.default.svc.cluster.local',
    ],
    additional: ['myapp.default.svc.cluster.local 30 A 10.96.3.215'],
  },
  {
    qname: '_web._tcp.svc-nginx.dev.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR',
    answer: [
      '_web._tcp.svc-nginx.dev.svc.cluster.local 30 SRV 0 50 80 stateful-nginx-0.svc-nginx.dev.svc.cluster.local',
      '_web._tcp.svc-nginx.dev.svc.cluster.local 30 SRV 0 50 80 stateful-nginx-1.svc-nginx.dev.svc.cluster.local',
    ],
    additional: [
      'stateful-nginx-0.svc-nginx.dev.svc.cluster.local 30 A 10.244.1.5',
      'stateful-nginx-1.svc-nginx.dev.svc.cluster.local 30 A 10.244.2.6',
    ],
  },
  {
    qname: 'plain-headless.dev.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR',
    answer: [
      'plain-headless.dev.svc.cluster.local 30 SRV 0 50 8080 10-244-1-7.plain-headless.dev.svc.cluster.local',
      'plain-headless.dev.svc.cluster.local 30 SRV 0 50 8080 10-244-2-8.plain-headless.dev.svc.cluster.local',
    ],
    additional: [
      '10-244-1-7.plain-headless.dev.svc.cluster.local 30 A 10.244.1.7',
      '10-244-2-8.plain-headless.dev.svc.cluster.local 30 A 10.244.2.8',
    ],
  },
  { qname: 'noports.default.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR', authority: [SOA] },
  // ExternalName
  { qname: 'ext.default.svc.cluster.local', qtype: 'CNAME', rcode: 'NOERROR', answer: ['ext.default.svc.cluster.local 30 CNAME my.database.example.com'] },
  { qname: 'ext.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['ext.default.svc.cluster.local 30 CNAME my.database.example.com'] },
  { qname: 'ext.default.svc.cluster.local', qtype: 'SRV', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'ext-fqdn.default.svc.cluster.local', qtype: 'CNAME', rcode: 'NOERROR', answer: ['ext-fqdn.default.svc.cluster.local 30 CNAME other.example.com'] },
  { qname: '_x._tcp.ext.default.svc.cluster.local', qtype: 'SRV', rcode: 'NXDOMAIN', authority: [SOA] },
  {
    qname: 'int-alias.default.svc.cluster.local', qtype: 'A', rcode: 'NOERROR',
    answer: ['int-alias.default.svc.cluster.local 30 CNAME myapp.default.svc.cluster.local', 'myapp.default.svc.cluster.local 30 A 10.96.3.215'],
  },
  // pods (insecure mode)
  { qname: '10-244-1-5.default.pod.cluster.local', qtype: 'A', rcode: 'NOERROR', answer: ['10-244-1-5.default.pod.cluster.local 30 A 10.244.1.5'] },
  { qname: '10-244-1-5.default.pod.cluster.local', qtype: 'AAAA', rcode: 'NOERROR', authority: [SOA] },
  { qname: '10-244-1-5.nons.pod.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'not-an-ip.default.pod.cluster.local', qtype: 'A', rcode: 'NXDOMAIN', authority: [SOA] },
  { qname: 'default.pod.cluster.local', qtype: 'A', rcode: 'NOERROR', authority: [SOA] },
  // TXT
  { qname: 'dns-version.cluster.local', qtype: 'TXT', rcode: 'NOERROR', answer: ['dns-version.cluster.local 28800 TXT "1.1.0"'] },
  { qname: 'myapp.default.svc.cluster.local', qtype: 'TXT', rcode: 'NOERROR', authority: [SOA] },
  { qname: 'nope.default.svc.cluster.local', qtype: 'TXT', rcode: 'NXDOMAIN', authority: [SOA] },
  // PTR
  { qname: '215.3.96.10.in-addr.arpa', qtype: 'PTR', rcode: 'NOERROR', answer: ['215.3.96.10.in-addr.arpa 30 PTR myapp.default.svc.cluster.local'] },
  { qname: '5.1.244.10.in-addr.arpa', qtype: 'PTR', rcode: 'NOERROR', answer: ['5.1.244.10.in-addr.arpa 30 PTR stateful-nginx-0.svc-nginx.dev.svc.cluster.local'] },
  { qname: '7.1.244.10.in-addr.arpa', qtype: 'PTR', rcode: 'NOERROR', answer: ['7.1.244.10.in-addr.arpa 30 PTR 10-244-1-7.plain-headless.dev.svc.cluster.local'] },
  {
    qname: '9.9.9.10.in-addr.arpa', qtype: 'PTR', rcode: 'NXDOMAIN',
    authority: [`in-addr.arpa 30 SOA ns.dns.in-addr.arpa hostmaster.in-addr.arpa ${SERIAL} 7200 1800 86400 30`],
  },
];

function handler(idx: DnsIndex = testIndex()): DnsHandler {
  return new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: idx, pods: 'insecure', localIPs: () => ['10.244.0.3'] });
}

test('cluster zone answers: whole responses per question', async () => {
  const h = handler();
  // Twice: the second round is served from compiled answers and must be identical.
  for (const round of [1, 2]) {
    for (const c of CASES) {
      const r = await ask(h, c.qname, c.qtype);
      const got = {
        rcode: r.rcode, flags: flagNames(r),
        answer: lines(r.answers), authority: lines(r.authorities), additional: lines(r.additionals),
        question: r.questions?.map((q) => `${q.name} ${q.type}`),
      };
      assert.deepEqual(got, {
        rcode: c.rcode, flags: c.flags ?? AA,
        answer: c.answer ?? [], authority: c.authority ?? [], additional: c.additional ?? [],
        question: [`${c.qname} ${c.qtype}`],
      }, `round ${round}: ${c.qname} ${c.qtype}`);
    }
  }
});

test('before the caches sync, unknown names are SERVFAIL (not a cacheable NXDOMAIN)', async () => {
  const idx = new DnsIndex(() => SERIAL);
  idx.addNamespace('default');
  const h = handler(idx);
  const r = await ask(h, 'nope.default.svc.cluster.local', 'A');
  assert.equal(r.rcode, 'SERVFAIL');
  assert.deepEqual(lines(r.authorities), [SOA]);
  idx.markSynced();
  assert.equal((await ask(h, 'nope.default.svc.cluster.local', 'A')).rcode, 'NXDOMAIN');
});

test('changes reach compiled answers: new Service, new endpoint, deleted Service', async () => {
  const idx = testIndex();
  const h = handler(idx);
  assert.equal((await ask(h, 'late.default.svc.cluster.local', 'A')).rcode, 'NXDOMAIN');
  idx.upsertService(service('default', 'late', '10.96.9.9', [{ name: 'http', port: 80 }]));
  assert.deepEqual(lines((await ask(h, 'late.default.svc.cluster.local', 'A')).answers), ['late.default.svc.cluster.local 30 A 10.96.9.9']);

  const before = await ask(h, 'svc-nginx.dev.svc.cluster.local', 'A');
  assert.equal(before.answers?.length, 2);
  // stateful-nginx-0 comes back with a new IP (pod recreated)
  idx.upsertEndpointSlice(slice('dev', 'svc-nginx', 'svc-nginx-a', [{ ip: '10.244.2.42', hostname: 'stateful-nginx-0' }], [{ name: 'web', port: 80 }]));
  assert.deepEqual(lines((await ask(h, 'stateful-nginx-0.svc-nginx.dev.svc.cluster.local', 'A')).answers),
    ['stateful-nginx-0.svc-nginx.dev.svc.cluster.local 30 A 10.244.2.42']);
  assert.deepEqual(lines((await ask(h, '42.2.244.10.in-addr.arpa', 'PTR')).answers),
    ['42.2.244.10.in-addr.arpa 30 PTR stateful-nginx-0.svc-nginx.dev.svc.cluster.local']);

  idx.deleteService('default', 'late');
  assert.equal((await ask(h, 'late.default.svc.cluster.local', 'A')).rcode, 'NXDOMAIN');
  idx.deleteNamespace('dev');
  assert.equal((await ask(h, 'svc-nginx.dev.svc.cluster.local', 'A')).rcode, 'NXDOMAIN');
});

test('configurable zone and TTL', async () => {
  const idx = testIndex();
  const h = new DnsHandler({ zone: 'example.internal.', ttl: 5, controller: idx });
  const r = await ask(h, 'myapp.default.svc.example.internal', 'A');
  assert.deepEqual(lines(r.answers), ['myapp.default.svc.example.internal 5 A 10.96.3.215']);
  const n = await ask(h, 'nope.default.svc.example.internal', 'A');
  assert.deepEqual(lines(n.authorities), [`example.internal 5 SOA ns.dns.example.internal hostmaster.example.internal ${SERIAL} 7200 1800 86400 5`]);
});

test('endpoint_pod_names names endpoints without a hostname after their pod', async () => {
  const idx = testIndex();
  idx.upsertService(service('dev', 'web', 'None', [{ name: 'http', port: 80 }]));
  idx.upsertEndpointSlice(slice('dev', 'web', 'web-1', [{ ip: '10.244.1.20', pod: 'web-7d9f-abcde' }], [{ name: 'http', port: 80 }]));
  const h = new DnsHandler({ zone: 'cluster.local', ttl: 30, controller: idx, endpointPodNames: true });
  assert.deepEqual(lines((await ask(h, 'web-7d9f-abcde.web.dev.svc.cluster.local', 'A')).answers), ['web-7d9f-abcde.web.dev.svc.cluster.local 30 A 10.244.1.20']);
});
