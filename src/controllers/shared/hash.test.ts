import { test } from 'node:test';
import assert from 'node:assert/strict';
import { SAFE_ALPHABET, canonicalJSON, computeHash, fnv32a, safeEncodeString } from './hash.js';

test('fnv32a matches the FNV-1a reference vectors', () => {
  assert.equal(fnv32a(''), 0x811c9dc5);
  assert.equal(fnv32a('a'), 0xe40c292c);
  assert.equal(fnv32a('foobar'), 0xbf9cf968);
});

test('safeEncodeString maps decimal digits into the vowel-free alphabet', () => {
  // '0' is 48 → 48 % 27 = 21 → alphabet[21]
  assert.equal(safeEncodeString('0'), SAFE_ALPHABET[21]);
  const h = computeHash({ spec: { containers: [{ name: 'c', image: 'nginx' }] } });
  assert.match(h, /^[bcdfghjklmnpqrstvwxz2456789]{6,10}$/);
});

test('computeHash ignores key order and changes with content and collision count', () => {
  const a = { metadata: { labels: { app: 'x', tier: 'y' } }, spec: { containers: [{ image: 'nginx', name: 'c' }] } };
  const b = { spec: { containers: [{ name: 'c', image: 'nginx' }] }, metadata: { labels: { tier: 'y', app: 'x' } } };
  assert.equal(canonicalJSON(a), canonicalJSON(b));
  assert.equal(computeHash(a), computeHash(b));
  assert.notEqual(computeHash(a), computeHash({ ...a, spec: { containers: [{ name: 'c', image: 'nginx:1.27' }] } }));
  assert.notEqual(computeHash(a), computeHash(a, 1));
});

test('Go zero values do not change the hash (kubectl rollout undo sends them)', () => {
  const a = { metadata: { labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'nginx' }] } };
  const b = { metadata: { creationTimestamp: null, labels: { app: 'x' } }, spec: { containers: [{ name: 'c', image: 'nginx', resources: {} }], volumes: [] } };
  assert.equal(computeHash(a), computeHash(b));
});
