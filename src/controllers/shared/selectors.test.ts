import { test } from 'node:test';
import assert from 'node:assert/strict';
import { labelsContain, selectorFromLabelSelector, selectorFromMap } from './selectors.js';

test('label selectors: null matches nothing, {} everything, expressions apply', () => {
  assert.equal(selectorFromLabelSelector(undefined)({ a: '1' }), false);
  assert.equal(selectorFromLabelSelector({})({ a: '1' }), true);
  const s = selectorFromLabelSelector({ matchLabels: { app: 'web' }, matchExpressions: [{ key: 'tier', operator: 'In', values: ['fe', 'be'] }, { key: 'canary', operator: 'DoesNotExist' }] });
  assert.equal(s({ app: 'web', tier: 'fe' }), true);
  assert.equal(s({ app: 'web', tier: 'db' }), false);
  assert.equal(s({ app: 'web', tier: 'fe', canary: 'y' }), false);
  assert.equal(selectorFromMap({})({ a: '1' }), false, 'an empty Service selector selects nothing');
  assert.ok(labelsContain({ a: '1', b: '2' }, { a: '1' }));
});
