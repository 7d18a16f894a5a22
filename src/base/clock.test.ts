/**
 * Timers of any length: a delay past Node's 2^31-1 ms fires once at its deadline (not after 1 ms,
 * as a bare setTimeout does), the clamp and re-arm work over a host whose limit is tiny, a
 * re-armed timer can be cancelled, and a wall-clock jump is noticed at the next wake.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { clockOn, every, FakeClock, MAX_TIMER_DELAY_MS, REAL_CLOCK, type Scheduler, sleep } from './clock.ts';
import { isTlsbootError } from './errors.ts';

const DAY = 86_400_000;

/** A host like Node's (over the limit means 1 ms) whose limit is tiny, driven by hand. */
function tinyHost(maxDelayMs: number) {
  let now = 1_000;
  const armed: { at: number; ms: number; fn: () => void }[] = [];
  const scheduler: Scheduler = {
    maxDelayMs,
    now: () => now,
    schedule: (fn, ms) => {
      const t = { at: now + (ms > maxDelayMs ? 1 : ms), ms, fn };
      armed.push(t);
      return () => {
        const i = armed.indexOf(t);
        if (i >= 0) armed.splice(i, 1);
      };
    },
  };
  /** Fires the one armed host timer, moving time to it. */
  const wakeNext = () => {
    const t = armed.shift();
    assert.ok(t, 'a host timer is armed');
    now = t.at;
    t.fn();
  };
  return { scheduler, armed, wakeNext, time: () => now };
}

describe('clock', () => {
  test('a 30-day timer fires once, at 30 days and not before', () => {
    const clock = new FakeClock(Date.parse('2026-06-01T00:00:00Z'));
    const start = clock.now();
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(clock.now() - start), 30 * DAY);
    clock.advance(1);
    assert.equal(clock.hostTimersArmed, 1, 'no wake after 1 ms (a bare Node timer would spin here)');
    clock.advance(MAX_TIMER_DELAY_MS);
    assert.deepEqual(fired, [], 'nothing after 1 ms or after one host-sized piece');
    clock.advance(30 * DAY - 1 - MAX_TIMER_DELAY_MS - 1);
    assert.deepEqual(fired, [], 'nothing 1 ms before the deadline');
    clock.advance(1);
    assert.deepEqual(fired, [30 * DAY]);
    clock.advance(400 * DAY);
    assert.deepEqual(fired, [30 * DAY], 'exactly once');
    assert.equal(clock.hostTimers, 0);
    assert.equal(clock.hostTimersArmed, 2, 'one piece of 2^31-1 ms, then the rest');
  });

  test('the clamp and re-arm over a host that holds at most 10 ms', () => {
    const { scheduler, armed, wakeNext, time } = tinyHost(10);
    const clock = clockOn(scheduler);
    const fired: number[] = [];
    clock.setTimeout(() => fired.push(time()), 35);
    const pieces: number[] = [];
    while (armed.length > 0) {
      pieces.push((armed[0] as { ms: number }).ms);
      wakeNext();
    }
    assert.deepEqual(pieces, [10, 10, 10, 5], 'never asks the host for more than it holds');
    assert.deepEqual(fired, [1_035]);
  });

  test('cancel stops a timer that has already been re-armed', () => {
    const clock = new FakeClock(0, 10);
    let fired = 0;
    const timer = clock.setTimeout(() => fired++, 100);
    clock.advance(55);
    assert.ok(clock.hostTimersArmed >= 6, 're-armed several times already');
    timer.cancel();
    assert.equal(clock.hostTimers, 0, 'the armed piece is gone');
    clock.advance(1_000);
    assert.equal(fired, 0);
    timer.cancel();
    assert.deepEqual(clock.pending(), []);
  });

  test('a wall-clock jump is noticed at the next wake, either way', () => {
    const forward = new FakeClock(0);
    let early = 0;
    forward.setTimeout(() => early++, 30 * DAY);
    forward.jump(40 * DAY);
    assert.equal(early, 0, 'a jump alone wakes nothing');
    forward.advance(MAX_TIMER_DELAY_MS);
    assert.equal(early, 1, 'the first wake sees the deadline passed');

    const back = new FakeClock(0);
    let late = 0;
    back.setTimeout(() => late++, 10_000);
    back.jump(-5_000);
    back.advance(10_000);
    assert.equal(late, 0, 'the wall clock says 5 s remain');
    back.advance(5_000);
    assert.equal(late, 1);
  });

  test('the fake clock fires in deadline order, also timers set while firing', () => {
    const clock = new FakeClock(0);
    const order: string[] = [];
    clock.setTimeout(() => order.push('c'), 300);
    clock.setTimeout(() => {
      order.push('a');
      clock.setTimeout(() => order.push('b'), 100);
    }, 100);
    clock.advance(1_000);
    assert.deepEqual(order, ['a', 'b', 'c']);
  });

  test('every() repeats until cancelled', () => {
    const clock = new FakeClock(0);
    let n = 0;
    const timer = every(clock, 40 * DAY, () => n++);
    clock.advance(120 * DAY);
    assert.equal(n, 3);
    timer.cancel();
    clock.advance(120 * DAY);
    assert.equal(n, 3);
    assert.equal(clock.hostTimers, 0);
  });

  test('a delay that is not a number of ms is refused', () => {
    const clock = new FakeClock(0);
    assert.throws(
      () => clock.setTimeout(() => {}, Number.NaN),
      (e: unknown) => isTlsbootError(e) && e.code === 'INVALID',
    );
    assert.throws(() => clock.setTimeout(() => {}, -1));
  });

  test('the real clock splits a wait longer than its host holds', async () => {
    // Node's own timers under a 5 ms limit; a loaded machine may wake late, so count no pieces.
    const pieces: number[] = [];
    const clock = clockOn({
      maxDelayMs: 5,
      now: () => REAL_CLOCK.now(),
      schedule: (fn, ms) => {
        pieces.push(ms);
        const t = REAL_CLOCK.setTimeout(fn, ms);
        return () => t.cancel();
      },
    });
    const start = Date.now();
    const elapsed = await new Promise<number>((resolve) => clock.setTimeout(() => resolve(Date.now() - start), 20));
    assert.ok(elapsed >= 20, `not before its deadline (${elapsed} ms)`);
    assert.ok(pieces[0] === 5 && pieces.every((ms) => ms <= 5), `pieces: ${pieces.join(', ')}`);
  });

  test('sleep() ends at its deadline by the clock, also past 2^31-1 ms, and at once on abort', async () => {
    const clock = new FakeClock(0);
    let woke = false;
    const long = sleep(clock, 40 * DAY).then(() => {
      woke = true;
    });
    clock.advance(40 * DAY - 1);
    await Promise.resolve();
    assert.equal(woke, false, 'not a moment early');
    clock.advance(1);
    await long;
    assert.equal(woke, true);

    const stop = new AbortController();
    const aborted = sleep(clock, DAY, stop.signal);
    stop.abort();
    await aborted;
    assert.equal(clock.hostTimers, 0, 'the aborted sleep leaves no timer behind');
    await sleep(clock, DAY, stop.signal);
  });
});
