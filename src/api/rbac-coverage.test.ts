import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { PolicyRule } from './rbac.ts';
import { formatRule, uncoveredRules } from './rbac-coverage.ts';

const rule = (verbs: string[], apiGroups: string[], resources: string[], resourceNames?: string[]): PolicyRule => ({
  verbs,
  apiGroups,
  resources,
  ...(resourceNames ? { resourceNames } : {}),
});

describe('RBAC rule coverage (escalation prevention)', () => {
  test('a held rule covers what it allows, atom by atom', () => {
    const held = [rule(['get', 'list'], [''], ['pods', 'configmaps'])];
    assert.deepEqual(uncoveredRules(held, [rule(['get'], [''], ['pods'])]), []);
    assert.deepEqual(uncoveredRules(held, [rule(['get', 'list'], [''], ['pods', 'configmaps'])]), []);
    assert.deepEqual(uncoveredRules(held, [rule(['get', 'delete'], [''], ['pods', 'secrets'])]), [
      rule(['get'], [''], ['secrets']),
      rule(['delete'], [''], ['pods']),
      rule(['delete'], [''], ['secrets']),
    ]);
    assert.deepEqual(uncoveredRules(held, [rule(['get'], ['apps'], ['pods'])]), [rule(['get'], ['apps'], ['pods'])], 'another API group');
  });

  test('a star granted is covered only by a star held; a star held covers everything', () => {
    const pods = [rule(['get', 'list', 'watch', 'create', 'update', 'patch', 'delete'], [''], ['pods'])];
    assert.deepEqual(uncoveredRules(pods, [rule(['*'], [''], ['pods'])]), [rule(['*'], [''], ['pods'])]);
    assert.deepEqual(uncoveredRules(pods, [rule(['get'], ['*'], ['pods'])]), [rule(['get'], ['*'], ['pods'])]);
    assert.deepEqual(uncoveredRules(pods, [rule(['get'], [''], ['*'])]), [rule(['get'], [''], ['*'])]);
    const all = [rule(['*'], ['*'], ['*']), { verbs: ['*'], nonResourceURLs: ['*'] }];
    assert.deepEqual(uncoveredRules(all, [rule(['*'], ['*'], ['*']), { verbs: ['get'], nonResourceURLs: ['/metrics'] }]), []);
  });

  test('subresources: exact, or */sub held; a resource held does not cover its subresources', () => {
    assert.deepEqual(uncoveredRules([rule(['update'], [''], ['*/status'])], [rule(['update'], [''], ['pods/status'])]), []);
    assert.deepEqual(uncoveredRules([rule(['update'], [''], ['pods'])], [rule(['update'], [''], ['pods/status'])]), [
      rule(['update'], [''], ['pods/status']),
    ]);
  });

  test('resource names: a held rule with names covers only those names, never all of them', () => {
    const held = [rule(['get'], [''], ['secrets'], ['a', 'b'])];
    assert.deepEqual(uncoveredRules(held, [rule(['get'], [''], ['secrets'], ['a'])]), []);
    assert.deepEqual(uncoveredRules(held, [rule(['get'], [''], ['secrets'], ['a', 'c'])]), [rule(['get'], [''], ['secrets'], ['c'])]);
    assert.deepEqual(uncoveredRules(held, [rule(['get'], [''], ['secrets'])]), [rule(['get'], [''], ['secrets'])]);
  });

  test('non-resource URLs: exact, or a held prefix with a trailing star', () => {
    const held = [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/api/*'] }];
    assert.deepEqual(uncoveredRules(held, [{ verbs: ['get'], nonResourceURLs: ['/healthz', '/api/v1'] }]), []);
    assert.deepEqual(uncoveredRules(held, [{ verbs: ['get', 'post'], nonResourceURLs: ['/metrics', '/healthz'] }]), [
      { verbs: ['get'], nonResourceURLs: ['/metrics'] },
      { verbs: ['post'], nonResourceURLs: ['/metrics'] },
      { verbs: ['post'], nonResourceURLs: ['/healthz'] },
    ]);
  });

  test('a missing rule is printed as kube-apiserver prints it', () => {
    assert.equal(formatRule(rule(['get'], [''], ['secrets'])), '{APIGroups:[""], Resources:["secrets"], Verbs:["get"]}');
    assert.equal(formatRule({ verbs: ['get'], nonResourceURLs: ['/metrics'] }), '{NonResourceURLs:["/metrics"], Verbs:["get"]}');
  });
});
