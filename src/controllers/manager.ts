/**
 * Starts tlsboot's controllers in one process: informers on CSRs, kube-system Secrets, the
 * cluster-info ConfigMap and Nodes (the serving approver's evidence) feed per-controller work queues (handlers only enqueue keys), workers
 * reconcile level-based, and the CSR cleaner sweeps on a timer. `close()` stops everything it
 * started, workers first, then informers.
 */
import { lookup } from 'node:dns/promises';
import { BOOTSTRAP_TOKEN_NAMESPACE, nodeAddresses as nodeAddressesOf } from '../api/index.ts';
import type { ServingPolicy } from '../api/serving-policy.ts';
import type { Signer } from '../api/signer.ts';
import { type Clock, every, REAL_CLOCK, type Timer } from '../base/clock.ts';
import { isObject } from '../base/json.ts';
import { Controller, type ControllerLogger } from '../runtime/runner.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { type IdentityCaches, ObjectCache, type Store } from '../store/index.ts';
import { reconcileApproval } from './approver.ts';
import { CLUSTER_INFO_NAMESPACE, reconcileClusterInfo } from './bootstrap-signer.ts';
import { type ClusterClient, CONFIGMAP_RESOURCE, CSR_RESOURCE, SECRET_RESOURCE } from './cluster.ts';

/** Store key of core/v1 Nodes. */
const NODE_RESOURCE = 'core/nodes';

function csrRequester(csr: Readonly<Record<string, unknown>>): unknown {
  return isObject(csr.spec) ? csr.spec.username : undefined;
}

import { sweepCsrs } from './csr-cleaner.ts';
import { sweepIdentities } from './identity-cleaner.ts';
import { reconcileServing } from './serving-approver.ts';
import { reconcileSigning } from './signer.ts';
import { reconcileToken } from './token-cleaner.ts';

/**
 * Workers per CSR controller. The store commits the writes of one event-loop turn together, so a
 * worker's write waits about one turn: only many reconciles in flight at once keep issuance from
 * being bounded by turns per second. The work queue still never gives one key to two workers.
 */
const CSR_WORKERS = 16;

export interface ControllerManagerOptions {
  readonly store: Store;
  readonly client: ClusterClient;
  readonly signer: Signer | undefined;
  readonly now: () => Date;
  readonly logger: ControllerLogger & { info(obj: Record<string, unknown>, msg: string): void };
  readonly csrCleanupIntervalMs?: number;
  /** The work queues' and the sweep's timers; the real clock by default. */
  readonly clock?: Clock;
  /** Without a policy, kubelet-serving CSRs the identity rules do not refuse wait for a person. */
  readonly servingPolicy?: ServingPolicy;
  /** Reserved identities, known node names and address claims (started by the caller). */
  readonly identity: IdentityCaches;
}

/** The system resolver: every address of a name. */
async function dnsResolve(name: string): Promise<string[]> {
  return (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
}

export class ControllerManager {
  private readonly o: ControllerManagerOptions;
  private readonly caches: ObjectCache[] = [];
  private readonly controllers: Controller[] = [];
  private sweepTimer: Timer | undefined;
  private requeueSigning: () => void = () => {};

  constructor(options: ControllerManagerOptions) {
    this.o = options;
  }

  /** Looks at every CSR again now, e.g. when a signing session opens, instead of at the next retry. */
  signAgain(): void {
    this.requeueSigning();
  }

  async start(): Promise<void> {
    const { store, client, now, logger, identity } = this.o;
    const nodeNames = () => identity.nodeNames();
    const clock = this.o.clock ?? REAL_CLOCK;
    const approvals = new WorkQueue({ clock });
    const serving = new WorkQueue({ clock });
    const signing = new WorkQueue({ clock });
    const tokens = new WorkQueue({ clock });
    const clusterInfo = new WorkQueue({ clock });
    const nameOf = (key: string) => key.slice(key.indexOf('/') + 1);
    const csrCache = new ObjectCache({
      store,
      resource: CSR_RESOURCE,
      onChange: (key, type) => {
        if (type === 'DELETED') return;
        approvals.add(nameOf(key));
        serving.add(nameOf(key));
        signing.add(nameOf(key));
      },
      onError: (error) => logger.warn({ error: String(error) }, 'csr informer'),
    });
    const secretCache = new ObjectCache({
      store,
      resource: SECRET_RESOURCE,
      namespace: BOOTSTRAP_TOKEN_NAMESPACE,
      onChange: (key, type) => {
        if (type !== 'DELETED') tokens.add(nameOf(key));
        clusterInfo.add('cluster-info');
      },
      onError: (error) => logger.warn({ error: String(error) }, 'secret informer'),
    });
    const configCache = new ObjectCache({
      store,
      resource: CONFIGMAP_RESOURCE,
      namespace: CLUSTER_INFO_NAMESPACE,
      onChange: () => clusterInfo.add('cluster-info'),
      onError: (error) => logger.warn({ error: String(error) }, 'configmap informer'),
    });
    // --- Nodes: evidence for the serving approver (minimal wiring; the lead's manager rewrite ports it).
    const nodeCache = new ObjectCache({
      store,
      resource: NODE_RESOURCE,
      // A Node that appears or changes may settle its node's withheld serving CSRs: look again.
      onChange: (key) => {
        const user = `system:node:${nameOf(key)}`;
        for (const csr of csrCache.list()) if (csrRequester(csr) === user) serving.add(csr.metadata.name);
      },
      onError: (error) => logger.warn({ error: String(error) }, 'node informer'),
    });
    const nodeAddresses = (nodeName: string) => {
      const node = nodeCache.get('', nodeName);
      return node === undefined ? undefined : nodeAddressesOf(node);
    };
    // --- end Nodes
    for (const c of [csrCache, secretCache, configCache, nodeCache]) {
      await c.start();
      this.caches.push(c);
    }
    this.controllers.push(
      new Controller({
        name: 'csr-approver',
        queue: approvals,
        workers: CSR_WORKERS,
        logger,
        reconcile: (name) =>
          reconcileApproval(name, {
            client,
            now,
            nodeNames,
            claimAlone: (name, fn) => identity.claimAlone(name, fn),
            noteClaimed: (n) => identity.noteClaimed(n),
          }),
      }),
      new Controller({ name: 'token-cleaner', queue: tokens, logger, reconcile: (name) => reconcileToken(name, client, now()) }),
      new Controller({ name: 'bootstrap-signer', queue: clusterInfo, logger, reconcile: () => reconcileClusterInfo(client, now()) }),
    );
    const policy = this.o.servingPolicy;
    const context = () => identity.serving();
    this.controllers.push(
      new Controller({
        name: 'serving-approver',
        queue: serving,
        workers: CSR_WORKERS,
        logger,
        reconcile: (name) => reconcileServing(name, { client, policy, context, now, resolve: dnsResolve, nodeAddresses }),
      }),
    );
    const signer = this.o.signer;
    this.requeueSigning = () => {
      for (const csr of csrCache.list()) signing.add(csr.metadata.name);
    };
    if (signer) {
      this.controllers.push(
        new Controller({
          name: 'csr-signer',
          queue: signing,
          workers: CSR_WORKERS,
          logger,
          reconcile: (name) => reconcileSigning(name, { client, signer, now, nodeNames }),
        }),
      );
    } else {
      signing.close();
    }
    for (const c of this.controllers) c.start();
    const sweep = async () => {
      try {
        const deleted = await sweepCsrs(client, now());
        if (deleted.length > 0) logger.info({ deleted }, 'csr cleaner removed old requests');
      } catch (error) {
        logger.warn({ error: String(error) }, 'csr cleaner');
      }
      try {
        const gone = await sweepIdentities(client, now());
        if (gone.length > 0) logger.info({ deleted: gone }, 'identity cleaner removed dead names and addresses');
      } catch (error) {
        logger.warn({ error: String(error) }, 'identity cleaner');
      }
    };
    this.sweepTimer = every(clock, this.o.csrCleanupIntervalMs ?? 3_600_000, () => void sweep(), { unref: true });
    void sweep();
  }

  async close(): Promise<void> {
    this.sweepTimer?.cancel();
    await Promise.all(this.controllers.map((c) => c.close()));
    await Promise.all(this.caches.map((c) => c.close()));
  }
}
