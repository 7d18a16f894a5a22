/**
 * The revocation sweep on a fake clock: a revocation goes at the first hourly sweep after its
 * certificate's notAfter, not before; one whose notAfter cannot be read stays; it runs in the
 * manager's sweep (csr-cleaner), so it is leader-elected with the other controllers.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { CERTIFICATE_REVOCATIONS, type KubeObject } from '../api/cluster-client.ts';
import { reservedIdentities } from '../api/index.ts';
import type { ListWatch } from '../api/list-watch.ts';
import { FakeClock } from '../base/clock.ts';
import { ControllerManager } from './manager.ts';
import { sweepRevocations } from './revocation-cleaner.ts';
import { MemoryCluster } from './testing.ts';

const START = Date.parse('2026-12-01T00:00:00Z');
const H = 3_600_000;

/** MemoryCluster whose informers list nothing and watch until closed (the sweep lists by itself). */
class QuietCluster extends MemoryCluster {
  override listWatch(): ListWatch<KubeObject> {
    return {
      async list() {
        return { items: [], resourceVersion: '1' };
      },
      async *watch(_rv: string, signal: AbortSignal) {
        await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
      },
    };
  }
}

function revocation(serial: string, notAfter: unknown) {
  return {
    apiVersion: 'tlsboot.io/v1alpha1',
    kind: 'CertificateRevocation',
    metadata: { name: serial, resourceVersion: '7' },
    reason: 'keyCompromise',
    revokedAt: new Date(START).toISOString(),
    revokedBy: 'admin',
    notAfter,
  };
}

test('sweepRevocations deletes the revocations of expired certificates only', async () => {
  const cluster = new MemoryCluster();
  cluster.put(CERTIFICATE_REVOCATIONS, revocation('0a', new Date(START + H).toISOString()));
  cluster.put(CERTIFICATE_REVOCATIONS, revocation('0b', new Date(START + 48 * H).toISOString()));
  cluster.put(CERTIFICATE_REVOCATIONS, revocation('0c', 'not a time'));
  assert.deepEqual(await sweepRevocations(cluster, new Date(START)), []);
  assert.deepEqual(await sweepRevocations(cluster, new Date(START + H)), ['tlsboot.io/certificaterevocations/0a']);
  assert.deepEqual(cluster.deleted, ['0a']);
  assert.deepEqual(await sweepRevocations(cluster, new Date(START + 100 * H)), ['tlsboot.io/certificaterevocations/0b']);
  assert.ok(cluster.objects.has('certificaterevocations/0c'), 'an unreadable notAfter is kept');
});

test("the manager's hourly sweep prunes a revocation once its certificate expires (fake clock)", async () => {
  const clock = new FakeClock(START);
  const cluster = new QuietCluster();
  cluster.put(CERTIFICATE_REVOCATIONS, revocation('0d', new Date(START + 90 * 60_000).toISOString()));
  const infos: string[] = [];
  const manager = new ControllerManager({
    client: cluster,
    signer: undefined,
    now: () => new Date(clock.now()),
    clock,
    logger: { warn: () => {}, info: (_o, msg) => infos.push(msg) },
    reserved: () => reservedIdentities([]),
    controllers: new Set(['csr-cleaner']),
  });
  await manager.start();
  const settle = () => new Promise((r) => setImmediate(r));
  await settle();
  assert.deepEqual(cluster.deleted, [], 'live at the first sweep');
  clock.advance(H);
  await settle();
  assert.deepEqual(cluster.deleted, [], 'still live after an hour');
  clock.advance(H);
  for (let i = 0; i < 10 && cluster.deleted.length === 0; i++) await settle();
  assert.deepEqual(cluster.deleted, ['0d'], 'pruned at the sweep after its notAfter');
  assert.ok(infos.includes('revocation cleaner removed revocations of expired certificates'));
  await manager.close();
});
