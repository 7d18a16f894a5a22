/**
 * The informer over an in-memory ListWatch on a fake clock: the first list syncs the cache,
 * watch events keep it current, a GONE or ended watch re-lists after a backoff and reports
 * exactly the differences, failures back off and are reported, resync re-delivers every key,
 * cached objects are frozen, and close() stops everything, timers included.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { UnavailableError } from '../base/errors.ts';
import { Informer, type InformerEventType } from './informer.ts';
import { MemoryListWatch, type TestObject } from './testing.ts';

const obj = (name: string, data = 'v1', namespace = 'ns'): TestObject => ({ metadata: { name, namespace }, data });

/** Lets every pending promise chain run (the informer's loop hops through several). */
async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

function setup(options: { resyncPeriodMs?: number } = {}) {
  const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
  const lw = new MemoryListWatch<TestObject>();
  const errors: unknown[] = [];
  const informer = new Informer<TestObject>({ source: lw, clock, onError: (e) => errors.push(e), ...options });
  const events: string[] = [];
  informer.onChange((key: string, type: InformerEventType) => events.push(`${type} ${key}`));
  /** Events since the last call, sorted (a re-list reports in no promised order). */
  const take = (): string[] => events.splice(0).sort();
  return { clock, lw, informer, errors, take };
}

describe('Informer', () => {
  test('start() resolves once the first list is cached, and reports each object as ADDED', async () => {
    const { lw, informer, take } = setup();
    lw.put(obj('a'));
    lw.put(obj('b', 'v1', ''));
    assert.equal(informer.hasSynced(), false);
    await informer.start();
    assert.equal(informer.hasSynced(), true);
    assert.deepEqual(take(), ['ADDED /b', 'ADDED ns/a']);
    assert.deepEqual(informer.keys().sort(), ['/b', 'ns/a']);
    assert.equal(informer.get('ns', 'a')?.data, 'v1');
    assert.equal(informer.get('', 'b')?.metadata.name, 'b');
    assert.equal(informer.get('ns', 'b'), undefined);
    assert.equal(informer.resourceVersion, '2');
    await informer.close();
  });

  test('the onChange option is a handler like those added later; a removed handler hears nothing more', async () => {
    const clock = new FakeClock(0);
    const lw = new MemoryListWatch<TestObject>();
    const heard: string[] = [];
    const later: string[] = [];
    const informer = new Informer<TestObject>({ source: lw, clock, onChange: (key, type) => heard.push(`${type} ${key}`) });
    const remove = informer.onChange((key, type) => later.push(`${type} ${key}`));
    lw.put(obj('a'));
    await informer.start();
    remove();
    lw.put(obj('b'));
    await settle();
    assert.deepEqual(heard, ['ADDED ns/a', 'ADDED ns/b']);
    assert.deepEqual(later, ['ADDED ns/a']);
    await informer.close();
  });

  test('a failing first list is retried after a backoff on the clock, reported, and start() waits for it', async () => {
    const { clock, lw, informer, errors } = setup();
    lw.put(obj('a'));
    lw.failLists(new UnavailableError('DOWN', 'down'), new UnavailableError('DOWN', 'down'));
    let synced = false;
    const started = informer.start().then(() => {
      synced = true;
    });
    await settle();
    assert.equal(synced, false);
    assert.equal(errors.length, 1);
    clock.advance(799);
    await settle();
    assert.equal(lw.lists, 1, 'no re-list before the first backoff (800 ms) is over');
    clock.advance(1);
    await settle();
    assert.equal(lw.lists, 2);
    assert.equal(errors.length, 2);
    clock.advance(1599);
    await settle();
    assert.equal(lw.lists, 2, 'the second backoff doubles');
    clock.advance(1);
    await started;
    assert.equal(lw.lists, 3);
    assert.equal(informer.get('ns', 'a')?.data, 'v1');
    await informer.close();
  });

  test('watch events update the cache and reach the handlers; a BOOKMARK only moves the resourceVersion', async () => {
    const { lw, informer, take } = setup();
    lw.put(obj('a'));
    lw.put(obj('b'));
    await informer.start();
    take();
    lw.put(obj('c'));
    lw.put(obj('a', 'v2'));
    lw.remove('ns', 'b');
    await settle();
    assert.deepEqual(take(), ['ADDED ns/c', 'DELETED ns/b', 'MODIFIED ns/a']);
    assert.equal(informer.get('ns', 'a')?.data, 'v2');
    assert.equal(informer.get('ns', 'b'), undefined);
    assert.equal(informer.resourceVersion, '5');
    lw.bookmark(obj('ignored'));
    await settle();
    assert.deepEqual(take(), []);
    assert.equal(informer.resourceVersion, '6');
    assert.equal(informer.get('ns', 'ignored'), undefined);
    assert.equal(lw.lists, 1, 'no re-list while the watch is healthy');
    await informer.close();
  });

  test('GONE makes it re-list after the backoff and report exactly what changed meanwhile', async () => {
    const { clock, lw, informer, take, errors } = setup();
    for (const name of ['a', 'b', 'c']) lw.put(obj(name));
    await informer.start();
    take();
    // Changes the watch never describes (it fell behind), then the history it needed is gone.
    lw.putQuietly(obj('a', 'v2'));
    lw.removeQuietly('ns', 'b');
    lw.putQuietly(obj('d'));
    lw.compact();
    await settle();
    assert.deepEqual(errors, [], 'GONE is routine, not reported');
    clock.advance(799);
    await settle();
    assert.equal(lw.lists, 1, 'no re-list before the backoff is over');
    assert.deepEqual(take(), []);
    clock.advance(1);
    await settle();
    assert.equal(lw.lists, 2);
    assert.deepEqual(take(), ['ADDED ns/d', 'DELETED ns/b', 'MODIFIED ns/a'], 'c is unchanged and not reported');
    assert.deepEqual(informer.keys().sort(), ['ns/a', 'ns/c', 'ns/d']);
    assert.equal(informer.get('ns', 'a')?.data, 'v2');
    assert.equal(informer.resourceVersion, '6');
    // The new watch follows on from the re-list.
    lw.put(obj('e'));
    await settle();
    assert.deepEqual(take(), ['ADDED ns/e']);
    await informer.close();
  });

  test('a watch that ends cleanly re-lists after the backoff and then watches again', async () => {
    const { clock, lw, informer, take, errors } = setup();
    lw.put(obj('a'));
    await informer.start();
    take();
    lw.endWatches();
    lw.putQuietly(obj('a', 'v2'));
    await settle();
    assert.equal(lw.lists, 1);
    clock.advance(800);
    await settle();
    assert.equal(lw.lists, 2);
    assert.deepEqual(take(), ['MODIFIED ns/a']);
    assert.deepEqual(errors, []);
    assert.equal(lw.openWatches, 1);
    lw.remove('ns', 'a');
    await settle();
    assert.deepEqual(take(), ['DELETED ns/a']);
    await informer.close();
  });

  test('a broken watch is reported; the backoff starts afresh once a watch delivers again', async () => {
    const { clock, lw, informer, errors } = setup();
    await informer.start();
    lw.endWatches(new Error('reset'));
    await settle();
    assert.equal(errors.length, 1);
    clock.advance(800);
    await settle();
    assert.equal(lw.lists, 2);
    lw.put(obj('a'));
    await settle();
    lw.endWatches(new Error('reset'));
    await settle();
    clock.advance(800);
    await settle();
    assert.equal(lw.lists, 3, 'the event reset the backoff to its first step');
    await informer.close();
  });

  test('watches that end after two quiet minutes re-list after the first backoff step, not a grown one', async () => {
    const { clock, lw, informer } = setup();
    await informer.start();
    for (let i = 0; i < 3; i++) {
      lw.endWatches();
      await settle();
      clock.advance(800 * 2 ** i);
      await settle();
    }
    assert.equal(lw.lists, 4, 'quick successive ends grow the backoff: 800, 1600, 3200 ms');
    clock.advance(180_000);
    await settle();
    lw.endWatches();
    await settle();
    clock.advance(800);
    await settle();
    assert.equal(lw.lists, 5, 'after a 3-minute watch the backoff starts again at 800 ms');
    await informer.close();
  });

  test('resync re-delivers every cached key each period, and only after the first list', async () => {
    const { clock, lw, informer, take } = setup({ resyncPeriodMs: 30_000 });
    lw.put(obj('a'));
    lw.put(obj('b'));
    await informer.start();
    take();
    clock.advance(29_999);
    await settle();
    assert.deepEqual(take(), []);
    clock.advance(1);
    assert.deepEqual(take(), ['RESYNC ns/a', 'RESYNC ns/b']);
    clock.advance(30_000);
    assert.deepEqual(take(), ['RESYNC ns/a', 'RESYNC ns/b']);
    await informer.close();
    clock.advance(30_000);
    assert.deepEqual(take(), [], 'no resync after close');
  });

  test('cached objects are frozen, also those from watch events', async () => {
    const { lw, informer } = setup();
    lw.put(obj('a'));
    await informer.start();
    lw.put(obj('b'));
    await settle();
    for (const name of ['a', 'b']) {
      const cached = informer.get('ns', name);
      assert.ok(cached);
      assert.throws(() => {
        Object.assign(cached.metadata, { name: 'x' });
      }, TypeError);
    }
    await informer.close();
  });

  test('a throwing handler is reported and neither stops the cache nor the other handlers', async () => {
    const { lw, informer, take, errors } = setup();
    informer.onChange(() => {
      throw new Error('handler bug');
    });
    await informer.start();
    lw.put(obj('a'));
    await settle();
    assert.deepEqual(take(), ['ADDED ns/a']);
    assert.equal(errors.length, 1);
    lw.put(obj('b'));
    await settle();
    assert.deepEqual(take(), ['ADDED ns/b']);
    await informer.close();
  });

  test('close() ends the watch, cancels every timer and stops delivering; close during a backoff does not wait it out', async () => {
    const { clock, lw, informer, take } = setup({ resyncPeriodMs: 1000 });
    await informer.start();
    assert.equal(lw.openWatches, 1);
    await informer.close();
    assert.equal(lw.openWatches, 0);
    assert.deepEqual(clock.pending(), []);
    lw.put(obj('a'));
    await settle();
    assert.deepEqual(take(), []);

    const second = setup();
    await second.informer.start();
    second.lw.endWatches(new Error('reset'));
    await settle();
    assert.equal(second.clock.pending().length, 1, 'waiting out the backoff');
    await second.informer.close();
    assert.deepEqual(second.clock.pending(), []);
    assert.equal(second.lw.lists, 1);
  });

  test('close() before the first list succeeds makes start() reject with UNAVAILABLE', async () => {
    const { lw, informer } = setup();
    lw.failLists(new UnavailableError('DOWN', 'down'));
    const started = informer.start();
    await settle();
    await informer.close();
    await assert.rejects(started, (e: unknown) => e instanceof UnavailableError && e.reason === 'INFORMER_CLOSED');
    assert.equal(informer.hasSynced(), false);
  });
});
