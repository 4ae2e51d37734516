import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as dnsPacket from 'dns-packet';
import { answerOutside } from './outside.js';

const ask = (name: string, type: 'A' | 'AAAA' = 'A'): any => dnsPacket.decode(answerOutside({ type: 'query', id: 7, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type, name, class: 'IN' }] }));

test('the outside zone answers its names', () => {
  const r = ask('WWW.example.com');
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.id, 7);
  assert.deepEqual(r.answers?.map((a: any) => [a.name, a.type, a.data]), [['WWW.example.com', 'A', '172.18.0.100']]);
});

test('names outside the zone get NXDOMAIN at once, with an SOA', () => {
  const r = ask('www.google.com');
  assert.equal(r.rcode, 'NXDOMAIN');
  assert.equal(r.answers?.length, 0);
  assert.equal(r.authorities?.[0]?.type, 'SOA');
});

test('an existing name without the asked type is NOERROR with no answer', () => {
  const r = ask('www.example.com', 'AAAA');
  assert.equal(r.rcode, 'NOERROR');
  assert.equal(r.answers?.length, 0);
});
