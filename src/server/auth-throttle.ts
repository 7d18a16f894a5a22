/**
 * Throttles bearer-token guessing (security.md §5 item 7): failed token authentications are
 * counted per source address in a sliding window; past the limit that source gets 429 for token
 * attempts until the window clears. Requests authenticated by client certificate are never
 * throttled, so one guessing client does not lock out others. Time is injected; memory is bounded.
 */

export interface ThrottleOptions {
  readonly maxFailures: number;
  readonly windowMs: number;
  readonly now: () => number;
  /** Sources tracked at most; the oldest are forgotten first. */
  readonly maxSources?: number;
}

export class AuthThrottle {
  private readonly o: ThrottleOptions;
  private readonly failures = new Map<string, number[]>();

  constructor(options: ThrottleOptions) {
    this.o = options;
  }

  private recent(source: string): number[] {
    const cutoff = this.o.now() - this.o.windowMs;
    const list = (this.failures.get(source) ?? []).filter((t) => t > cutoff);
    if (list.length === 0) this.failures.delete(source);
    else this.failures.set(source, list);
    return list;
  }

  /** Whether this source has used up its failures for the window. */
  blocked(source: string): boolean {
    return this.recent(source).length >= this.o.maxFailures;
  }

  recordFailure(source: string): void {
    const list = this.recent(source);
    list.push(this.o.now());
    this.failures.delete(source);
    this.failures.set(source, list.slice(-this.o.maxFailures));
    const max = this.o.maxSources ?? 10_000;
    while (this.failures.size > max) {
      const oldest = this.failures.keys().next().value;
      if (oldest === undefined) break;
      this.failures.delete(oldest);
    }
  }
}
