import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newScheduler, SCHEDULERS, type BackendState } from './schedulers.js';

const backends = (weights: number[], active: number[] = weights.map(() => 0)): BackendState[] =>
  weights.map((w, i) => ({ ip: `10.0.0.${i + 1}`, port: 80, weight: w, active: active[i]! }));

function picks(name: string, b: BackendState[], n: number, client = (i: number) => `c${i}`): number[] {
  const s = newScheduler(name);
  return Array.from({ length: n }, (_, i) => s.pick(b, client(i), new Set(), '10.96.0.1'));
}

describe('userspace schedulers (the IPVS set)', () => {
  it('rr visits backends in order; exclusion skips a refusing one', () => {
    assert.deepEqual(picks('rr', backends([1, 1, 1]), 4), [0, 1, 2, 0]);
    assert.equal(newScheduler('rr').pick(backends([1, 1, 1]), 'c', new Set([0]), ''), 1);
  });

  it('wrr serves in proportion to weight, interleaved', () => {
    const p = picks('wrr', backends([3, 1]), 8);
    assert.equal(p.filter((x) => x === 0).length, 6);
    assert.equal(p.filter((x) => x === 1).length, 2);
  });

  it('lc / wlc / sed / nq prefer the least loaded', () => {
    assert.equal(newScheduler('lc').pick(backends([1, 1, 1], [5, 2, 3]), 'c', new Set(), ''), 1);
    assert.equal(newScheduler('wlc').pick(backends([1, 4], [2, 4]), 'c', new Set(), ''), 1);
    // sed: (active+1)/weight → (1+1)/1 = 2 vs (2+1)/4 = 0.75
    assert.equal(newScheduler('sed').pick(backends([1, 4], [1, 2]), 'c', new Set(), ''), 1);
    // nq: an idle backend beats any expected-delay calculation
    assert.equal(newScheduler('nq').pick(backends([1, 4, 1], [1, 2, 0]), 'c', new Set(), ''), 2);
  });

  it('sh pins a client; dh pins a destination', () => {
    const sh = picks('sh', backends([1, 1, 1, 1]), 5, () => '172.18.0.100');
    assert.equal(new Set(sh).size, 1);
    const many = new Set(picks('sh', backends([1, 1, 1, 1]), 40, (i) => `10.1.0.${i}`));
    assert.ok(many.size > 1, 'different clients spread');
    assert.equal(new Set(picks('dh', backends([1, 1, 1]), 10)).size, 1);
  });

  it('weight 0 takes a backend out; no candidate → -1', () => {
    for (const name of SCHEDULERS) {
      assert.equal(newScheduler(name).pick(backends([0, 0]), 'c', new Set(), ''), -1, name);
      assert.equal(newScheduler(name).pick(backends([0, 1]), 'c', new Set(), ''), 1, name);
    }
  });
});
