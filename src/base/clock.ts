/**
 * The one injected clock: the time, and timers that keep their word for any delay. Node's timers
 * hold at most 2^31-1 ms (about 24.8 days) and fire a longer one after 1 ms, with a warning on
 * stderr each time; a 30-day requeue therefore spun a hot loop. Timers here wait in pieces the
 * host can hold and compare the deadline with `now()` at every wake, so they fire once, at their
 * deadline, also when the wall clock jumped meanwhile. `REAL_CLOCK` runs on Node's timers;
 * `FakeClock` runs the same re-arm logic on time that tests move by hand.
 */
import { InvalidError } from './errors.ts';

/** Node's limit for one timer (a signed 32-bit millisecond count). */
export const MAX_TIMER_DELAY_MS = 2 ** 31 - 1;

export interface Timer {
  /** Stops the timer; a no-op once it fired or was cancelled. */
  cancel(): void;
}

export interface TimerOptions {
  /** The timer does not keep the process alive (real clock only; a fake clock ignores it). */
  readonly unref?: boolean;
}

export interface Clock {
  /** Milliseconds since the epoch, like `Date.now()`. */
  now(): number;
  /** Calls `fn` once, no earlier than `ms` from now by `now()`; any non-negative delay works. */
  setTimeout(fn: () => void, ms: number, options?: TimerOptions): Timer;
}

/** What a host offers the clock: the time, and one-shot timers of at most `maxDelayMs`. */
export interface Scheduler {
  readonly maxDelayMs: number;
  now(): number;
  /** Arms one host timer; returns its cancel function. */
  schedule(fn: () => void, ms: number, unref: boolean): () => void;
}

/** A clock over a host scheduler: every timer goes through the clamp and re-arm below. */
export function clockOn(scheduler: Scheduler): Clock {
  return {
    now: () => scheduler.now(),
    setTimeout: (fn, ms, options) => longTimer(scheduler, fn, ms, options?.unref ?? false),
  };
}

function longTimer(host: Scheduler, fn: () => void, ms: number, unref: boolean): Timer {
  if (Number.isNaN(ms) || ms < 0) throw new InvalidError('TIMER_DELAY', `a timer delay must be a non-negative number of ms, not ${ms}`);
  const deadline = host.now() + ms;
  let cancelHost: (() => void) | undefined;
  // Each wake re-reads the time: a piece of a long wait ends early by design, and the wall clock
  // may have moved either way since the piece was armed.
  const wake = (): void => {
    const remaining = deadline - host.now();
    if (remaining > 0) {
      cancelHost = host.schedule(wake, Math.min(remaining, host.maxDelayMs), unref);
      return;
    }
    cancelHost = undefined;
    fn();
  };
  cancelHost = host.schedule(wake, Math.min(ms, host.maxDelayMs), unref);
  return {
    cancel: () => {
      cancelHost?.();
      cancelHost = undefined;
    },
  };
}

const NODE_SCHEDULER: Scheduler = {
  maxDelayMs: MAX_TIMER_DELAY_MS,
  now: () => Date.now(),
  schedule: (fn, ms, unref) => {
    const handle = setTimeout(fn, ms);
    if (unref) handle.unref();
    return () => clearTimeout(handle);
  },
};

export const REAL_CLOCK: Clock = clockOn(NODE_SCHEDULER);

/** Calls `fn` every `ms` until cancelled; the next call is armed before `fn` runs, as setInterval does. */
export function every(clock: Clock, ms: number, fn: () => void, options?: TimerOptions): Timer {
  let current: Timer;
  const tick = (): void => {
    current = clock.setTimeout(tick, ms, options);
    fn();
  };
  current = clock.setTimeout(tick, ms, options);
  return { cancel: () => current.cancel() };
}

/**
 * Resolves after `ms` by `clock`, or at once when `signal` aborts, so a shutdown never waits out a
 * backoff. It never rejects: a caller that must tell the two apart checks `signal.aborted`.
 */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = (): void => {
      timer.cancel();
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = clock.setTimeout(done, ms, { unref: false });
    signal?.addEventListener('abort', done, { once: true });
  });
}

interface HostTimer {
  readonly at: number;
  readonly seq: number;
  readonly fn: () => void;
}

/**
 * A clock for tests. Its host timers behave like Node's, including the 1 ms fire for a delay over
 * `maxDelayMs`, so a test on it catches a timer that skips the clamp. `advance()` lets time pass
 * and fires what falls due, in deadline order; `jump()` moves only the wall clock, as an NTP step
 * or a suspended machine does, without waking any timer.
 */
export class FakeClock implements Clock {
  private monotonic = 0;
  private wallOffset: number;
  private seq = 0;
  private readonly host: HostTimer[] = [];
  private readonly live = new Map<number, number>();
  private readonly inner: Clock;
  /** Host timers armed so far, re-arms included. */
  hostTimersArmed = 0;

  constructor(start = 0, maxDelayMs = MAX_TIMER_DELAY_MS) {
    this.wallOffset = start;
    this.inner = clockOn({
      maxDelayMs,
      now: () => this.now(),
      schedule: (fn, ms) => {
        // Node's rule for what it cannot hold, kept so that a missing clamp shows in tests.
        const delay = ms > maxDelayMs || ms < 1 ? 1 : ms;
        const timer: HostTimer = { at: this.monotonic + delay, seq: this.seq++, fn };
        this.host.push(timer);
        this.hostTimersArmed++;
        return () => {
          const i = this.host.indexOf(timer);
          if (i >= 0) this.host.splice(i, 1);
        };
      },
    });
  }

  now(): number {
    return this.monotonic + this.wallOffset;
  }

  setTimeout(fn: () => void, ms: number): Timer {
    const id = this.seq++;
    const timer = this.inner.setTimeout(() => {
      this.live.delete(id);
      fn();
    }, ms);
    this.live.set(id, this.now() + ms);
    return {
      cancel: () => {
        this.live.delete(id);
        timer.cancel();
      },
    };
  }

  /** Lets `ms` pass, firing every host timer that falls due (also ones armed meanwhile) in order. */
  advance(ms: number): void {
    const target = this.monotonic + ms;
    for (;;) {
      let next: HostTimer | undefined;
      for (const t of this.host) if (t.at <= target && (!next || t.at < next.at || (t.at === next.at && t.seq < next.seq))) next = t;
      if (!next) break;
      this.host.splice(this.host.indexOf(next), 1);
      this.monotonic = next.at;
      next.fn();
    }
    this.monotonic = target;
  }

  /** Moves the wall clock by `ms` (either way); timers notice at their next wake. */
  jump(ms: number): void {
    this.wallOffset += ms;
  }

  /** Time left on each pending timer, in the order they were set. */
  pending(): number[] {
    const now = this.now();
    return [...this.live.values()].map((at) => at - now);
  }

  /** Host timers currently armed (one per pending timer when nothing leaks). */
  get hostTimers(): number {
    return this.host.length;
  }
}
