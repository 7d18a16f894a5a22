/**
 * Leader election on a coordination.k8s.io/v1 Lease with client-go's semantics
 * (k8s.io/client-go/tools/leaderelection): a candidate takes a free lease at once and a held one
 * only after it has seen the same lease record unchanged for the lease duration on its own clock
 * (observedTime), never by trusting the holder's renewTime, so clocks may disagree; the leader
 * renews every retry period and, if no renewal succeeds within the renew deadline, stops leading
 * at once (its work's signal aborts and onStoppedLeading runs before anything else), which is
 * before any other candidate may take over; every write is a compare-and-swap on the Lease's
 * resourceVersion, so of two racing candidates exactly one wins; leaseTransitions counts changes
 * of holder; on close() a leader clears holderIdentity so another takes over without waiting.
 * Unlike client-go's Run, which returns once leadership is lost, a deposed instance becomes a
 * candidate again.
 */

import { formatMicroTime, LEASE_API_VERSION, type Lease, type LeaseClient } from '../api/lease.ts';
import { type Clock, REAL_CLOCK } from '../base/clock.ts';
import { InvalidError, isTlsbootError } from '../base/errors.ts';
import { sleep } from './sleep.ts';

/** client-go's defaults and the jitter of its acquire loop. */
export const DEFAULT_LEASE_DURATION_MS = 15_000;
export const DEFAULT_RENEW_DEADLINE_MS = 10_000;
export const DEFAULT_RETRY_PERIOD_MS = 2_000;
const JITTER_FACTOR = 1.2;

export interface LeaderElectionOptions {
  readonly client: LeaseClient;
  readonly namespace: string;
  readonly name: string;
  /** Unique per instance (client-go uses hostname plus a UUID). */
  readonly identity: string;
  readonly clock?: Clock;
  readonly leaseDurationMs?: number;
  readonly renewDeadlineMs?: number;
  readonly retryPeriodMs?: number;
  /** For the acquire loop's jitter; [0, 1). */
  readonly random?: () => number;
  /** Starts the leader's work; `signal` aborts the moment leadership ends. Not awaited. */
  readonly onStartedLeading: (signal: AbortSignal) => void | Promise<void>;
  /** Runs, and is awaited, as soon as leadership ends and before the lease is released or sought again. */
  readonly onStoppedLeading: () => void | Promise<void>;
  /** The observed holder changed ('' when the lease was released). */
  readonly onNewLeader?: (identity: string) => void;
  /** Failures that are retried (a lost race is not one). */
  readonly onError?: (error: unknown) => void;
}

/** The Lease's spec as leader election reads it, absent fields made explicit. */
interface LeaderRecord {
  readonly holderIdentity: string;
  readonly leaseDurationSeconds: number;
  readonly acquireTime: string;
  readonly renewTime: string;
  readonly leaseTransitions: number;
}

function recordOf(lease: Lease): LeaderRecord {
  const spec = lease.spec ?? {};
  return {
    holderIdentity: spec.holderIdentity ?? '',
    leaseDurationSeconds: spec.leaseDurationSeconds ?? 0,
    acquireTime: spec.acquireTime ?? '',
    renewTime: spec.renewTime ?? '',
    leaseTransitions: spec.leaseTransitions ?? 0,
  };
}

/** The comparison client-go makes on the raw record: any change restarts the observation. */
function rawOf(record: LeaderRecord): string {
  return JSON.stringify([
    record.holderIdentity,
    record.leaseDurationSeconds,
    record.acquireTime,
    record.renewTime,
    record.leaseTransitions,
  ]);
}

const EMPTY: LeaderRecord = { holderIdentity: '', leaseDurationSeconds: 0, acquireTime: '', renewTime: '', leaseTransitions: 0 };

export class LeaderElector {
  private readonly options: LeaderElectionOptions;
  private readonly clock: Clock;
  private readonly leaseDurationMs: number;
  private readonly renewDeadlineMs: number;
  private readonly retryPeriodMs: number;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  /** The Lease as last read or written: its resourceVersion is what the next write must match. */
  private lease: Lease | undefined;
  private observed: LeaderRecord = EMPTY;
  private observedRaw = '';
  /** When `observed` last changed, on this instance's clock. */
  private observedTime = 0;
  private reportedLeader = '';
  /** An attempt abandoned at its deadline that may still be running; the next waits for it. */
  private attempt: Promise<boolean> | undefined;

  constructor(options: LeaderElectionOptions) {
    this.options = options;
    this.clock = options.clock ?? REAL_CLOCK;
    this.leaseDurationMs = options.leaseDurationMs ?? DEFAULT_LEASE_DURATION_MS;
    this.renewDeadlineMs = options.renewDeadlineMs ?? DEFAULT_RENEW_DEADLINE_MS;
    this.retryPeriodMs = options.retryPeriodMs ?? DEFAULT_RETRY_PERIOD_MS;
    const problem = configProblem(options.identity, this.leaseDurationMs, this.renewDeadlineMs, this.retryPeriodMs);
    if (problem !== undefined) throw new InvalidError('LEADER_ELECTION_CONFIG', problem);
  }

  /** Runs the election until close(). */
  start(): void {
    this.loop ??= this.run();
  }

  isLeader(): boolean {
    return this.observed.holderIdentity === this.options.identity;
  }

  /** The holder this instance last observed ('' for none). */
  get leader(): string {
    return this.observed.holderIdentity;
  }

  /** Stops; a leader stops its work, then releases the lease. Resolves when all that is done. */
  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const stop = this.stop.signal;
    while (!stop.aborted) {
      if (!(await this.acquire())) return;
      const leading = new AbortController();
      this.startLeading(leading.signal);
      await this.renewUntilLost();
      leading.abort();
      await this.callSafely(this.options.onStoppedLeading);
      if (stop.aborted) await this.release();
    }
  }

  private startLeading(signal: AbortSignal): void {
    try {
      Promise.resolve(this.options.onStartedLeading(signal)).catch((error: unknown) => this.options.onError?.(error));
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  private async callSafely(fn: () => void | Promise<void>): Promise<void> {
    try {
      await fn();
    } catch (error) {
      this.options.onError?.(error);
    }
  }

  /** Tries every retry period (jittered, as client-go's JitterUntil) until it leads; false if closed first. */
  private async acquire(): Promise<boolean> {
    const stop = this.stop.signal;
    for (;;) {
      const acquired = await this.tryOnce(stop);
      if (stop.aborted) return false;
      if (acquired) return true;
      const random = this.options.random ?? Math.random;
      await sleep(this.clock, this.retryPeriodMs * (1 + random() * JITTER_FACTOR), stop);
      if (stop.aborted) return false;
    }
  }

  /** Renews every retry period; returns when a round finds no success within the renew deadline, or on close. */
  private async renewUntilLost(): Promise<void> {
    const stop = this.stop.signal;
    while (!stop.aborted) {
      await sleep(this.clock, this.retryPeriodMs, stop);
      if (stop.aborted) return;
      const round = new AbortController();
      const deadline = this.clock.setTimeout(() => round.abort(), this.renewDeadlineMs);
      // Not AbortSignal.any: a round every 2 s for the process's life would pile dependants onto `stop`.
      const onStop = (): void => round.abort();
      stop.addEventListener('abort', onStop, { once: true });
      const signal = round.signal;
      let renewed = false;
      while (!signal.aborted) {
        if (await this.tryOnce(signal)) {
          renewed = !signal.aborted;
          break;
        }
        // client-go keeps retrying until the deadline even when it has read another holder; a
        // leader that knows it was replaced stops now instead.
        if (!this.isLeader()) break;
        await sleep(this.clock, this.retryPeriodMs, signal);
      }
      deadline.cancel();
      stop.removeEventListener('abort', onStop);
      if (!renewed) return;
    }
  }

  /** One tryAcquireOrRenew, given up (false) when `signal` aborts first; at most one runs at a time. */
  private async tryOnce(signal: AbortSignal): Promise<boolean> {
    if (this.attempt !== undefined && (await untilAborted(this.attempt, signal)) === ABORTED) return false;
    const attempt: Promise<boolean> = this.tryAcquireOrRenew().finally(() => {
      if (this.attempt === attempt) this.attempt = undefined;
    });
    this.attempt = attempt;
    const result = await untilAborted(attempt, signal);
    this.maybeReportTransition();
    return result === true && !signal.aborted;
  }

  private async tryAcquireOrRenew(): Promise<boolean> {
    const now = formatMicroTime(this.clock.now());
    const leaseDurationSeconds = Math.floor(this.leaseDurationMs / 1000);
    const identity = this.options.identity;
    // 1. The leader renews optimistically on the Lease it last wrote.
    if (this.isLeader() && this.isLeaseValid()) {
      const renewal = { ...this.observed, holderIdentity: identity, leaseDurationSeconds, renewTime: now };
      try {
        await this.write(renewal);
        return true;
      } catch (error) {
        this.report(error);
      }
    }
    // 2. Read the Lease, or create it.
    let current: Lease | undefined;
    try {
      current = await this.options.client.get(this.options.namespace, this.options.name);
    } catch (error) {
      this.report(error);
      return false;
    }
    if (current === undefined) {
      const record: LeaderRecord = {
        holderIdentity: identity,
        leaseDurationSeconds,
        acquireTime: now,
        renewTime: now,
        leaseTransitions: 0,
      };
      try {
        this.lease = await this.options.client.create(this.leaseWith(record, undefined));
        this.setObserved(record);
        return true;
      } catch (error) {
        this.report(error);
        return false;
      }
    }
    // 3. A change of the record restarts the wait: the holder counts as alive for a lease duration from when we saw it change.
    this.lease = current;
    const record = recordOf(current);
    if (rawOf(record) !== this.observedRaw) this.setObserved(record);
    if (record.holderIdentity !== '' && this.isLeaseValid() && !this.isLeader()) return false;
    // 4. Free, expired, or ours: write ourselves in; a takeover counts a transition.
    const next: LeaderRecord = this.isLeader()
      ? { ...record, leaseDurationSeconds, renewTime: now }
      : { holderIdentity: identity, leaseDurationSeconds, acquireTime: now, renewTime: now, leaseTransitions: record.leaseTransitions + 1 };
    try {
      await this.write(next);
      return true;
    } catch (error) {
      this.report(error);
      return false;
    }
  }

  /** ReleaseOnCancel: a lease with no holder and a 1 s duration, which the next candidate takes at once. */
  private async release(): Promise<void> {
    if (!this.isLeader()) return;
    const now = formatMicroTime(this.clock.now());
    const write = this.write({
      holderIdentity: '',
      leaseDurationSeconds: 1,
      acquireTime: now,
      renewTime: now,
      leaseTransitions: this.observed.leaseTransitions,
    }).catch((error: unknown) => this.report(error));
    // An API that does not answer must not hold close() forever; the lease then simply expires.
    const giveUp = new AbortController();
    const timer = this.clock.setTimeout(() => giveUp.abort(), this.renewDeadlineMs);
    await untilAborted(write, giveUp.signal);
    timer.cancel();
  }

  /** Compare-and-swap on the Lease last read or written. */
  private async write(record: LeaderRecord): Promise<void> {
    const base = this.lease;
    if (base === undefined) throw new InvalidError('LEASE_NOT_READ', 'the Lease must be read before it is updated');
    this.lease = await this.options.client.update(this.leaseWith(record, base));
    this.setObserved(record);
  }

  private leaseWith(record: LeaderRecord, base: Lease | undefined): Lease {
    const spec = { ...record };
    if (base !== undefined) return { ...base, spec: { ...base.spec, ...spec } };
    return { apiVersion: LEASE_API_VERSION, kind: 'Lease', metadata: { name: this.options.name, namespace: this.options.namespace }, spec };
  }

  private setObserved(record: LeaderRecord): void {
    this.observed = record;
    this.observedRaw = rawOf(record);
    this.observedTime = this.clock.now();
  }

  private isLeaseValid(): boolean {
    return this.observedTime + this.observed.leaseDurationSeconds * 1000 > this.clock.now();
  }

  private maybeReportTransition(): void {
    if (this.observed.holderIdentity === this.reportedLeader) return;
    this.reportedLeader = this.observed.holderIdentity;
    this.options.onNewLeader?.(this.reportedLeader);
  }

  /** Losing a race (CONFLICT, ALREADY_EXISTS) is how the election works, not a failure. */
  private report(error: unknown): void {
    if (isTlsbootError(error) && (error.code === 'CONFLICT' || error.code === 'ALREADY_EXISTS')) return;
    this.options.onError?.(error);
  }
}

const ABORTED = Symbol('aborted');

/** `promise`'s value, or ABORTED as soon as `signal` aborts, whichever comes first; leaves no listener behind. */
function untilAborted<T>(promise: Promise<T>, signal: AbortSignal): Promise<T | typeof ABORTED> {
  if (signal.aborted) return Promise.resolve(ABORTED);
  return new Promise((resolve, reject) => {
    const onAbort = (): void => resolve(ABORTED);
    signal.addEventListener('abort', onAbort, { once: true });
    promise.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
  });
}

/** client-go's NewLeaderElector checks: the renew deadline ends before the lease, and leaves room for retries. */
function configProblem(identity: string, leaseDurationMs: number, renewDeadlineMs: number, retryPeriodMs: number): string | undefined {
  if (identity === '') return 'identity must not be empty';
  for (const [field, value] of [
    ['leaseDuration', leaseDurationMs],
    ['renewDeadline', renewDeadlineMs],
    ['retryPeriod', retryPeriodMs],
  ] as const) {
    if (!Number.isFinite(value) || value < 1000) return `${field} must be at least 1 s, not ${value} ms`;
  }
  // Stricter than client-go: a leader notices a failed renewal only at its next retry tick, so it
  // may act until renewDeadline + retryPeriod after its last renewal; a candidate must wait longer.
  if (leaseDurationMs <= renewDeadlineMs + retryPeriodMs)
    return 'leaseDuration must be greater than renewDeadline + retryPeriod, or two instances could act at once';
  if (renewDeadlineMs <= JITTER_FACTOR * retryPeriodMs) return `renewDeadline must be greater than ${JITTER_FACTOR} x retryPeriod`;
  return undefined;
}
