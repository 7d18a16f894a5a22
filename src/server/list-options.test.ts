/**
 * LIST and WATCH read options through the API server in process, as kube-apiserver answers them:
 * the `ValidateListOptions` combinations are 422 before anything is read; a LIST's resourceVersion
 * with `resourceVersionMatch=Exact` (or a legacy one with a limit) reads that very revision, 410 with
 * etcd's message once compacted; `NotOlderThan`, "0" and none read the newest; booleans parse as
 * apimachinery parses them (`watch=True` is a watch).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startTestApi, type TestApi } from '../../test/helpers/api-server.ts';
import { isObject } from '../base/json.ts';
import { LIST_EXPIRED_MESSAGE, queryFlag } from './list-options.ts';

const CMS = '/api/v1/namespaces/opts/configmaps';

async function create(api: TestApi, name: string): Promise<void> {
  assert.equal((await api.request('admin', 'POST', CMS, { metadata: { name } })).status, 201);
}

/** Names and resourceVersion of a LIST answer. */
async function list(api: TestApi, query: string): Promise<{ status: number; names: string[]; rv: string; message: string }> {
  const r = await api.request('admin', 'GET', `${CMS}?${query}`);
  const body: unknown = r.json();
  assert.ok(isObject(body));
  const items = Array.isArray(body.items) ? body.items : [];
  const names = items.map((i: unknown) => (isObject(i) && isObject(i.metadata) ? String(i.metadata.name) : ''));
  const rv = isObject(body.metadata) ? String(body.metadata.resourceVersion ?? '') : '';
  return { status: r.status, names, rv, message: typeof body.message === 'string' ? body.message : '' };
}

describe('read options', () => {
  test('ValidateListOptions: each forbidden combination is 422 Invalid with the Kubernetes detail', async () => {
    const api = await startTestApi();
    try {
      const cases: [string, string][] = [
        ['watch=true&sendInitialEvents=true', 'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan'],
        [
          'watch=true&sendInitialEvents=false&resourceVersionMatch=Exact',
          'sendInitialEvents requires setting resourceVersionMatch to NotOlderThan',
        ],
        [
          'watch=true&resourceVersionMatch=NotOlderThan',
          'resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided',
        ],
        ['resourceVersionMatch=NotOlderThan', 'resourceVersionMatch is forbidden unless resourceVersion is provided'],
        ['resourceVersion=0&resourceVersionMatch=Exact', 'resourceVersionMatch "exact" is forbidden for resourceVersion "0"'],
        ['resourceVersion=1&resourceVersionMatch=Newest', 'Unsupported value: "Newest": supported values: "Exact", "NotOlderThan", ""'],
        ['sendInitialEvents=true', 'sendInitialEvents is forbidden for list'],
      ];
      for (const [query, detail] of cases) {
        // A watch that wrongly passes must still end: timeoutSeconds bounds it.
        const r = await api.request('admin', 'GET', `${CMS}?${query}&timeoutSeconds=1`);
        assert.equal(r.status, 422, query);
        const body: unknown = r.json();
        assert.ok(isObject(body) && typeof body.message === 'string', query);
        assert.equal(body.reason, 'Invalid', query);
        assert.ok(body.message.startsWith('ListOptions.meta.k8s.io "" is invalid: '), body.message);
        assert.ok(body.message.includes(detail), `${query}: ${body.message}`);
      }
      // A watch-list without bookmarks is allowed, as kube-apiserver allows it (validating it would break old clients).
      const ok = await api.request(
        'admin',
        'GET',
        `${CMS}?watch=true&sendInitialEvents=true&resourceVersionMatch=NotOlderThan&timeoutSeconds=1`,
      );
      assert.equal(ok.status, 200);
    } finally {
      await api.close();
    }
  });

  test('LIST at a resourceVersion: Exact reads that revision, NotOlderThan/"0"/none the newest; compacted Exact is 410', async () => {
    const api = await startTestApi();
    try {
      await create(api, 'a');
      const at = await list(api, '');
      await create(api, 'b');
      const now = await list(api, '');
      assert.deepEqual(now.names, ['a', 'b']);
      const exact = await list(api, `resourceVersion=${at.rv}&resourceVersionMatch=Exact`);
      assert.deepEqual([exact.status, exact.names, exact.rv], [200, ['a'], at.rv]);
      // A legacy resourceVersion with a limit is exact too, as kube-apiserver serves it from etcd.
      const legacy = await list(api, `resourceVersion=${at.rv}&limit=10`);
      assert.deepEqual([legacy.names, legacy.rv], [['a'], at.rv]);
      for (const query of [`resourceVersion=${at.rv}&resourceVersionMatch=NotOlderThan`, `resourceVersion=${at.rv}`, 'resourceVersion=0']) {
        const r = await list(api, query);
        assert.deepEqual([r.names, r.rv], [['a', 'b'], now.rv], query);
      }
      await api.store.compact(Number(now.rv));
      const gone = await list(api, `resourceVersion=${at.rv}&resourceVersionMatch=Exact`);
      assert.deepEqual([gone.status, gone.message], [410, LIST_EXPIRED_MESSAGE]);
    } finally {
      await api.close();
    }
  });

  test('booleans as apimachinery converts them: absent is undefined, 0 and false are false, anything else (empty too) true', async () => {
    const flag = (q: string) => queryFlag(new URLSearchParams(q), 'x');
    assert.deepEqual(['', 'x=', 'x=0', 'x=false', 'x=FALSE', 'x=1', 'x=true', 'x=True', 'x=yes'].map(flag), [
      undefined,
      true,
      false,
      false,
      false,
      true,
      true,
      true,
      true,
    ]);
    const api = await startTestApi();
    try {
      await create(api, 'a');
      const r = await api.request('admin', 'GET', `${CMS}?watch=True&timeoutSeconds=1`);
      assert.equal(r.status, 200);
      assert.match(r.body, /^\{"type":"ADDED"/);
    } finally {
      await api.close();
    }
  });
});
