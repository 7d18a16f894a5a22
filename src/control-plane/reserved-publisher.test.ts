import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CONFIGMAPS, storeKeyOf } from '../api/cluster-client.ts';
import type { ReservedSource } from '../api/index.ts';
import { PUBLISHED_RESERVED_NAME, PUBLISHED_RESERVED_NAMESPACE, parsePublishedReserved } from '../api/published-reserved.ts';
import { FakeClock } from '../base/clock.ts';
import { openSqliteStore, type Store } from '../store/index.ts';
import { publishReserved, startReservedPublisher } from './reserved-publisher.ts';

const KEY = { resource: storeKeyOf(CONFIGMAPS), namespace: PUBLISHED_RESERVED_NAMESPACE, name: PUBLISHED_RESERVED_NAME };
const now = () => new Date('2026-12-01T00:00:00Z');
const source = (ip: string): ReservedSource => ({ source: 'API server certificate (pki/apiserver.crt)', dns: [], ip: [ip] });

async function published(store: Store) {
  return parsePublishedReserved(await store.get(KEY));
}

test("each server writes only its own entry and keeps the others'", async () => {
  const store = openSqliteStore({ path: ':memory:' });
  try {
    await publishReserved(store, 'cp-1', [source('10.0.0.1')], now());
    await publishReserved(store, 'cp-2', [source('10.0.0.2')], now());
    await publishReserved(store, 'cp-1', [source('10.0.0.11')], now());
    const { sources, malformed } = await published(store);
    assert.deepEqual(malformed, []);
    assert.deepEqual(sources.map((s) => `${s.source}: ${s.ip.join(',')}`).sort(), [
      'API server certificate (pki/apiserver.crt) of server cp-1: 10.0.0.11',
      'API server certificate (pki/apiserver.crt) of server cp-2: 10.0.0.2',
    ]);
    const rv = (await store.get(KEY)).metadata.resourceVersion;
    await publishReserved(store, 'cp-2', [source('10.0.0.2')], now());
    assert.equal((await store.get(KEY)).metadata.resourceVersion, rv, 'an unchanged entry is not written again');
  } finally {
    await store.close();
  }
});

test('servers publishing at once all land (compare-and-swap retried)', async () => {
  const store = openSqliteStore({ path: ':memory:' });
  try {
    await Promise.all(Array.from({ length: 6 }, (_, i) => publishReserved(store, `cp-${i}`, [source(`10.0.1.${i}`)], now())));
    assert.equal((await published(store)).sources.length, 6);
  } finally {
    await store.close();
  }
});

test('the publisher publishes again when its certificates change, at its next look', async () => {
  const store = openSqliteStore({ path: ':memory:' });
  const clock = new FakeClock();
  let mine = [source('10.0.0.1')];
  const publisher = await startReservedPublisher({
    store,
    server: 'cp-1',
    sources: () => mine,
    now,
    clock,
    intervalMs: 10_000,
    onError: (e) => assert.fail(String(e)),
  });
  try {
    mine = [source('10.0.0.1'), source('10.0.0.9')];
    clock.advance(9_999);
    await new Promise((r) => setImmediate(r));
    assert.equal((await published(store)).sources.length, 1);
    clock.advance(1);
    for (let i = 0; i < 20 && (await published(store)).sources.length < 2; i++) await new Promise((r) => setImmediate(r));
    assert.deepEqual(
      (await published(store)).sources.flatMap((s) => s.ip),
      ['10.0.0.1', '10.0.0.9'],
    );
  } finally {
    publisher.close();
    await store.close();
  }
});

test('an entry that is not a list of {source, dns, ip} is reported, and reserves nothing', () => {
  const { sources, malformed } = parsePublishedReserved({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: PUBLISHED_RESERVED_NAME, namespace: PUBLISHED_RESERVED_NAMESPACE },
    data: { good: JSON.stringify([{ source: 's', dns: ['a.example'], ip: [] }]), bad: '{"source":1}', worse: 'not json' },
  });
  assert.deepEqual(malformed, ['bad', 'worse']);
  assert.deepEqual(sources, [{ source: 's of server good', dns: ['a.example'], ip: [] }]);
});
