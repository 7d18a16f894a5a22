/**
 * Attack (issue 13, idea 4): `tlsboot controllers --leader-elect` starts a ControllerManager in
 * onStartedLeading (not awaited by the elector) and stops it in onStoppedLeading with
 * `manager.close()`. If leadership is lost while `manager.start()` is still waiting for its
 * informers' first lists (a slow API server is exactly when renewals fail), close() finds nothing
 * started yet and returns; start() then carries on, starts the informers and the controllers, and
 * nothing ever stops them (standalone-controllers.ts has already cleared `running`). The deposed
 * instance keeps approving and signing next to the new leader. Safe behaviour: a manager closed
 * during start() never starts its controllers.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type ApiResource, type ClusterClient, CSRS } from '../src/api/cluster-client.ts';
import { csrConditions, reservedIdentities } from '../src/api/index.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';

const now = () => new Date();
const quiet = { warn: () => {}, info: () => {} };
let cluster: InProcessCluster;

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
});
after(async () => {
  await cluster?.close();
});

/** The controllers' client, with the first list of CSRs held until `release()` (a slow API server). */
function slowCsrList(inner: ClusterClient): { client: ClusterClient; release: () => void; listing: Promise<void> } {
  const gate = Promise.withResolvers<void>();
  const listing = Promise.withResolvers<void>();
  const client: ClusterClient = {
    get: (...a) => inner.get(...a),
    list: (...a) => inner.list(...a),
    create: (...a) => inner.create(...a),
    update: (...a) => inner.update(...a),
    delete: (...a) => inner.delete(...a),
    allowed: (...a) => inner.allowed(...a),
    listWatch(r: ApiResource, namespace?: string) {
      const lw = inner.listWatch(r, namespace);
      if (r !== CSRS) return lw;
      let first = true;
      return {
        async list(signal: AbortSignal) {
          if (first) {
            first = false;
            listing.resolve();
            // Held until released, or until the caller gives up (as an HTTP list is aborted).
            await Promise.race([
              gate.promise,
              new Promise((_, reject) => signal.addEventListener('abort', () => reject(new Error('list aborted')), { once: true })),
            ]);
          }
          return lw.list(signal);
        },
        watch: (rv: string, signal: AbortSignal) => lw.watch(rv, signal),
      };
    },
  };
  return { client, release: () => gate.resolve(), listing: listing.promise };
}

async function registerNode(node: string, ip: string): Promise<void> {
  const created = await cluster.registerNode(node, [ip]);
  assert.equal(created.status, 201, JSON.stringify(created.body));
}

const servingCsr = (node: string, ip: string) => cluster.servingCsr(node, { dns: [node], ip: [ip] });

test('a ControllerManager closed while start() waits for its informers never runs its controllers afterwards', async () => {
  const slow = slowCsrList(cluster.client);
  const manager = new ControllerManager({
    client: slow.client,
    signer: undefined,
    now,
    logger: quiet,
    reserved: () => reservedIdentities([]),
    controllers: new Set(['serving-approver']),
  });
  // As standalone-controllers.ts: onStartedLeading runs start() ...
  const starting = manager.start().catch((e: unknown) => e);
  await slow.listing;
  // (Let the identity informers' watches open first: closing while one is being opened in process
  // hits a separate bug, test/attack-13-in-process-watch-abort.test.ts.)
  await delay(500);
  // ... and leadership is lost while the first list is still in flight: onStoppedLeading closes it.
  await manager.close();
  slow.release();
  const startResult = await starting;

  // A kubelet-serving CSR the serving approver would approve, created after the manager was closed.
  await registerNode('after-close', '10.8.0.1');
  const name = await servingCsr('after-close', '10.8.0.1');
  await delay(1500);
  const conditions = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {}).map((c) => `${c.type}/${c.reason}`);
  const synced = manager.hasSynced();
  await manager.close(); // clean up whatever the first close() missed
  assert.deepEqual(
    { conditions, synced },
    { conditions: [], synced: false },
    `start() after close() resolved with ${String(startResult)}; the closed manager reports synced=${synced} and acted on a CSR created after close()`,
  );
});
