/**
 * Runs a chosen set of tlsboot's controllers against a cluster reached only through the
 * ClusterClient port: informers on CSRs, kube-system Secrets, the cluster-info ConfigMap, Nodes
 * (the serving approver's evidence) and the identity bookkeeping feed per-controller work queues (handlers only enqueue keys), workers
 * reconcile level-based from the informers' copies, and the cleaners sweep on a timer. The same
 * code runs inside `tlsboot server` and in `tlsboot controllers`. `close()` stops everything it
 * started, workers first, then informers, and waits for a sweep in progress.
 */
import { lookup } from 'node:dns/promises';
import { type AuditEvent, type AuditLog, csrDecisionEvent } from '../api/audit.ts';
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  type CsrCondition,
  csrConditions,
  NodeAddressIndex,
  type ReservedIdentities,
  SIGNER_KUBELET_SERVING,
} from '../api/index.ts';
import type { ServingPolicy } from '../api/serving-policy.ts';
import type { Signer } from '../api/signer.ts';
import { type Clock, every, REAL_CLOCK, type Timer } from '../base/clock.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { CsrMetrics, PendingCsr } from '../base/metrics.ts';
import { IdentityCaches } from '../runtime/identity-caches.ts';
import { Informer } from '../runtime/informer.ts';
import { Controller, type ControllerLogger, type ReconcileResult } from '../runtime/runner.ts';
import { WorkQueue } from '../runtime/workqueue.ts';
import { reconcileApproval } from './approver.ts';
import { CLUSTER_INFO_NAMESPACE, reconcileClusterInfo } from './bootstrap-signer.ts';
import { type ClusterClient, CONFIGMAPS, CSRS, type KubeObject, NODES, SECRETS } from './cluster.ts';
import { sweepCsrs } from './csr-cleaner.ts';
import { sweepIdentities } from './identity-cleaner.ts';
import { reconcileIssuance, reconcileSigningInOneWrite } from './issuance.ts';
import { meteredClient, pendingCsrs } from './metrics.ts';
import { sweepRevocations } from './revocation-cleaner.ts';
import { reconcileServing } from './serving-approver.ts';
import { reconcileSigning, SigningMemory } from './signer.ts';
import { reconcileToken, tokenOwnerOf } from './token-cleaner.ts';

/**
 * Workers per CSR controller. Each write waits for the API (and the store's commit): only many
 * reconciles in flight keep issuance from being bounded by round trips. The work queue still
 * never gives one key to two workers.
 */
const CSR_WORKERS = 16;

/** The controllers, by the names `--controllers` takes (kube-controller-manager's where they exist). */
export const CONTROLLER_NAMES = ['approver', 'serving-approver', 'signer', 'bootstrap-signer', 'token-cleaner', 'csr-cleaner'] as const;
export type ControllerName = (typeof CONTROLLER_NAMES)[number];

export interface ControllerManagerOptions {
  readonly client: ClusterClient;
  /** Needed when the signer controller runs. */
  readonly signer: Signer | undefined;
  readonly now: () => Date;
  readonly logger: ControllerLogger & { info(obj: Record<string, unknown>, msg: string): void };
  /** Which controllers run; all of them when absent. */
  readonly controllers?: ReadonlySet<ControllerName>;
  readonly csrCleanupIntervalMs?: number;
  /** The work queues', informers' and the sweep's timers; the real clock by default. */
  readonly clock?: Clock;
  /** Without a policy, kubelet-serving CSRs the identity rules do not refuse wait for a person. */
  readonly servingPolicy?: ServingPolicy;
  /** The cluster's own names and addresses, current. */
  readonly reserved: () => ReservedIdentities;
  /** Where the CSR controllers' decisions and certificates are counted (src/controllers/metrics.ts). */
  readonly metrics?: CsrMetrics;
  /** Where the approvers record their approvals and denials (the CA audit log); unrecorded when absent. */
  readonly audit?: AuditLog;
}

/** The system resolver: every address of a name. */
async function dnsResolve(name: string): Promise<string[]> {
  return (await lookup(name, { all: true, verbatim: true })).map((a) => a.address);
}

export class ControllerManager {
  private readonly o: ControllerManagerOptions;
  private readonly informers: Informer<KubeObject>[] = [];
  private identity: IdentityCaches | undefined;
  private readonly controllers: Controller[] = [];
  private sweepTimer: Timer | undefined;
  private sweeping: Promise<void> = Promise.resolve();
  private requeueSigning: () => void = () => {};
  private synced = false;
  private closed = false;
  private starting: Promise<void> | undefined;
  private csrCache: (() => KubeObject[]) | undefined;

  constructor(options: ControllerManagerOptions) {
    this.o = options;
  }

  /** Whether every informer has loaded its first list (for /readyz). */
  hasSynced(): boolean {
    return this.synced;
  }

  /** The CSRs neither denied, failed nor issued, from the informer's cache; none once closed. */
  pendingCsrs(): PendingCsr[] {
    return this.closed || this.csrCache === undefined ? [] : pendingCsrs(this.csrCache());
  }

  /** Looks at every CSR again now, e.g. when a signing session opens, instead of at the next retry. */
  signAgain(): void {
    this.requeueSigning();
  }

  private runs(name: ControllerName): boolean {
    return this.o.controllers === undefined || this.o.controllers.has(name);
  }

  /**
   * Loads the informers, then starts the controllers. A close() that comes first, or while the
   * informers load, wins: no controller ever starts after it (a deposed leader must not act).
   */
  start(): Promise<void> {
    this.starting ??= this.run();
    return this.starting;
  }

  private async run(): Promise<void> {
    if (this.closed) return;
    const { now, logger } = this.o;
    const metrics = this.o.metrics;
    const client: ClusterClient =
      metrics === undefined
        ? this.o.client
        : meteredClient(this.o.client, metrics, (name): KubeObject | undefined => csrInformer.get('', name), now);
    const clock = this.o.clock ?? REAL_CLOCK;
    const informerClock = { clock };
    const identity = new IdentityCaches({
      source: (r, namespace) => client.listWatch(r, namespace),
      clock,
      reserved: this.o.reserved,
      staticNodes: Object.keys(this.o.servingPolicy?.nodes ?? {}),
      dnsSuffixes: this.o.servingPolicy?.dnsSuffixes ?? [],
      now,
      onError: (error) => logger.warn({ error: String(error) }, 'identity informer'),
    });
    this.identity = identity;
    const nodeNames = () => identity.nodeNames();
    const approvals = new WorkQueue({ clock });
    const serving = new WorkQueue({ clock });
    const signing = new WorkQueue({ clock });
    const tokens = new WorkQueue({ clock });
    const clusterInfo = new WorkQueue({ clock });
    const nameOf = (key: string) => key.slice(key.indexOf('/') + 1);
    // Undecided kubelet-serving CSRs by requester, so that a Node's change requeues its node's alone.
    const servingByRequester = new Map<string, Set<string>>();
    const requesterOf = new Map<string, string>();
    const noteServingRequest = (name: string, csr: KubeObject | undefined) => {
      const before = requesterOf.get(name);
      if (before !== undefined) {
        servingByRequester.get(before)?.delete(name);
        if (servingByRequester.get(before)?.size === 0) servingByRequester.delete(before);
        requesterOf.delete(name);
      }
      const spec = csr !== undefined && isObject(csr.spec) ? csr.spec : undefined;
      if (!spec || spec.signerName !== SIGNER_KUBELET_SERVING || typeof spec.username !== 'string') return;
      if (csrConditions(csr ?? {}).some((c) => c.type === 'Approved' || c.type === 'Denied')) return;
      requesterOf.set(name, spec.username);
      servingByRequester.set(spec.username, (servingByRequester.get(spec.username) ?? new Set()).add(name));
    };
    const memory = new SigningMemory();
    /** The signer's certificates kept for a retry, by CSR uid (SignerControllerOptions.unrecorded). */
    const unrecorded = new Map<string, JsonObject>();
    const csrInformer: Informer<KubeObject> = new Informer<KubeObject>({
      source: client.listWatch(CSRS),
      ...informerClock,
      onChange: (key, type) => {
        const current = type === 'DELETED' ? undefined : csrInformer.get('', nameOf(key));
        noteServingRequest(nameOf(key), current);
        memory.observe(nameOf(key), current);
        if (type === 'DELETED') {
          // A kept certificate whose CSR is gone is never handed out: without this, every lost race kept one for good.
          for (const [uid, kept] of unrecorded) if (kept.csrName === nameOf(key)) unrecorded.delete(uid);
          return;
        }
        approvals.add(nameOf(key));
        serving.add(nameOf(key));
        signing.add(nameOf(key));
      },
      onError: (error) => logger.warn({ error: String(error) }, 'csr informer'),
    });
    const csrs = (name: string) => csrInformer.get('', name);
    this.csrCache = () => csrInformer.list();
    const secretInformer = new Informer<KubeObject>({
      source: client.listWatch(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE),
      ...informerClock,
      onChange: (key, type) => {
        if (type !== 'DELETED') tokens.add(nameOf(key));
        // A token gone by another hand leaves what it owned: look at those again (the owner rule).
        else for (const name of ownedBy(nameOf(key))) tokens.add(name);
        clusterInfo.add('cluster-info');
      },
      onError: (error) => logger.warn({ error: String(error) }, 'secret informer'),
    });
    /** The kube-system Secrets whose controller owner is the token of that name. */
    const ownedBy = (tokenName: string): string[] =>
      secretInformer
        .list()
        .filter((secret) => tokenOwnerOf(secret)?.name === tokenName)
        .map((secret) => secret.metadata.name);
    const configInformer = new Informer<KubeObject>({
      source: client.listWatch(CONFIGMAPS, CLUSTER_INFO_NAMESPACE),
      ...informerClock,
      onChange: () => clusterInfo.add('cluster-info'),
      onError: (error) => logger.warn({ error: String(error) }, 'configmap informer'),
    });
    const nodeInformer = new Informer<KubeObject>({
      source: client.listWatch(NODES),
      ...informerClock,
      onChange: (key, type) => {
        const node = nameOf(key);
        nodeIndex.set(node, type === 'DELETED' ? undefined : nodeInformer.get('', node));
        // A Node that appears or changes may settle its node's withheld serving CSRs: look again.
        for (const name of servingByRequester.get(`system:node:${node}`) ?? []) serving.add(name);
      },
      onError: (error) => logger.warn({ error: String(error) }, 'node informer'),
    });
    const nodeIndex = new NodeAddressIndex();
    const nodeAddresses = (nodeName: string) => nodeIndex.ownedBy(nodeName);
    const csrWork = this.runs('approver') || this.runs('serving-approver') || this.runs('signer');
    const tokenWork = this.runs('token-cleaner') || this.runs('bootstrap-signer');
    // Owned before they load, so that a close() meanwhile stops them too.
    const loading: Informer<KubeObject>[] = [
      ...(csrWork ? [csrInformer] : []),
      ...(this.runs('serving-approver') ? [nodeInformer] : []),
      ...(tokenWork ? [secretInformer, configInformer] : []),
    ];
    this.informers.push(...loading);
    if (csrWork) await identity.start();
    for (const i of loading) {
      if (this.closed) return;
      await i.start();
    }
    if (this.closed) return;
    const signer = this.o.signer;
    const signingOptions =
      this.runs('signer') && signer
        ? {
            client,
            csrs,
            signer,
            now,
            nodeNames,
            unrecorded,
            memory,
            cachedNodeClient: (n: string) => identity.registeredRecord(n),
          }
        : undefined;
    // Where the API applies transactions, an approver that approves signs too and lands it all in one write.
    const atomic = signingOptions !== undefined && (await client.servesTransactions?.()) === true;
    if (this.closed) return;
    // Gathered, a name's claim lands with the certificate, after the CA signed: a later first request
    // for that name waits for it to land or fail before it is judged, so the CA never signs for a
    // request that would lose the name (before, the claim landed inside claimAlone).
    const landing = new Map<string, Promise<void>>();
    // An approver's decisions are recorded once they landed: gathered, that is after the transaction.
    const decided = async (
      name: string,
      controller: string,
      decide: (c: ClusterClient, onDecided: (csr: JsonObject, d: CsrCondition) => void) => Promise<ReconcileResult | undefined>,
    ) => {
      const noted: AuditEvent[] = [];
      const run = (c: ClusterClient) => decide(c, (csr, d) => noted.push(csrDecisionEvent(`controller:${controller}`, csr, d)));
      const result =
        atomic && signingOptions !== undefined
          ? await reconcileIssuance(name, { client, signing: signingOptions }, run)
          : await run(client);
      for (const event of noted) this.o.audit?.record(event);
      return result;
    };
    const add = (name: ControllerName, queue: WorkQueue, controller: () => Controller) => {
      if (this.runs(name)) this.controllers.push(controller());
      else queue.close();
    };
    add(
      'approver',
      approvals,
      () =>
        new Controller({
          name: 'csr-approver',
          queue: approvals,
          workers: CSR_WORKERS,
          logger,
          reconcile: (name) => {
            let claimed: PromiseWithResolvers<void> | undefined;
            const noteClaimed = (n: string) => {
              identity.noteClaimed(n);
              if (!atomic) return;
              claimed = Promise.withResolvers<void>();
              const settled = claimed.promise;
              landing.set(n, settled);
              void settled.then(() => {
                if (landing.get(n) === settled) landing.delete(n);
              });
            };
            return decided(name, 'csr-approver', (c, onDecided) =>
              reconcileApproval(name, {
                client: c,
                onDecided,
                csrs,
                now,
                nodeNames,
                claimAlone: (n, fn) =>
                  identity.claimAlone(n, async () => {
                    await landing.get(n);
                    return fn();
                  }),
                noteClaimed,
                // Gathered, a claim lands after it was noted: what decides is read from the API.
                ...(atomic ? {} : { cachedClaim: (n: string) => identity.claimRecord(n) }),
              }),
            ).finally(() => claimed?.resolve());
          },
        }),
    );
    add(
      'token-cleaner',
      tokens,
      () =>
        new Controller({ name: 'token-cleaner', queue: tokens, logger, reconcile: (name) => reconcileToken(name, client, now(), ownedBy) }),
    );
    add(
      'bootstrap-signer',
      clusterInfo,
      () => new Controller({ name: 'bootstrap-signer', queue: clusterInfo, logger, reconcile: () => reconcileClusterInfo(client, now()) }),
    );
    const policy = this.o.servingPolicy;
    const context = () => identity.serving();
    add(
      'serving-approver',
      serving,
      () =>
        new Controller({
          name: 'serving-approver',
          queue: serving,
          workers: CSR_WORKERS,
          logger,
          reconcile: (name) =>
            decided(name, 'serving-approver', (c, onDecided) =>
              reconcileServing(name, { client: c, csrs, policy, context, now, resolve: dnsResolve, nodeAddresses, onDecided }),
            ),
        }),
    );
    if (signingOptions !== undefined) {
      this.requeueSigning = () => {
        for (const csr of csrInformer.list()) signing.add(csr.metadata.name);
      };
      this.controllers.push(
        new Controller({
          name: 'csr-signer',
          queue: signing,
          workers: CSR_WORKERS,
          logger,
          reconcile: (name) =>
            atomic ? reconcileSigningInOneWrite(name, { client, signing: signingOptions }) : reconcileSigning(name, signingOptions),
        }),
      );
    } else {
      signing.close();
    }
    for (const c of this.controllers) c.start();
    if (this.runs('csr-cleaner')) {
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
        try {
          const pruned = await sweepRevocations(client, now());
          if (pruned.length > 0) logger.info({ deleted: pruned }, 'revocation cleaner removed revocations of expired certificates');
        } catch (error) {
          logger.warn({ error: String(error) }, 'revocation cleaner');
        }
      };
      const once = () => {
        this.sweeping = this.sweeping.then(sweep);
      };
      this.sweepTimer = every(clock, this.o.csrCleanupIntervalMs ?? 3_600_000, once, { unref: true });
      once();
    }
    this.synced = true;
  }

  async close(): Promise<void> {
    this.closed = true;
    this.sweepTimer?.cancel();
    await Promise.all(this.controllers.map((c) => c.close()));
    await this.sweeping;
    await Promise.all(this.informers.map((i) => i.close()));
    await this.identity?.close();
    // Not waited for: a start() stuck on an API that does not answer ends on its own, starting nothing.
    void this.starting?.catch(() => undefined);
  }
}
