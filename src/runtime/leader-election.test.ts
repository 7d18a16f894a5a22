/**
 * Leader election on a fake clock against an in-memory Lease API with compare-and-swap: a lone
 * candidate acquires and renews; a second one takes over only after it saw the record unchanged
 * for the lease duration on its own clock (a clock hours ahead changes nothing), with
 * leaseTransitions + 1; a leader that cannot renew stops within the renew deadline, before anyone
 * may take over, aborting its work's signal; of two racing candidates exactly one leads; close()
 * stops the work, then releases the lease, and the other takes over without waiting.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Lease } from '../api/lease.ts';
import { type Clock, FakeClock } from '../base/clock.ts';
import { InvalidError } from '../base/errors.ts';
import { LeaderElector } from './leader-election.ts';
import { MemoryLeaseClient, type PartitionableLeaseClient } from './testing.ts';

const NS = 'kube-system';
const NAME = 'tlsboot-controllers';
const START = Date.parse('2026-12-01T10:00:00Z');

async function settle(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise((resolve) => setImmediate(resolve));
}

/** Lets `ms` pass in 100 ms steps, so every async step between timers runs at its time. */
async function pass(clock: FakeClock, ms: number): Promise<void> {
  for (let left = ms; left > 0; left -= 100) {
    clock.advance(Math.min(100, left));
    await settle();
  }
}

interface Candidate {
  readonly elector: LeaderElector;
  readonly client: PartitionableLeaseClient;
  readonly log: string[];
  readonly errors: unknown[];
  /** What onNewLeader reported, in order. */
  readonly leaders: string[];
  signal(): AbortSignal | undefined;
}

function candidate(api: MemoryLeaseClient, identity: string, clock: Clock, log: string[] = []): Candidate {
  const client = api.as(identity);
  const errors: unknown[] = [];
  const leaders: string[] = [];
  let signal: AbortSignal | undefined;
  const elector = new LeaderElector({
    client,
    namespace: NS,
    name: NAME,
    identity,
    clock,
    random: () => 0,
    onStartedLeading: (s) => {
      signal = s;
      log.push(`${identity} started`);
    },
    onStoppedLeading: () => {
      // The holder at this moment shows that a release comes only after the work has stopped.
      log.push(`${identity} stopped (signal aborted: ${signal?.aborted}, holder ${api.stored(NS, NAME)?.spec?.holderIdentity})`);
    },
    onError: (e) => errors.push(e),
    onNewLeader: (holder) => leaders.push(holder),
  });
  return { elector, client, log, errors, leaders, signal: () => signal };
}

const spec = (api: MemoryLeaseClient): NonNullable<Lease['spec']> => api.stored(NS, NAME)?.spec ?? {};

describe('LeaderElector', () => {
  test('a lone candidate creates the Lease as client-go writes it, leads, and renews every retry period', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const a = candidate(api, 'a', clock);
    a.elector.start();
    await settle();
    assert.equal(a.elector.isLeader(), true);
    assert.deepEqual(a.log, ['a started']);
    assert.equal(a.signal()?.aborted, false);
    assert.deepEqual(spec(api), {
      holderIdentity: 'a',
      leaseDurationSeconds: 15,
      acquireTime: '2026-12-01T10:00:00.000000Z',
      renewTime: '2026-12-01T10:00:00.000000Z',
      leaseTransitions: 0,
    });
    await pass(clock, 2_000);
    assert.equal(spec(api).renewTime, '2026-12-01T10:00:02.000000Z');
    assert.equal(spec(api).acquireTime, '2026-12-01T10:00:00.000000Z', 'a renewal keeps the acquire time');
    await pass(clock, 60_000);
    assert.equal(spec(api).renewTime, '2026-12-01T10:01:02.000000Z');
    assert.equal(spec(api).leaseTransitions, 0);
    assert.deepEqual(a.errors, []);
    await a.elector.close();
  });

  test('a second candidate takes over only a lease duration after it last saw the record change, with leaseTransitions + 1', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const a = candidate(api, 'a', clock);
    a.elector.start();
    await settle();
    // b's wall clock is an hour ahead: were it to trust renewTime, a's lease would look long expired.
    const ahead: Clock = { now: () => clock.now() + 3_600_000, setTimeout: (fn, ms) => clock.setTimeout(fn, ms) };
    const b = candidate(api, 'b', ahead);
    b.elector.start();
    await pass(clock, 30_000);
    assert.equal(b.elector.isLeader(), false, 'a renews, so b waits however far its clock is ahead');
    assert.equal(b.elector.leader, 'a');
    a.client.mode = 'fail';
    const lastRenew = Date.parse(spec(api).renewTime ?? '');
    // b polls every 2 s, so it sees a's last renewal within 2 s and must then wait 15 s more.
    await pass(clock, lastRenew + 15_000 - clock.now());
    assert.equal(b.elector.isLeader(), false, 'not before the lease duration');
    await pass(clock, 4_000);
    assert.equal(b.elector.isLeader(), true);
    assert.deepEqual(b.log, ['b started']);
    assert.equal(spec(api).holderIdentity, 'b');
    assert.equal(spec(api).leaseTransitions, 1);
    assert.deepEqual(b.leaders, ['a', 'b'], 'b reported each new holder once');
    const takeover = api.writes.find((w) => w.by === 'b');
    assert.equal(takeover?.spec.acquireTime, takeover?.spec.renewTime, 'a takeover sets a new acquire time');
    assert.equal(
      api.writes.filter((w) => w.by === 'a' && w.spec.renewTime !== undefined && Date.parse(w.spec.renewTime) > lastRenew).length,
      0,
    );
    await a.elector.close();
    await b.elector.close();
  });

  for (const mode of ['fail', 'hang'] as const) {
    test(`a leader whose renewals ${mode === 'fail' ? 'fail' : 'hang'} stops within the renew deadline, before its lease could pass to another`, async () => {
      const clock = new FakeClock(START);
      const api = new MemoryLeaseClient();
      const log: string[] = [];
      const a = candidate(api, 'a', clock, log);
      a.elector.start();
      await settle();
      await pass(clock, 4_000);
      const lastRenew = clock.now();
      assert.equal(Date.parse(spec(api).renewTime ?? ''), lastRenew);
      a.client.mode = mode;
      // The next round starts one retry period later and gives up after the renew deadline.
      await pass(clock, 2_000 + 10_000 - 100);
      assert.equal(a.elector.isLeader(), true);
      assert.equal(a.signal()?.aborted, false);
      await pass(clock, 100);
      assert.deepEqual(log, ['a started', 'a stopped (signal aborted: true, holder a)'], 'stopped, with the signal aborted first');
      assert.ok(clock.now() < lastRenew + 15_000);
      if (mode === 'fail') assert.ok(a.errors.length >= 5, 'the failed renewals were reported');
      await a.elector.close();
    });
  }

  test('a leader that reads another holder in the Lease stops at once, not at the renew deadline', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const a = candidate(api, 'a', clock);
    a.elector.start();
    await settle();
    await pass(clock, 3_000);
    const current = api.stored(NS, NAME);
    assert.ok(current);
    await api.as('z').update({ ...current, spec: { ...current.spec, holderIdentity: 'z', leaseTransitions: 1 } });
    await pass(clock, 1_000);
    assert.deepEqual(a.log, ['a started', 'a stopped (signal aborted: true, holder z)']);
    assert.equal(a.elector.isLeader(), false);
    assert.deepEqual(a.errors, [], 'the lost compare-and-swap is no failure');
    await a.elector.close();
    assert.equal(spec(api).holderIdentity, 'z', 'close() releases only a lease it holds');
  });

  test('candidates racing to create, then to take a released lease: exactly one leads each time', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const log: string[] = [];
    const all = ['a', 'b', 'c'].map((id) => candidate(api, id, clock, log));
    api.holdGets(3);
    for (const c of all) c.elector.start();
    await settle();
    assert.equal(api.writes.length, 1, 'one create won, the others met ALREADY_EXISTS');
    assert.equal(all.filter((c) => c.elector.isLeader()).length, 1);
    assert.deepEqual(log, [`${spec(api).holderIdentity} started`], 'only the winner started its work');
    await pass(clock, 6_000);
    const leader = all.find((c) => c.elector.isLeader());
    const rest = all.filter((c) => c !== leader);
    await leader?.elector.close();
    assert.equal(spec(api).holderIdentity, '');
    // Both remaining candidates read the same released record at their next try and both write.
    log.length = 0;
    api.holdGets(2);
    await pass(clock, 2_000);
    assert.equal(rest.filter((c) => c.elector.isLeader()).length, 1, 'one update won, the other met CONFLICT');
    assert.deepEqual(log, [`${spec(api).holderIdentity} started`], 'only the winner started its work');
    assert.equal(spec(api).leaseTransitions, 1, 'one takeover, counted once');
    assert.deepEqual(
      all.flatMap((c) => c.errors),
      [],
      'a lost race is not an error',
    );
    for (const c of rest) await c.elector.close();
  });

  test('close() stops the work, then releases the lease, and the other candidate takes over at its next try', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const log: string[] = [];
    const a = candidate(api, 'a', clock, log);
    a.elector.start();
    await settle();
    const b = candidate(api, 'b', clock, log);
    b.elector.start();
    await pass(clock, 10_000);
    const writesBefore = api.writes.length;
    await a.elector.close();
    assert.deepEqual(log, ['a started', 'a stopped (signal aborted: true, holder a)']);
    assert.equal(api.writes.length, writesBefore + 1);
    assert.equal(spec(api).holderIdentity, '');
    assert.equal(spec(api).leaseDurationSeconds, 1);
    await pass(clock, 2_000);
    assert.equal(b.elector.isLeader(), true, 'no lease duration to wait out');
    assert.equal(spec(api).leaseTransitions, 1);
    assert.deepEqual(log, ['a started', 'a stopped (signal aborted: true, holder a)', 'b started']);
    await b.elector.close();
    assert.deepEqual(clock.pending(), [], 'no timer left behind');
  });

  test('close() during a hung renewal stops the work at once and resolves after at most the renew deadline', async () => {
    const clock = new FakeClock(START);
    const api = new MemoryLeaseClient();
    const log: string[] = [];
    const a = candidate(api, 'a', clock, log);
    a.elector.start();
    await settle();
    await pass(clock, 3_000);
    a.client.mode = 'hang';
    await pass(clock, 1_500);
    assert.equal(a.elector.isLeader(), true, 'a renewal has hung since 4 s; the deadline is not reached');
    let closed = false;
    const closing = a.elector.close().then(() => {
      closed = true;
    });
    await settle();
    assert.deepEqual(log, ['a started', 'a stopped (signal aborted: true, holder a)'], 'the work stops at once, not at the deadline');
    await pass(clock, 9_900);
    assert.equal(closed, false, 'the release is given the renew deadline');
    await pass(clock, 100);
    await closing;
    assert.deepEqual(clock.pending(), []);
  });

  test('a configuration client-go would refuse is refused', () => {
    const api = new MemoryLeaseClient();
    const base = { client: api.as('a'), namespace: NS, name: NAME, onStartedLeading: () => undefined, onStoppedLeading: () => undefined };
    const refused = (options: Partial<{ identity: string; leaseDurationMs: number; renewDeadlineMs: number; retryPeriodMs: number }>) =>
      assert.throws(
        () => new LeaderElector({ ...base, identity: 'a', ...options }),
        (e: unknown) => e instanceof InvalidError && e.reason === 'LEADER_ELECTION_CONFIG',
      );
    refused({ identity: '' });
    refused({ leaseDurationMs: 10_000, renewDeadlineMs: 10_000 });
    refused({ renewDeadlineMs: 2_400, retryPeriodMs: 2_000 });
    refused({ retryPeriodMs: 0 });
    assert.ok(new LeaderElector({ ...base, identity: 'a' }));
  });
});
