/**
 * The composition root of `tlsboot controllers`: the same ControllerManager as `tlsboot server`
 * runs in process, here against any Kubernetes API server through a kubeconfig, optionally behind
 * leader election on a Lease so that of several instances exactly one acts. A leader that loses
 * its lease stops its controllers at once and becomes a candidate again.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ReservedIdentities } from '../api/index.ts';
import type { ServingPolicy } from '../api/serving-policy.ts';
import { InvalidError } from '../base/errors.ts';
import { KubeClient, loadKubeconfig } from '../client/client.ts';
import { HttpClusterClient } from '../client/cluster-client.ts';
import { ControllerManager, type ControllerName } from '../controllers/manager.ts';
import { LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE } from '../controllers/manifests.ts';
import { pkiPath, readIfPresent } from '../kubeadm/pki-files.ts';
import { parseCertificatePem } from '../pki/index.ts';
import { LeaderElector } from '../runtime/leader-election.ts';
import { leaseClientOf } from '../runtime/leases.ts';
import { FileAuditLog } from '../signer/audit.ts';
import { buildSigner } from './control-plane.ts';

export interface LeaderElectionParams {
  readonly identity?: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface StandaloneControllersParams {
  readonly kubeconfig: string;
  /** The PKI directory: pki/ca.crt and pki/ca.key for the local signer, the audit log. */
  readonly dir: string;
  readonly controllers?: ReadonlySet<ControllerName>;
  readonly servingPolicy?: ServingPolicy;
  readonly reserved: () => ReservedIdentities;
  readonly signingDurationMs?: number;
  readonly leaderElection?: LeaderElectionParams;
  readonly csrCleanupIntervalMs?: number;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly randomBytes: (size: number) => Uint8Array;
}

export interface StandaloneControllers {
  /** This instance's leader-election identity (undefined without leader election). */
  readonly identity: string | undefined;
  close(): Promise<void>;
}

export async function startStandaloneControllers(p: StandaloneControllersParams): Promise<StandaloneControllers> {
  const runsSigner = p.controllers === undefined || p.controllers.has('signer');
  const config = loadKubeconfig(p.kubeconfig);
  const caPath = pkiPath(p.dir, 'ca', 'crt');
  const caPem = runsSigner ? readIfPresent(caPath) : undefined;
  if (runsSigner) {
    if (!caPem)
      throw new InvalidError('PKI_MISSING', `${caPath} is missing: the signer controller needs the cluster CA (--dir)`, { field: 'dir' });
    // Whatever the server shows is signed with the CA key: it must be the cluster's own API server.
    if (config.insecureSkipTlsVerify)
      throw new InvalidError(
        'KUBECONFIG_INSECURE',
        `${p.kubeconfig} skips verifying the API server; the signer signs what that server shows, so it must be verified (drop insecure-skip-tls-verify)`,
        { field: 'kubeconfig' },
      );
  }
  // With the signer, the API server is trusted only if the cluster CA it signs with vouches for it.
  const kube = new KubeClient(caPem ? { ...config, caPem: caPem.toString('utf8') } : config);
  const client = new HttpClusterClient(kube);
  const closers: (() => Promise<void>)[] = [async () => kube.close()];
  let signer: ReturnType<typeof buildSigner>['signer'];
  if (runsSigner && caPem) {
    const audit = new FileAuditLog(join(p.dir, 'audit.log'), p.now);
    closers.push(async () => audit.close());
    signer = buildSigner(
      {
        dir: p.dir,
        signerMode: 'local',
        ...(p.signingDurationMs === undefined ? {} : { signingDurationMs: p.signingDurationMs }),
        randomBytes: p.randomBytes,
        now: p.now,
        logger: p.logger,
      },
      parseCertificatePem(caPem.toString('utf8'), caPath),
      audit,
    ).signer;
  }
  const newManager = () =>
    new ControllerManager({
      client,
      signer,
      now: p.now,
      logger: p.logger,
      reserved: p.reserved,
      ...(p.controllers === undefined ? {} : { controllers: p.controllers }),
      ...(p.servingPolicy === undefined ? {} : { servingPolicy: p.servingPolicy }),
      ...(p.csrCleanupIntervalMs === undefined ? {} : { csrCleanupIntervalMs: p.csrCleanupIntervalMs }),
    });
  const closeAll = async () => {
    for (const c of closers.reverse()) await c();
  };
  const le = p.leaderElection;
  if (le === undefined) {
    const manager = newManager();
    closers.push(() => manager.close());
    try {
      await manager.start();
    } catch (error) {
      await closeAll();
      throw error;
    }
    return { identity: undefined, close: closeAll };
  }
  const identity = le.identity ?? `${hostname()}_${randomUUID()}`;
  // Each term of leadership has its own manager, stopped when that term ends (its signal aborts),
  // even while it is still loading: a deposed leader starts nothing afterwards.
  const terms = new Set<Promise<void>>();
  const elector = new LeaderElector({
    client: leaseClientOf(client),
    namespace: LEADER_LEASE_NAMESPACE,
    name: LEADER_LEASE_NAME,
    identity,
    leaseDurationMs: le.leaseDurationMs,
    renewDeadlineMs: le.renewDeadlineMs,
    retryPeriodMs: le.retryPeriodMs,
    onStartedLeading: (signal) => {
      p.logger.info({ identity }, 'became the leader: starting the controllers');
      const m = newManager();
      const stopped = new Promise<void>((resolve) => {
        const stop = () => void m.close().then(resolve, resolve);
        if (signal.aborted) stop();
        else signal.addEventListener('abort', stop, { once: true });
      });
      terms.add(stopped);
      void stopped.then(() => terms.delete(stopped));
      return m.start();
    },
    onStoppedLeading: async () => {
      await Promise.all(terms);
      p.logger.warn({ identity }, 'no longer the leader: controllers stopped');
    },
    onNewLeader: (leader) => p.logger.info({ leader }, 'leader observed'),
    onError: (error) => p.logger.warn({ error: String(error) }, 'leader election'),
  });
  closers.push(async () => {
    await elector.close();
    await Promise.all(terms);
  });
  elector.start();
  return { identity, close: closeAll };
}
