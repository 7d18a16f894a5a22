/**
 * Keeps the CA's CRL shards current (src/pki/crl.ts): rebuilt and signed through the Signer as soon
 * as the revocations change, and again halfway to nextUpdate, so a client never holds a stale one.
 * Each shard lists the unexpired revocations whose serial falls in it (expired ones leave the CRL;
 * the audit log keeps them). The CRL number is the build time in milliseconds, kept increasing, so
 * it grows across restarts and across servers whose clocks agree. A signer that cannot sign CRLs
 * (sealed or remote, between sessions) leaves the last ones served and is tried again at the next
 * change or refresh.
 */
import { REVOCATION_REASONS } from '../api/revocation.ts';
import type { Signer } from '../api/signer.ts';
import type { Clock, Timer } from '../base/clock.ts';
import { type CrlDistribution, type CrlEntry, crlShardOf, crlShardUri } from '../pki/index.ts';
import type { RevokedSerialsCache } from './revocations.ts';

/** Shards per CA: at 100k live revocations each holds about 3k entries (< 256 KiB). Fixed, since issued certificates name their shard. */
export const CRL_SHARDS = 32;
/** A CRL's lifetime (nextUpdate - thisUpdate); rebuilt at half of it (Let's Encrypt and Vault use days). */
export const CRL_LIFETIME_MS = 24 * 3_600_000;
/** How long the rebuild waits after a change, so a node's several revocations make one build. */
const SETTLE_MS = 200;

export interface CrlPublisherOptions {
  readonly signer: Signer;
  readonly revocations: RevokedSerialsCache;
  readonly distribution: CrlDistribution;
  readonly clock: Clock;
  readonly lifetimeMs?: number;
  readonly onError: (error: unknown) => void;
}

export class CrlPublisher {
  private readonly o: CrlPublisherOptions;
  private shards: readonly Uint8Array[] = [];
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
    await this.rebuild();
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
  }

  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe();
    this.timer?.cancel();
    await this.building;
  }
}
