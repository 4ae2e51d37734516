import { test } from 'node:test';
import assert from 'node:assert/strict';
import { WorkQueue } from './workqueue.js';

test('duplicate keys collapse and a key is never processed concurrently', async () => {
  const q = new WorkQueue('t');
  const seen: string[] = [];
  let inFlight = 0;
  let maxInFlight = 0;
  q.add('a'); q.add('a'); q.add('b');
  const running = q.run(async (k) => {
    inFlight++; maxInFlight = Math.max(maxInFlight, inFlight);
    seen.push(k);
    if (k === 'a' && seen.filter((x) => x === 'a').length === 1) q.add('a'); // re-added while in flight
    await new Promise((r) => setTimeout(r, 5));
    inFlight--;
  }, 4);
  await new Promise((r) => setTimeout(r, 60));
  q.shutdown();
  await running;
  assert.deepEqual(seen.filter((x) => x === 'a').length, 2);
  assert.deepEqual(seen.filter((x) => x === 'b').length, 1);
  assert.ok(maxInFlight <= 2, 'a and b may run together, never two a');
});

test('a failing handler is retried with back-off until it succeeds', async () => {
  const q = new WorkQueue('t');
  let calls = 0;
  q.add('x');
  const running = q.run(async () => { calls++; if (calls < 3) throw new Error('boom'); });
  await new Promise((r) => setTimeout(r, 100));
  q.shutdown();
  await running;
  assert.equal(calls, 3);
  assert.equal(q.numRequeues('x'), 0, 'success forgets the failures');
});
