/** The failed-login throttle with a fake clock: bounded memory, bounded penalties, recovery. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { AuthThrottle, sourceOf } from './auth-throttle.ts';

function throttle(maxSources?: number) {
  const clock = { ms: 0 };
  const t = new AuthThrottle({
    perSource: 10,
    global: 100,
    windowMs: 60_000,
    tarpitMs: 500,
    clock: { now: () => clock.ms },
    ...(maxSources === undefined ? {} : { maxSources }),
  });
  return { t, clock };
}

test('tracked sources stay within maxSources however many addresses fail', () => {
  const { t, clock } = throttle(100);
  for (let i = 0; i < 10_000; i++) {
    t.recordFailure(`10.${i >> 16}.${(i >> 8) & 255}.${i & 255}`);
    clock.ms += 1000;
  }
  assert.equal(t.trackedSources, 100);
});

test('a long attack is forgotten one window after it stops: Retry-After never exceeds the window and is honest', () => {
  const { t, clock } = throttle();
  let penalty = t.recordFailure('a');
  for (let i = 0; i < 100_000; i++) penalty = t.recordFailure('a');
  assert.deepEqual(penalty, { delayMs: 500, retryAfterSeconds: 60 });
  clock.ms += penalty ? penalty.retryAfterSeconds * 1000 : 0;
  assert.equal(t.recordFailure('a'), undefined, 'after Retry-After a failure is within budget again');
});

test('failures drain at the budget rate: ten a minute from one source stay unpunished forever', () => {
  const { t, clock } = throttle();
  for (let i = 0; i < 1000; i++) {
    assert.equal(t.recordFailure('b'), undefined);
    clock.ms += 6000;
  }
});

test('Retry-After is honest for a small excess too', () => {
  const { t, clock } = throttle();
  let penalty = t.recordFailure('c');
  for (let i = 0; i < 10; i++) penalty = t.recordFailure('c');
  assert.deepEqual(penalty, { delayMs: 500, retryAfterSeconds: 12 });
  clock.ms += 12_000;
  assert.equal(t.recordFailure('c'), undefined);
});

test('a source is an IPv4 address (also IPv4-mapped) or an IPv6 /64', () => {
  assert.equal(sourceOf('192.0.2.1'), '192.0.2.1');
  assert.equal(sourceOf('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(sourceOf('2001:db8:1:2:aaaa::1'), '2001:db8:1:2::/64');
  assert.equal(sourceOf('2001:db8:1:2:bbbb::2'), '2001:db8:1:2::/64');
  assert.equal(sourceOf(''), '');
});
