/**
 * Impersonation through the server (inject, real RBAC evaluation): each requested part (user,
 * group, uid, extra) needs its own `impersonate` permission; without it the request is a 403 and
 * nothing is written; once allowed, the impersonated identity is the one authorisation and
 * admission see, not the impersonator.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AuthorizationAttributes, authorize, type PolicyRule, type RbacPolicy, type UserInfo } from '../../api/index.ts';
import { StaticTokens } from '../authn.ts';
import { startTestApi, type TestApi } from '../testing.ts';

const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';

const role = (name: string, rules: PolicyRule[]) => ({ metadata: { name }, rules });
const bind = (name: string, user: string) => ({
  metadata: { name: `${name}-${user}` },
  roleRef: { kind: 'ClusterRole', name },
  subjects: [{ kind: 'User', name: user }],
});
const impersonateRule = (apiGroup: string, resource: string, names: string[]) => ({
  apiGroups: [apiGroup],
  resources: [resource],
  resourceNames: names,
  verbs: ['impersonate'],
});

/** alice may impersonate the user bob only; root may impersonate bob with group devs, uid 42 and extra scopes=view. bob may write ConfigMaps. */
const policy: RbacPolicy = {
  clusterRoles: [
    role('as-bob', [impersonateRule('', 'users', ['bob'])]),
    role('as-devs', [impersonateRule('', 'groups', ['devs'])]),
    role('as-uid', [impersonateRule('authentication.k8s.io', 'uids', ['42'])]),
    role('as-scopes', [impersonateRule('authentication.k8s.io', 'userextras/scopes', ['view'])]),
    role('cm-writer', [{ apiGroups: [''], resources: ['configmaps'], verbs: ['create', 'get'] }]),
  ],
  clusterRoleBindings: [
    bind('as-bob', 'alice'),
    ...['as-bob', 'as-devs', 'as-uid', 'as-scopes'].map((r) => bind(r, 'root')),
    bind('cm-writer', 'bob'),
  ],
  roles: [],
  roleBindings: [],
};

describe('impersonation through the server', () => {
  let api: TestApi;
  const admitted: UserInfo[] = [];
  before(async () => {
    api = await startTestApi({
      staticTokens: StaticTokens.parse('t-alice,alice,1\nt-root,root,2\nt-admin,admin,3,system:masters', 'tokens.csv'),
      authorizer: {
        authorize: (a: AuthorizationAttributes) =>
          a.user.groups.includes('system:masters') ? { allowed: true, reason: 'masters' } : authorize(a, policy),
      },
      admission: {
        admit: async ({ user }) => {
          admitted.push(user);
        },
      },
    });
  });
  after(async () => {
    await api?.close();
  });

  const create = (token: string, name: string, impersonation: Record<string, string>) =>
    api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: { authorization: `Bearer ${token}`, ...impersonation },
      payload: { metadata: { name }, data: {} },
    });
  const exists = async (name: string) =>
    (await api.server.app.inject({ method: 'GET', url: `${CONFIGMAPS}/${name}`, headers: { authorization: 'Bearer t-admin' } }))
      .statusCode === 200;

  test('a user allowed to impersonate bob acts as bob: authz and admission see bob, not the impersonator', async () => {
    assert.equal((await create('t-alice', 'as-herself', {})).statusCode, 403, 'alice herself may not write ConfigMaps');
    admitted.length = 0;
    const r = await create('t-alice', 'as-bob', { 'impersonate-user': 'bob' });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(admitted, [{ name: 'bob', groups: ['system:authenticated'] }]);
    assert.ok(await exists('as-bob'));
  });

  test('impersonating a user one may not is a 403 and writes nothing', async () => {
    const r = await create('t-alice', 'as-carol', { 'impersonate-user': 'carol' });
    assert.equal(r.statusCode, 403);
    assert.equal(r.json<{ reason: string }>().reason, 'Forbidden');
    assert.equal(await exists('as-carol'), false);
  });

  for (const [part, headers] of [
    ['group', { 'impersonate-group': 'devs' }],
    ['uid', { 'impersonate-uid': '42' }],
    ['extra', { 'impersonate-extra-scopes': 'view' }],
  ] as const) {
    test(`impersonating the ${part} needs its own permission: allowed for the user alone, it is a 403 and writes nothing`, async () => {
      admitted.length = 0;
      const name = `alice-${part}`;
      const r = await create('t-alice', name, { 'impersonate-user': 'bob', ...headers });
      assert.equal(r.statusCode, 403, r.body);
      assert.deepEqual(admitted, [], 'admission never ran');
      assert.equal(await exists(name), false);
    });
  }

  test('with every part allowed, the request carries the whole impersonated identity to admission', async () => {
    admitted.length = 0;
    const r = await create('t-root', 'as-bob-fully', {
      'impersonate-user': 'bob',
      'impersonate-group': 'devs',
      'impersonate-uid': '42',
      'impersonate-extra-scopes': 'view',
    });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(admitted, [{ name: 'bob', groups: ['devs', 'system:authenticated'], uid: '42', extra: { scopes: ['view'] } }]);
  });
});
