/**
 * Limits per requester (DESIGN.md: every requester is bounded), keyed by the authenticated user
 * name: a token bucket on creates (429 with Retry-After), a cap on open watches (429, released
 * when the watch ends for any reason), and a ledger of each requester's CSRs by `spec.username`
 * that caps the pending ones by count and all stored ones by JSON bytes (403, as Kubernetes'
 * ResourceQuota refuses). The ledger follows the store's watch, so it is kept incrementally, and
 * a create reserves its room synchronously before it is written, so concurrent creates never
 * overshoot. The defaults are far above what a 10,000-node cluster does in normal use.
 */
import { csrIsPending } from '../api/index.ts';
import { type Clock, REAL_CLOCK, sleep } from '../base/clock.ts';
import { ForbiddenError, isTlsbootError, RateLimitedError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { Store, StoredObject } from '../store/index.ts';
import type { UserInfo } from './authn.ts';
import { type ResourceDef, storeResourceOf } from './registry.ts';
import { csrResource } from './resources.ts';
import type { CreateQuota, QuotaReservation } from './rest.ts';

export interface RequesterLimitsConfig {
  /** CSRs one requester may have pending (no certificate, not Denied or Failed). */
  readonly maxPendingCsrsPerUser: number;
  /** JSON bytes of all the CSRs one requester has stored, pending or finished, until the cleaner removes them. */
  readonly maxCsrBytesPerUser: number;
  /** Creates per second one requester sustains (every resource), and the burst above it. */
  readonly createsPerSecondPerUser: number;
  readonly createBurstPerUser: number;
  /** Watches one requester may have open at once. */
  readonly maxWatchesPerUser: number;
}

/**
 * A sealed signer can leave 10,000 joining nodes' CSRs pending under one bootstrap token, each
 * joiner watching its own: so 20,000 pending and 20,000 watches. Such a CSR is about 1.5 KB of
 * JSON (an RSA-4096 one about 4 KB): 10,000 take 15-40 MB, so 64 MiB holds them, yet stops a
 * token sending 256 KiB objects after 256 of them. A bench join storm sends 2,000 creates in
 * about 4 s through one token; a burst of 10,000 lets a whole 10,000-node cluster join at once.
 */
export const DEFAULT_LIMITS: RequesterLimitsConfig = {
  maxPendingCsrsPerUser: 20_000,
  maxCsrBytesPerUser: 64 * 1024 * 1024,
  createsPerSecondPerUser: 200,
  createBurstPerUser: 10_000,
  maxWatchesPerUser: 20_000,
};

/** The `tlsboot server` flag that sets each limit, named in refusals so an operator knows what to raise. */
export const LIMIT_FLAGS: Readonly<Record<keyof RequesterLimitsConfig, string>> = {
  maxPendingCsrsPerUser: '--max-pending-csrs-per-user',
  maxCsrBytesPerUser: '--max-csr-bytes-per-user',
  createsPerSecondPerUser: '--creates-per-second-per-user',
  createBurstPerUser: '--create-burst-per-user',
  maxWatchesPerUser: '--max-watches-per-user',
};

/** Users whose create buckets are remembered; an idle bucket refills within burst/rate seconds, so the least recently used go first. */
const MAX_TRACKED_USERS = 50_000;

/** Token buckets on creates, one per user, in bounded memory. */
export class CreateRate {
  private readonly rate: number;
  private readonly burst: number;
  private readonly clock: Pick<Clock, 'now'>;
  private readonly buckets = new Map<string, { tokens: number; at: number }>();
  private readonly exempt: ReadonlySet<string>;

  constructor(perSecond: number, burst: number, clock: Pick<Clock, 'now'>, exempt: ReadonlySet<string> = new Set()) {
    this.rate = perSecond;
    this.burst = burst;
    this.clock = clock;
    this.exempt = exempt;
  }

  /** Takes one create from `user`'s bucket. @throws RATE_LIMITED with the seconds until one is available. */
  take(user: string): void {
    if (this.exempt.has(user)) return;
    const now = this.clock.now();
    const bucket = this.buckets.get(user) ?? { tokens: this.burst, at: now };
    bucket.tokens = Math.min(this.burst, bucket.tokens + (Math.max(0, now - bucket.at) * this.rate) / 1000);
    bucket.at = now;
    // Re-inserted so the Map's order is least recently used first.
    this.buckets.delete(user);
    this.buckets.set(user, bucket);
    while (this.buckets.size > MAX_TRACKED_USERS) {
      const oldest = this.buckets.keys().next().value;
      if (oldest === undefined) break;
      this.buckets.delete(oldest);
    }
    if (bucket.tokens >= 1) {
      bucket.tokens -= 1;
      return;
    }
    const retryAfterSeconds = Math.max(1, Math.ceil((1 - bucket.tokens) / this.rate));
    throw new RateLimitedError(
      'CREATE_RATE',
      `user "${user}" is creating objects faster than ${this.rate} per second (burst ${this.burst}; ${LIMIT_FLAGS.createsPerSecondPerUser}, ${LIMIT_FLAGS.createBurstPerUser}); retry after ${retryAfterSeconds}s`,
      retryAfterSeconds,
    );
  }
}

/** Open watches per user. */
export class WatchSlots {
  private readonly max: number;
  private readonly open = new Map<string, number>();

  constructor(max: number) {
    this.max = max;
  }

  /** Takes a slot for `user`; the returned function gives it back (once, however often it is called). @throws RATE_LIMITED */
  acquire(user: string): () => void {
    const count = this.open.get(user) ?? 0;
    if (count >= this.max) {
      throw new RateLimitedError(
        'WATCH_LIMIT',
        `user "${user}" has ${count} watches open, the limit (${LIMIT_FLAGS.maxWatchesPerUser}) is ${this.max}`,
        1,
      );
    }
    this.open.set(user, count + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const left = (this.open.get(user) ?? 1) - 1;
      if (left > 0) this.open.set(user, left);
      else this.open.delete(user);
    };
  }

  count(user: string): number {
    return this.open.get(user) ?? 0;
  }

  /** Watches open now, all users together (tlsboot_apiserver_open_watches). */
  total(): number {
    let sum = 0;
    for (const n of this.open.values()) sum += n;
    return sum;
  }
}

interface Usage {
  pending: number;
  bytes: number;
}

interface Entry {
  readonly user: string;
  readonly pending: boolean;
  readonly bytes: number;
}

/** A create that committed at `revision` and still counts as reserved until the ledger has seen that revision. */
interface Awaiting {
  readonly revision: number;
  readonly user: string;
  readonly bytes: number;
}

const CSR_RESOURCE = storeResourceOf(csrResource);

function requester(obj: JsonObject): string {
  const spec = isObject(obj.spec) ? obj.spec : {};
  return typeof spec.username === 'string' ? spec.username : '';
}

/** What the ledger counts an object's size as: its JSON, as the store keeps and lists return it. */
export function jsonSize(obj: unknown): number {
  return JSON.stringify(obj).length;
}

/**
 * Each requester's CSRs, from a list and then the store's watch: pending count and stored bytes
 * per user, plus the room that creates in flight have reserved. Memory: one small entry per CSR.
 */
/** The pause before the ledger re-lists after its watch ended, so a failing store is not hammered. */
const RELIST_DELAY_MS = 200;

export class CsrLedger implements CreateQuota {
  private readonly store: Store;
  private readonly maxPending: number;
  private readonly maxBytes: number;
  private readonly onError: (error: unknown) => void;
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();
  private readonly usage = new Map<string, Usage>();
  private readonly reserved = new Map<string, Usage>();
  private awaiting: Awaiting[] = [];
  private seen = 0;
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(p: { store: Store; maxPending: number; maxBytes: number; onError: (error: unknown) => void; clock?: Clock }) {
    this.store = p.store;
    this.maxPending = p.maxPending;
    this.maxBytes = p.maxBytes;
    this.onError = p.onError;
    this.clock = p.clock ?? REAL_CLOCK;
  }

  /** Loads the CSRs once (so the counts are right when this resolves), then follows the watch. */
  async start(): Promise<void> {
    const revision = await this.relist();
    this.loop = this.follow(revision);
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }

  /** Pending CSRs and stored bytes of `user`, counting creates in flight. */
  of(user: string): { pending: number; bytes: number } {
    const u = this.usage.get(user);
    const r = this.reserved.get(user);
    return { pending: (u?.pending ?? 0) + (r?.pending ?? 0), bytes: (u?.bytes ?? 0) + (r?.bytes ?? 0) };
  }

  reserve(def: ResourceDef, obj: JsonObject, user: UserInfo): QuotaReservation | undefined {
    if (storeResourceOf(def) !== CSR_RESOURCE) return undefined;
    // prepareCsrCreate set spec.username to the requester; the limit follows what is stored.
    const name = requester(obj) || user.name;
    const bytes = jsonSize(obj);
    const used = this.of(name);
    if (used.pending + 1 > this.maxPending) {
      throw new ForbiddenError(
        'PENDING_CSR_LIMIT',
        `exceeded quota: user "${name}" has ${used.pending} pending certificatesigningrequests, the limit (${LIMIT_FLAGS.maxPendingCsrsPerUser}) is ${this.maxPending}`,
      );
    }
    if (used.bytes + bytes > this.maxBytes) {
      throw new ForbiddenError(
        'CSR_BYTES_LIMIT',
        `exceeded quota: user "${name}" has ${used.bytes} bytes of certificatesigningrequests stored, this one (${bytes} bytes) would pass the limit (${LIMIT_FLAGS.maxCsrBytesPerUser}) of ${this.maxBytes}`,
      );
    }
    add(this.reserved, name, 1, bytes);
    let settled = false;
    const unreserve = () => add(this.reserved, name, -1, -bytes);
    return {
      commit: (stored) => {
        if (settled) return;
        settled = true;
        const meta = isObject(stored.metadata) ? stored.metadata : {};
        const revision = Number(meta.resourceVersion);
        // Until the watch delivers the object, the reservation stands in for it.
        if (!Number.isSafeInteger(revision) || revision <= this.seen) unreserve();
        else this.awaiting.push({ revision, user: name, bytes });
      },
      cancel: () => {
        if (settled) return;
        settled = true;
        unreserve();
      },
    };
  }

  private apply(type: 'ADDED' | 'MODIFIED' | 'DELETED', obj: StoredObject): void {
    const name = obj.metadata.name;
    const old = this.entries.get(name);
    if (old) {
      add(this.usage, old.user, old.pending ? -1 : 0, -old.bytes);
      this.entries.delete(name);
    }
    if (type === 'DELETED') return;
    const entry = { user: requester(obj), pending: csrIsPending(obj), bytes: jsonSize(obj) };
    this.entries.set(name, entry);
    add(this.usage, entry.user, entry.pending ? 1 : 0, entry.bytes);
  }

  /** The ledger now reflects every write up to `revision`: reservations for those writes end. */
  private advance(revision: number): void {
    this.seen = Math.max(this.seen, revision);
    if (this.awaiting.length === 0) return;
    const still: Awaiting[] = [];
    for (const a of this.awaiting) {
      if (a.revision <= this.seen) add(this.reserved, a.user, -1, -a.bytes);
      else still.push(a);
    }
    this.awaiting = still;
  }

  private async relist(): Promise<number> {
    this.entries.clear();
    this.usage.clear();
    let after: { namespace: string; name: string } | undefined;
    let revision: number | undefined;
    for (;;) {
      const page = await this.store.listPage(CSR_RESOURCE, {
        limit: 500,
        maxBytes: 1024 * 1024,
        ...(after ? { after } : {}),
        ...(revision === undefined ? {} : { revision }),
      });
      revision = page.revision;
      for (const obj of page.items) this.apply('ADDED', obj);
      const last = page.items.at(-1);
      if (!page.more || last === undefined) break;
      after = { namespace: '', name: last.metadata.name };
    }
    this.advance(revision);
    return revision;
  }

  private async follow(from: number): Promise<void> {
    let revision = from;
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        for await (const e of this.store.watch(CSR_RESOURCE, { fromRevision: revision, signal })) {
          this.apply(e.type, e.object);
          revision = e.revision;
          this.advance(e.revision);
        }
        if (signal.aborted) return;
      } catch (error) {
        if (signal.aborted) return;
        if (!(isTlsbootError(error) && error.code === 'GONE')) this.onError(error);
      }
      await sleep(this.clock, RELIST_DELAY_MS, signal);
      if (signal.aborted) return;
      try {
        revision = await this.relist();
      } catch (error) {
        this.onError(error);
      }
    }
  }
}

function add(table: Map<string, Usage>, user: string, pending: number, bytes: number): void {
  const u = table.get(user) ?? { pending: 0, bytes: 0 };
  u.pending += pending;
  u.bytes += bytes;
  if (u.pending === 0 && u.bytes === 0) table.delete(user);
  else table.set(user, u);
}

/** All the limits of one API server. */
export class RequesterLimits {
  readonly creates: CreateRate;
  readonly watches: WatchSlots;
  readonly csrs: CsrLedger;

  private constructor(creates: CreateRate, watches: WatchSlots, csrs: CsrLedger) {
    this.creates = creates;
    this.watches = watches;
    this.csrs = csrs;
  }

  static async start(p: {
    store: Store;
    config: RequesterLimitsConfig;
    /** The time for the create buckets, and the timer of the ledger's re-list. */
    clock: Clock;
    /**
     * This server's own components (the in-process controllers), whose creates follow from the
     * requesters' already-limited ones (at most three bookkeeping objects per CSR): limiting them
     * too stalled a 10,000-node join storm once their burst ran out (measured: 1,174 retries, p99
     * 20 s). Kube's Priority and Fairness likewise exempts the server's own loopback client.
     */
    exemptFromCreateRate?: readonly string[];
    onError: (error: unknown) => void;
  }): Promise<RequesterLimits> {
    const c = p.config;
    const csrs = new CsrLedger({
      store: p.store,
      maxPending: c.maxPendingCsrsPerUser,
      maxBytes: c.maxCsrBytesPerUser,
      onError: p.onError,
      clock: p.clock,
    });
    await csrs.start();
    return new RequesterLimits(
      new CreateRate(c.createsPerSecondPerUser, c.createBurstPerUser, p.clock, new Set(p.exemptFromCreateRate)),
      new WatchSlots(c.maxWatchesPerUser),
      csrs,
    );
  }

  close(): Promise<void> {
    return this.csrs.close();
  }
}
