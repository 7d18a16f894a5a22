/**
 * Runs a level-based reconciler over a work queue with a few workers: success forgets the key's
 * backoff (and may ask for a timed re-check), a terminal error is logged and not retried, any
 * other error re-queues the key with backoff. Never two workers on one key (the queue's rule).
 * `close()` aborts the signal every reconcile is given and waits for the workers to finish their
 * current key, so nothing acts after close() resolves.
 */
import type { WorkQueue } from './workqueue.ts';

export interface ReconcileResult {
  /** Check the key again after this long even if nothing changes (expiry, rotation). */
  readonly requeueAfterMs?: number;
}

/** An error retrying cannot fix (bad input, policy refusal). */
export class TerminalError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

export interface ControllerLogger {
  warn(obj: Record<string, unknown>, msg: string): void;
}

export interface ReconcileContext {
  readonly signal: AbortSignal;
}

export interface ControllerOptions {
  readonly name: string;
  readonly queue: WorkQueue;
  /** `signal` aborts when the controller closes: long work should stop early. */
  readonly reconcile: (key: string, context: ReconcileContext) => Promise<ReconcileResult | undefined>;
  readonly workers?: number;
  readonly logger: ControllerLogger;
}

export class Controller {
  private readonly options: ControllerOptions;
  private workers: Promise<void>[] = [];
  private readonly stop = new AbortController();

  constructor(options: ControllerOptions) {
    this.options = options;
  }

  start(): void {
    const n = this.options.workers ?? 1;
    for (let i = 0; i < n; i++) this.workers.push(this.work());
  }

  private async work(): Promise<void> {
    const { queue, reconcile, logger, name } = this.options;
    for (;;) {
      const key = await queue.get();
      if (key === undefined) return;
      try {
        const result = await reconcile(key, { signal: this.stop.signal });
        queue.forget(key);
        if (result?.requeueAfterMs !== undefined) queue.addAfter(key, result.requeueAfterMs);
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        if (error instanceof TerminalError) {
          queue.forget(key);
          logger.warn({ controller: name, key, error: message }, 'reconcile failed permanently');
        } else {
          logger.warn({ controller: name, key, error: message, retries: queue.failureCount(key) }, 'reconcile failed; will retry');
          queue.addRateLimited(key);
        }
      } finally {
        queue.done(key);
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.options.queue.close();
    await Promise.all(this.workers);
    this.workers = [];
  }
}
