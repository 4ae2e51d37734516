import { test } from 'node:test';
import assert from 'node:assert/strict';
import { isNamespaceTerminating, slowStartBatch } from './slowstart.js';

/** fn that records the concurrency of each wave (batches run one after another). */
function recorder(fail: (call: number) => boolean = () => false) {
  const waves: number[] = [];
  let inFlight = 0, peak = 0, calls = 0;
  const fn = async () => {
    const n = ++calls;
    inFlight++; peak = Math.max(peak, inFlight);
    await new Promise((r) => setImmediate(r));
    inFlight--;
    if (!inFlight) { waves.push(peak); peak = 0; }
    if (fail(n)) throw new Error(`call ${n} refused`);
  };
  return { fn, waves, calls: () => calls };
}

test('slow start: batches of 1, 2, 4, … up to what is left, each run concurrently', async () => {
  const r = recorder();
  assert.deepEqual(await slowStartBatch(10, 1, r.fn), { successes: 10 });
  assert.deepEqual(r.waves, [1, 2, 4, 3]);
  const big = recorder();
  assert.equal((await slowStartBatch(500, 1, big.fn)).successes, 500);
  assert.deepEqual(big.waves, [1, 2, 4, 8, 16, 32, 64, 128, 245]);
  const none = recorder();
  assert.deepEqual(await slowStartBatch(0, 1, none.fn), { successes: 0 });
  assert.equal(none.calls(), 0);
});

test('slow start: a failing batch is finished, then nothing more starts', async () => {
  const first = recorder(() => true);
  const r1 = await slowStartBatch(500, 1, first.fn);
  assert.equal(first.calls(), 1, 'one request when every create is refused');
  assert.equal(r1.successes, 0);
  assert.equal((r1.error as Error).message, 'call 1 refused');
  const third = recorder((n) => n === 3);
  const r3 = await slowStartBatch(100, 1, third.fn);
  assert.deepEqual(third.waves, [1, 2], 'the batch with the failure completes; the next never starts');
  assert.equal(r3.successes, 2);
  assert.equal((r3.error as Error).message, 'call 3 refused');
});

test('namespace-terminating refusals are recognised by their StatusCause', () => {
  assert.equal(isNamespaceTerminating({ status: { details: { causes: [{ reason: 'NamespaceTerminating' }] } } }), true);
  assert.equal(isNamespaceTerminating({ status: { details: { causes: [{ reason: 'FieldValueInvalid' }] } } }), false);
  assert.equal(isNamespaceTerminating(new Error('x')), false);
});
