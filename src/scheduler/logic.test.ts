import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode, makePod } from '../controllers/testing/builders.js';
import { failedSchedulingMessage, pickNode } from './logic.js';

const nodes = [makeNode('svcplane-control-plane'), makeNode('svcplane-worker'), makeNode('svcplane-worker2')];

test('spreads pods of one owner across nodes, then by pod count', () => {
  const placed = [makePod('a', { node: 'svcplane-control-plane', owner: 'rs1' }), makePod('b', { node: 'svcplane-worker', owner: 'rs1' }), makePod('z', { node: 'svcplane-worker2', owner: 'other' })];
  assert.equal(pickNode(makePod('c', { owner: 'rs1' }), nodes, placed).node, 'svcplane-worker2');
  assert.equal(pickNode(makePod('d', { owner: 'rs2' }), nodes, placed).node, 'svcplane-control-plane');
});

test('taints, tolerations, nodeSelector and readiness filter nodes', () => {
  const tainted = [makeNode('cp', { taints: [{ key: 'node-role.kubernetes.io/control-plane', effect: 'NoSchedule' }] }), makeNode('w', { ready: false })];
  const r = pickNode(makePod('x'), tainted, []);
  assert.equal(r.node, undefined);
  assert.equal(failedSchedulingMessage(r), "0/2 nodes are available: 1 node(s) had untolerated taint {node-role.kubernetes.io/control-plane: }, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
  const tol = makePod('y');
  tol.spec!.tolerations = [{ key: 'node-role.kubernetes.io/control-plane', operator: 'Exists', effect: 'NoSchedule' }];
  assert.equal(pickNode(tol, tainted, []).node, 'cp');
  const sel = makePod('s');
  sel.spec!.nodeSelector = { 'kubernetes.io/hostname': 'svcplane-worker2' };
  assert.equal(pickNode(sel, nodes, []).node, 'svcplane-worker2');
});
