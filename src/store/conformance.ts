/**
 * The Store conformance suite: every rule of the contract in types.ts as node:test cases. Each
 * backend's test file calls `runStoreConformance` with a factory for a fresh, empty store; a
 * backend that passes can replace another without any caller noticing. Tests assert on error
 * codes, never on messages, and bound every wait with a deadline so a missing event fails an
 * assertion instead of hanging the run. Every store a test opens is closed by that test.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { ListPageOptions, ObjectKey, Store, StoredObject, WatchEvent, WatchOptions } from './types.ts';

const CSR = 'certificates.k8s.io/certificatesigningrequests';
const SECRETS = 'v1/secrets';
const LIMIT = { timeout: 15_000 };

function obj(name: string, namespace = '', extra: Record<string, unknown> = {}): StoredObject {
  return { apiVersion: 'v1', kind: 'Thing', metadata: namespace === '' ? { name } : { name, namespace }, ...extra };
}

function key(name: string, namespace = '', resource = CSR): ObjectKey {
  return { resource, namespace, name };
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

async function rejectsWith(p: Promise<unknown>, ...expected: string[]): Promise<void> {
  await assert.rejects(p, (e: unknown) => {
    assert.ok(expected.includes(code(e) ?? ''), `expected ${expected.join(' or ')}, got ${String(e)}`);
    return true;
  });
}

function rv(o: StoredObject): string {
  return o.metadata.resourceVersion ?? '';
}

function line(e: WatchEvent): string {
  const ns = e.object.metadata.namespace ?? '';
  return `${e.revision} ${e.type} ${ns === '' ? '' : `${ns}/`}${e.object.metadata.name}`;
}

function yieldToLoop(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

async function until(condition: () => boolean): Promise<void> {
  while (!condition()) await yieldToLoop();
}

interface Bounded {
  readonly events: AsyncIterable<WatchEvent>;
  readonly stop: () => void;
}

/** A watch that also ends at a deadline, so a test waiting for an event that never comes fails instead of hanging. */
function watchFor(s: Store, resource: string, options: Omit<WatchOptions, 'signal'>, ms = 5000): Bounded {
  const stop = new AbortController();
  const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(ms)]);
  return { events: s.watch(resource, { ...options, signal }), stop: () => stop.abort() };
}

/** Takes up to `n` events, yielding to the event loop after each when `slow` so writers can race ahead. */
async function take(w: Bounded, n: number, slow = false): Promise<WatchEvent[]> {
  const out: WatchEvent[] = [];
  if (n > 0) {
    for await (const e of w.events) {
      out.push(e);
      if (out.length >= n) break;
      if (slow) await yieldToLoop();
    }
  }
  w.stop();
  return out;
}

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}

/**
 * Registers the conformance tests under `describe('Store conformance: NAME')`. `open` must return
 * a fresh, empty store each time; every test closes the store it opened.
 *
 * @example
 * // src/store/etcd.test.ts
 * runStoreConformance('etcd', async () => openEtcdStore({ endpoints, prefix: `/t${n++}` }));
 */
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
    describe('objects', () => {
      test('an empty store is at revision 0 and lists nothing', () =>
        withStore(async (s) => {
          assert.equal(await s.revision(), 0);
          assert.deepEqual(await s.list(CSR), { items: [], revision: 0 });
        }));

      test('create stores the object with resourceVersion set to the new revision, and get returns it', () =>
        withStore(async (s) => {
          const created = await s.create(key('a'), obj('a', '', { spec: { x: 1, list: ['p'] }, status: {} }));
          assert.deepEqual(created, {
            apiVersion: 'v1',
            kind: 'Thing',
            metadata: { name: 'a', resourceVersion: '1' },
            spec: { x: 1, list: ['p'] },
            status: {},
          });
          assert.deepEqual(await s.get(key('a')), created);
          assert.equal(await s.revision(), 1);
        }));

      test('create ignores a resourceVersion supplied by the caller', () =>
        withStore(async (s) => {
          const created = await s.create(key('a'), { metadata: { name: 'a', resourceVersion: '999', uid: 'u-1' } });
          assert.equal(rv(created), '1');
          assert.equal(created.metadata.uid, 'u-1');
          assert.equal(rv(await s.get(key('a'))), '1');
        }));

      test('create of an existing key is ALREADY_EXISTS and changes nothing', () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a'));
          await rejectsWith(s.create(key('a'), obj('a', '', { changed: true })), 'ALREADY_EXISTS');
          assert.equal(await s.revision(), 1);
          assert.equal((await s.get(key('a'))).changed, undefined);
        }));

      test('get, update and delete of a missing key are NOT_FOUND and change nothing', () =>
        withStore(async (s) => {
          await s.create(key('other'), obj('other'));
          await rejectsWith(s.get(key('nope')), 'NOT_FOUND');
          await rejectsWith(s.update(key('nope'), obj('nope'), { expectedResourceVersion: '1' }), 'NOT_FOUND');
          await rejectsWith(s.delete(key('nope')), 'NOT_FOUND');
          await rejectsWith(s.delete(key('nope'), { expectedResourceVersion: '1' }), 'NOT_FOUND');
          await rejectsWith(s.get(key('other', '', SECRETS)), 'NOT_FOUND');
          assert.equal(await s.revision(), 1);
        }));

      test('update with the current resourceVersion replaces the object and bumps the revision by one', () =>
        withStore(async (s) => {
          const a = await s.create(key('a'), obj('a', '', { spec: 1, old: true }));
          await s.create(key('b'), obj('b'));
          const updated = await s.update(key('a'), obj('a', '', { spec: 2 }), { expectedResourceVersion: rv(a) });
          assert.equal(rv(updated), '3');
          assert.equal(await s.revision(), 3);
          assert.deepEqual(await s.get(key('a')), updated);
          assert.equal(updated.spec, 2);
          assert.equal(updated.old, undefined, 'update replaces, it does not merge');
        }));

      test('update with a stale resourceVersion is CONFLICT and changes nothing, whatever the object carries', () =>
        withStore(async (s) => {
          const a = await s.create(key('a'), obj('a'));
          const a2 = await s.update(key('a'), { ...a, v: 1 }, { expectedResourceVersion: '1' });
          await rejectsWith(s.update(key('a'), { ...a, v: 2 }, { expectedResourceVersion: '1' }), 'CONFLICT');
          // The expected resourceVersion is the only precondition; the object's own is overwritten.
          await rejectsWith(s.update(key('a'), { ...a2, v: 3 }, { expectedResourceVersion: '' }), 'CONFLICT');
          await rejectsWith(s.update(key('a'), { ...a2, v: 3 }, { expectedResourceVersion: '99' }), 'CONFLICT');
          assert.deepEqual(await s.get(key('a')), a2);
          assert.equal(await s.revision(), 2);
          const a3 = await s.update(key('a'), { ...a, v: 4 }, { expectedResourceVersion: '2' });
          assert.equal(rv(a3), '3');
        }));

      test('delete returns the last stored object with resourceVersion set to the deletion revision', () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a', '', { spec: 'last' }));
          await s.create(key('b'), obj('b'));
          const deleted = await s.delete(key('a'));
          assert.deepEqual(deleted, { ...obj('a', '', { spec: 'last' }), metadata: { name: 'a', resourceVersion: '3' } });
          assert.equal(await s.revision(), 3);
          await rejectsWith(s.get(key('a')), 'NOT_FOUND');
          assert.deepEqual(
            (await s.list(CSR)).items.map((o) => o.metadata.name),
            ['b'],
          );
        }));

      test('delete with a stale expected resourceVersion is CONFLICT; with the current one it succeeds', () =>
        withStore(async (s) => {
          const a = await s.create(key('a'), obj('a'));
          await s.update(key('a'), a, { expectedResourceVersion: '1' });
          await rejectsWith(s.delete(key('a'), { expectedResourceVersion: '1' }), 'CONFLICT');
          assert.equal(await s.revision(), 2);
          assert.equal(rv(await s.get(key('a'))), '2');
          const deleted = await s.delete(key('a'), { expectedResourceVersion: '2' });
          assert.equal(rv(deleted), '3');
        }));

      test('a deleted key can be created again, at a new revision', () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a'));
          await s.delete(key('a'));
          const again = await s.create(key('a'), obj('a', '', { second: true }));
          assert.equal(rv(again), '3');
          assert.equal((await s.get(key('a'))).second, true);
        }));

      test('a key that disagrees with the object metadata, or a malformed key or object, is INVALID and changes nothing', () =>
        withStore(async (s) => {
          await rejectsWith(s.create(key('a'), obj('b')), 'INVALID');
          await rejectsWith(s.create(key('a', 'ns', SECRETS), obj('a', 'other')), 'INVALID');
          await rejectsWith(s.create(key('a', 'ns', SECRETS), obj('a')), 'INVALID');
          await rejectsWith(s.create(key('a'), obj('a', 'ns')), 'INVALID');
          await rejectsWith(s.create(key(''), obj('')), 'INVALID');
          await rejectsWith(s.create(key('a', '', ''), obj('a')), 'INVALID');
          await rejectsWith(s.create(key('a'), { kind: 'NoMetadata' } as unknown as StoredObject), 'INVALID');
          const a = await s.create(key('a'), obj('a'));
          await rejectsWith(s.update(key('a'), obj('b'), { expectedResourceVersion: rv(a) }), 'INVALID');
          await rejectsWith(s.update(key('a'), obj('a', 'ns'), { expectedResourceVersion: rv(a) }), 'INVALID');
          assert.equal(await s.revision(), 1);
          // A cluster-scoped object may spell its namespace as ''.
          const c = await s.create(key('c'), { metadata: { name: 'c', namespace: '' } });
          assert.equal(rv(c), '2');
          assert.equal((await s.get(key('c'))).metadata.name, 'c');
        }));

      test('the revision is global: every successful write adds exactly one, failed writes add nothing', () =>
        withStore(async (s) => {
          const steps: Array<[() => Promise<unknown>, number]> = [
            [() => s.create(key('a'), obj('a')), 1],
            [() => s.create(key('x', 'ns', SECRETS), obj('x', 'ns')), 2],
            [() => s.create(key('a'), obj('a')).catch(() => undefined), 2],
            [() => s.update(key('a'), obj('a'), { expectedResourceVersion: '1' }), 3],
            [() => s.update(key('a'), obj('a'), { expectedResourceVersion: '1' }).catch(() => undefined), 3],
            [() => s.delete(key('x', 'ns', SECRETS), { expectedResourceVersion: '1' }).catch(() => undefined), 3],
            [() => s.delete(key('x', 'ns', SECRETS)), 4],
            [() => s.delete(key('x', 'ns', SECRETS)).catch(() => undefined), 4],
            [() => s.create(key('b'), obj('b')), 5],
          ];
          let last = await s.revision();
          for (const [step, expected] of steps) {
            await step();
            const now = await s.revision();
            assert.ok(now >= last, 'the revision never goes back');
            assert.equal(now, expected);
            last = now;
          }
        }));

      test('list orders by namespace then name and reports the global revision it was read at', () =>
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
          assert.deepEqual(all.items.map(rv), ['2', '3', '1']);
          assert.equal(all.revision, 4, 'a write to another resource still moves the revision a list reports');
          assert.equal((await s.list(CSR)).revision, 4);
          assert.equal((await s.list('nothing/here')).revision, 4);
        }));

      test('list filters by namespace, and namespace "" selects cluster-scoped objects', () =>
        withStore(async (s) => {
          await s.create(key('z', 'b', SECRETS), obj('z', 'b'));
          await s.create(key('x', 'b', SECRETS), obj('x', 'b'));
          await s.create(key('y', 'a', SECRETS), obj('y', 'a'));
          await s.create(key('c1'), obj('c1'));
          await s.create(key('c0'), obj('c0'));
          const inB = await s.list(SECRETS, { namespace: 'b' });
          assert.deepEqual(
            inB.items.map((o) => o.metadata.name),
            ['x', 'z'],
          );
          assert.equal(inB.revision, 5);
          assert.deepEqual((await s.list(SECRETS, { namespace: 'missing' })).items, []);
          assert.deepEqual(
            (await s.list(CSR, { namespace: '' })).items.map((o) => o.metadata.name),
            ['c0', 'c1'],
          );
          assert.deepEqual((await s.list(SECRETS, { namespace: '' })).items, []);
        }));

      test('the same name is independent across namespaces and resources', () =>
        withStore(async (s) => {
          await s.create(key('same', 'a', SECRETS), obj('same', 'a', { n: 1 }));
          await s.create(key('same', 'b', SECRETS), obj('same', 'b', { n: 2 }));
          await s.create(key('same', 'a', 'v1/configmaps'), obj('same', 'a', { n: 3 }));
          await s.create(key('same'), obj('same', '', { n: 4 }));
          assert.equal((await s.get(key('same', 'a', SECRETS))).n, 1);
          assert.equal((await s.get(key('same', 'b', SECRETS))).n, 2);
          assert.equal((await s.get(key('same', 'a', 'v1/configmaps'))).n, 3);
          assert.equal((await s.get(key('same'))).n, 4);
          await s.delete(key('same', 'a', SECRETS));
          assert.equal((await s.get(key('same', 'a', 'v1/configmaps'))).n, 3);
          assert.equal((await s.get(key('same', 'b', SECRETS))).n, 2);
        }));

      test('objects are deep-copied in and out', () =>
        withStore(async (s) => {
          type Deep = { spec: { list: number[] } };
          const input = obj('a', '', { spec: { list: [1] } });
          const created = await s.create(key('a'), input);
          (input as unknown as Deep).spec.list.push(2);
          input.metadata.name = 'renamed';
          (created as unknown as Deep).spec.list.push(3);
          created.metadata.resourceVersion = '42';
          const got = await s.get(key('a'));
          assert.deepEqual(got.spec, { list: [1] });
          assert.equal(rv(got), '1');
          (got as unknown as Deep).spec.list.push(4);
          const listed = await s.list(CSR);
          (listed.items[0] as unknown as Deep).spec.list.push(5);
          const updateInput = obj('a', '', { spec: { list: [10] } });
          const updated = await s.update(key('a'), updateInput, { expectedResourceVersion: '1' });
          (updateInput as unknown as Deep).spec.list.push(11);
          (updated as unknown as Deep).spec.list.push(12);
          assert.deepEqual((await s.get(key('a'))).spec, { list: [10] });
          const deleted = await s.delete(key('a'));
          (deleted as unknown as Deep).spec.list.push(13);
          const history = await take(watchFor(s, CSR, { fromRevision: 0 }), 3);
          assert.deepEqual(
            history.map((e) => e.object.spec),
            [{ list: [1] }, { list: [10] }, { list: [10] }],
          );
        }));
    });

    describe('watch', () => {
      test('watch from 0 replays the history in revision order, then delivers live events', LIMIT, () =>
        withStore(async (s) => {
          const a = await s.create(key('a'), obj('a'));
          await s.update(key('a'), { ...a, v: 1 }, { expectedResourceVersion: '1' });
          await s.create(key('o', 'ns', SECRETS), obj('o', 'ns'));
          await s.delete(key('a'));
          const w = watchFor(s, CSR, { fromRevision: 0 });
          const got = take(w, 5);
          await yieldToLoop();
          await s.create(key('b'), obj('b'));
          await s.update(key('b'), obj('b', '', { v: 2 }), { expectedResourceVersion: '5' });
          const events = await got;
          assert.deepEqual(events.map(line), ['1 ADDED a', '2 MODIFIED a', '4 DELETED a', '5 ADDED b', '6 MODIFIED b']);
          assert.deepEqual(
            events.map((e) => rv(e.object)),
            ['1', '2', '4', '5', '6'],
            "every event's object carries its own revision",
          );
          assert.equal(events[1]?.object.v, 1);
          assert.equal(events[2]?.object.v, 1, 'a DELETED event carries the last stored state');
          assert.equal(events[4]?.object.v, 2);
        }),
      );

      test('watch from the current revision delivers only later events', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('old'), obj('old'));
          await s.create(key('old2'), obj('old2'));
          const w = watchFor(s, CSR, { fromRevision: await s.revision() });
          await s.create(key('new'), obj('new'));
          await s.delete(key('old'));
          assert.deepEqual((await take(w, 2)).map(line), ['3 ADDED new', '4 DELETED old']);
        }),
      );

      test('watch from a revision in the middle of the history starts right after it', LIMIT, () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c', 'd']) await s.create(key(n), obj(n));
          assert.deepEqual((await take(watchFor(s, CSR, { fromRevision: 2 }), 2)).map(line), ['3 ADDED c', '4 ADDED d']);
        }),
      );

      test('watch from a revision not reached yet delivers only the events after it', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a'));
          const w = watchFor(s, CSR, { fromRevision: 3 });
          const got = take(w, 1);
          for (const n of ['b', 'c', 'd']) await s.create(key(n), obj(n));
          assert.deepEqual((await got).map(line), ['4 ADDED d']);
        }),
      );

      test('a namespaced watch sees only its namespace, in the history and live', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('h1', 'a', SECRETS), obj('h1', 'a'));
          await s.create(key('h2', 'b', SECRETS), obj('h2', 'b'));
          const w = watchFor(s, SECRETS, { namespace: 'a', fromRevision: 0 });
          const got = take(w, 3);
          await s.create(key('l1', 'b', SECRETS), obj('l1', 'b'));
          await s.create(key('l2', 'a', SECRETS), obj('l2', 'a'));
          await s.create(key('l3', 'a', 'v1/configmaps'), obj('l3', 'a'));
          await s.delete(key('h1', 'a', SECRETS));
          assert.deepEqual((await got).map(line), ['1 ADDED a/h1', '4 ADDED a/l2', '6 DELETED a/h1']);
          const cluster = watchFor(s, CSR, { namespace: '', fromRevision: 0 });
          await s.create(key('c'), obj('c'));
          assert.deepEqual((await take(cluster, 1)).map(line), ['7 ADDED c']);
        }),
      );

      test('a watch sees only its own resource', LIMIT, () =>
        withStore(async (s) => {
          const w = watchFor(s, SECRETS, { fromRevision: 0 });
          const got = take(w, 2);
          await s.create(key('x', 'ns', 'v1/configmaps'), obj('x', 'ns'));
          await s.create(key('x', 'ns', SECRETS), obj('x', 'ns'));
          await s.create(key('x'), obj('x'));
          await s.create(key('y', 'ns', SECRETS), obj('y', 'ns'));
          assert.deepEqual((await got).map(line), ['2 ADDED ns/x', '4 ADDED ns/y']);
        }),
      );

      test('two concurrent watchers see the same sequence', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a'));
          const w1 = watchFor(s, CSR, { fromRevision: 0 });
          const w2 = watchFor(s, CSR, { fromRevision: 0 });
          const got = Promise.all([take(w1, 20, true), take(w2, 20)]);
          for (let i = 0; i < 19; i++) {
            if (i % 3 === 2) {
              const cur = await s.get(key('a'));
              await s.update(key('a'), { ...cur, i }, { expectedResourceVersion: rv(cur) });
            } else {
              await s.create(key(`n${i}`), obj(`n${i}`));
            }
            if (i % 4 === 0) await yieldToLoop();
          }
          const [g1, g2] = await got;
          assert.deepEqual(
            g1.map((e) => e.revision),
            range(1, 20),
          );
          assert.deepEqual(g1.map(line), g2.map(line));
          assert.deepEqual(
            g1.map((e) => e.object),
            g2.map((e) => e.object),
          );
        }),
      );

      test('event objects are frozen: no watcher can change what another sees, or the store', LIMIT, () =>
        withStore(async (s) => {
          const w1 = watchFor(s, CSR, { fromRevision: 0 });
          const w2 = watchFor(s, CSR, { fromRevision: 0 });
          const g1 = take(w1, 2);
          const g2 = take(w2, 2);
          await s.create(key('a'), obj('a', '', { spec: { n: 1 } }));
          await s.create(key('b'), obj('b', '', { spec: { n: 1 } }));
          const [e1, e2] = await Promise.all([g1, g2]);
          for (const e of e1) {
            assert.throws(() => {
              (e.object.spec as { n: number }).n = 99;
            }, TypeError);
            assert.throws(() => {
              e.object.metadata.name = 'x';
            }, TypeError);
          }
          assert.deepEqual(
            e2.map((e) => e.object.spec),
            [{ n: 1 }, { n: 1 }],
          );
          assert.deepEqual((await s.get(key('a'))).spec, { n: 1 });
          const replay = await take(watchFor(s, CSR, { fromRevision: 0 }), 2);
          assert.ok(replay.every((e) => Object.isFrozen(e.object.spec)));
          assert.deepEqual(
            replay.map((e) => e.object.spec),
            [{ n: 1 }, { n: 1 }],
          );
          // What get and list return stays the caller's own copy.
          const got = await s.get(key('a'));
          (got.spec as { n: number }).n = 5;
          assert.deepEqual((await s.get(key('a'))).spec, { n: 1 });
        }),
      );

      test('a watch on one name hears only that object, in history and live, in every namespace unless one is given', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a'));
          await s.create(key('b'), obj('b'));
          const p1 = await s.create(key('p', 'ns1', 'v1/pods'), obj('p', 'ns1'));
          await s.create(key('p', 'ns2', 'v1/pods'), obj('p', 'ns2'));
          const onA = watchFor(s, CSR, { fromRevision: 0, name: 'a' });
          const onP = watchFor(s, 'v1/pods', { fromRevision: 0, name: 'p' });
          const onP1 = watchFor(s, 'v1/pods', { fromRevision: Number(rv(p1)) - 1, name: 'p', namespace: 'ns1' });
          const a = take(onA, 3);
          const p = take(onP, 3);
          const pOne = take(onP1, 2);
          await s.update(key('b'), obj('b', '', { spec: { n: 1 } }), { expectedResourceVersion: '2' });
          const a2 = await s.update(key('a'), obj('a', '', { spec: { n: 2 } }), { expectedResourceVersion: '1' });
          await s.update(key('p', 'ns2', 'v1/pods'), obj('p', 'ns2', { spec: { n: 3 } }), { expectedResourceVersion: '4' });
          await s.update(key('p', 'ns1', 'v1/pods'), obj('p', 'ns1', { spec: { n: 4 } }), { expectedResourceVersion: '3' });
          await s.delete(key('a'), { expectedResourceVersion: rv(a2) });
          assert.deepEqual((await a).map(line), ['1 ADDED a', '6 MODIFIED a', '9 DELETED a']);
          assert.deepEqual((await p).map(line), ['3 ADDED ns1/p', '4 ADDED ns2/p', '7 MODIFIED ns2/p']);
          assert.deepEqual((await pOne).map(line), ['3 ADDED ns1/p', '8 MODIFIED ns1/p']);
        }),
      );

      test('a watch on one name replays its own history from among many other writes, page after page', LIMIT, () =>
        withStore(async (s) => {
          const mine: string[] = [];
          let x: StoredObject | undefined;
          for (let i = 0; i < 24; i++) {
            if (i % 6 === 2) {
              x =
                x === undefined
                  ? await s.create(key('x'), obj('x'))
                  : await s.update(key('x'), obj('x', '', { i }), { expectedResourceVersion: rv(x) });
              mine.push(`${rv(x)} ${mine.length === 0 ? 'ADDED' : 'MODIFIED'} x`);
            } else {
              await s.create(key(`other-${i}`), obj(`other-${i}`));
            }
          }
          assert.deepEqual((await take(watchFor(s, CSR, { fromRevision: 0, name: 'x' }), 4)).map(line), mine);
          const from = Number(mine[1]?.split(' ')[0]);
          assert.deepEqual((await take(watchFor(s, CSR, { fromRevision: from, name: 'x', namespace: '' }), 2)).map(line), mine.slice(2));
        }),
      );

      test('a watch ends cleanly when its signal aborts: before iterating, while waiting and during replay', LIMIT, () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c', 'd', 'e']) await s.create(key(n), obj(n));
          const before = new AbortController();
          const early = s.watch(CSR, { fromRevision: 0, signal: before.signal });
          before.abort();
          assert.deepEqual((await early[Symbol.asyncIterator]().next()).done, true);

          const waiting = new AbortController();
          const it = s.watch(CSR, { fromRevision: 5, signal: waiting.signal })[Symbol.asyncIterator]();
          const pending = it.next();
          setTimeout(() => waiting.abort(), 20);
          assert.equal((await pending).done, true);
          assert.equal((await it.next()).done, true);

          const replay = new AbortController();
          const it2 = s.watch(CSR, { fromRevision: 0, signal: replay.signal })[Symbol.asyncIterator]();
          assert.equal((await it2.next()).value?.revision, 1);
          replay.abort();
          assert.equal((await it2.next()).done, true);

          // Aborting one watch leaves the others running.
          const kept = watchFor(s, CSR, { fromRevision: 5 });
          const keptGot = take(kept, 1);
          await s.create(key('f'), obj('f'));
          assert.deepEqual((await keptGot).map(line), ['6 ADDED f']);
        }),
      );

      test('a watch ends cleanly when the store closes, and a closed store answers UNAVAILABLE', LIMIT, async () => {
        const s = await open();
        await s.create(key('a'), obj('a'));
        const waiting = s.watch(CSR, { fromRevision: 1, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
        const pending = waiting.next();
        const replaying = s.watch(CSR, { fromRevision: 0, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
        assert.equal((await replaying.next()).value?.revision, 1);
        await s.close();
        assert.equal((await pending).done, true);
        assert.equal((await replaying.next()).done, true);
        await s.close();
        await rejectsWith(s.get(key('a')), 'UNAVAILABLE');
        await rejectsWith(s.list(CSR), 'UNAVAILABLE');
        await rejectsWith(s.create(key('b'), obj('b')), 'UNAVAILABLE');
        await rejectsWith(s.update(key('a'), obj('a'), { expectedResourceVersion: '1' }), 'UNAVAILABLE');
        await rejectsWith(s.delete(key('a')), 'UNAVAILABLE');
        await rejectsWith(s.revision(), 'UNAVAILABLE');
        await rejectsWith(s.compact(1), 'UNAVAILABLE');
        await rejectsWith(
          s
            .watch(CSR, { fromRevision: 0, signal: AbortSignal.timeout(5000) })
            [Symbol.asyncIterator]()
            .next(),
          'UNAVAILABLE',
        );
      });

      test('watch() never throws itself: GONE and INVALID come from the iterator', LIMIT, () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
          await s.compact(2);
          const signal = AbortSignal.timeout(5000);
          const gone = s.watch(CSR, { fromRevision: 1, signal });
          await rejectsWith(gone[Symbol.asyncIterator]().next(), 'GONE');
          const negative = s.watch(CSR, { fromRevision: -1, signal });
          await rejectsWith(negative[Symbol.asyncIterator]().next(), 'INVALID');
          const fraction = s.watch(CSR, { fromRevision: 1.5, signal });
          await rejectsWith(fraction[Symbol.asyncIterator]().next(), 'INVALID');
        }),
      );
    });

    describe('pages', () => {
      test('a page of one name: that object as it was at the revision, or nothing; never without a namespace', LIMIT, () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
          const names = async (options: Omit<ListPageOptions, 'limit'>) =>
            (await s.listPage(CSR, { limit: 10, ...options })).items.map((o) => `${o.metadata.name}@${rv(o)}`);
          assert.deepEqual(await names({ namespace: '', name: 'b' }), ['b@2']);
          assert.deepEqual(await names({ namespace: '', name: 'x' }), []);
          assert.deepEqual(await names({ namespace: '', name: 'b', after: { namespace: '', name: 'a' } }), ['b@2']);
          assert.deepEqual(await names({ namespace: '', name: 'b', after: { namespace: '', name: 'b' } }), []);
          assert.deepEqual(await names({ namespace: 'other', name: 'b' }), []);
          await s.update(key('b'), obj('b', '', { spec: { n: 1 } }), { expectedResourceVersion: '2' });
          await s.delete(key('c'));
          await s.create(key('d'), obj('d'));
          assert.deepEqual(await names({ namespace: '', name: 'b' }), ['b@4']);
          assert.deepEqual(await names({ namespace: '', name: 'b', revision: 3 }), ['b@2']);
          assert.deepEqual(await names({ namespace: '', name: 'c', revision: 3 }), ['c@3']);
          assert.deepEqual(await names({ namespace: '', name: 'c' }), []);
          assert.deepEqual(await names({ namespace: '', name: 'd', revision: 3 }), []);
          assert.deepEqual(await names({ namespace: '', name: 'd' }), ['d@6']);
          await rejectsWith(s.listPage(CSR, { limit: 10, name: 'b' }), 'INVALID');
        }),
      );

      const names = (items: StoredObject[]) => items.map((o) => `${o.metadata.namespace ?? ''}/${o.metadata.name}`);

      test('listPage walks every object once in list order, counting what remains', () =>
        withStore(async (s) => {
          for (const n of ['e', 'a', 'd', 'c', 'b']) await s.create(key(n), obj(n));
          await s.create(key('z', '', SECRETS), obj('z'));
          const seen: string[] = [];
          const remaining: number[] = [];
          let after: { namespace: string; name: string } | undefined;
          for (;;) {
            const page = await s.listPage(CSR, { limit: 2, count: true, ...(after ? { after } : {}) });
            const uncounted = await s.listPage(CSR, { limit: 2, ...(after ? { after } : {}) });
            assert.equal(uncounted.remaining, undefined, 'counted only when asked');
            assert.equal(uncounted.more, page.remaining !== 0);
            assert.equal(page.revision, 6);
            seen.push(...names(page.items));
            remaining.push(page.remaining ?? -1);
            const last = page.items.at(-1);
            if (!page.more || !last) break;
            after = { namespace: '', name: last.metadata.name };
          }
          assert.deepEqual(seen, ['/a', '/b', '/c', '/d', '/e']);
          assert.deepEqual(remaining, [3, 1, 0]);
          assert.deepEqual(names((await s.list(CSR)).items), seen);
          const small = await s.listPage(CSR, { limit: 5, maxBytes: 1, count: true });
          assert.deepEqual(names(small.items), ['/a'], 'maxBytes ends a page early, after at least one object');
          assert.equal(small.remaining, 4);
        }));

      test('a page at an earlier revision shows the objects as they were then, whatever was written since', () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c', 'd', 'e', 'f']) await s.create(key(n), obj(n, '', { v: 1 }));
          const first = await s.listPage(CSR, { limit: 2 });
          const at = first.revision;
          const snapshot = (await s.list(CSR)).items;
          // Writes before and after the cursor: creates, updates, deletes, and a delete then re-create.
          await s.create(key('aa'), obj('aa'));
          await s.create(key('cc'), obj('cc'));
          const c = await s.get(key('c'));
          await s.update(key('c'), { ...c, v: 2 }, { expectedResourceVersion: rv(c) });
          await s.delete(key('d'));
          await s.delete(key('e'));
          await s.create(key('e'), obj('e', '', { v: 3 }));
          const rest = await s.listPage(CSR, { limit: 100, after: { namespace: '', name: 'b' }, revision: at, count: true });
          assert.equal(rest.revision, at);
          assert.deepEqual([...first.items, ...rest.items], snapshot);
          assert.equal(rest.remaining, 0);
          assert.equal(rest.more, false);
          const middle = await s.listPage(CSR, { limit: 2, after: { namespace: '', name: 'b' }, revision: at, count: true });
          assert.deepEqual(names(middle.items), ['/c', '/d']);
          assert.equal(middle.remaining, 2, 'e and f were there at that revision');
          assert.equal(middle.more, true);
          const now = await s.listPage(CSR, { limit: 100, after: { namespace: '', name: 'b' } });
          assert.deepEqual(names(now.items), ['/c', '/cc', '/e', '/f']);
        }));

      test('listPage filters by namespace, and a start in another namespace is honoured', () =>
        withStore(async (s) => {
          for (const [n, ns] of [
            ['a', 'x'],
            ['b', 'y'],
            ['c', 'y'],
            ['d', 'z'],
          ] as const)
            await s.create(key(n, ns, SECRETS), obj(n, ns));
          assert.deepEqual(names((await s.listPage(SECRETS, { namespace: 'y', limit: 1 })).items), ['y/b']);
          assert.deepEqual(names((await s.listPage(SECRETS, { namespace: 'y', limit: 5, after: { namespace: 'y', name: 'b' } })).items), [
            'y/c',
          ]);
          assert.deepEqual(names((await s.listPage(SECRETS, { namespace: 'y', limit: 5, after: { namespace: 'x', name: 'zz' } })).items), [
            'y/b',
            'y/c',
          ]);
          assert.deepEqual((await s.listPage(SECRETS, { namespace: 'y', limit: 5, after: { namespace: 'z', name: '' } })).items, []);
          const all = await s.listPage(SECRETS, { limit: 2, after: { namespace: 'x', name: 'a' }, count: true });
          assert.deepEqual(names(all.items), ['y/b', 'y/c']);
          assert.equal(all.remaining, 1);
        }));

      test('listPageJson answers what listPage answers, each object as JSON.stringify of what get returns', () =>
        withStore(async (s) => {
          for (const [n, ns] of [
            ['a', 'x'],
            ['b', 'y'],
            ['c', 'y'],
            ['d', 'z'],
            ['e', 'z'],
          ] as const)
            await s.create(key(n, ns, SECRETS), obj(n, ns, { data: { text: 'é\u2028"<>', n: 1.5e300 } }));
          const at = await s.revision();
          const b = await s.get(key('b', 'y', SECRETS));
          await s.update(key('b', 'y', SECRETS), { ...b, data: { v: 2 } }, { expectedResourceVersion: rv(b) });
          await s.delete(key('d', 'z', SECRETS));
          await s.create(key('bb', 'y', SECRETS), obj('bb', 'y'));
          const pages: ListPageOptions[] = [
            { limit: 10 },
            { limit: 2, count: true },
            { limit: 2, count: true, after: { namespace: 'y', name: 'b' } },
            { limit: 10, namespace: 'y' },
            { limit: 10, namespace: 'z', name: 'e' },
            { limit: 10, maxBytes: 1, count: true },
            { limit: 10, revision: at, count: true },
            { limit: 2, revision: at, after: { namespace: 'y', name: 'a' }, count: true },
            { limit: 10, namespace: 'y', name: 'b', revision: at },
            { limit: 10, namespace: 'z', name: 'd', revision: at },
          ];
          for (const options of pages) {
            const objects = await s.listPage(SECRETS, options);
            const texts = await s.listPageJson(SECRETS, options);
            const where = JSON.stringify(options);
            assert.deepEqual({ ...texts, items: texts.items.map((i) => JSON.parse(i.json)) }, objects, where);
            assert.deepEqual(
              texts.items.map((i) => `${i.namespace}/${i.name}`),
              names(objects.items),
              where,
            );
            if (options.revision !== undefined) continue;
            for (const i of texts.items) assert.equal(i.json, JSON.stringify(await s.get(key(i.name, i.namespace, SECRETS))), where);
          }
        }));

      test('a page below the compacted revision is GONE; a future revision or a bad limit is INVALID', () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
          await s.compact(2);
          await rejectsWith(s.listPage(CSR, { limit: 1, revision: 1 }), 'GONE');
          assert.deepEqual(names((await s.listPage(CSR, { limit: 5, revision: 2 })).items), ['/a', '/b']);
          await rejectsWith(s.listPage(CSR, { limit: 1, revision: 4 }), 'INVALID');
          await rejectsWith(s.listPage(CSR, { limit: 0 }), 'INVALID');
          await rejectsWith(s.listPageJson(CSR, { limit: 1, revision: 1 }), 'GONE');
          await rejectsWith(s.listPageJson(CSR, { limit: 1, revision: 4 }), 'INVALID');
          await rejectsWith(s.listPageJson(CSR, { limit: 0 }), 'INVALID');
        }));
    });

    describe('compaction', () => {
      test('watching from below the compacted revision is GONE; from it on, the rest of the history is there', LIMIT, () =>
        withStore(async (s) => {
          for (const n of ['a', 'b', 'c', 'd']) await s.create(key(n), obj(n));
          await s.compact(2);
          for (const from of [0, 1]) {
            const w = watchFor(s, CSR, { fromRevision: from });
            await assert.rejects(take(w, 1), (e: unknown) => code(e) === 'GONE');
            w.stop();
          }
          assert.deepEqual((await take(watchFor(s, CSR, { fromRevision: 2 }), 2)).map(line), ['3 ADDED c', '4 ADDED d']);
          const live = watchFor(s, CSR, { fromRevision: 4 });
          const got = take(live, 1);
          await s.create(key('e'), obj('e'));
          assert.deepEqual((await got).map(line), ['5 ADDED e']);
        }),
      );

      test('compaction keeps objects and the revision, never moves backwards, and stops at the current revision', LIMIT, () =>
        withStore(async (s) => {
          await s.compact(0);
          for (const n of ['a', 'b', 'c']) await s.create(key(n), obj(n));
          await s.compact(2);
          await s.compact(1);
          assert.equal(await s.revision(), 3);
          assert.deepEqual(
            (await s.list(CSR)).items.map((o) => o.metadata.name),
            ['a', 'b', 'c'],
          );
          assert.equal(rv(await s.get(key('a'))), '1');
          await assert.rejects(take(watchFor(s, CSR, { fromRevision: 1 }), 1), (e: unknown) => code(e) === 'GONE');
          await s.compact(1000);
          assert.equal(await s.revision(), 3);
          await assert.rejects(take(watchFor(s, CSR, { fromRevision: 2 }), 1), (e: unknown) => code(e) === 'GONE');
          const w = watchFor(s, CSR, { fromRevision: 3 });
          const got = take(w, 1);
          const d = await s.create(key('d'), obj('d'));
          assert.equal(rv(d), '4', 'compaction does not consume revisions');
          assert.deepEqual((await got).map(line), ['4 ADDED d']);
          await rejectsWith(s.compact(-1), 'INVALID');
        }),
      );
    });

    describe('transactions', () => {
      test('txn stores every op, in op order, with revisions above every earlier write and none between them', () =>
        withStore(async (s) => {
          const b = await s.create(key('b'), obj('b', '', { v: 1 }));
          const stored = await s.txn([
            { op: 'create', key: key('a'), object: obj('a', '', { v: 1 }) },
            { op: 'update', key: key('b'), object: obj('b', '', { v: 2 }), expectedResourceVersion: rv(b) },
            { op: 'create', key: key('s', 'ns', SECRETS), object: obj('s', 'ns') },
          ]);
          const revisions = stored.map((o) => Number(rv(o)));
          assert.ok((revisions[0] ?? 0) > Number(rv(b)));
          assert.deepEqual(
            [...revisions].sort((x, y) => x - y),
            revisions,
          );
          assert.equal(await s.revision(), revisions[2]);
          assert.deepEqual(await s.get(key('a')), stored[0]);
          assert.deepEqual(await s.get(key('b')), stored[1]);
          assert.equal((await s.get(key('b'))).v, 2);
          assert.deepEqual(await s.get(key('s', 'ns', SECRETS)), stored[2]);
        }));

      test("a txn with one refused op stores nothing of it, and its error is that op's", () =>
        withStore(async (s) => {
          const b = await s.create(key('b'), obj('b', '', { v: 1 }));
          await s.create(key('c'), obj('c'));
          const before = await s.revision();
          const w = watchFor(s, CSR, { fromRevision: before });
          await rejectsWith(
            s.txn([
              { op: 'create', key: key('a'), object: obj('a') },
              { op: 'update', key: key('b'), object: obj('b', '', { v: 2 }), expectedResourceVersion: '999' },
            ]),
            'CONFLICT',
          );
          await rejectsWith(
            s.txn([
              { op: 'update', key: key('b'), object: obj('b', '', { v: 3 }), expectedResourceVersion: rv(b) },
              { op: 'create', key: key('c'), object: obj('c', '', { again: true }) },
            ]),
            'ALREADY_EXISTS',
          );
          await rejectsWith(s.txn([{ op: 'update', key: key('gone'), object: obj('gone'), expectedResourceVersion: '1' }]), 'NOT_FOUND');
          assert.equal(await s.revision(), before);
          await rejectsWith(s.get(key('a')), 'NOT_FOUND');
          assert.deepEqual(await s.get(key('b')), b);
          await s.create(key('after'), obj('after'));
          assert.deepEqual((await take(w, 1)).map(line), [`${before + 1} ADDED after`]);
        }));

      test('a txn refused beside other writes of the same moment leaves them as if it had never been', () =>
        withStore(async (s) => {
          const b = await s.create(key('b'), obj('b'));
          const refused = s.txn([
            { op: 'create', key: key('a'), object: obj('a', '', { from: 'txn' }) },
            { op: 'update', key: key('b'), object: obj('b'), expectedResourceVersion: '999' },
          ]);
          const single = s.create(key('a'), obj('a', '', { from: 'single' }));
          const update = s.update(key('b'), obj('b', '', { v: 2 }), { expectedResourceVersion: rv(b) });
          // Which of its two failed ops the refusal names depends on whether the single create landed
          // first, which etcd does not order for concurrent requests; refused it is, either way.
          await rejectsWith(refused, 'CONFLICT', 'ALREADY_EXISTS');
          assert.equal((await single).from, 'single');
          assert.equal((await update).v, 2);
          assert.equal((await s.get(key('a'))).from, 'single');
        }));

      test('watchers see every op of a txn, in op order, and a watch on one name only its own', () =>
        withStore(async (s) => {
          const all = watchFor(s, CSR, { fromRevision: 0 });
          const one = watchFor(s, CSR, { fromRevision: 0, name: 'b', namespace: '' });
          const [a, b] = await s.txn([
            { op: 'create', key: key('a'), object: obj('a') },
            { op: 'create', key: key('b'), object: obj('b') },
            { op: 'create', key: key('s', 'ns', SECRETS), object: obj('s', 'ns') },
          ]);
          assert.ok(a !== undefined && b !== undefined);
          const events = await take(all, 2);
          assert.deepEqual(
            events.map((e) => [e.type, e.object.metadata.name, e.revision]),
            [
              ['ADDED', 'a', Number(rv(a))],
              ['ADDED', 'b', Number(rv(b))],
            ],
          );
          assert.deepEqual(
            (await take(one, 1)).map((e) => e.object.metadata.name),
            ['b'],
          );
        }));

      test('a malformed txn is INVALID and changes nothing', () =>
        withStore(async (s) => {
          await rejectsWith(s.txn([]), 'INVALID');
          await rejectsWith(
            s.txn([
              { op: 'create', key: key('a'), object: obj('a') },
              { op: 'create', key: key('a'), object: obj('a') },
            ]),
            'INVALID',
          );
          await rejectsWith(
            s.txn([
              { op: 'create', key: key('a'), object: obj('a') },
              { op: 'create', key: key('x'), object: obj('y') },
            ]),
            'INVALID',
          );
          assert.equal(await s.revision(), 0);
          await rejectsWith(s.get(key('a')), 'NOT_FOUND');
        }));
    });

    describe('concurrency', () => {
      test('writes racing with starting watches are delivered exactly once each, without gaps', LIMIT, () =>
        withStore(async (s) => {
          const total = 300;
          let acknowledged = 0;
          const writer = (async () => {
            for (let i = 0; i < total; i++) {
              await s.create(key(`n${i}`), obj(`n${i}`));
              acknowledged++;
              if (i % 3 === 0) await yieldToLoop();
            }
          })();
          // Two sentinels written after the burst: a duplicate queued behind the first one (a
          // replay that ran past its boundary) shows up before the second, which every watcher
          // can only receive live, since it is written after all of them passed the first.
          const starts = [
            [0, true, true],
            [50, true, true],
            [100, false, false],
            [150, true, false],
            [220, false, true],
          ] as const;
          let passedFirst = 0;
          const allPassedFirst = Promise.withResolvers<void>();
          const watches: Array<Promise<{ from: number; events: WatchEvent[] }>> = [];
          for (const [after, fromStart, slow] of starts) {
            await until(() => acknowledged >= after);
            const from = fromStart ? 0 : await s.revision();
            const w = watchFor(s, CSR, { fromRevision: from }, 10_000);
            const it = w.events[Symbol.asyncIterator]();
            const readUntil = async (name: string, into: WatchEvent[]) => {
              for (;;) {
                const r = await it.next();
                if (r.done) return;
                into.push(r.value);
                if (r.value.object.metadata.name === name) return;
                if (slow) await yieldToLoop();
              }
            };
            watches.push(
              (async () => {
                const events: WatchEvent[] = [];
                await readUntil('sentinel-1', events);
                if (++passedFirst === starts.length) allPassedFirst.resolve();
                await readUntil('sentinel-2', events);
                w.stop();
                return { from, events };
              })(),
            );
          }
          await writer;
          await s.create(key('sentinel-1'), obj('sentinel-1'));
          await allPassedFirst.promise;
          await s.create(key('sentinel-2'), obj('sentinel-2'));
          for (const { from, events } of await Promise.all(watches)) {
            assert.deepEqual(
              events.map((e) => e.revision),
              range(from + 1, total + 2),
              `watch from ${from}`,
            );
            assert.deepEqual(
              events.map((e) => e.object.metadata.name),
              [...range(from + 1, total).map((r) => `n${r - 1}`), 'sentinel-1', 'sentinel-2'],
            );
          }
        }),
      );

      test('a list and a watch from its revision reconstruct the state while writes race', LIMIT, () =>
        withStore(async (s) => {
          let seed = 7;
          const next = () => {
            seed = (seed * 1103515245 + 12345) % 2147483648;
            return seed;
          };
          let writes = 0;
          const writer = (async () => {
            for (let i = 0; i < 400; i++) {
              const name = `k${next() % 15}`;
              const ns = `ns${next() % 2}`;
              try {
                const cur = await s.get(key(name, ns, SECRETS));
                if (next() % 3 === 0) await s.delete(key(name, ns, SECRETS), { expectedResourceVersion: rv(cur) });
                else await s.update(key(name, ns, SECRETS), { ...cur, i }, { expectedResourceVersion: rv(cur) });
              } catch (e) {
                if (code(e) !== 'NOT_FOUND') throw e;
                await s.create(key(name, ns, SECRETS), obj(name, ns, { i }));
              }
              writes++;
              if (i % 5 === 0) await yieldToLoop();
            }
          })();
          await until(() => writes >= 150);
          const listed = await s.list(SECRETS);
          const state = new Map(listed.items.map((o) => [`${o.metadata.namespace}/${o.metadata.name}`, o]));
          const stop = new AbortController();
          const signal = AbortSignal.any([stop.signal, AbortSignal.timeout(10_000)]);
          let seen = listed.revision;
          let failure: unknown;
          const follow = (async () => {
            for await (const e of s.watch(SECRETS, { fromRevision: listed.revision, signal })) {
              // Only SECRETS is written here, so its events must be consecutive revisions.
              assert.equal(e.revision, seen + 1);
              seen = e.revision;
              const k = `${e.object.metadata.namespace}/${e.object.metadata.name}`;
              if (e.type === 'DELETED') {
                assert.ok(state.delete(k), `DELETED ${k} was present`);
              } else {
                assert.equal(state.has(k), e.type === 'MODIFIED', `${e.type} ${k}`);
                state.set(k, e.object);
              }
            }
          })().catch((e: unknown) => {
            failure = e;
          });
          await writer;
          const final = await s.revision();
          await until(() => seen >= final || signal.aborted || failure !== undefined);
          stop.abort();
          await follow;
          if (failure !== undefined) throw failure;
          assert.equal(seen, final);
          const truth = await s.list(SECRETS);
          assert.deepEqual(
            [...state.entries()].sort(([a], [b]) => (a < b ? -1 : 1)).map(([, o]) => o),
            truth.items,
          );
        }),
      );

      test('50 concurrent updates from the same read: exactly one wins, the rest are CONFLICT', LIMIT, () =>
        withStore(async (s) => {
          const a = await s.create(key('a'), obj('a', '', { n: 0 }));
          const results = await Promise.allSettled(
            Array.from({ length: 50 }, (_, i) => s.update(key('a'), { ...a, n: i + 1 }, { expectedResourceVersion: rv(a) })),
          );
          const won = results.filter((r) => r.status === 'fulfilled');
          assert.equal(won.length, 1);
          for (const r of results) if (r.status === 'rejected') assert.equal(code(r.reason), 'CONFLICT');
          assert.equal(await s.revision(), 2);
          assert.deepEqual(await s.get(key('a')), won[0]?.value);
        }),
      );

      test('50 concurrent compare-and-swap loops: exactly the successful updates bump the revision', LIMIT, () =>
        withStore(async (s) => {
          await s.create(key('a'), obj('a', '', { n: 0 }));
          await s.create(key('other'), obj('other'));
          const versions: string[] = [];
          await Promise.all(
            Array.from({ length: 50 }, async () => {
              for (;;) {
                const cur = await s.get(key('a'));
                try {
                  const n = typeof cur.n === 'number' ? cur.n : Number.NaN;
                  const updated = await s.update(key('a'), { ...cur, n: n + 1 }, { expectedResourceVersion: rv(cur) });
                  versions.push(rv(updated));
                  return;
                } catch (e) {
                  if (code(e) !== 'CONFLICT') throw e;
                }
              }
            }),
          );
          assert.equal(versions.length, 50);
          assert.equal((await s.get(key('a'))).n, 50, 'no update was lost');
          assert.equal(await s.revision(), 52, 'only the 50 successes moved the revision');
          assert.deepEqual(
            versions.map(Number).sort((x, y) => x - y),
            range(3, 52),
          );
          const events = await take(watchFor(s, CSR, { fromRevision: 2 }), 50);
          assert.deepEqual(
            events.map((e) => e.object.n),
            range(1, 50),
          );
        }),
      );
    });
  });
}
