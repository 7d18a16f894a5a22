/**
 * RBAC escalation prevention through the real request path (inject): a user who may edit RBAC
 * objects grants only what they hold, binds only roles whose rules they hold, unless RBAC gives
 * them `escalate` or `bind`; a refused write stores nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { PolicyRule } from '../api/index.ts';
import { startTestApiWithRoles, type TestApi } from './testing.ts';

const RBAC = 'rbac.authorization.k8s.io';
const EDIT_RBAC: PolicyRule = {
  verbs: ['get', 'create', 'update'],
  apiGroups: [RBAC],
  resources: ['roles', 'rolebindings', 'clusterroles', 'clusterrolebindings'],
};
const READ_PODS: PolicyRule = { verbs: ['get', 'list'], apiGroups: [''], resources: ['pods'] };
const base = `/apis/${RBAC}/v1`;

const role = (kind: 'Role' | 'ClusterRole', name: string, rules: PolicyRule[], namespace?: string) => ({
  apiVersion: `${RBAC}/v1`,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  rules,
});
const binding = (kind: 'RoleBinding' | 'ClusterRoleBinding', name: string, ref: { kind: string; name: string }, namespace?: string) => ({
  apiVersion: `${RBAC}/v1`,
  kind,
  metadata: { name, ...(namespace ? { namespace } : {}) },
  roleRef: { apiGroup: RBAC, ...ref },
  subjects: [{ kind: 'User', apiGroup: RBAC, name: 'mallory' }],
});

describe('RBAC escalation prevention', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApiWithRoles({
      editor: [EDIT_RBAC, READ_PODS],
      escalator: [EDIT_RBAC, { verbs: ['escalate'], apiGroups: [RBAC], resources: ['roles', 'clusterroles'] }],
      binder: [EDIT_RBAC, { verbs: ['bind'], apiGroups: [RBAC], resources: ['clusterroles'], resourceNames: ['powerful'] }],
      powerful: [{ verbs: ['*'], apiGroups: ['*'], resources: ['*'] }],
    });
  });
  after(() => api.close());

  const post = (token: string, path: string, body: unknown) => api.request(token, 'POST', `${base}/${path}`, body);
  const refusedFor = async (token: string, path: string, body: unknown, why: RegExp) => {
    const r = await post(token, path, body);
    assert.equal(r.statusCode, 403, r.body);
    assert.match(r.json<{ message: string }>().message, why);
    const name = (body as { metadata: { name: string } }).metadata.name;
    assert.equal((await api.request('admin', 'GET', `${base}/${path}/${name}`)).statusCode, 404, 'nothing was stored');
  };

  test('a role with only rules the writer holds is created; one with more is refused, naming what is missing', async () => {
    assert.equal(
      (
        await post(
          'editor',
          'namespaces/ns1/roles',
          role('Role', 'read-pods', [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }], 'ns1'),
        )
      ).statusCode,
      201,
    );
    await refusedFor(
      'editor',
      'namespaces/ns1/roles',
      role('Role', 'read-secrets', [{ verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], 'ns1'),
      /user "editor" \(groups=\[.*\]\) is attempting to grant RBAC permissions not currently held:\n\{APIGroups:\[""\], Resources:\["secrets"\], Verbs:\["get"\]\}/,
    );
    await refusedFor(
      'editor',
      'clusterroles',
      role('ClusterRole', 'all-pods', [{ verbs: ['*'], apiGroups: [''], resources: ['pods'] }]),
      /Verbs:\["\*"\]/,
    );
  });

  test('an update that adds a rule the writer lacks is refused and changes nothing', async () => {
    const got = await api.request('editor', 'GET', `${base}/namespaces/ns1/roles/read-pods`);
    const current = got.json<{ metadata: Record<string, unknown> }>();
    const widened = {
      ...role('Role', 'read-pods', [READ_PODS, { verbs: ['get'], apiGroups: [''], resources: ['secrets'] }], 'ns1'),
      metadata: current.metadata,
    };
    const r = await api.request('editor', 'PUT', `${base}/namespaces/ns1/roles/read-pods`, widened);
    assert.equal(r.statusCode, 403, r.body);
    const after = await api.request('admin', 'GET', `${base}/namespaces/ns1/roles/read-pods`);
    assert.deepEqual(after.json<{ rules: unknown }>().rules, [{ verbs: ['get'], apiGroups: [''], resources: ['pods'] }]);
  });

  test('binding a role the writer does not hold is refused, in a namespace and cluster-wide; a role they hold binds', async () => {
    await refusedFor(
      'editor',
      'namespaces/ns1/rolebindings',
      binding('RoleBinding', 'b1', { kind: 'ClusterRole', name: 'powerful' }, 'ns1'),
      /not currently held/,
    );
    await refusedFor(
      'editor',
      'clusterrolebindings',
      binding('ClusterRoleBinding', 'b2', { kind: 'ClusterRole', name: 'powerful' }),
      /not currently held/,
    );
    await refusedFor(
      'editor',
      'clusterrolebindings',
      binding('ClusterRoleBinding', 'b3', { kind: 'ClusterRole', name: 'not-there' }),
      /does not exist/,
    );
    assert.equal(
      (await post('editor', 'clusterrolebindings', binding('ClusterRoleBinding', 'b4', { kind: 'ClusterRole', name: 'editor' })))
        .statusCode,
      201,
    );
  });

  test('escalate lets a user write any role, bind lets a user bind the role it names, system:masters does anything', async () => {
    assert.equal(
      (await post('escalator', 'clusterroles', role('ClusterRole', 'secrets', [{ verbs: ['*'], apiGroups: [''], resources: ['secrets'] }])))
        .statusCode,
      201,
    );
    assert.equal(
      (await post('binder', 'clusterrolebindings', binding('ClusterRoleBinding', 'b5', { kind: 'ClusterRole', name: 'powerful' })))
        .statusCode,
      201,
    );
    await refusedFor(
      'binder',
      'clusterrolebindings',
      binding('ClusterRoleBinding', 'b6', { kind: 'ClusterRole', name: 'escalator' }),
      /not currently held/,
    );
    assert.equal(
      (await post('admin', 'clusterrolebindings', binding('ClusterRoleBinding', 'b7', { kind: 'ClusterRole', name: 'powerful' })))
        .statusCode,
      201,
    );
  });
});
