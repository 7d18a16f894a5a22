/**
 * An informer with client-go's reflector semantics over a ListWatch: list, then watch from the
 * list's resourceVersion; when the watch fails (GONE: history compacted) or ends, wait a backoff
 * on the injected clock, list again and report the differences as ADDED / MODIFIED / DELETED, so
 * a consumer misses no change however the watch broke. It owns the local cache (objects are
 * frozen: readers must not mutate what others read), keys as `namespace/name`, and the optional
 * periodic resync that re-delivers every key. Handlers receive keys only, so consumers stay
 * level-based and read the current object from the cache.
 */

import { type ListWatch, type ListWatchEvent, type ListWatchObject, objectKeyOf } from '../api/list-watch.ts';
import { type Clock, every, REAL_CLOCK, type Timer } from '../base/clock.ts';
import { isTlsbootError, UnavailableError } from '../base/errors.ts';
import { deepFreeze } from '../base/json.ts';
import { sleep } from './sleep.ts';

const BACKOFF_RESET_MS = 120_000;

/** RESYNC: the periodic re-delivery of an unchanged object. */
export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'RESYNC';

export type ChangeHandler = (key: string, type: InformerEventType) => void;

export interface InformerOptions<T extends ListWatchObject> {
  readonly source: ListWatch<T>;
  readonly clock?: Clock;
  /** A first change handler; more may be added with onChange(). */
  readonly onChange?: ChangeHandler;
  /** Re-deliver every key this often (client-go's resync); off when absent or 0. */
  readonly resyncPeriodMs?: number;
  /** Backoff before a re-list: doubles per failure from the first to the cap (client-go's reflector: 800 ms to 30 s), back to the first after 2 min without one. */
  readonly initialBackoffMs?: number;
  readonly maxBackoffMs?: number;
  /** Reports failures that are retried (never thrown). A GONE watch is routine and not reported. */
  readonly onError?: (error: unknown) => void;
}

export class Informer<T extends ListWatchObject> {
  private readonly listWatch: ListWatch<T>;
  private readonly clock: Clock;
  private readonly options: InformerOptions<T>;
  private items = new Map<string, T>();
  private lastResourceVersion = '';
  private synced = false;
  private readonly sync = Promise.withResolvers<void>();
  private readonly handlers = new Set<ChangeHandler>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private resync: Timer | undefined;
  private failures = 0;
  private lastBackoffAt = Number.NEGATIVE_INFINITY;

  constructor(options: InformerOptions<T>) {
    this.options = options;
    this.listWatch = options.source;
    if (options.onChange !== undefined) this.handlers.add(options.onChange);
    this.clock = options.clock ?? REAL_CLOCK;
    // A caller that never awaits start() must not see an unhandled rejection on close().
    this.sync.promise.catch(() => undefined);
  }

  /** Adds a change handler; returns its removal. Handlers added after the first list get later changes only. */
  onChange(handler: ChangeHandler): () => void {
    this.handlers.add(handler);
    return () => this.handlers.delete(handler);
  }

  /** Starts the list-and-watch loop; resolves once the first list is in the cache. Rejects with UNAVAILABLE if closed first. */
  start(): Promise<void> {
    this.loop ??= this.run();
    return this.sync.promise;
  }

  hasSynced(): boolean {
    return this.synced;
  }

  /** The resourceVersion the cache reflects (the last list's, watch event's or bookmark's). */
  get resourceVersion(): string {
    return this.lastResourceVersion;
  }

  list(): T[] {
    return [...this.items.values()];
  }

  keys(): string[] {
    return [...this.items.keys()];
  }

  /** `namespace` is '' for a cluster-scoped object. */
  get(namespace: string, name: string): T | undefined {
    return this.items.get(`${namespace}/${name}`);
  }

  getByKey(key: string): T | undefined {
    return this.items.get(key);
  }

  async close(): Promise<void> {
    this.stop.abort();
    this.resync?.cancel();
    if (!this.synced) this.sync.reject(new UnavailableError('INFORMER_CLOSED', 'the informer was closed before its first list'));
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.stop.signal;
    while (!signal.aborted) {
      try {
        const { items, resourceVersion } = await this.listWatch.list(signal);
        if (signal.aborted) return;
        this.replace(items, resourceVersion);
        this.markSynced();
        for await (const event of this.listWatch.watch(resourceVersion, signal)) {
          if (signal.aborted) return;
          this.apply(event);
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!(isTlsbootError(error) && error.code === 'GONE')) this.options.onError?.(error);
      }
      if (signal.aborted) return;
      await sleep(this.clock, this.nextBackoff(), signal);
    }
  }

  private nextBackoff(): number {
    const first = this.options.initialBackoffMs ?? 800;
    const cap = this.options.maxBackoffMs ?? 30_000;
    // client-go's reflector forgets failures after two quiet minutes, so a quiet resource whose
    // watches end on a server timeout re-lists after the first step, not after the cap.
    const now = this.clock.now();
    if (now - this.lastBackoffAt > BACKOFF_RESET_MS) this.failures = 0;
    this.lastBackoffAt = now;
    const delay = Math.min(cap, first * 2 ** Math.min(this.failures, 30));
    this.failures++;
    return delay;
  }

  private markSynced(): void {
    if (this.synced) return;
    this.synced = true;
    const period = this.options.resyncPeriodMs ?? 0;
    if (period > 0) this.resync = every(this.clock, period, () => this.resyncAll());
    this.sync.resolve();
  }

  private resyncAll(): void {
    for (const key of [...this.items.keys()]) this.emit(key, 'RESYNC');
  }

  /** Swaps in a fresh list and reports what changed since the cache's last state. */
  private replace(items: T[], resourceVersion: string): void {
    const before = this.items;
    const next = new Map<string, T>();
    for (const item of items) next.set(objectKeyOf(item), deepFreeze(item));
    this.items = next;
    this.lastResourceVersion = resourceVersion;
    for (const [key, item] of next) {
      const old = before.get(key);
      if (old === undefined) this.emit(key, 'ADDED');
      else if (old.metadata.resourceVersion !== item.metadata.resourceVersion) this.emit(key, 'MODIFIED');
    }
    for (const key of before.keys()) if (!next.has(key)) this.emit(key, 'DELETED');
  }

  private apply(event: ListWatchEvent<T>): void {
    // A watch that delivers is healthy again: the next failure starts the backoff afresh.
    this.failures = 0;
    const { type, object } = event;
    if (object.metadata.resourceVersion !== undefined) this.lastResourceVersion = object.metadata.resourceVersion;
    if (type === 'BOOKMARK') return;
    const key = objectKeyOf(object);
    if (type === 'DELETED') this.items.delete(key);
    else this.items.set(key, deepFreeze(object));
    this.emit(key, type);
  }

  private emit(key: string, type: InformerEventType): void {
    for (const handler of [...this.handlers]) {
      try {
        handler(key, type);
      } catch (error) {
        // One handler's bug must neither stop the cache nor starve the other handlers.
        this.options.onError?.(error);
      }
    }
  }
}
