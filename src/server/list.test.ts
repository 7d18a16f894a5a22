/**
 * LIST paging and streaming through the API server in process: limit/continue return every
 * object exactly once at the first page's resourceVersion while objects change, the Table form
 * pages the same way, an expired continue token is 410 Expired and a malformed one 400, and a
 * large list leaves the server as a chunked stream rather than one buffered body.
 */
import assert from 'node:assert/strict';
import { get as httpsGet } from 'node:https';
import { describe, test } from 'node:test';
import { startTestApi, type TestApi, TOKENS } from '../../test/helpers/api-server.ts';
import { tempDir } from '../../test/helpers/processes.ts';
import { openSqliteStore } from '../store/index.ts';
import { CONTINUE_EXPIRED_MESSAGE, encodeContinue } from './list.ts';

const CMS = '/api/v1/namespaces/paging/configmaps';
const TABLE = 'application/json;as=Table;v=v1;g=meta.k8s.io,application/json';

interface ListBody {
  metadata: { resourceVersion: string; continue?: string; remainingItemCount?: number };
  items?: { metadata: { name: string }; data?: Record<string, string> }[];
  rows?: { cells: unknown[] }[];
}

async function create(api: TestApi, name: string, data: Record<string, string> = {}): Promise<void> {
  const r = await api.request('admin', 'POST', CMS, {
    metadata: { name, labels: { even: String(Number(name.slice(-2)) % 2 === 0) } },
    data,
  });
  assert.equal(r.status, 201, r.body);
}

async function page(api: TestApi, query: string, accept?: string): Promise<ListBody> {
  const r = await api.request('admin', 'GET', `${CMS}?${query}`, undefined, accept ? { accept } : {});
  assert.equal(r.status, 200, r.body);
  return r.json() as ListBody;
}

const name = (i: number) => `cm-${String(i).padStart(2, '0')}`;

describe('LIST with limit and continue', () => {
  test('pages return every object once, in key order, as of the first page, while objects are added, changed and deleted', async () => {
    const api = await startTestApi();
    try {
      for (let i = 10; i < 35; i++) await create(api, name(i), { v: '1' });
      const first = await page(api, 'limit=10');
      assert.equal(first.items?.length, 10);
      assert.equal(first.metadata.remainingItemCount, 15);
      assert.ok(first.metadata.continue);
      const seen = (first.items ?? []).map((i) => i.metadata.name);
      let token: string | undefined = first.metadata.continue;
      let round = 0;
      while (token) {
        // Between pages: objects before and after the cursor appear, one later object changes, one goes.
        await create(api, name(round), { v: 'new' });
        await create(api, `${name(34)}-${round}`, { v: 'new' });
        if (round === 0) {
          const patched = await api.request('admin', 'PATCH', `${CMS}/${name(30)}`, { data: { v: '2' } });
          assert.equal(patched.status, 200);
          assert.equal((await api.request('admin', 'DELETE', `${CMS}/${name(31)}`)).status, 200);
        }
        const next = await page(api, `limit=10&continue=${encodeURIComponent(token)}`);
        assert.equal(next.metadata.resourceVersion, first.metadata.resourceVersion, 'later pages describe the first page’s revision');
        for (const item of next.items ?? []) {
          seen.push(item.metadata.name);
          assert.equal(item.data?.v, '1', `${item.metadata.name} as it was at the first page`);
        }
        token = next.metadata.continue;
        round++;
      }
      assert.deepEqual(
        seen,
        Array.from({ length: 25 }, (_, i) => name(i + 10)),
      );
      assert.equal(round, 2);
      // A fresh list sees the present.
      const now = await page(api, '');
      assert.equal(now.metadata.continue, undefined);
      assert.ok(now.items?.some((i) => i.metadata.name === name(0)));
      assert.ok(!now.items?.some((i) => i.metadata.name === name(31)));
    } finally {
      await api.close();
    }
  });

  test('the Table form pages the same way; with a selector the limit counts matches and no remainingItemCount is given', async () => {
    const api = await startTestApi();
    try {
      for (let i = 10; i < 17; i++) await create(api, name(i));
      const rows: unknown[] = [];
      let token: string | undefined = '';
      for (let n = 0; token !== undefined && n < 10; n++) {
        const t = await page(api, `limit=3${token ? `&continue=${encodeURIComponent(token)}` : ''}`, TABLE);
        rows.push(...(t.rows ?? []).map((r) => r.cells[0]));
        token = t.metadata.continue;
      }
      assert.deepEqual(
        rows,
        Array.from({ length: 7 }, (_, i) => name(i + 10)),
      );
      const even = await page(api, 'limit=2&labelSelector=even%3Dtrue');
      assert.deepEqual(
        even.items?.map((i) => i.metadata.name),
        [name(10), name(12)],
      );
      assert.ok(even.metadata.continue);
      assert.equal(even.metadata.remainingItemCount, undefined);
      const rest = await page(api, `limit=2&labelSelector=even%3Dtrue&continue=${encodeURIComponent(even.metadata.continue ?? '')}`);
      assert.deepEqual(
        rest.items?.map((i) => i.metadata.name),
        [name(14), name(16)],
      );
    } finally {
      await api.close();
    }
  });

  test('a continue token whose revision was compacted is 410 Expired with the Kubernetes message', async () => {
    const api = await startTestApi();
    try {
      for (let i = 10; i < 15; i++) await create(api, name(i));
      const first = await page(api, 'limit=2');
      await create(api, name(20));
      await api.store.compact(await api.store.revision());
      const r = await api.request('admin', 'GET', `${CMS}?limit=2&continue=${encodeURIComponent(first.metadata.continue ?? '')}`);
      assert.equal(r.status, 410);
      const body = r.json() as { reason: string; message: string; code: number };
      assert.equal(body.reason, 'Expired');
      assert.equal(body.message, CONTINUE_EXPIRED_MESSAGE);
      assert.equal(body.code, 410);
    } finally {
      await api.close();
    }
  });

  test('a malformed continue token or limit is 400 BadRequest', async () => {
    const api = await startTestApi();
    try {
      await create(api, name(10));
      await create(api, name(11));
      const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
      for (const token of [
        'not base64!',
        Buffer.from('not json').toString('base64url'),
        b64({ v: 'meta.k8s.io/v2', rv: 1, start: 'a\u0000' }),
        b64({ v: 'meta.k8s.io/v1', rv: 0, start: 'a\u0000' }),
        b64({ v: 'meta.k8s.io/v1', rv: 1, start: '' }),
        b64({ v: 'meta.k8s.io/v1', rv: 1, start: 'other/ns\u0000' }),
        encodeContinue(10 ** 9, { namespace: 'paging', name: 'a' }, false),
      ]) {
        const r = await api.request('admin', 'GET', `${CMS}?limit=1&continue=${encodeURIComponent(token)}`);
        assert.equal(r.status, 400, `${token}: ${r.body}`);
        assert.equal((r.json() as { reason: string }).reason, 'BadRequest');
      }
      assert.equal((await api.request('admin', 'GET', `${CMS}?limit=ten`)).status, 400);
      const first = await page(api, 'limit=1');
      assert.ok(first.metadata.continue);
      const both = await api.request(
        'admin',
        'GET',
        `${CMS}?limit=1&resourceVersion=1&continue=${encodeURIComponent(first.metadata.continue)}`,
      );
      assert.equal(both.status, 400, 'a resourceVersion besides a continue token');
    } finally {
      await api.close();
    }
  });
});

describe('LIST streaming', () => {
  test('a large list is streamed with back-pressure: store pages are read as the client reads, not all before the first byte', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    let pages = 0;
    const listPageJson = store.listPageJson.bind(store);
    store.listPageJson = (resource, options) => {
      pages++;
      return listPageJson(resource, options);
    };
    const payload = 'p'.repeat(5000);
    const count = 4000;
    for (let i = 0; i < count; i += 500) {
      await Promise.all(
        Array.from({ length: 500 }, (_, j) => {
          const name = `s-${String(i + j).padStart(4, '0')}`;
          return store.create(
            { resource: 'core/configmaps', namespace: 'paging', name },
            { metadata: { name, namespace: 'paging' }, data: { payload } },
          );
        }),
      );
    }
    const api = await startTestApi({ store });
    const dir = tempDir('stream');
    try {
      await api.listen(dir.path);
      const addr = api.server.app.server.address();
      assert.ok(addr !== null && typeof addr === 'object');
      const baseline = pages;
      const seen = await new Promise<{ atFirstByte: number; afterPause: number; headers: Record<string, unknown>; body: string }>(
        (resolve, reject) => {
          httpsGet(
            {
              host: '127.0.0.1',
              port: addr.port,
              path: CMS,
              rejectUnauthorized: false,
              headers: { authorization: `Bearer ${TOKENS.admin}` },
            },
            (res) => {
              const parts: Buffer[] = [];
              let atFirstByte = -1;
              let afterPause = -1;
              res.on('data', (c: Buffer) => {
                parts.push(c);
                if (atFirstByte >= 0) return;
                atFirstByte = pages - baseline;
                // A client that stops reading: the server must stop reading the store too.
                res.pause();
                setTimeout(() => {
                  afterPause = pages - baseline;
                  res.resume();
                }, 300);
              });
              res.on('end', () => resolve({ atFirstByte, afterPause, headers: res.headers, body: Buffer.concat(parts).toString() }));
              res.on('error', reject);
            },
          ).on('error', reject);
        },
      );
      const total = pages - baseline;
      assert.equal(seen.headers['transfer-encoding'], 'chunked');
      assert.ok(total >= 15, `${total} store pages for ${count} objects of 5 KB`);
      assert.ok(seen.atFirstByte <= 2, `the first bytes left after ${seen.atFirstByte} of ${total} pages`);
      assert.ok(seen.afterPause < total / 2, `a paused client held the server at ${seen.afterPause} of ${total} pages`);
      const list = JSON.parse(seen.body) as ListBody & { kind: string };
      assert.equal(list.kind, 'ConfigMapList');
      assert.equal(list.items?.length, count);
      assert.equal(list.metadata.continue, undefined);
    } finally {
      await api.close();
      dir.remove();
    }
  });
});

describe('LIST pinned to one name', () => {
  test('a metadata.name field selector reads that one key from the store, namespaced or cluster-scoped; != still scans', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const asked: { name?: string; namespace?: string }[] = [];
    const listPageJson = store.listPageJson.bind(store);
    store.listPageJson = (resource, options) => {
      asked.push({
        ...(options.name === undefined ? {} : { name: options.name }),
        ...(options.namespace === undefined ? {} : { namespace: options.namespace }),
      });
      return listPageJson(resource, options);
    };
    const api = await startTestApi({ store });
    try {
      for (const i of [10, 11, 12]) await create(api, name(i));
      asked.length = 0;
      const one = await page(api, `fieldSelector=${encodeURIComponent('metadata.name=cm-11')}`);
      assert.deepEqual(
        (one.items ?? []).map((i) => i.metadata.name),
        ['cm-11'],
      );
      assert.deepEqual(asked, [{ name: 'cm-11', namespace: 'paging' }]);
      asked.length = 0;
      const others = await page(api, `fieldSelector=${encodeURIComponent('metadata.name!=cm-11')}`);
      assert.deepEqual(
        (others.items ?? []).map((i) => i.metadata.name),
        ['cm-10', 'cm-12'],
      );
      assert.deepEqual(asked, [{ namespace: 'paging' }]);
      asked.length = 0;
      const csrs = await api.request(
        'admin',
        'GET',
        `/apis/certificates.k8s.io/v1/certificatesigningrequests?fieldSelector=${encodeURIComponent('metadata.name=node-csr-x')}`,
      );
      assert.equal(csrs.status, 200, csrs.body);
      assert.deepEqual(asked, [{ name: 'node-csr-x', namespace: '' }]);
    } finally {
      await api.close();
    }
  });
});
