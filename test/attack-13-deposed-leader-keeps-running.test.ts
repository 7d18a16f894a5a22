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
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { type ApiResource, type ClusterClient, CSRS, storeKeyOf } from '../src/api/cluster-client.ts';
import { csrConditions, prepareCsrCreate, reservedIdentities } from '../src/api/index.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import type { StoredObject } from '../src/store/index.ts';
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
  const obj = {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node, uid: randomUUID() },
    status: {
      addresses: [
        { type: 'Hostname', address: node },
        { type: 'InternalIP', address: ip },
      ],
    },
  };
  await cluster.store.create({ resource: 'core/nodes', namespace: '', name: node }, obj as StoredObject);
}

async function servingCsr(node: string, ip: string): Promise<string> {
  const name = `serving-${node}-${randomUUID().slice(0, 8)}`;
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:${node}` },
    ],
    sans: { dns: [node], ip: [ip], email: [], uri: [] },
  });
  const obj = prepareCsrCreate(
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
      spec: {
        request: Buffer.from(pem).toString('base64'),
        signerName: 'kubernetes.io/kubelet-serving',
        usages: ['digital signature', 'server auth'],
      },
    },
    { name: `system:node:${node}`, groups: ['system:nodes', 'system:authenticated'] },
  );
  await cluster.store.create({ resource: storeKeyOf(CSRS), namespace: '', name }, obj as StoredObject);
  return name;
}

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
