/**
 * The two controllers that re-check a bootstrap token at its expiry, on their work queues and a
 * fake clock (the attack review's hot loop: a 30-day requeue fired after 1 ms, again and again).
 * The token cleaner looks at a 30- or 400-day token once when it appears and once at expiry, when
 * it deletes it, with nothing between, and a reconcile that fails after that far requeue is retried
 * on its backoff, not a month later; the bootstrap signer likewise signs cluster-info once and
 * removes the token's signature once, at expiry.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setImmediate } from 'node:timers/promises';
import { BOOTSTRAP_TOKEN_SECRET_TYPE } from '../api/index.ts';
import { FakeClock } from '../base/clock.ts';
import type { JsonObject } from '../base/json.ts';
import { Controller, type ReconcileResult } from '../runtime/runner.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { CLUSTER_INFO_NAME, CLUSTER_INFO_NAMESPACE, reconcileClusterInfo } from './bootstrap-signer.ts';
import { CONFIGMAPS, SECRETS } from './cluster.ts';
import { MemoryCluster } from './testing.ts';

const CONFIGMAP_RESOURCE = CONFIGMAPS.resource;
const SECRET_RESOURCE = SECRETS.resource;

import { reconcileToken } from './token-cleaner.ts';

const MIN = 60_000;
const HOUR = 60 * MIN;
const DAY = 24 * HOUR;
const START = Date.parse('2026-06-01T00:00:00Z');
const NAME = 'bootstrap-token-abcdef';

const b64 = (s: string) => Buffer.from(s).toString('base64');

function tokenSecret(expiresAt: number): JsonObject {
  return {
    metadata: { name: NAME, namespace: 'kube-system', resourceVersion: '7' },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data: {
      'token-id': b64('abcdef'),
      'token-secret': b64('0123456789abcdef'),
      expiration: b64(new Date(expiresAt).toISOString()),
      'usage-bootstrap-signing': b64('true'),
    },
  };
}

/** One controller as the manager wires it, on a fake clock, with a token; records when it reconciles. */
function harness(expiresAt: number, reconcile: (name: string, cluster: MemoryCluster, now: Date) => Promise<ReconcileResult | undefined>) {
  const clock = new FakeClock(START);
  const cluster = new MemoryCluster();
  cluster.objects.set(`${SECRET_RESOURCE}/${NAME}`, tokenSecret(expiresAt));
  const queue = new WorkQueue({ clock, baseDelayMs: 200 });
  const reconciled: number[] = [];
  const controller = new Controller({
    name: 'test',
    queue,
    logger: { warn: () => {} },
    reconcile: (name) => {
      reconciled.push(clock.now() - START);
      return reconcile(name, cluster, new Date(clock.now()));
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

const cleaner = (expiresAt: number) => harness(expiresAt, reconcileToken);

describe('token cleaner on its work queue', () => {
  for (const days of [30, 400]) {
    test(`a token expiring in ${days} days is reconciled when seen and once more at expiry, nothing between`, async () => {
      const expiresAt = START + days * DAY;
      const { cluster, queue, reconciled, controller, pass } = cleaner(expiresAt);
      queue.add(NAME);
      await pass(6 * HOUR, MIN);
      assert.deepEqual(reconciled, [0], 'six simulated hours, one reconcile');
      await pass(days * DAY - 6 * HOUR, HOUR);
      assert.deepEqual(reconciled, [0], 'the re-check is due 1 ms after the expiry instant');
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

describe('bootstrap signer on its work queue', () => {
  test('a 30-day token is signed into cluster-info once and its signature removed once, at expiry', async () => {
    const { cluster, queue, reconciled, controller, pass } = harness(START + 30 * DAY, (_name, c, now) => reconcileClusterInfo(c, now));
    const infoKey = `${CONFIGMAP_RESOURCE}/${CLUSTER_INFO_NAME}`;
    cluster.objects.set(infoKey, {
      metadata: { name: CLUSTER_INFO_NAME, namespace: CLUSTER_INFO_NAMESPACE, resourceVersion: '1' },
      data: { kubeconfig: 'apiVersion: v1\nkind: Config\n' },
    });
    const signed = () => Object.keys(Object(cluster.objects.get(infoKey)?.data)).filter((k) => k.startsWith('jws-kubeconfig-'));
    queue.add(CLUSTER_INFO_NAME);
    await pass(6 * HOUR, MIN);
    assert.deepEqual(reconciled, [0], 'six simulated hours, one reconcile');
    assert.deepEqual(signed(), ['jws-kubeconfig-abcdef']);
    await pass(30 * DAY - 6 * HOUR + 1_000, HOUR);
    assert.deepEqual(reconciled, [0, 30 * DAY + 1_000], 'looked at again a second after expiry');
    assert.deepEqual(signed(), []);
    await pass(2 * DAY, HOUR);
    assert.equal(reconciled.length, 2);
    await controller.close();
  });
});
