/**
 * The runtime's informer over the real SQLite store through storeListWatch: revisions become
 * resourceVersions and back, a watch from a compacted revision fails with the store's GONE, and
 * that GONE makes the informer re-list and report what changed while it could not watch.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ListWatch } from '../src/api/list-watch.ts';
import { FakeClock } from '../src/base/clock.ts';
import { Informer } from '../src/runtime/informer.ts';
import { openSqliteStore, type Store, type StoredObject, storeListWatch } from '../src/store/index.ts';

const R = 'v1/configmaps';
const key = (name: string) => ({ resource: R, namespace: 'ns', name });
const cm = (name: string, value: string): StoredObject => ({ metadata: { name, namespace: 'ns' }, data: { value } });

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

async function put(store: Store, name: string, value: string): Promise<void> {
  const old = await store.get(key(name)).catch(() => undefined);
  if (old === undefined) await store.create(key(name), cm(name, value));
  else await store.update(key(name), cm(name, value), { expectedResourceVersion: String(old.metadata.resourceVersion) });
}

describe('storeListWatch', () => {
  test('lists at the store revision, watches from it, and passes GONE through for a compacted revision', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    try {
      await put(store, 'a', '1');
      await store.create({ resource: R, namespace: 'other', name: 'x' }, { metadata: { name: 'x', namespace: 'other' } });
      const lw = storeListWatch(store, R, 'ns');
      const stop = new AbortController();
      const listed = await lw.list(stop.signal);
      assert.equal(listed.resourceVersion, String(await store.revision()));
      assert.deepEqual(
        listed.items.map((o) => o.metadata.name),
        ['a'],
        'only the namespace asked for',
      );
      await put(store, 'a', '2');
      const iterator = lw.watch(listed.resourceVersion, stop.signal)[Symbol.asyncIterator]();
      const first = await iterator.next();
      assert.equal(first.value?.type, 'MODIFIED');
      assert.equal(first.value?.object.metadata.resourceVersion, '3');
      stop.abort();
      await store.compact(3);
      await assert.rejects(
        async () => {
          for await (const _ of lw.watch('1', new AbortController().signal)) break;
        },
        (e: unknown) => code(e) === 'GONE',
      );
      await assert.rejects(
        async () => {
          for await (const _ of lw.watch('1x', new AbortController().signal)) break;
        },
        (e: unknown) => code(e) === 'INVALID',
      );
    } finally {
      await store.close();
    }
  });

  test('an informer whose watch meets compaction re-lists and reports exactly what changed', async () => {
    const store = openSqliteStore({ path: ':memory:' });
    const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
    try {
      for (const name of ['a', 'b', 'c']) await put(store, name, '1');
      const inner = storeListWatch(store, R, 'ns');
      let lists = 0;
      // Between the first list and its watch, the objects change and the history is compacted,
      // as when a controller falls behind: the watch from the list's revision must meet GONE.
      const lw: ListWatch<StoredObject> = {
        list: async (signal) => {
          const listed = await inner.list(signal);
          if (++lists === 1) {
            await put(store, 'a', '2');
            await store.delete(key('b'));
            await put(store, 'd', '1');
            await store.compact(await store.revision());
          }
          return listed;
        },
        watch: (rv, signal) => inner.watch(rv, signal),
      };
      const errors: unknown[] = [];
      const informer = new Informer({ source: lw, clock, onError: (e) => errors.push(e) });
      const events: string[] = [];
      informer.onChange((k, type) => events.push(`${type} ${k}`));
      await informer.start();
      assert.deepEqual(events.splice(0).sort(), ['ADDED ns/a', 'ADDED ns/b', 'ADDED ns/c']);
      await settle();
      assert.equal(lists, 1);
      clock.advance(800);
      await settle();
      assert.equal(lists, 2, 'GONE made it re-list');
      assert.deepEqual(errors, []);
      assert.deepEqual(events.splice(0).sort(), ['ADDED ns/d', 'DELETED ns/b', 'MODIFIED ns/a']);
      assert.deepEqual(informer.get('ns', 'a')?.data, { value: '2' });
      assert.equal(informer.resourceVersion, String(await store.revision()));
      await put(store, 'c', '2');
      await settle();
      assert.deepEqual(events.splice(0), ['MODIFIED ns/c'], 'and watches on from the re-list');
      await informer.close();
    } finally {
      await store.close();
    }
  });
});
