/**
 * The token cleaner on its work queue and a fake clock (the attack review's hot loop): a token
 * that expires in 30 or 400 days is looked at once when it appears and once more at expiry, when
 * it is deleted, with nothing in between; and a reconcile that fails after that far requeue is
 * retried on its backoff, not a month later.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { BOOTSTRAP_TOKEN_SECRET_TYPE } from '../api/index.ts';
import { FakeClock } from '../base/clock.ts';
import { TlsbootError } from '../base/errors.ts';
import type { ClusterClient, JsonObject } from './cluster.ts';
import { Controller } from './runner.ts';
import { reconcileToken } from './token-cleaner.ts';
import { WorkQueue } from './workqueue.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const START = Date.parse('2026-06-01T00:00:00Z');
const NAME = 'bootstrap-token-abcdef';

const b64 = (s: string) => Buffer.from(s).toString('base64');

/** Only the calls the token cleaner makes; `failures` makes the next reads fail as an outage would. */
class FakeCluster implements ClusterClient {
  readonly secrets = new Map<string, JsonObject>();
  readonly deleted: string[] = [];
  failures = 0;
  async getObject(_resource: string, _namespace: string, name: string): Promise<JsonObject | undefined> {
    if (this.failures > 0) {
      this.failures--;
      throw new TlsbootError('UNAVAILABLE', 'TEST_OUTAGE', 'the store is away');
    }
    return this.secrets.get(name);
  }
  async deleteObject(_resource: string, _namespace: string, name: string): Promise<void> {
    this.secrets.delete(name);
    this.deleted.push(name);
  }
  getCsr(): never {
    throw new Error('not used by the token cleaner');
  }
  updateCsrApproval(): never {
    throw new Error('not used by the token cleaner');
  }
  updateCsrStatus(): never {
    throw new Error('not used by the token cleaner');
  }
  deleteCsr(): never {
    throw new Error('not used by the token cleaner');
  }
  listObjects(): never {
    throw new Error('not used by the token cleaner');
  }
  createObject(): never {
    throw new Error('not used by the token cleaner');
  }
  updateObject(): never {
    throw new Error('not used by the token cleaner');
  }
  allowed(): never {
    throw new Error('not used by the token cleaner');
  }
}

function tokenSecret(expiresAt: number): JsonObject {
  return {
    metadata: { name: NAME, namespace: 'kube-system', resourceVersion: '7' },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data: { 'token-id': b64('abcdef'), 'token-secret': b64('0123456789abcdef'), expiration: b64(new Date(expiresAt).toISOString()) },
  };
}

/** The token-cleaner controller as the manager wires it, on a fake clock; records when it reconciles. */
function cleaner(expiresAt: number) {
  const clock = new FakeClock(START);
  const cluster = new FakeCluster();
  cluster.secrets.set(NAME, tokenSecret(expiresAt));
  const queue = new WorkQueue({ clock, baseDelayMs: 200 });
  const reconciled: number[] = [];
  const controller = new Controller({
    name: 'token-cleaner',
    queue,
    logger: { warn: () => {} },
    reconcile: (name) => {
      reconciled.push(clock.now() - START);
      return reconcileToken(name, cluster, new Date(clock.now()));
    },
  });
  controller.start();
  /** Lets `ms` of simulated time pass in steps, running the reconciles that fall due in between. */
  const pass = async (ms: number, step: number) => {
    await setImmediate();
    for (let done = 0; done < ms; done += step) {
      clock.advance(Math.min(step, ms - done));
      await setImmediate();
    }
  };
  return { clock, cluster, queue, reconciled, controller, pass };
}

describe('token cleaner on its work queue', () => {
  for (const days of [30, 400]) {
    test(`a token expiring in ${days} days is reconciled when seen and once more at expiry, nothing between`, async () => {
      const expiresAt = START + days * DAY;
      const { cluster, queue, reconciled, controller, pass } = cleaner(expiresAt);
      queue.add(NAME);
      await pass(6 * HOUR, MIN);
      assert.deepEqual(reconciled, [0], 'six simulated hours, one reconcile');
      await pass(days * DAY - 6 * HOUR, HOUR);
      assert.deepEqual(reconciled, [0], 'not yet at the expiry instant: a token is valid until after it');
      await pass(1, 1);
      assert.deepEqual(reconciled, [0, days * DAY + 1], 'looked at again just after expiry');
      assert.deepEqual(cluster.deleted, [NAME]);
      await pass(2 * DAY, HOUR);
      assert.equal(reconciled.length, 2);
      await controller.close();
    });
  }

  test('a failure after a 30-day requeue is retried on its backoff, then the expiry re-check is back', async () => {
    const { clock, cluster, queue, reconciled, controller, pass } = cleaner(START + 30 * DAY);
    queue.add(NAME);
    await pass(HOUR, MIN);
    assert.deepEqual(reconciled, [0]);
    // The Secret changes (an informer event) and reading it fails once.
    cluster.failures = 1;
    queue.add(NAME);
    await pass(100, 100);
    assert.deepEqual(reconciled, [0, HOUR]);
    await pass(1_000, 100);
    assert.deepEqual(reconciled, [0, HOUR, HOUR + 200], 'retried after 200 ms');
    assert.deepEqual(clock.pending(), [30 * DAY + 1 - (HOUR + 1_100)], 'one timer left: the expiry re-check');
    await pass(30 * DAY, DAY);
    assert.deepEqual(cluster.deleted, [NAME]);
    assert.equal(reconciled.length, 4);
    await controller.close();
  });
});
