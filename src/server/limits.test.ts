/**
 * Limits per requester through the API server in process: the pending-CSR cap and the CSR byte
 * budget (also under concurrent creates), the create rate (429 with Retry-After), the open-watch
 * cap and its release, and the annotation size rule on create, update and patch. Every refused
 * write is checked to have stored nothing.
 */
import assert from 'node:assert/strict';
import { request as httpsRequest } from 'node:https';
import { describe, test } from 'node:test';
import { CSRS, csrBody, startTestApi, type TestApi, TOKENS } from '../../test/helpers/api-server.ts';
import { tempDir } from '../../test/helpers/processes.ts';
import { openSqliteStore } from '../store/index.ts';
import { CsrLedger, jsonSize } from './limits.ts';
import { storeResourceOf } from './registry.ts';
import { csrResource } from './resources.ts';

const CMS = '/api/v1/namespaces/default/configmaps';

function status(r: { json: () => unknown }): {
  reason?: string;
  message?: string;
  details?: { causes?: { field?: string }[]; retryAfterSeconds?: number };
} {
  const body = r.json();
  assert.ok(typeof body === 'object' && body !== null);
  return body;
}

async function names(api: TestApi, url: string): Promise<string[]> {
  const r = await api.request('admin', 'GET', url);
  assert.equal(r.status, 200);
  const body = r.json() as { items: { metadata: { name: string } }[] };
  return body.items.map((i) => i.metadata.name);
}

async function eventually(what: string, probe: () => Promise<boolean>): Promise<void> {
  const end = Date.now() + 5000;
  while (!(await probe())) {
    if (Date.now() > end) assert.fail(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

describe('pending CSRs per requester', () => {
  test('past the count the create is 403 naming the limit and its flag, stores nothing, and other users are unaffected', async () => {
    const api = await startTestApi({ limits: { maxPendingCsrsPerUser: 3 } });
    try {
      for (const n of ['a1', 'a2', 'a3']) assert.equal((await api.request('alice', 'POST', CSRS, csrBody(n))).status, 201);
      const refused = await api.request('alice', 'POST', CSRS, csrBody('a4'));
      assert.equal(refused.status, 403);
      assert.equal(status(refused).reason, 'Forbidden');
      assert.match(status(refused).message ?? '', /--max-pending-csrs-per-user/);
      assert.equal((await api.request('bob', 'POST', CSRS, csrBody('b1'))).status, 201, 'the limit is per requester');
      assert.deepEqual((await names(api, CSRS)).sort(), ['a1', 'a2', 'a3', 'b1']);
      // A decision ends pending: once the ledger sees the Denied condition, alice has room again.
      const a1 = (await api.request('admin', 'GET', `${CSRS}/a1`)).json() as Record<string, unknown>;
      const denied = {
        ...a1,
        status: { conditions: [{ type: 'Denied', status: 'True', reason: 'Test', message: 'no', lastUpdateTime: '2026-01-01T00:00:00Z' }] },
      };
      assert.equal((await api.request('admin', 'PUT', `${CSRS}/a1/approval`, denied)).status, 200);
      await eventually('room after a denial', async () => (await api.request('alice', 'POST', CSRS, csrBody('a4'))).status === 201);
      assert.equal((await api.request('alice', 'POST', CSRS, csrBody('a5'))).status, 403);
      // So does a deletion.
      assert.equal((await api.request('admin', 'DELETE', `${CSRS}/a2`)).status, 200);
      await eventually('room after a deletion', async () => (await api.request('alice', 'POST', CSRS, csrBody('a5'))).status === 201);
    } finally {
      await api.close();
    }
  });

  test('60 concurrent creates by one requester never pass the count', async () => {
    const api = await startTestApi({ limits: { maxPendingCsrsPerUser: 7 } });
    try {
      const results = await Promise.all(Array.from({ length: 60 }, (_, i) => api.request('alice', 'POST', CSRS, csrBody(`c${i}`))));
      assert.equal(results.filter((r) => r.status === 201).length, 7);
      assert.equal(results.filter((r) => r.status === 403).length, 53);
      assert.equal((await names(api, CSRS)).length, 7);
      // And once the ledger has followed the watch, the count still holds.
      await new Promise((r) => setTimeout(r, 50));
      assert.equal((await api.request('alice', 'POST', CSRS, csrBody('late'))).status, 403);
    } finally {
      await api.close();
    }
  });

  test('the byte budget counts the JSON of every stored CSR of the requester, and holds under concurrency', async () => {
    const budget = 40_000;
    const api = await startTestApi({ limits: { maxCsrBytesPerUser: budget } });
    try {
      const big = { note: 'x'.repeat(6000) };
      const results = await Promise.all(Array.from({ length: 30 }, (_, i) => api.request('alice', 'POST', CSRS, csrBody(`big${i}`, big))));
      const created = results.filter((r) => r.status === 201);
      const refused = results.filter((r) => r.status === 403);
      assert.ok(created.length >= 4 && created.length < 30, `${created.length} created`);
      assert.equal(created.length + refused.length, 30);
      assert.match(status(refused[0] ?? assert.fail('none refused')).message ?? '', /--max-csr-bytes-per-user/);
      const listed = (await api.request('admin', 'GET', CSRS)).json() as { items: unknown[] };
      assert.equal(listed.items.length, created.length, 'refused creates stored nothing');
      const stored = listed.items.reduce<number>((sum, o) => sum + jsonSize(o), 0);
      assert.ok(stored <= budget * 1.01, `${stored} bytes stored against a budget of ${budget}`);
      assert.equal((await api.request('bob', 'POST', CSRS, csrBody('bob', big))).status, 201);
    } finally {
      await api.close();
    }
  });
});

describe('the CSR ledger', () => {
  test('a ledger whose watch falls behind (GONE) re-lists and counts right again', async () => {
    const store = openSqliteStore({ path: ':memory:', maxWatchBacklog: 2 });
    const ledger = new CsrLedger({ store, maxPending: 100, maxBytes: 10_000_000, onError: (e) => assert.fail(String(e)) });
    await ledger.start();
    try {
      const resource = storeResourceOf(csrResource);
      const csr = (name: string, user: string, status?: Record<string, unknown>) => ({
        metadata: { name },
        spec: { username: user },
        ...(status ? { status } : {}),
      });
      // One turn of writes overflows the ledger's watch backlog, so it must re-list to catch up.
      await Promise.all(Array.from({ length: 10 }, (_, i) => store.create({ resource, namespace: '', name: `x${i}` }, csr(`x${i}`, 'u'))));
      await store.create({ resource, namespace: '', name: 'done' }, csr('done', 'u', { certificate: 'Y2VydA==' }));
      await eventually('the ledger catching up', async () => ledger.of('u').pending === 10);
      assert.ok(ledger.of('u').bytes > 0);
    } finally {
      await ledger.close();
      await store.close();
    }
  });
});

describe('create rate per requester', () => {
  test('past the burst a create is 429 with Retry-After, and the bucket refills with time', async () => {
    const api = await startTestApi({ limits: { createsPerSecondPerUser: 1, createBurstPerUser: 2 } });
    try {
      for (const n of ['r1', 'r2']) assert.equal((await api.request('alice', 'POST', CMS, { metadata: { name: n } })).status, 201);
      const limited = await api.request('alice', 'POST', CMS, { metadata: { name: 'r3' } });
      assert.equal(limited.status, 429);
      assert.equal(limited.headers['retry-after'], '1');
      assert.equal(status(limited).reason, 'TooManyRequests');
      assert.equal(status(limited).details?.retryAfterSeconds, 1);
      assert.match(status(limited).message ?? '', /--creates-per-second-per-user/);
      assert.equal((await api.request('bob', 'POST', CMS, { metadata: { name: 'b1' } })).status, 201, 'per requester');
      assert.deepEqual((await names(api, CMS)).sort(), ['b1', 'r1', 'r2']);
      api.advance(1000);
      assert.equal((await api.request('alice', 'POST', CMS, { metadata: { name: 'r3' } })).status, 201);
      assert.equal((await api.request('alice', 'POST', CMS, { metadata: { name: 'r4' } })).status, 429);
    } finally {
      await api.close();
    }
  });
});

describe('open watches per requester', () => {
  test('past the cap a watch is 429; a slot comes back when a watch times out or its client goes away', async () => {
    const api = await startTestApi({ limits: { maxWatchesPerUser: 2 } });
    const dir = tempDir('watch-limit');
    try {
      const held = [1, 2].map(() => api.request('alice', 'GET', `${CMS}?watch=true&timeoutSeconds=1`));
      await new Promise((r) => setTimeout(r, 100));
      const third = await api.request('alice', 'GET', `${CMS}?watch=true&timeoutSeconds=1`);
      assert.equal(third.status, 429);
      assert.match(status(third).message ?? '', /--max-watches-per-user/);
      assert.equal(third.headers['retry-after'], '1');
      assert.equal((await api.request('bob', 'GET', `${CMS}?watch=true&timeoutSeconds=1`)).status, 200, 'per requester');
      for (const r of await Promise.all(held)) assert.equal(r.status, 200);
      assert.equal(
        (await api.request('alice', 'GET', `${CMS}?watch=true&timeoutSeconds=1`)).status,
        200,
        'timed-out watches gave their slots back',
      );

      // A client that disconnects: both slots taken over real connections, then dropped.
      await api.listen(dir.path);
      const addr = api.server.app.server.address();
      assert.ok(addr !== null && typeof addr === 'object');
      const open = () =>
        new Promise<() => void>((resolve, reject) => {
          const req = httpsRequest(
            {
              host: '127.0.0.1',
              port: addr.port,
              path: `${CMS}?watch=true`,
              rejectUnauthorized: false,
              headers: { authorization: `Bearer ${TOKENS.alice}` },
            },
            (res) => {
              assert.equal(res.statusCode, 200);
              resolve(() => req.destroy());
            },
          );
          req.on('error', () => {});
          req.once('error', reject);
          req.end();
        });
      const drops = [await open(), await open()];
      assert.equal((await api.request('alice', 'GET', `${CMS}?watch=true&timeoutSeconds=1`)).status, 429);
      for (const drop of drops) drop();
      await eventually(
        'slots released by disconnects',
        async () => (await api.request('alice', 'GET', `${CMS}?watch=true&timeoutSeconds=1`)).status === 200,
      );
    } finally {
      await api.close();
      dir.remove();
    }
  });
});

describe('annotation size', () => {
  const KIB = 1024;
  /** Annotations whose keys and values total exactly `bytes`. */
  const annotations = (bytes: number, key = 'a') => ({ [key]: 'x'.repeat(bytes - key.length) });

  test('over 256 KiB in total is 422 Invalid on metadata.annotations for any resource, and stores nothing; exactly 256 KiB is fine', async () => {
    const api = await startTestApi({ maxBodyBytes: 1024 * KIB });
    try {
      const over = await api.request('admin', 'POST', CMS, { metadata: { name: 'over', annotations: annotations(256 * KIB + 1) } });
      assert.equal(over.status, 422);
      assert.equal(status(over).reason, 'Invalid');
      assert.equal(status(over).details?.causes?.[0]?.field, 'metadata.annotations');
      assert.equal((await api.request('admin', 'GET', `${CMS}/over`)).status, 404);
      const split = { ...annotations(128 * KIB, 'one'), ...annotations(128 * KIB + 1, 'two') };
      assert.equal((await api.request('alice', 'POST', CSRS, csrBody('csr-over', split))).status, 422);
      assert.equal((await api.request('admin', 'GET', `${CSRS}/csr-over`)).status, 404);
      assert.equal(
        (await api.request('admin', 'POST', CMS, { metadata: { name: 'exact', annotations: annotations(256 * KIB) } })).status,
        201,
      );
    } finally {
      await api.close();
    }
  });

  test('a patch or an update that takes the total over 256 KiB is 422 and leaves the object as it was', async () => {
    const api = await startTestApi({ maxBodyBytes: 1024 * KIB });
    try {
      const created = await api.request('admin', 'POST', CMS, { metadata: { name: 'grow', annotations: annotations(200 * KIB) } });
      assert.equal(created.status, 201);
      const before = (await api.request('admin', 'GET', `${CMS}/grow`)).body;
      const patched = await api.request('admin', 'PATCH', `${CMS}/grow`, { metadata: { annotations: annotations(100 * KIB, 'b') } });
      assert.equal(patched.status, 422);
      assert.equal(status(patched).details?.causes?.[0]?.field, 'metadata.annotations');
      const current = created.json() as { metadata: Record<string, unknown> };
      const put = await api.request('admin', 'PUT', `${CMS}/grow`, {
        ...current,
        metadata: { ...current.metadata, annotations: { ...annotations(200 * KIB), ...annotations(100 * KIB, 'b') } },
      });
      assert.equal(put.status, 422);
      assert.equal((await api.request('admin', 'GET', `${CMS}/grow`)).body, before);
    } finally {
      await api.close();
    }
  });
});
