/**
 * Stored RBAC objects as the evaluator reads them: a role or binding of the wrong shape grants
 * nothing (it is dropped), a well-formed one is read field for field.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { authorize, bindingLike, roleLike } from './rbac.ts';

const user = { name: 'u', groups: ['g'] };
const role = { metadata: { name: 'r' }, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }] };
const binding = { metadata: { name: 'b' }, roleRef: { kind: 'ClusterRole', name: 'r' }, subjects: [{ kind: 'Group', name: 'g' }] };
const asks = { user, verb: 'get', apiGroup: '', resource: 'secrets', namespace: 'x' };

describe('roleLike and bindingLike', () => {
  test('a well-formed role and binding grant what they say', () => {
    const r = roleLike(role);
    const b = bindingLike(binding);
    assert.ok(r && b);
    assert.equal(authorize(asks, { clusterRoles: [r], clusterRoleBindings: [b], roles: [], roleBindings: [] }).allowed, true);
  });

  test('a rule with a non-string verb, a non-list resource, or no metadata name makes the role unreadable', () => {
    assert.equal(roleLike({ ...role, rules: [{ apiGroups: [''], resources: ['secrets'], verbs: [1] }] }), undefined);
    assert.equal(roleLike({ ...role, rules: [{ apiGroups: [''], resources: 'secrets', verbs: ['get'] }] }), undefined);
    assert.equal(roleLike({ ...role, rules: 'all' }), undefined);
    assert.equal(roleLike({ metadata: {}, rules: [] }), undefined);
  });

  test('a binding without a roleRef name or with a malformed subject is unreadable', () => {
    assert.equal(bindingLike({ ...binding, roleRef: { kind: 'ClusterRole' } }), undefined);
    assert.equal(bindingLike({ ...binding, subjects: [{ kind: 'Group' }] }), undefined);
    assert.equal(bindingLike({ ...binding, subjects: ['g'] }), undefined);
  });
});
