/**
 * Attack (issue 13, idea 4): leader election promises that "a leader that cannot renew stops
 * within the renew deadline, before any other candidate may take over". The leader's last renewal
 * at T is followed by a round that starts at T + retryPeriod and gives up at T + retryPeriod +
 * renewDeadline, while a candidate that saw the renewal at once may take over at T +
 * leaseDuration. The configuration check (client-go's) only asks leaseDuration > renewDeadline and
 * renewDeadline > 1.2 x retryPeriod, so `tlsboot controllers --leader-elect
 * --leader-elect-lease-duration 4s --leader-elect-renew-deadline 3s --leader-elect-retry-period 2s`
 * is accepted, and two instances both lead for up to a second. Safe behaviour: either such a
 * configuration is refused, or the old leader stops before the new one starts.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { FakeClock } from '../src/base/clock.ts';
import { LeaderElector } from '../src/runtime/leader-election.ts';
import { MemoryLeaseClient } from '../src/runtime/testing.ts';

const START = Date.parse('2026-12-01T10:00:00Z');

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

test('with an accepted configuration, no moment has two instances leading at once', async () => {
  const clock = new FakeClock(START);
  const api = new MemoryLeaseClient();
  // The tightest configuration the check accepts: leaseDuration just over renewDeadline + retryPeriod.
  const timings = { leaseDurationMs: 5_100, renewDeadlineMs: 3_000, retryPeriodMs: 2_000 };
  const acting = new Set<string>();
  const make = (identity: string) => {
    const client = api.as(identity);
    const elector = new LeaderElector({
      client,
      namespace: 'kube-system',
      name: 'tlsboot-controllers',
      identity,
      clock,
      random: () => 0,
      ...timings,
      onStartedLeading: () => {
        acting.add(identity);
      },
      onStoppedLeading: () => {
        acting.delete(identity);
      },
    });
    return { elector, client };
  };
  assert.throws(
    () =>
      new LeaderElector({
        client: api.as('probe'),
        namespace: 'kube-system',
        name: 'tlsboot-controllers',
        identity: 'probe',
        clock,
        ...timings,
        leaseDurationMs: 5_000,
        onStartedLeading: () => {},
        onStoppedLeading: () => {},
      }),
    /renewDeadline \+ retryPeriod/,
    'leaseDuration = renewDeadline + retryPeriod is refused',
  );
  const a = make('a');
  a.elector.start();
  await settle();
  clock.advance(100);
  await settle();
  const b = make('b');
  b.elector.start();
  await settle();
  // a renews at 2 s and 4 s; b polls at 0.1 s, 2.1 s, 4.1 s, ... and sees each renewal at once.
  for (let t = 0; t < 3_900; t += 100) {
    clock.advance(100);
    await settle();
  }
  assert.deepEqual([...acting], ['a']);
  a.client.mode = 'hang';
  const overlaps: string[] = [];
  for (let t = 0; t < 10_000; t += 100) {
    clock.advance(100);
    await settle();
    if (acting.size > 1) overlaps.push(`${new Date(clock.now()).toISOString().slice(17, 23)}: ${[...acting].join('+')}`);
  }
  assert.ok(acting.has('b'), 'b took over in the end');
  assert.deepEqual(overlaps, [], 'moments with two leaders acting');
  await a.elector.close();
  await b.elector.close();
});
