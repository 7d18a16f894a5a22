/**
 * The Store conformance suite: every rule of the contract in types.ts as node:test cases, run by
 * each backend's test file with a factory for a fresh, empty store. A backend that passes can be
 * swapped in without any caller noticing.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Store, StoredObject, WatchEvent } from './types.ts';

const CSR = 'certificates.k8s.io/certificatesigningrequests';
const SECRETS = 'core/secrets';

function obj(name: string, namespace = '', extra: Record<string, unknown> = {}): StoredObject {
  return { metadata: namespace === '' ? { name } : { name, namespace }, ...extra };
}

function key(name: string, namespace = '', resource = CSR) {
  return { resource, namespace, name };
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

async function rejectsWith(p: Promise<unknown>, expected: string): Promise<void> {
  await assert.rejects(p, (e: unknown) => code(e) === expected);
}

/** Collects `n` events from a watch, or fails after `ms`. */
async function take(events: AsyncIterable<WatchEvent>, n: number, ms = 2000): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  const timer = setTimeout(() => {}, ms);
  const deadline = Date.now() + ms;
  try {
    for await (const e of events) {
      out.push(e);
      if (out.length >= n || Date.now() > deadline) break;
    }
  } finally {
    clearTimeout(timer);
  }
  return out;
}

export function runStoreConformance(name: string, open: () => Promise<Store>): void {
  async function withStore(fn: (s: Store) => Promise<void>): Promise<void> {
    const s = await open();
    try {
      await fn(s);
    } finally {
      await s.close();
    }
  }

  describe(`Store conformance: ${name}`, () => {
    test('an empty store is at revision 0 and lists nothing', () =>
      withStore(async (s) => {
        assert.equal(await s.revision(), 0);
        assert.deepEqual(await s.list(CSR), { items: [], revision: 0 });
      }));

    test('create sets resourceVersion to the new revision; get returns it', () =>
      withStore(async (s) => {
        const created = await s.create(key('a'), obj('a', '', { spec: { x: 1 } }));
        assert.equal(created.metadata.resourceVersion, '1');
        assert.deepEqual(await s.get(key('a')), created);
        assert.equal(await s.revision(), 1);
      }));

    test('the caller resourceVersion is ignored on create', () =>
      withStore(async (s) => {
        const created = await s.create(key('a'), { metadata: { name: 'a', resourceVersion: '999' } });
        assert.equal(created.metadata.resourceVersion, '1');
      }));

    test('create of an existing key is ALREADY_EXISTS and changes nothing', () =>
      withStore(async (s) => {
        await s.create(key('a'), obj('a'));
        await rejectsWith(s.create(key('a'), obj('a', '', { changed: true })), 'ALREADY_EXISTS');
        assert.equal(await s.revision(), 1);
        assert.equal((await s.get(key('a'))).changed, undefined);
      }));

    test('get, update and delete of a missing key are NOT_FOUND', () =>
      withStore(async (s) => {
        await rejectsWith(s.get(key('nope')), 'NOT_FOUND');
        await rejectsWith(s.update(key('nope'), obj('nope'), { expectedResourceVersion: '1' }), 'NOT_FOUND');
        await rejectsWith(s.delete(key('nope')), 'NOT_FOUND');
        assert.equal(await s.revision(), 0);
      }));

    test('update with the current resourceVersion succeeds and bumps the revision by one', () =>
      withStore(async (s) => {
        const a = await s.create(key('a'), obj('a'));
        await s.create(key('b'), obj('b'));
        const updated = await s.update(key('a'), { ...a, spec: 2 }, { expectedResourceVersion: a.metadata.resourceVersion ?? '' });
        assert.equal(updated.metadata.resourceVersion, '3');
        assert.equal((await s.get(key('a'))).spec, 2);
      }));

    test('update with a stale resourceVersion is CONFLICT and changes nothing', () =>
      withStore(async (s) => {
        const a = await s.create(key('a'), obj('a'));
        await s.update(key('a'), { ...a, v: 1 }, { expectedResourceVersion: '1' });
        await rejectsWith(s.update(key('a'), { ...a, v: 2 }, { expectedResourceVersion: '1' }), 'CONFLICT');
        assert.equal((await s.get(key('a'))).v, 1);
        assert.equal(await s.revision(), 2);
      }));

    test('delete honours an expected resourceVersion and returns the object at the deletion revision', () =>
      withStore(async (s) => {
        await s.create(key('a'), obj('a'));
        await rejectsWith(s.delete(key('a'), { expectedResourceVersion: '7' }), 'CONFLICT');
        const deleted = await s.delete(key('a'), { expectedResourceVersion: '1' });
        assert.equal(deleted.metadata.name, 'a');
        assert.equal(deleted.metadata.resourceVersion, '2');
        await rejectsWith(s.get(key('a')), 'NOT_FOUND');
      }));

    test('a key that disagrees with the object metadata is INVALID', () =>
      withStore(async (s) => {
        await rejectsWith(s.create(key('a'), obj('b')), 'INVALID');
        await rejectsWith(s.create(key('a', 'ns', SECRETS), obj('a', 'other')), 'INVALID');
      }));

    test('list orders by namespace and name, filters by namespace, and reports its revision', () =>
      withStore(async (s) => {
        await s.create(key('z', 'b', SECRETS), obj('z', 'b'));
        await s.create(key('y', 'a', SECRETS), obj('y', 'a'));
        await s.create(key('x', 'b', SECRETS), obj('x', 'b'));
        await s.create(key('c'), obj('c'));
        const all = await s.list(SECRETS);
        assert.deepEqual(
          all.items.map((o) => `${o.metadata.namespace}/${o.metadata.name}`),
          ['a/y', 'b/x', 'b/z'],
        );
        assert.equal(all.revision, 4);
        assert.deepEqual(
          (await s.list(SECRETS, { namespace: 'b' })).items.map((o) => o.metadata.name),
          ['x', 'z'],
        );
      }));

    test('objects are copied in and out', () =>
      withStore(async (s) => {
        const input = obj('a', '', { spec: { list: [1] } });
        const created = await s.create(key('a'), input);
        (input.spec as { list: number[] }).list.push(2);
        (created.spec as { list: number[] }).list.push(3);
        const got = await s.get(key('a'));
        assert.deepEqual(got.spec, { list: [1] });
        (got.spec as { list: number[] }).list.push(4);
        assert.deepEqual((await s.get(key('a'))).spec, { list: [1] });
      }));

    test('watch from 0 replays the history in revision order, then live events', () =>
      withStore(async (s) => {
        const a = await s.create(key('a'), obj('a'));
        await s.update(key('a'), { ...a, v: 1 }, { expectedResourceVersion: '1' });
        await s.create(key('o', 'ns', SECRETS), obj('o', 'ns'));
        await s.delete(key('a'));
        const stop = new AbortController();
        const events = s.watch(CSR, { fromRevision: 0, signal: stop.signal });
        const later = (async () => {
          await new Promise((r) => setTimeout(r, 20));
          await s.create(key('b'), obj('b'));
        })();
        const got = await take(events, 4);
        stop.abort();
        await later;
        assert.deepEqual(
          got.map((e) => `${e.type} ${e.object.metadata.name} ${e.revision}`),
          ['ADDED a 1', 'MODIFIED a 2', 'DELETED a 4', 'ADDED b 5'],
        );
        assert.equal(got[2]?.object.metadata.resourceVersion, '4');
      }));

    test('watch from the current revision sees only new events, filtered by namespace', () =>
      withStore(async (s) => {
        await s.create(key('old', 'a', SECRETS), obj('old', 'a'));
        const stop = new AbortController();
        const events = s.watch(SECRETS, { namespace: 'a', fromRevision: await s.revision(), signal: stop.signal });
        await s.create(key('other', 'b', SECRETS), obj('other', 'b'));
        await s.create(key('new', 'a', SECRETS), obj('new', 'a'));
        const got = await take(events, 1);
        stop.abort();
        assert.deepEqual(
          got.map((e) => e.object.metadata.name),
          ['new'],
        );
      }));

    test('two watchers see the same sequence', () =>
      withStore(async (s) => {
        const stop = new AbortController();
        const w1 = s.watch(CSR, { fromRevision: 0, signal: stop.signal });
        const w2 = s.watch(CSR, { fromRevision: 0, signal: stop.signal });
        for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
        const [g1, g2] = await Promise.all([take(w1, 3), take(w2, 3)]);
        stop.abort();
        assert.deepEqual(
          g1.map((e) => e.revision),
          [1, 2, 3],
        );
        assert.deepEqual(
          g2.map((e) => e.revision),
          [1, 2, 3],
        );
      }));

    test('writes racing with a starting watch are delivered once each, without gaps', () =>
      withStore(async (s) => {
        const writes = Array.from({ length: 50 }, (_, i) => s.create(key(`n${i}`), obj(`n${i}`)));
        const stop = new AbortController();
        const events = s.watch(CSR, { fromRevision: 0, signal: stop.signal });
        await Promise.all(writes);
        for (let i = 50; i < 60; i++) await s.create(key(`n${i}`), obj(`n${i}`));
        const got = await take(events, 60);
        stop.abort();
        assert.deepEqual(
          got.map((e) => e.revision),
          Array.from({ length: 60 }, (_, i) => i + 1),
        );
      }));

    test('a watch ends when its signal aborts and when the store closes', async () => {
      const s = await open();
      const stop = new AbortController();
      const events = s.watch(CSR, { fromRevision: 0, signal: stop.signal });
      const done = take(events, 10, 5000);
      setTimeout(() => stop.abort(), 20);
      assert.deepEqual(await done, []);
      const events2 = s.watch(CSR, { fromRevision: 0, signal: new AbortController().signal });
      const done2 = take(events2, 10, 5000);
      setTimeout(() => void s.close(), 20);
      assert.deepEqual(await done2, []);
    });

    test('watching from a compacted revision is GONE', () =>
      withStore(async (s) => {
        for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
        await s.compact(2);
        let error: unknown;
        try {
          for await (const _ of s.watch(CSR, { fromRevision: 1, signal: AbortSignal.timeout(1000) })) break;
        } catch (e) {
          error = e;
        }
        assert.equal(code(error), 'GONE');
        const stop = new AbortController();
        const fromTwo = await take(s.watch(CSR, { fromRevision: 2, signal: stop.signal }), 1);
        stop.abort();
        assert.deepEqual(
          fromTwo.map((e) => e.revision),
          [3],
        );
      }));

    test('concurrent compare-and-swap updates: every success bumps the revision, losers get CONFLICT', () =>
      withStore(async (s) => {
        await s.create(key('a'), obj('a', '', { n: 0 }));
        let successes = 0;
        let conflicts = 0;
        await Promise.all(
          Array.from({ length: 50 }, async () => {
            for (;;) {
              const cur = await s.get(key('a'));
              try {
                await s.update(
                  key('a'),
                  { ...cur, n: (cur.n as number) + 1 },
                  { expectedResourceVersion: cur.metadata.resourceVersion ?? '' },
                );
                successes++;
                return;
              } catch (e) {
                if (code(e) !== 'CONFLICT') throw e;
                conflicts++;
              }
            }
          }),
        );
        assert.equal(successes, 50);
        assert.equal((await s.get(key('a'))).n, 50);
        assert.equal(await s.revision(), 51);
        assert.ok(conflicts >= 0);
      }));
  });
}
