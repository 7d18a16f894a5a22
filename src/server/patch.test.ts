/**
 * PATCH through the server (inject): JSON merge patch (RFC 7386: objects merge, `null` deletes)
 * for `merge-patch+json` and, with the same rules for the resources served,
 * `strategic-merge-patch+json`; JSON patch (`json-patch+json`) is not served and is a 415 that
 * changes nothing; a `metadata.resourceVersion` in the patch is a precondition (409 when stale).
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const CMS = '/api/v1/namespaces/default/configmaps';
type ConfigMap = { metadata: { resourceVersion: string; labels?: Record<string, string> }; data?: Record<string, string> };

describe('PATCH', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  const create = async (name: string, data: Record<string, string>, labels: Record<string, string> = {}) => {
    const r = await api.server.app.inject({
      method: 'POST',
      url: CMS,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      payload: { metadata: { name, labels }, data },
    });
    assert.equal(r.statusCode, 201, r.body);
    return r.json<ConfigMap>();
  };
  const patch = (name: string, type: string, payload: unknown) =>
    api.server.app.inject({
      method: 'PATCH',
      url: `${CMS}/${name}`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': type },
      payload: JSON.stringify(payload),
    });
  const read = async (name: string) =>
    (
      await api.server.app.inject({ method: 'GET', url: `${CMS}/${name}`, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } })
    ).json<ConfigMap>();

  for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
    test(`${type}: maps merge key by key, null deletes, other keys are kept`, async () => {
      const name = type.includes('strategic') ? 'smp' : 'merge';
      await create(name, { a: '1', b: '2' }, { keep: 'yes', drop: 'yes' });
      const r = await patch(name, type, { metadata: { labels: { drop: null, add: 'new' } }, data: { b: null, c: '3' } });
      assert.equal(r.statusCode, 200, r.body);
      const now = await read(name);
      assert.deepEqual(now.data, { a: '1', c: '3' });
      assert.deepEqual(now.metadata.labels, { keep: 'yes', add: 'new' });
    });
  }

  test('a resourceVersion in the patch is a precondition: stale is 409 Conflict and changes nothing, current applies', async () => {
    const created = await create('pinned', { v: '1' });
    assert.equal((await patch('pinned', 'application/merge-patch+json', { data: { v: '2' } })).statusCode, 200);
    const stale = await patch('pinned', 'application/merge-patch+json', {
      metadata: { resourceVersion: created.metadata.resourceVersion },
      data: { v: 'stale' },
    });
    assert.equal(stale.statusCode, 409, stale.body);
    assert.equal(stale.json<{ reason: string }>().reason, 'Conflict');
    const current = await read('pinned');
    assert.deepEqual(current.data, { v: '2' });
    const fresh = await patch('pinned', 'application/merge-patch+json', {
      metadata: { resourceVersion: current.metadata.resourceVersion },
      data: { v: '3' },
    });
    assert.equal(fresh.statusCode, 200, fresh.body);
    assert.deepEqual((await read('pinned')).data, { v: '3' });
  });

  test('JSON patch is not served: 415 UnsupportedMediaType, nothing changes', async () => {
    await create('jsonpatch', { a: '1' });
    const r = await patch('jsonpatch', 'application/json-patch+json', [{ op: 'replace', path: '/data/a', value: '2' }]);
    assert.equal(r.statusCode, 415, r.body);
    assert.equal(r.json<{ reason: string }>().reason, 'UnsupportedMediaType');
    assert.deepEqual((await read('jsonpatch')).data, { a: '1' });
  });

  test('a patch that is not a JSON object is a 400; a patch of a missing object is a 404', async () => {
    await create('shape', { a: '1' });
    assert.equal((await patch('shape', 'application/merge-patch+json', ['x'])).statusCode, 400);
    assert.deepEqual((await read('shape')).data, { a: '1' });
    assert.equal((await patch('missing', 'application/merge-patch+json', { data: { a: '1' } })).statusCode, 404);
  });
});
