/**
 * The coordination.k8s.io/v1 Lease, as much of it as leader election uses, and the port through
 * which leader election reads and writes it. Lease times are MicroTime: RFC 3339 in UTC with six
 * fractional digits, as client-go writes them; this module owns that format.
 */
import { InvalidError } from '../base/errors.ts';

export const LEASE_API_VERSION = 'coordination.k8s.io/v1';
/** Where the controllers' leader-election Lease lives (the console reads the leader from it). */
export const LEADER_LEASE_NAMESPACE = 'kube-system';
export const LEADER_LEASE_NAME = 'tlsboot-controllers';

export interface LeaseSpec {
  holderIdentity?: string;
  leaseDurationSeconds?: number;
  /** MicroTime. */
  acquireTime?: string;
  /** MicroTime. */
  renewTime?: string;
  leaseTransitions?: number;
}

export interface Lease {
  apiVersion: typeof LEASE_API_VERSION;
  kind: 'Lease';
  metadata: { name: string; namespace: string; resourceVersion?: string; [key: string]: unknown };
  spec?: LeaseSpec;
}

/**
 * What leader election needs from the cluster. `update` is a compare-and-swap on
 * `metadata.resourceVersion`: a stale one fails with CONFLICT. `create` of an existing Lease
 * fails with ALREADY_EXISTS.
 */
export interface LeaseClient {
  get(namespace: string, name: string): Promise<Lease | undefined>;
  create(lease: Lease): Promise<Lease>;
  update(lease: Lease): Promise<Lease>;
}

/** Formats epoch milliseconds as a MicroTime (`2026-12-01T14:20:53.123000Z`). */
export function formatMicroTime(ms: number): string {
  if (!Number.isFinite(ms)) throw new InvalidError('MICRO_TIME', `not a time: ${ms}`);
  return new Date(ms).toISOString().replace(/\.(\d{3})Z$/, '.$1000Z');
}
