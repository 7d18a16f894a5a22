/**
 * The Controller runner on a fake clock: success forgets the key's backoff, requeueAfterMs checks
 * the key again when asked, a thrown error retries on the queue's growing backoff, a TerminalError
 * is not retried, close() aborts the reconciles' signal and waits for the ones in flight, and no
 * key is ever reconciled by two workers at once.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { FakeClock } from '../base/clock.ts';
import { Controller, type ReconcileContext, type ReconcileResult, TerminalError } from './runner.ts';
import { WorkQueue } from './workqueue.ts';

async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await new Promise((resolve) => setImmediate(resolve));
}

type Reconcile = (key: string, context: ReconcileContext) => Promise<ReconcileResult | undefined>;

function setup(reconcile: Reconcile, workers = 1) {
  const clock = new FakeClock(Date.parse('2026-12-01T00:00:00Z'));
  const queue = new WorkQueue({ clock });
  const warnings: { obj: Record<string, unknown>; msg: string }[] = [];
  const controller = new Controller({
    name: 'test',
    queue,
    reconcile,
    workers,
    logger: { warn: (obj, msg) => warnings.push({ obj, msg }) },
  });
  controller.start();
  return { clock, queue, controller, warnings };
}

describe('Controller', () => {
  test('a thrown error re-queues the key on its backoff (200 ms, then 400 ms), and success forgets it', async () => {
    const runs: number[] = [];
    let failuresLeft = 2;
    const { clock, queue, controller, warnings } = setup(async () => {
      runs.push(clock.now());
      if (failuresLeft-- > 0) throw new Error('not yet');
      return undefined;
    });
    const t0 = clock.now();
    queue.add('a');
    await settle();
    assert.deepEqual(runs, [t0]);
    assert.equal(queue.failureCount('a'), 1);
    assert.equal(warnings[0]?.msg, 'reconcile failed; will retry');
    clock.advance(199);
    await settle();
    assert.equal(runs.length, 1, 'not before the first backoff');
    clock.advance(1);
    await settle();
    assert.equal(runs.length, 2);
    assert.equal(queue.failureCount('a'), 2);
    clock.advance(399);
    await settle();
    assert.equal(runs.length, 2, 'the backoff doubled');
    clock.advance(1);
    await settle();
    assert.equal(runs.length, 3);
    assert.equal(queue.failureCount('a'), 0, 'success forgot the failures');
    assert.deepEqual(clock.pending(), [], 'and nothing is scheduled');
    // A later failure starts again at the base delay.
    failuresLeft = 1;
    queue.add('a');
    await settle();
    assert.equal(runs.length, 4);
    clock.advance(200);
    await settle();
    assert.equal(runs.length, 5);
    await controller.close();
  });

  test('requeueAfterMs reconciles the key again after that long, not before', async () => {
    let runs = 0;
    const { clock, queue, controller } = setup(async () => {
      runs++;
      return runs === 1 ? { requeueAfterMs: 3_600_000 } : undefined;
    });
    queue.add('a');
    await settle();
    assert.equal(runs, 1);
    clock.advance(3_599_999);
    await settle();
    assert.equal(runs, 1);
    clock.advance(1);
    await settle();
    assert.equal(runs, 2);
    clock.advance(10 * 3_600_000);
    await settle();
    assert.equal(runs, 2, 'only when asked');
    await controller.close();
  });

  test('a TerminalError is logged and not retried', async () => {
    let runs = 0;
    const { clock, queue, controller, warnings } = setup(async () => {
      runs++;
      throw new TerminalError('bad input');
    });
    queue.add('a');
    await settle();
    clock.advance(86_400_000);
    await settle();
    assert.equal(runs, 1);
    assert.equal(queue.failureCount('a'), 0);
    assert.deepEqual(clock.pending(), []);
    assert.deepEqual(
      warnings.map((w) => [w.msg, w.obj.key, w.obj.controller]),
      [['reconcile failed permanently', 'a', 'test']],
    );
    await controller.close();
  });

  test('close() aborts the reconcile signal and resolves only after the reconciles in flight finish', async () => {
    const release = Promise.withResolvers<void>();
    const signals: AbortSignal[] = [];
    let finished = 0;
    const { queue, controller } = setup(async (_key, { signal }) => {
      signals.push(signal);
      await release.promise;
      finished++;
      return undefined;
    }, 2);
    queue.add('a');
    queue.add('b');
    await settle();
    assert.equal(signals.length, 2);
    assert.equal(signals[0]?.aborted, false);
    let closed = false;
    const closing = controller.close().then(() => {
      closed = true;
    });
    await settle();
    assert.equal(signals[0]?.aborted, true);
    assert.equal(closed, false, 'still waiting for the two reconciles');
    release.resolve();
    await closing;
    assert.equal(finished, 2);
    queue.add('c');
    await settle();
    assert.equal(signals.length, 2, 'nothing runs after close');
  });

  test('a key is never reconciled by two workers at once; a change meanwhile runs it once more afterwards', async () => {
    const gates: PromiseWithResolvers<void>[] = [];
    const active = new Map<string, number>();
    let overlap = false;
    const runs: string[] = [];
    const { queue, controller } = setup(async (key) => {
      const now = (active.get(key) ?? 0) + 1;
      active.set(key, now);
      if (now > 1) overlap = true;
      runs.push(key);
      const gate = Promise.withResolvers<void>();
      gates.push(gate);
      await gate.promise;
      active.set(key, (active.get(key) ?? 1) - 1);
      return undefined;
    }, 4);
    queue.add('a');
    await settle();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    await settle();
    assert.deepEqual(runs, ['a', 'b'], 'a second worker took b, not a again');
    for (const gate of gates.splice(0)) gate.resolve();
    await settle();
    assert.deepEqual(runs, ['a', 'b', 'a'], 'a ran once more for the adds while it was busy');
    for (const gate of gates.splice(0)) gate.resolve();
    await settle();
    assert.equal(overlap, false);
    assert.equal(runs.length, 3);
    await controller.close();
  });
});
