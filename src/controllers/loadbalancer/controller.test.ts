import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Service } from '../../api/types.js';
import { IPPool } from './pool.js';
import { chooseIP, isOurs } from './controller.js';

const lb = (o: Partial<Service['spec']> = {}, ann?: Record<string, string>, ingress?: string): Service => ({
  metadata: { name: 'x', namespace: 'default', annotations: ann },
  spec: { type: 'LoadBalancer', ...o },
  status: ingress ? { loadBalancer: { ingress: [{ ip: ingress }] } } : undefined,
});

test('pool ranges and CIDRs', () => {
  assert.equal(new IPPool('172.18.255.200-172.18.255.250').size(), 51);
  assert.equal(new IPPool('10.0.0.0/30,10.0.1.1').size(), 5);
  assert.ok(new IPPool('172.18.255.200-172.18.255.250').contains('172.18.255.250'));
  assert.throws(() => new IPPool('1.2.3.9-1.2.3.1'), /end before start/);
});

test('lowest free, requested, kept, exhausted', () => {
  const pool = new IPPool('172.18.255.200-172.18.255.201');
  assert.deepEqual(chooseIP(lb(), pool, new Set()), { ip: '172.18.255.200' });
  assert.deepEqual(chooseIP(lb(), pool, new Set(['172.18.255.200'])), { ip: '172.18.255.201' });
  assert.deepEqual(chooseIP(lb({ loadBalancerIP: '172.18.255.201' }), pool, new Set()), { ip: '172.18.255.201' });
  assert.deepEqual(chooseIP(lb({}, { 'metallb.universe.tf/loadBalancerIPs': '172.18.255.201' }), pool, new Set()), { ip: '172.18.255.201' });
  assert.deepEqual(chooseIP(lb({}, undefined, '172.18.255.201'), pool, new Set()), { ip: '172.18.255.201' });
  assert.match(chooseIP(lb(), pool, new Set(['172.18.255.200', '172.18.255.201'])).error!, /no available IPs in pool/);
  assert.match(chooseIP(lb({ loadBalancerIP: '10.0.0.1' }), pool, new Set()).error!, /not in pool/);
});

test('class: unset or svcplane.io/lb only', () => {
  assert.ok(isOurs(lb()));
  assert.ok(isOurs(lb({ loadBalancerClass: 'svcplane.io/lb' })));
  assert.ok(!isOurs(lb({ loadBalancerClass: 'example.com/other' })));
  assert.ok(!isOurs({ spec: { type: 'ClusterIP' } }));
});
