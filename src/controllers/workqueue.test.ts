/**
 * The work queue's client-go semantics: one entry per key, a key re-added while processing runs
 * again once afterwards, per-key exponential backoff, timed re-adds and close(), on a fake clock.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type QueueClock, WorkQueue } from './workqueue.ts';

function fakeClock() {
  let now = 0;
  const timers: { at: number; fn: () => void; id: number }[] = [];
  let next = 0;
  const clock: QueueClock = {
    now: () => now,
    setTimeout: (fn, ms) => {
      const id = next++;
      timers.push({ at: now + ms, fn, id });
      return id;
    },
    clearTimeout: (h) => {
      const i = timers.findIndex((t) => t.id === h);
      if (i >= 0) timers.splice(i, 1);
    },
  };
  const advance = (ms: number) => {
    now += ms;
    for (const t of timers.filter((t) => t.at <= now).sort((a, b) => a.at - b.at)) {
      timers.splice(timers.indexOf(t), 1);
      t.fn();
    }
  };
  return { clock, advance, pending: () => timers.map((t) => t.at - now) };
}

describe('WorkQueue', () => {
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
});
