/**
 * Keeps the CA's CRL shards current (src/pki/crl.ts): rebuilt and signed through the Signer as soon
 * as the revocations change, and again halfway to nextUpdate, so a client never holds a stale one.
 * Each shard lists the unexpired revocations whose serial falls in it (expired ones leave the CRL;
 * the audit log keeps them). The CRL number is the build time in milliseconds, kept increasing, so
 * it grows across restarts and across servers whose clocks agree. A signer that cannot sign CRLs
 * (sealed or remote, between sessions) leaves the last ones served and is tried again at the next
 * change or refresh. With a keeper (sealed and remote CAs) each build is also kept outside this
 * process, and a kept build newer than the one served (signed by a session elsewhere, or before a
 * restart) is served once its signature verifies under the CA.
 */
import { REVOCATION_REASONS } from '../api/revocation.ts';
import type { Signer } from '../api/signer.ts';
import type { Clock, Timer } from '../base/clock.ts';
import type { ServedCrl } from '../base/metrics.ts';
import { type CrlDistribution, type CrlEntry, crlShardOf, crlShardUri, readSignedCrl, type SignedCrlTimes } from '../pki/index.ts';
import type { RevokedSerialsCache } from './revocations.ts';

/** Shards per CA: at 100k live revocations each holds about 3k entries (< 256 KiB). Fixed, since issued certificates name their shard. */
export const CRL_SHARDS = 32;
/** A CRL's lifetime (nextUpdate - thisUpdate); rebuilt at half of it (Let's Encrypt and Vault use days). */
export const CRL_LIFETIME_MS = 24 * 3_600_000;
/**
 * A sealed or remote CA's CRL lifetime: its CRLs are signed only during signing sessions, so
 * nextUpdate must reach past the gap between them. Seven days, against the session limit of one
 * day: an operator who opens a session at least weekly keeps every CRL current, and a relying
 * party that checks CRLs still notices a CA nobody attends within a week (Let's Encrypt's are
 * valid up to 10 days). Revocations between sessions take effect in tlsboot's own server at once.
 */
export const SESSION_CRL_LIFETIME_MS = 7 * 24 * 3_600_000;
/** How often a server with a keeper looks for CRLs kept by another (the one whose session signed). */
export const CRL_RELOAD_MS = 60_000;
/** How long the rebuild waits after a change, so a node's several revocations make one build. */
const SETTLE_MS = 200;

/** Keeps the shards outside the process (src/control-plane/crl-keeper.ts); nothing it returns is trusted. */
export interface CrlKeeper {
  load(shards: number): Promise<(Uint8Array | undefined)[]>;
  save(shards: readonly Uint8Array[]): Promise<void>;
}

export interface CrlPublisherOptions {
  readonly signer: Signer;
  readonly revocations: RevokedSerialsCache;
  readonly distribution: CrlDistribution;
  readonly clock: Clock;
  readonly lifetimeMs?: number;
  readonly keeper?: CrlKeeper;
  readonly onError: (error: unknown) => void;
}

export class CrlPublisher {
  private readonly o: CrlPublisherOptions;
  private shards: readonly Uint8Array[] = [];
  private times: readonly (SignedCrlTimes | undefined)[] = [];
  private reloadTimer: Timer | undefined;
  private lastNumber = 0n;
  private timer: Timer | undefined;
  private building: Promise<void> | undefined;
  private again = false;
  private closed = false;
  private readonly unsubscribe: () => void;

  constructor(o: CrlPublisherOptions) {
    this.o = o;
    this.unsubscribe = o.revocations.onChange(() => this.schedule(SETTLE_MS));
  }

  /** Builds the first CRLs (failures are reported, and retried at the next change or refresh). */
  async start(): Promise<void> {
    await this.reload();
    await this.rebuild();
    this.scheduleReload();
  }

  /** When each served shard was signed and when it says the next comes (for the metrics). */
  served(): ServedCrl[] {
    return this.times.flatMap((t, shard) => (t === undefined ? [] : [{ shard, ...t }]));
  }

  private scheduleReload(): void {
    if (this.closed || this.o.keeper === undefined) return;
    this.reloadTimer = this.o.clock.setTimeout(() => void this.reload().finally(() => this.scheduleReload()), CRL_RELOAD_MS, {
      unref: true,
    });
  }

  /** Serves the kept build instead when it verifies under the CA and was signed after the one served. */
  async reload(): Promise<void> {
    const keeper = this.o.keeper;
    if (keeper === undefined) return;
    try {
      const kept = await keeper.load(this.o.distribution.shards);
      const times = kept.map((der) => (der === undefined ? undefined : readSignedCrl(der, this.o.signer.caCertificate)));
      const first = times[0]?.thisUpdate.getTime();
      // One build's shards share thisUpdate; a mixed set (a save cut short) is not served.
      if (first === undefined || times.some((t) => t?.thisUpdate.getTime() !== first)) return;
      if (first <= (this.times[0]?.thisUpdate.getTime() ?? Number.NEGATIVE_INFINITY) || this.building) return;
      this.shards = kept.filter((der) => der !== undefined);
      this.times = times;
      this.lastNumber = BigInt(first) > this.lastNumber ? BigInt(first) : this.lastNumber;
    } catch (error) {
      this.o.onError(error);
    }
  }

  /** The DER of a shard, or undefined when none was built yet (or no such shard). */
  get(shard: number): Uint8Array | undefined {
    return this.shards[shard];
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    this.timer?.cancel();
    this.timer = this.o.clock.setTimeout(() => void this.rebuild(), ms, { unref: true });
  }

  /** One build at a time; a change during a build makes one more. */
  rebuild(): Promise<void> {
    if (this.building) {
      this.again = true;
      return this.building;
    }
    this.building = this.build()
      .catch((error: unknown) => this.o.onError(error))
      .finally(() => {
        this.building = undefined;
        if (this.again && !this.closed) {
          this.again = false;
          void this.rebuild();
        }
      });
    return this.building;
  }

  private async build(): Promise<void> {
    const { signer, distribution, clock } = this.o;
    const lifetime = this.o.lifetimeMs ?? CRL_LIFETIME_MS;
    // Refreshed at half the lifetime whatever happens below, so a failed build is retried too.
    this.schedule(lifetime / 2);
    if (signer.signCrl === undefined) return;
    const nowMs = clock.now();
    const number = BigInt(nowMs) > this.lastNumber ? BigInt(nowMs) : this.lastNumber + 1n;
    const entries: CrlEntry[][] = Array.from({ length: distribution.shards }, () => []);
    for (const r of this.o.revocations.list()) {
      if (Date.parse(r.notAfter) <= nowMs) continue;
      entries[crlShardOf(r.serialNumber, distribution.shards)]?.push({
        serialNumber: r.serialNumber,
        revokedAt: new Date(r.revokedAt),
        reasonCode: REVOCATION_REASONS[r.reason],
      });
    }
    const thisUpdate = new Date(nowMs);
    const nextUpdate = new Date(nowMs + lifetime);
    const built: Uint8Array[] = [];
    for (const [shard, list] of entries.entries()) {
      list.sort((a, b) => (a.serialNumber < b.serialNumber ? -1 : 1));
      built.push(
        await signer.signCrl(
          { crlNumber: number, thisUpdate, nextUpdate, entries: list, distributionPoint: crlShardUri(distribution, shard) },
          thisUpdate,
        ),
      );
    }
    this.lastNumber = number;
    this.shards = built;
    this.times = built.map(() => ({ thisUpdate, nextUpdate }));
    await this.o.keeper?.save(built);
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    this.timer?.cancel();
    this.reloadTimer?.cancel();
    await this.building;
  }
}
