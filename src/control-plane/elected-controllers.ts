/**
 * The controllers behind leader election on the Lease kube-system/tlsboot-controllers, for
 * `tlsboot controllers --leader-elect` and `tlsboot server --leader-elect` alike, so that a server
 * and standalone instances on one cluster never act at once. Each term of leadership has its own
 * manager, stopped when that term ends (its signal aborts), even while it is still loading: a
 * deposed leader starts nothing afterwards, and becomes a candidate again.
 */
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { ClusterClient } from '../api/cluster-client.ts';
import type { ControllerManager } from '../controllers/manager.ts';
import { LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE } from '../controllers/manifests.ts';
import { LeaderElector } from '../runtime/leader-election.ts';
import { leaseClientOf } from '../runtime/leases.ts';

export interface LeaderElectionParams {
  /** This instance in the Lease; hostname_uuid by default. */
  readonly identity?: string;
  readonly leaseDurationMs: number;
  readonly renewDeadlineMs: number;
  readonly retryPeriodMs: number;
}

export interface ElectedControllers {
  readonly identity: string;
  /** Whether this instance leads now. */
  isLeader(): boolean;
  /** The holder this instance last observed ('' for none). */
  leader(): string;
  close(): Promise<void>;
}

export function startElectedControllers(
  client: ClusterClient,
  le: LeaderElectionParams,
  newManager: () => ControllerManager,
  logger: Logger,
): ElectedControllers {
  const identity = le.identity ?? `${hostname()}_${randomUUID()}`;
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
      logger.info({ identity }, 'became the leader: starting the controllers');
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
      logger.warn({ identity }, 'no longer the leader: controllers stopped');
    },
    onNewLeader: (leader) => logger.info({ leader }, 'leader observed'),
    onError: (error) => logger.warn({ error: String(error) }, 'leader election'),
  });
  elector.start();
  return {
    identity,
    isLeader: () => elector.isLeader(),
    leader: () => elector.leader,
    async close() {
      await elector.close();
      await Promise.all(terms);
    },
  };
}
