/**
 * The work queue's client-go semantics: one entry per key, a key re-added while processing runs
 * again once afterwards, per-key exponential backoff, timed re-adds (the sooner of two wins, and
 * a 30-day one waits 30 days) and close(), on a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { WorkQueue } from './workqueue.ts';

function fakeClock() {
  const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
  return { clock, advance: (ms: number) => clock.advance(ms), pending: () => clock.pending() };
}

const DAY = 86_400_000;

describe('WorkQueue', () => {
  test('thousands of keys come out once each, in order, while more are added between gets', async () => {
    const q = new WorkQueue();
    const out: string[] = [];
    const key = (i: number) => `k${i}`;
    for (let i = 0; i < 3000; i++) q.add(key(i));
    for (let i = 0; i < 2000; i++) {
      const k = (await q.get()) ?? '';
      out.push(k);
      q.done(k);
    }
    assert.equal(q.length, 1000);
    for (let i = 3000; i < 3500; i++) q.add(key(i));
    // Already queued keys stay where they are.
    q.add(key(2500));
    assert.equal(q.length, 1500);
    while (q.length > 0) {
      const k = (await q.get()) ?? '';
      out.push(k);
      q.done(k);
    }
    assert.deepEqual(
      out,
      Array.from({ length: 3500 }, (_, i) => key(i)),
    );
  });

  test('a key added twice is queued once', async () => {
    const q = new WorkQueue();
    q.add('a');
    q.add('a');
    q.add('b');
    assert.equal(q.length, 2);
    assert.equal(await q.get(), 'a');
    assert.equal(await q.get(), 'b');
    q.close();
  });

  test('a key added while it is processed is handed out again only after done()', async () => {
    const q = new WorkQueue();
    q.add('a');
    const key = await q.get();
    q.add('a');
    assert.equal(q.length, 0, 'not queued while processing');
    q.done(key as string);
    assert.equal(q.length, 1);
    assert.equal(await q.get(), 'a');
    q.close();
  });

  test('a waiting get() receives the next key added', async () => {
    const q = new WorkQueue();
    const pending = q.get();
    q.add('x');
    assert.equal(await pending, 'x');
    q.close();
  });

  test('failures are counted per key and forget() resets the backoff to its base', () => {
    const { clock, advance, pending } = fakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 1000, qps: 1000, burst: 1000 });
    q.addRateLimited('k');
    advance(1000);
    q.addRateLimited('k');
    q.addRateLimited('other');
    assert.deepEqual(pending(), [200, 100]);
    assert.equal(q.failureCount('k'), 2);
    advance(1000);
    q.forget('k');
    assert.equal(q.failureCount('k'), 0);
    q.addRateLimited('k');
    assert.deepEqual(pending(), [100]);
    q.close();
  });

  test('the per-key delay doubles and is capped', () => {
    const { clock, advance, pending } = fakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 100, maxDelayMs: 500, qps: 1000, burst: 1000 });
    const delays: number[] = [];
    for (let i = 0; i < 5; i++) {
      q.addRateLimited('k');
      delays.push(...pending());
      advance(10_000);
    }
    assert.deepEqual(delays, [100, 200, 400, 500, 500]);
    q.close();
  });

  test('addAfter adds the key when its time comes, and close() cancels timers and wakes waiters', async () => {
    const { clock, advance } = fakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('later', 1000);
    assert.equal(q.length, 0);
    advance(999);
    assert.equal(q.length, 0);
    advance(1);
    assert.equal(q.length, 1);
    q.addAfter('never', 1000);
    const waiter = (async () => {
      await q.get();
      return q.get();
    })();
    q.close();
    assert.equal(await waiter, undefined);
    advance(5000);
    assert.equal(q.length, 0);
  });

  test('the global token bucket delays keys once the burst is spent', () => {
    const { clock, pending } = fakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 1, qps: 10, burst: 2 });
    q.addRateLimited('a');
    q.addRateLimited('b');
    q.addRateLimited('c');
    const delays = pending();
    assert.equal(delays.length, 3);
    assert.ok((delays[2] as number) >= 99, `third key waits for a token, got ${delays[2]}`);
    q.close();
  });

  test('a sooner addAfter replaces a later one; a later one never postpones a sooner one', () => {
    const { clock, advance, pending } = fakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 10_000);
    q.addAfter('k', 1_000);
    assert.deepEqual(pending(), [1_000], 'one timer per key, the sooner');
    q.addAfter('k', 5_000);
    assert.deepEqual(pending(), [1_000], 'a later request is dropped');
    advance(999);
    assert.equal(q.length, 0);
    advance(1);
    assert.equal(q.length, 1);
    assert.deepEqual(pending(), [], 'the replaced timer was cancelled');
    q.close();
  });

  test('a key requeued 30 days ahead that then fails retries on its backoff', async () => {
    const { clock, advance, pending } = fakeClock();
    const q = new WorkQueue({ clock, baseDelayMs: 200 });
    q.addAfter('token', 30 * DAY);
    q.add('token'); // an event arrives; its reconcile fails
    const key = await q.get();
    assert.equal(key, 'token');
    q.addRateLimited('token');
    q.done('token');
    assert.deepEqual(pending(), [200]);
    advance(200);
    assert.equal(q.length, 1, 'retried after 200 ms, not in 30 days');
    q.close();
  });

  test('a 30-day addAfter adds the key once, at 30 days', () => {
    const { clock, advance } = fakeClock();
    const q = new WorkQueue({ clock });
    q.addAfter('k', 30 * DAY);
    advance(1);
    assert.equal(q.length, 0);
    advance(30 * DAY - 2);
    assert.equal(q.length, 0);
    advance(1);
    assert.equal(q.length, 1);
    assert.deepEqual(clock.pending(), []);
    q.close();
  });
});
