import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Endpoints } from '../../api/types.js';
import { makeService } from '../testing/builders.js';
import { MIRROR_MANAGED_BY, SKIP_MIRROR_LABEL, computeMirrorSlices, shouldMirror } from './logic.js';

const ep: Endpoints = {
  metadata: { name: 'my-service', namespace: 'default', uid: 'ep1', labels: { team: 'a' } },
  subsets: [{ addresses: [{ ip: '192.0.2.42' }, { ip: '192.0.2.43' }], notReadyAddresses: [{ ip: '192.0.2.44' }], ports: [{ port: 9376, protocol: 'TCP' }] }],
};

test('only selector-less Services without skip-mirror are mirrored', () => {
  assert.ok(shouldMirror(ep, makeService('my-service', { selector: null })));
  assert.ok(!shouldMirror(ep, makeService('my-service')));
  assert.ok(!shouldMirror({ ...ep, metadata: { ...ep.metadata, labels: { [SKIP_MIRROR_LABEL]: 'true' } } }, makeService('my-service', { selector: null })));
  assert.ok(!shouldMirror(ep, undefined));
});

test('addresses become endpoints with ready true/false, owned by the Endpoints', () => {
  const ch = computeMirrorSlices(ep, []);
  assert.equal(ch.create.length, 1);
  const s = ch.create[0]!;
  assert.equal(s.metadata!.labels!['endpointslice.kubernetes.io/managed-by'], MIRROR_MANAGED_BY);
  assert.equal(s.metadata!.labels!['kubernetes.io/service-name'], 'my-service');
  assert.equal(s.metadata!.labels!.team, 'a');
  assert.equal(s.metadata!.ownerReferences![0]!.kind, 'Endpoints');
  assert.deepEqual(s.ports, [{ name: '', port: 9376, protocol: 'TCP' }]);
  assert.deepEqual(s.endpoints.map((e) => [e.addresses[0], e.conditions!.ready]), [['192.0.2.42', true], ['192.0.2.43', true], ['192.0.2.44', false]]);
  // Unchanged Endpoints: nothing to write.
  const stored = [{ ...s, metadata: { ...s.metadata, name: 'my-service-abcde' } }];
  assert.deepEqual(computeMirrorSlices(ep, stored), { create: [], update: [], delete: [] });
});
