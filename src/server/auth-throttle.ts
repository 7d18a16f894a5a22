/**
 * Slows bearer-token guessing (security.md §5 item 7) without ever refusing a valid credential:
 * the caller checks every presented token first and reports only failures here. Failures fill two
 * leaky buckets, one per source (address, or IPv6 /64) and one for the whole server, each draining its budget
 * per window. A failure that finds either bucket over budget is answered late (a bounded tarpit)
 * with 429 and Retry-After. The global bucket is what rotating addresses cannot escape; the
 * per-source buckets are capped in number, least recently failing forgotten first, so memory is
 * bounded. A NAT neighbour's failures therefore slow only failures: a valid join still succeeds.
 * Time is injected.
 */
import { isIP } from 'node:net';
import type { Clock } from '../base/clock.ts';
import { bytesToIp, ipToBytes } from '../pki/index.ts';

/**
 * The source a failure is charged to: an IPv4 address (also when IPv4-mapped), or an IPv6
 * address's /64, which one host or site is commonly given whole and could otherwise rotate through.
 */
export function sourceOf(address: string): string {
  if (isIP(address) === 0 || address.includes('%')) return address;
  const bytes = ipToBytes(address);
  if (bytes.length === 4) return address;
  if (bytes.subarray(0, 10).every((b) => b === 0) && bytes[10] === 0xff && bytes[11] === 0xff) return bytesToIp(bytes.subarray(12));
  return `${bytesToIp(Uint8Array.from([...bytes.subarray(0, 8), 0, 0, 0, 0, 0, 0, 0, 0]))}/64`;
}

export interface ThrottleOptions {
  /** Failures one source may make per window before its failures are slowed. */
  readonly perSource: number;
  /** Failures all sources together may make per window before every failure is slowed. */
  readonly global: number;
  readonly windowMs: number;
  /** How long an over-budget failure waits before it is answered. */
  readonly tarpitMs: number;
  readonly clock: Pick<Clock, 'now'>;
  /** Sources tracked at most; the least recently failing are forgotten first. */
  readonly maxSources?: number;
}

/** What an over-budget failure costs the client. */
export interface Penalty {
  readonly delayMs: number;
  readonly retryAfterSeconds: number;
}

interface Bucket {
  level: number;
  at: number;
}

export const DEFAULT_MAX_SOURCES = 10_000;

export class AuthThrottle {
  private readonly o: ThrottleOptions;
  private readonly sources = new Map<string, Bucket>();
  private readonly all: Bucket = { level: 0, at: 0 };

  constructor(options: ThrottleOptions) {
    this.o = options;
  }

  /** Sources currently tracked (bounded by maxSources). */
  get trackedSources(): number {
    return this.sources.size;
  }

  /**
   * Records one failed authentication from `source`; a Penalty when that source or the server
   * as a whole is over budget. Retry-After is when the next failure would be within budget again.
   * The level is capped just under twice the budget, so a long attack keeps slowing failures for
   * at most one window after it stops, and Retry-After never exceeds the window.
   */
  recordFailure(address: string): Penalty | undefined {
    const source = sourceOf(address);
    const now = this.o.clock.now();
    const mine = this.sources.get(source) ?? { level: 0, at: now };
    this.sources.delete(source);
    this.sources.set(source, mine);
    const max = this.o.maxSources ?? DEFAULT_MAX_SOURCES;
    for (const oldest of this.sources.keys()) {
      if (this.sources.size <= max) break;
      this.sources.delete(oldest);
    }
    const waits = [this.fill(mine, this.o.perSource, now), this.fill(this.all, this.o.global, now)];
    const waitMs = Math.max(...waits);
    if (waitMs <= 0) return undefined;
    return { delayMs: this.o.tarpitMs, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
  }

  /** Drains `bucket` to `now` and adds a failure; 0 when within budget, else how long until one more failure would be. */
  private fill(bucket: Bucket, budget: number, now: number): number {
    const perMs = budget / this.o.windowMs;
    bucket.level = Math.min(2 * budget - 1, Math.max(0, bucket.level - Math.max(0, now - bucket.at) * perMs) + 1);
    bucket.at = now;
    return bucket.level > budget ? (bucket.level - budget + 1) / perMs : 0;
  }
}
