/**
 * The API server's `/metrics` in process: authorised as kube-apiserver's (403 without `get` on
 * the non-resource URL, 200 with the system:monitoring role's rules), requests counted by verb,
 * resource and code with their latency, failed authentications counted by method, each server
 * with its own registry, and the output accepted by Debian's promtool.
 */
import assert from 'node:assert/strict';
import { finished } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import { promtoolCheckMetrics, sample } from '../../../test/helpers/metrics.ts';
import { toolSkip } from '../../../test/helpers/processes.ts';
import { MONITORING_RULES } from '../bootstrap-policy.ts';
import { startTestApiWithRoles, type TestApi } from '../testing.ts';

describe('/metrics on the API server', () => {
  let api: TestApi;
  let other: TestApi;
  before(async () => {
    api = await startTestApiWithRoles({ monitor: [...MONITORING_RULES], nobody: [] });
    other = await startTestApiWithRoles({});
  });
  after(async () => {
    await api?.close();
    await other?.close();
  });

  test('is refused (403) without get on /metrics, served with system:monitoring', async () => {
    const refused = await api.request('nobody', 'GET', '/metrics');
    assert.equal(refused.statusCode, 403);
    const served = await api.request('monitor', 'GET', '/metrics');
    assert.equal(served.statusCode, 200);
    assert.match(served.body, /^# HELP tlsboot_apiserver_request_total /m);
  });

  test('counts requests by verb, resource and code, with latency, and failed tokens by method', async () => {
    for (let i = 0; i < 3; i++)
      assert.equal((await api.request('admin', 'GET', '/apis/certificates.k8s.io/v1/certificatesigningrequests')).statusCode, 200);
    assert.equal((await api.request('nobody', 'GET', '/api/v1/namespaces/default/configmaps/x')).statusCode, 403);
    assert.equal((await api.request('not-a-token', 'GET', '/api')).statusCode, 401);
    const text = (await api.request('monitor', 'GET', '/metrics')).body;
    const list = { verb: 'list', group: 'certificates.k8s.io', resource: 'certificatesigningrequests', subresource: '' };
    assert.equal(sample(text, 'tlsboot_apiserver_request_total', { ...list, code: '200' }), 3);
    assert.equal(sample(text, 'tlsboot_apiserver_request_duration_seconds_count', list), 3);
    assert.equal(sample(text, 'tlsboot_apiserver_request_total', { verb: 'get', group: '', resource: 'configmaps', code: '403' }), 1);
    assert.equal(sample(text, 'tlsboot_apiserver_request_total', { verb: 'get', resource: '', code: '401' }), 1);
    assert.equal(sample(text, 'tlsboot_authentication_failures_total', { method: 'token' }), 1);
    assert.equal(sample(text, 'tlsboot_apiserver_open_watches'), 0);
  });

  test('an open watch shows in the gauge until it ends, and counts as a request without a duration', async () => {
    const client = new AbortController();
    const watch = await api.server.app.inject({
      method: 'GET',
      url: '/api/v1/namespaces/default/configmaps?watch=true',
      headers: { authorization: 'Bearer admin' },
      payloadAsStream: true,
      signal: client.signal,
    });
    assert.equal(watch.statusCode, 200);
    const open = (await api.request('monitor', 'GET', '/metrics')).body;
    assert.equal(sample(open, 'tlsboot_apiserver_open_watches'), 1);
    const ended = finished(watch.stream()).catch(() => 'aborted');
    client.abort();
    await ended;
    let text = '';
    for (let i = 0; i < 50; i++) {
      text = (await api.request('monitor', 'GET', '/metrics')).body;
      if (sample(text, 'tlsboot_apiserver_open_watches') === 0) break;
      await new Promise((r) => setTimeout(r, 20));
    }
    assert.equal(sample(text, 'tlsboot_apiserver_open_watches'), 0);
    const labels = { verb: 'watch', group: '', resource: 'configmaps', subresource: '' };
    assert.equal(sample(text, 'tlsboot_apiserver_request_total', { ...labels, code: '200' }), 1);
    assert.equal(sample(text, 'tlsboot_apiserver_request_duration_seconds_count', labels), undefined);
  });

  test('each server counts in its own registry', async () => {
    const text = (await other.request('admin', 'GET', '/metrics')).body;
    assert.equal(sample(text, 'tlsboot_authentication_failures_total', { method: 'token' }), undefined);
    assert.equal(
      sample(text, 'tlsboot_apiserver_request_total', {
        verb: 'list',
        resource: 'certificatesigningrequests',
        code: '200',
      }),
      undefined,
    );
  });

  test('promtool check metrics accepts the output', { skip: toolSkip('promtool') }, async () => {
    const text = (await api.request('monitor', 'GET', '/metrics')).body;
    const r = promtoolCheckMetrics(text);
    assert.equal(r.status, 0, r.output);
  });
});
