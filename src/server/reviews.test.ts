/**
 * The review APIs in process, over a fixed RBAC policy: SelfSubjectReview answers the requester as
 * authenticated; SelfSubjectRulesReview lists the cluster-wide rules and, in a namespace, that
 * namespace's RoleBinding rules, split into resource and non-resource rules; LocalSubjectAccessReview
 * answers only about the namespace it is posted in; SelfSubjectAccessReview answers about the
 * requester only; SubjectAccessReview answers about any user, for requesters allowed to create it.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type AuthorizationAttributes, authorize, type RbacPolicy, rulesFor, type UserInfo } from '../api/index.ts';
import { accessReviewHandlers } from './admission.ts';
import type { Authorizer } from './authz.ts';
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN, startTestApi, type TestApi } from './testing.ts';

const policy: RbacPolicy = {
  clusterRoles: [
    {
      metadata: { name: 'joiner' },
      rules: [
        { apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['create', 'get'] },
        { apiGroups: ['authorization.k8s.io', 'authentication.k8s.io'], resources: ['*'], verbs: ['create'] },
        { nonResourceURLs: ['/healthz'], verbs: ['get'] },
      ],
    },
  ],
  clusterRoleBindings: [
    {
      metadata: { name: 'joiners' },
      roleRef: { kind: 'ClusterRole', name: 'joiner' },
      subjects: [{ kind: 'Group', name: 'system:bootstrappers' }],
    },
  ],
  roles: [
    {
      metadata: { name: 'cm-reader', namespace: 'dev' },
      rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'], verbs: ['get'] }],
    },
  ],
  roleBindings: [
    {
      metadata: { name: 'reads', namespace: 'dev' },
      roleRef: { kind: 'Role', name: 'cm-reader' },
      subjects: [{ kind: 'User', name: 'system:bootstrap:abcdef' }],
    },
  ],
};

const authorizer: Authorizer = {
  authorize: (a: AuthorizationAttributes) => authorize(a, policy),
  rulesFor: (user: UserInfo, namespace: string) => rulesFor(user, namespace, policy),
};

describe('review APIs', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ authorizer, virtualResources: accessReviewHandlers(authorizer) });
  });
  after(async () => {
    await api?.close();
  });

  const post = (token: string, url: string, body: unknown) =>
    api.server.app.inject({ method: 'POST', url, headers: { authorization: `Bearer ${token}` }, payload: body as Record<string, unknown> });

  test('SelfSubjectReview answers the user and groups the request was authenticated as', async () => {
    const r = await post(BOOTSTRAP_TOKEN, '/apis/authentication.k8s.io/v1/selfsubjectreviews', {
      apiVersion: 'authentication.k8s.io/v1',
      kind: 'SelfSubjectReview',
    });
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(r.json<{ status: unknown }>().status, {
      userInfo: { username: 'system:bootstrap:abcdef', groups: ['system:bootstrappers', 'system:authenticated'] },
    });
  });

  test('SelfSubjectRulesReview lists cluster rules everywhere and RoleBinding rules in their namespace', async () => {
    const rules = async (namespace: string) => {
      const r = await post(BOOTSTRAP_TOKEN, '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { spec: { namespace } });
      assert.equal(r.statusCode, 201, r.body);
      return r.json<{
        status: { resourceRules: { resources: string[]; resourceNames?: string[] }[]; nonResourceRules: unknown[]; incomplete: boolean };
      }>().status;
    };
    const dev = await rules('dev');
    assert.deepEqual(
      dev.resourceRules.map((r) => r.resources),
      [['certificatesigningrequests'], ['*'], ['configmaps']],
    );
    assert.deepEqual(dev.resourceRules[2], { verbs: ['get'], apiGroups: [''], resources: ['configmaps'], resourceNames: ['a'] });
    assert.deepEqual(dev.nonResourceRules, [{ verbs: ['get'], nonResourceURLs: ['/healthz'] }]);
    assert.equal(dev.incomplete, false);
    const other = await rules('other');
    assert.deepEqual(
      other.resourceRules.map((r) => r.resources),
      [['certificatesigningrequests'], ['*']],
    );
    const none = await post(BOOTSTRAP_TOKEN, '/apis/authorization.k8s.io/v1/selfsubjectrulesreviews', { spec: {} });
    assert.equal(none.statusCode, 400, none.body);
  });

  test('LocalSubjectAccessReview answers only about the namespace it is posted in', async () => {
    const url = '/apis/authorization.k8s.io/v1/namespaces/dev/localsubjectaccessreviews';
    const ask = (namespace: string, name: string) => ({
      spec: { user: 'system:bootstrap:abcdef', resourceAttributes: { namespace, verb: 'get', resource: 'configmaps', name } },
    });
    const allowed = await post(ADMIN_TOKEN, url, ask('dev', 'a'));
    assert.equal(allowed.statusCode, 201, allowed.body);
    const body = allowed.json<{ kind: string; metadata: { namespace: string }; status: { allowed: boolean } }>();
    assert.equal(body.kind, 'LocalSubjectAccessReview');
    assert.equal(body.metadata.namespace, 'dev');
    assert.equal(body.status.allowed, true);
    assert.equal((await post(ADMIN_TOKEN, url, ask('dev', 'b'))).json<{ status: { allowed: boolean } }>().status.allowed, false);
    const elsewhere = await post(ADMIN_TOKEN, url, ask('other', 'a'));
    assert.equal(elsewhere.statusCode, 400, elsewhere.body);
    assert.match(elsewhere.json<{ message: string }>().message, /spec\.resourceAttributes\.namespace must match namespace: dev/);
    const nonResource = await post(ADMIN_TOKEN, url, { spec: { user: 'u', nonResourceAttributes: { path: '/healthz', verb: 'get' } } });
    assert.equal(nonResource.statusCode, 422, nonResource.body);
  });

  test('SelfSubjectAccessReview answers about the requester, whoever the spec names', async () => {
    const url = '/apis/authorization.k8s.io/v1/selfsubjectaccessreviews';
    const ask = (spec: Record<string, unknown>) => post(BOOTSTRAP_TOKEN, url, { spec });
    const csrs = { group: 'certificates.k8s.io', resource: 'certificatesigningrequests' };
    const yes = await ask({ resourceAttributes: { ...csrs, verb: 'create' } });
    assert.equal(yes.statusCode, 201, yes.body);
    const body = yes.json<{ kind: string; status: { allowed: boolean } }>();
    assert.equal(body.kind, 'SelfSubjectAccessReview');
    assert.equal(body.status.allowed, true);
    const allowed = async (spec: Record<string, unknown>) => (await ask(spec)).json<{ status: { allowed: boolean } }>().status.allowed;
    assert.equal(await allowed({ resourceAttributes: { ...csrs, verb: 'delete' } }), false);
    assert.equal(await allowed({ nonResourceAttributes: { path: '/healthz', verb: 'get' } }), true);
    assert.equal(await allowed({ nonResourceAttributes: { path: '/metrics', verb: 'get' } }), false);
    assert.equal(await allowed({ user: 'admin', groups: ['system:masters'], resourceAttributes: { ...csrs, verb: 'delete' } }), false);
  });

  test('SubjectAccessReview answers about the user it names, and needs create permission on it', async () => {
    const url = '/apis/authorization.k8s.io/v1/subjectaccessreviews';
    const about = (user: string, verb: string) => ({
      spec: {
        user,
        groups: ['system:bootstrappers'],
        resourceAttributes: { group: 'certificates.k8s.io', resource: 'certificatesigningrequests', verb },
      },
    });
    const r = await post(BOOTSTRAP_TOKEN, url, about('someone', 'get'));
    assert.equal(r.statusCode, 201, r.body);
    assert.equal(r.json<{ kind: string }>().kind, 'SubjectAccessReview');
    assert.equal(r.json<{ status: { allowed: boolean } }>().status.allowed, true, 'asked about a bootstrapper, not about the requester');
    assert.equal(
      (await post(BOOTSTRAP_TOKEN, url, about('someone', 'delete'))).json<{ status: { allowed: boolean } }>().status.allowed,
      false,
    );
    const anonymous = await api.server.app.inject({ method: 'POST', url, payload: about('someone', 'get') });
    assert.equal(anonymous.statusCode, 403, 'creating a SubjectAccessReview is itself authorised');
    const noUser = await post(BOOTSTRAP_TOKEN, url, { spec: { resourceAttributes: { verb: 'get', resource: 'configmaps' } } });
    assert.equal(noUser.statusCode, 422, noUser.body);
  });
});
