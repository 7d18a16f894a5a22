/**
 * Label and field selectors on LIST through the server (inject): `=`, `==`, `!=`, `in`, `notin`,
 * exists and `!` (does not exist) on labels; `=`, `==`, `!=` on the fields a resource declares,
 * across namespaces; an unknown field or a malformed selector is a 400 BadRequest.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject } from '../../test/helpers/pki.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };

describe('label and field selectors', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
    const objects: [string, string, Record<string, string>][] = [
      ['default', 'a', { tier: 'web', env: 'prod' }],
      ['default', 'b', { tier: 'db', env: 'prod' }],
      ['default', 'c', { tier: 'cache' }],
      ['default', 'd', {}],
      ['other', 'e', { tier: 'web' }],
    ];
    for (const [ns, name, labels] of objects) {
      const r = await api.server.app.inject({
        method: 'POST',
        url: `/api/v1/namespaces/${ns}/configmaps`,
        headers: admin,
        payload: { metadata: { name, labels }, data: {} },
      });
      assert.equal(r.statusCode, 201, r.body);
    }
    for (const [name, signerName] of [
      ['csr-client', 'kubernetes.io/kube-apiserver-client'],
      ['csr-other', 'example.com/custom'],
    ] as const) {
      const r = await api.server.app.inject({
        method: 'POST',
        url: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
        headers: admin,
        payload: clientCsrObject(name, { signerName }),
      });
      assert.equal(r.statusCode, 201, r.body);
    }
  });
  after(async () => {
    await api?.close();
  });

  const names = async (path: string, query: Record<string, string>) => {
    const r = await api.server.app.inject({ method: 'GET', url: `${path}?${new URLSearchParams(query)}`, headers: admin });
    assert.equal(r.statusCode, 200, r.body);
    return r
      .json<{ items: { metadata: { name: string } }[] }>()
      .items.map((i) => i.metadata.name)
      .sort();
  };
  const inDefault = (labelSelector: string) => names('/api/v1/namespaces/default/configmaps', { labelSelector });

  test('label selectors: =, ==, !=, in, notin, exists, !exists, and several terms together', async () => {
    assert.deepEqual(await inDefault('tier=web'), ['a']);
    assert.deepEqual(await inDefault('tier==db'), ['b']);
    assert.deepEqual(await inDefault('tier!=web'), ['b', 'c', 'd'], '!= matches objects without the label too');
    assert.deepEqual(await inDefault('tier in (web,cache)'), ['a', 'c']);
    assert.deepEqual(await inDefault('tier notin (web,cache)'), ['b', 'd'], 'notin matches objects without the label too');
    assert.deepEqual(await inDefault('env'), ['a', 'b']);
    assert.deepEqual(await inDefault('!env'), ['c', 'd']);
    assert.deepEqual(await inDefault('env=prod,tier!=db'), ['a']);
    assert.deepEqual(await names('/api/v1/configmaps', { labelSelector: 'tier=web' }), ['a', 'e'], 'across namespaces');
  });

  test('field selectors: =, ==, != on metadata and on the fields the resource declares', async () => {
    assert.deepEqual(await names('/api/v1/configmaps', { fieldSelector: 'metadata.namespace=other' }), ['e']);
    assert.deepEqual(await names('/api/v1/configmaps', { fieldSelector: 'metadata.name==b' }), ['b']);
    assert.deepEqual(await names('/api/v1/namespaces/default/configmaps', { fieldSelector: 'metadata.name!=b' }), ['a', 'c', 'd']);
    assert.deepEqual(
      await names('/api/v1/configmaps', { fieldSelector: 'metadata.namespace=default,metadata.name!=a', labelSelector: 'tier' }),
      ['b', 'c'],
    );
    const csrs = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    assert.deepEqual(await names(csrs, { fieldSelector: 'spec.signerName=example.com/custom' }), ['csr-other']);
    assert.deepEqual(await names(csrs, { fieldSelector: 'spec.signerName!=example.com/custom' }), ['csr-client']);
  });

  test('an unknown field or a malformed selector is a 400 BadRequest', async () => {
    for (const query of [
      { fieldSelector: 'spec.nodeName=x' },
      { fieldSelector: 'metadata.name' },
      { labelSelector: 'tier in web' },
      { labelSelector: 'bad key=x' },
    ]) {
      const r = await api.server.app.inject({
        method: 'GET',
        url: `/api/v1/namespaces/default/configmaps?${new URLSearchParams(query)}`,
        headers: admin,
      });
      assert.equal(r.statusCode, 400, JSON.stringify(query));
      assert.equal(r.json<{ reason: string }>().reason, 'BadRequest');
    }
  });
});
