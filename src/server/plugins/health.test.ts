/**
 * Health routes in process: `/readyz` is 503 until the server's `ready()` says true, then 200;
 * `/livez` and `/healthz` are 200 throughout; `/version` answers the build given to the factory.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../testing.ts';

describe('health and readiness', () => {
  let api: TestApi;
  let ready = false;
  before(async () => {
    api = await startTestApi({ ready: () => ready });
  });
  after(async () => {
    await api?.close();
  });
  const get = (url: string) => api.server.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });

  test('/readyz is 503 until ready() is true, then 200; /livez and /healthz are 200 throughout', async () => {
    ready = false;
    assert.equal((await get('/readyz')).statusCode, 503);
    assert.equal((await get('/livez')).statusCode, 200);
    assert.equal((await get('/healthz')).statusCode, 200);
    ready = true;
    const r = await get('/readyz');
    assert.equal(r.statusCode, 200);
    assert.equal(r.body, 'ok');
    assert.equal((await get('/livez')).statusCode, 200);
    ready = false;
    assert.equal((await get('/readyz')).statusCode, 503, 'readiness is asked on every request, not once');
  });

  test('/version is the version the server was built with', async () => {
    assert.deepEqual((await get('/version')).json(), { major: '1', minor: '33' });
  });

  test('health and discovery paths answer any method once authorised, as the catch-all route did', async () => {
    ready = true;
    for (const method of ['HEAD', 'POST', 'PUT', 'DELETE'] as const) {
      const r = await api.server.app.inject({ method, url: '/readyz', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(r.statusCode, 200, method);
      const d = await api.server.app.inject({ method, url: '/apis', headers: { authorization: `Bearer ${ADMIN_TOKEN}` } });
      assert.equal(d.statusCode, 200, method);
    }
  });
});
