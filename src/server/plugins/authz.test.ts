/**
 * The authz hook in process: it asks the authorizer with the effective user and the request's
 * full attributes (verb, group, resource, subresource, namespace, name, or the non-resource path);
 * a resource, subresource or namespace the server does not serve is a 404 before any question is
 * asked, so a refusal never reveals what exists; a denied request is a 403 Forbidden Status.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type { AuthorizationAttributes } from '../../api/index.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../testing.ts';

describe('authz hook', () => {
  let api: TestApi;
  const asked: AuthorizationAttributes[] = [];
  let allow = true;
  before(async () => {
    api = await startTestApi({
      authorizer: {
        authorize: (a) => {
          asked.push(a);
          return { allowed: allow, reason: 'test' };
        },
      },
    });
  });
  after(async () => {
    await api?.close();
  });
  const get = (url: string) => api.server.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
  const attrs = (a: AuthorizationAttributes | undefined) => {
    if (a === undefined) return undefined;
    const { user, ...rest } = a;
    return { user: user.name, ...rest };
  };

  test('the question carries every attribute of the request', async () => {
    allow = true;
    asked.length = 0;
    await get('/apis/certificates.k8s.io/v1/certificatesigningrequests/n1/approval');
    assert.deepEqual(attrs(asked[0]), {
      user: 'admin',
      verb: 'get',
      apiGroup: 'certificates.k8s.io',
      resource: 'certificatesigningrequests',
      subresource: 'approval',
      name: 'n1',
      namespace: '',
    });
    asked.length = 0;
    await get('/api/v1/namespaces/kube-system/configmaps');
    assert.deepEqual(attrs(asked[0]), {
      user: 'admin',
      verb: 'list',
      apiGroup: '',
      resource: 'configmaps',
      subresource: '',
      name: '',
      namespace: 'kube-system',
    });
    asked.length = 0;
    await get('/version');
    assert.deepEqual(attrs(asked[0]), { user: 'admin', verb: 'get', nonResourceURL: '/version' });
  });

  test('what is not served is a 404 before any question; a denied request is a 403', async () => {
    allow = false;
    asked.length = 0;
    for (const url of [
      '/api/v1/namespaces/default/widgets',
      '/apis/certificates.k8s.io/v1/certificatesigningrequests/n1/proxy',
      '/apis/certificates.k8s.io/v1/namespaces/default/certificatesigningrequests',
    ]) {
      const r = await get(url);
      assert.equal(r.statusCode, 404, url);
      assert.equal(r.json<{ reason: string }>().reason, 'NotFound');
    }
    assert.deepEqual(asked, []);
    const denied = await get('/api/v1/namespaces/default/configmaps');
    assert.equal(denied.statusCode, 403);
    assert.equal(denied.json<{ reason: string }>().reason, 'Forbidden');
    assert.equal((await get('/version')).statusCode, 403);
  });
});
