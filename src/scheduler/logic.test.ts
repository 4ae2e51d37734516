import { test } from 'node:test';
import assert from 'node:assert/strict';
import { makeNode, makePod } from '../controllers/testing/builders.js';
import { allowedPods, failedSchedulingMessage, pickNode, podsPerNode, quantityValue } from './logic.js';

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

test('a node takes at most allocatable.pods pods; the next pod gets "Too many pods" and no victim', () => {
  const three = [makeNode('n1', { pods: 2 }), makeNode('n2', { pods: 2 }), makeNode('n3', { pods: 2 })];
  const placed: ReturnType<typeof makePod>[] = [];
  for (let i = 0; i < 6; i++) {
    const p = makePod(`p${i}`, { owner: 'rs1' });
    const r = pickNode(p, three, placed);
    assert.ok(r.node, `pod ${i} fits`);
    placed.push({ ...p, spec: { ...p.spec!, nodeName: r.node } });
  }
  assert.deepEqual([...podsPerNode(placed).values()], [2, 2, 2]);
  const r = pickNode(makePod('p6', { owner: 'rs1' }), three, placed);
  assert.equal(r.node, undefined);
  assert.equal(failedSchedulingMessage(r), '0/3 nodes are available: 3 Too many pods. preemption: 0/3 nodes are available: 3 No preemption victims found for incoming pod.');
});

test('the 111th pod of a 110-pod node does not fit; finished pods free their slot, deleting ones do not', () => {
  const node = [makeNode('svcplane-worker')];
  const bound = Array.from({ length: 110 }, (_, i) => makePod(`b${i}`, { node: 'svcplane-worker', ip: `10.244.1.${i + 2}` }));
  assert.equal(allowedPods(node[0]!), 110);
  assert.equal(pickNode(makePod('x'), node, bound.slice(0, 109)).node, 'svcplane-worker');
  assert.equal(pickNode(makePod('x'), node, bound).node, undefined);
  const done = bound.map((p, i) => (i === 0 ? { ...p, status: { ...p.status, phase: 'Succeeded' } } : p));
  assert.equal(pickNode(makePod('x'), node, done).node, 'svcplane-worker');
  const deleting = [...bound.slice(1), makePod('d', { node: 'svcplane-worker', ip: '10.244.1.200', deleting: true })];
  assert.equal(pickNode(makePod('x'), node, deleting).node, undefined);
});

test('a node reporting no pod slots takes no pods, as NodeResourcesFit does', () => {
  const n = makeNode('bare');
  delete n.status!.allocatable;
  const r = pickNode(makePod('x'), [n], []);
  assert.equal(failedSchedulingMessage(r), '0/1 nodes are available: 1 Too many pods. preemption: 0/1 nodes are available: 1 No preemption victims found for incoming pod.');
});

test('mixed reasons: the first failing filter names each node; preemption only helps full nodes', () => {
  const ns = [makeNode('full', { pods: 1 }), makeNode('tainted', { taints: [{ key: 'dedicated', value: 'gpu', effect: 'NoSchedule' }] }), makeNode('down', { ready: false, pods: 0 })];
  const r = pickNode(makePod('x'), ns, [makePod('y', { node: 'full', ip: '10.244.0.2' })]);
  assert.equal(r.node, undefined);
  assert.equal(failedSchedulingMessage(r), '0/3 nodes are available: 1 Too many pods, 1 node(s) had untolerated taint {dedicated: gpu}, 1 node(s) had untolerated taint {node.kubernetes.io/not-ready: }. preemption: 0/3 nodes are available: 1 No preemption victims found for incoming pod, 2 Preemption is not helpful for scheduling.');
});

test('allocatable quantities parse as resource.Quantity values', () => {
  assert.deepEqual(['110', '1k', '2e2', '1Ki', '0.5k', '', 'abc', '-1'].map((q) => quantityValue(q)), [110, 1000, 200, 1024, 500, 0, 0, 0]);
  assert.equal(quantityValue(undefined), 0);
});

test('host ports: a node whose pods hold the port (same protocol, overlapping address) is filtered, as NodePorts does', () => {
  const withPort = (name: string, port: { hostPort: number; protocol?: 'TCP' | 'UDP'; hostIP?: string }, node?: string) => {
    const p = makePod(name, node ? { node, ip: '10.244.0.9' } : {});
    p.spec!.containers = [{ name: 'c', image: 'nginx', ports: [{ containerPort: 80, ...port }] }];
    return p;
  };
  const ns = [makeNode('a'), makeNode('b')];
  const holder = withPort('holder', { hostPort: 8080 }, 'a');
  assert.equal(pickNode(withPort('x', { hostPort: 8080 }), ns, [holder]).node, 'b');
  const both = pickNode(withPort('x', { hostPort: 8080 }), ns, [holder, withPort('h2', { hostPort: 8080, hostIP: '172.18.0.3' }, 'b')]);
  assert.equal(failedSchedulingMessage(both), "0/2 nodes are available: 2 node(s) didn't have free ports for the requested pod ports. preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.");
  // Another protocol, or two distinct addresses, do not collide.
  assert.equal(pickNode(withPort('u', { hostPort: 8080, protocol: 'UDP' }), [ns[0]!], [holder]).node, 'a');
  const onIP = withPort('ip1', { hostPort: 9090, hostIP: '127.0.0.1' }, 'a');
  assert.equal(pickNode(withPort('ip2', { hostPort: 9090, hostIP: '172.18.0.2' }), [ns[0]!], [onIP]).node, 'a');
  assert.equal(pickNode(withPort('any', { hostPort: 9090 }), [ns[0]!], [onIP]).node, undefined);
});
