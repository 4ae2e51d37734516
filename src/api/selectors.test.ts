import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  parseLabelSelector, labelSelectorFromObject, matchLabels, selectorFromMap, formatLabelSelector,
  parseFieldSelector, matchFields, fieldSelectorSupported,
} from './selectors.js';
import { res } from './registry.js';

test('label selector parse + match table', () => {
  const L = { app: 'web', tier: 'front', n: '5' };
  const rows: [string, boolean][] = [
    ['', true],
    ['app=web', true],
    ['app==web', true],
    ['app!=web', false],
    ['app=db', false],
    ['app', true],
    ['!app', false],
    ['!missing', true],
    ['app in (web,db)', true],
    ['app notin (web,db)', false],
    ['missing notin (x)', true],
    ['app in (db)', false],
    ['n>4', true],
    ['n<4', false],
    ['n>5', false],
    ['app=web,tier=front', true],
    ['app=web, tier in (back)', false],
    ['app=', false],
    ['x=', false],
  ];
  for (const [s, want] of rows) assert.equal(matchLabels(parseLabelSelector(s), L), want, `${s} ${JSON.stringify(parseLabelSelector(s))}`);
  assert.equal(matchLabels(parseLabelSelector('x!='), L), true); // missing label: != holds
  assert.equal(matchLabels(parseLabelSelector('in=notin'), { in: 'notin' }), true);
});

test('label selector syntax errors carry Kubernetes wording', () => {
  const rows: [string, string][] = [
    ['app=web,', "found '', expected: identifier after ','"],
    ['app in web', "unable to parse requirement: found 'web' expected: '('"],
    ['=web', "found '=', expected: !, identifier, or 'end of string'"],
    ['app web', "unable to parse requirement: found 'web', expected: in, notin, =, ==, !=, gt, lt"],
    ['app=web=x', "found '=', expected: ',' or 'end of string'"],
    ['app ~ x', "unable to parse requirement: found '~', expected: in, notin, =, ==, !=, gt, lt"],
    ['n>x', "unable to parse requirement: values[0]: Invalid value: \"x\": for 'Gt', 'Lt' operators, the value must be an integer"],
  ];
  for (const [s, msg] of rows) assert.throws(() => parseLabelSelector(s), (e: Error) => e.message === msg, `${s}: ${(() => { try { parseLabelSelector(s); return 'no error'; } catch (e) { return (e as Error).message; } })()}`);
  assert.throws(() => parseLabelSelector('a b c d/e/f=1'));
  assert.throws(() => parseLabelSelector('a/b/c=1'), (e: Error) => e.message.startsWith('unable to parse requirement: : Invalid value: "a/b/c": a qualified name must consist of'));
  assert.throws(() => parseLabelSelector('a in (x'), { message: "unable to parse requirement: found '', expected: ',' or ')'" });
  assert.throws(() => parseLabelSelector('a in ()x'), { message: "found 'x', expected: ',' or 'end of string'" });
  assert.throws(() => parseLabelSelector('app=a b'));
  assert.match((() => { try { parseLabelSelector('app=-x'); return ''; } catch (e) { return (e as Error).message; } })(),
    /^unable to parse requirement: values\[0\]\[app\]: Invalid value: "-x": a valid label must be an empty string/);
});

test('LabelSelector objects: nil matches nothing, empty everything', () => {
  assert.equal(labelSelectorFromObject(undefined), null);
  assert.equal(matchLabels(labelSelectorFromObject(undefined), { a: 'b' }), false);
  assert.deepEqual(labelSelectorFromObject({}), []);
  assert.equal(matchLabels(labelSelectorFromObject({}), {}), true);
  const r = labelSelectorFromObject({ matchLabels: { app: 'x' }, matchExpressions: [{ key: 'env', operator: 'NotIn', values: ['prod'] }, { key: 'b', operator: 'Exists' }] });
  assert.equal(matchLabels(r, { app: 'x', b: '' }), true);
  assert.equal(matchLabels(r, { app: 'x', b: '', env: 'prod' }), false);
  assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'Foo' }] }), /"Foo" is not a valid label selector operator/);
  assert.throws(() => labelSelectorFromObject({ matchExpressions: [{ key: 'a', operator: 'In', values: [] }] }), /values set can't be empty/);
});

test('formatLabelSelector prints as kubectl', () => {
  assert.equal(formatLabelSelector({ matchLabels: { app: 'myapp' } }), 'app=myapp');
  assert.equal(formatLabelSelector({ tier: 'b', app: 'a' }), 'app=a,tier=b');
  assert.equal(formatLabelSelector({ matchLabels: { app: 'a' }, matchExpressions: [{ key: 'env', operator: 'In', values: ['b', 'a'] }, { key: 'x', operator: 'DoesNotExist' }] }), 'app=a,env in (a,b),!x');
  assert.equal(formatLabelSelector({}), '<none>');
  assert.equal(formatLabelSelector(undefined), '<none>');
  assert.deepEqual(selectorFromMap({ b: '1', a: '2' }).map((r) => r.key), ['a', 'b']);
});

test('field selectors', () => {
  assert.deepEqual(parseFieldSelector('metadata.name=x,status.phase!=Running'), [
    { field: 'metadata.name', op: '=', value: 'x' }, { field: 'status.phase', op: '!=', value: 'Running' }]);
  assert.deepEqual(parseFieldSelector('a==b\\,c'), [{ field: 'a', op: '==', value: 'b,c' }]);
  assert.deepEqual(parseFieldSelector(''), []);
  assert.throws(() => parseFieldSelector('metadata.name'), { message: "invalid selector: 'metadata.name'; can't understand 'metadata.name'" });
  const ev = { involvedObject: { kind: 'Pod', name: 'p', namespace: 'default', uid: 'u1' }, source: { component: 'kubelet' }, type: 'Normal', metadata: { name: 'e', namespace: 'default' } };
  assert.equal(matchFields(parseFieldSelector('involvedObject.kind=Pod,involvedObject.name=p,source=kubelet,type=Normal'), ev), true);
  assert.equal(matchFields(parseFieldSelector('involvedObject.uid=u2'), ev), false);
  const pod = { metadata: { name: 'p', namespace: 'ns' }, spec: { nodeName: 'n1' }, status: { phase: 'Running' } };
  assert.equal(matchFields(parseFieldSelector('spec.nodeName=n1,status.phase!=Failed'), pod), true);
  assert.equal(matchFields(parseFieldSelector('spec.nodeName='), { spec: {} }), true);
  assert.equal(fieldSelectorSupported(res('pods'), 'spec.nodeName'), true);
  assert.equal(fieldSelectorSupported(res('services'), 'spec.nodeName'), false);
  assert.equal(fieldSelectorSupported(res('events'), 'involvedObject.uid'), true);
  assert.equal(fieldSelectorSupported(res('secrets'), 'type'), true);
  assert.equal(fieldSelectorSupported(res('configmaps'), 'metadata.name'), true);
});
