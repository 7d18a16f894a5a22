/**
 * An informer: a local cache of one resource kept current by list-then-watch through a ListWatch,
 * re-listing when the watch reports GONE or ends. Change handlers receive keys only, so consumers
 * stay level-based. `start()` resolves once the first list is loaded; `close()` stops the loop.
 */
import type { ListWatch, ListWatchObject } from '../api/list-watch.ts';
import { type Clock, REAL_CLOCK } from '../base/clock.ts';
import { isTlsbootError } from '../base/errors.ts';

export type InformerEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface InformerOptions<T extends ListWatchObject> {
  readonly source: ListWatch<T>;
  readonly clock?: Clock;
  /** Called after each change with the object's `namespace/name` key. */
  readonly onChange?: (key: string, type: InformerEventType) => void;
  /** Reports failures that are retried (never thrown). */
  readonly onError?: (error: unknown) => void;
  readonly retryDelayMs?: number;
}

export function keyOf(obj: ListWatchObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export class Informer<T extends ListWatchObject> {
  private readonly o: InformerOptions<T>;
  private items = new Map<string, T>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private synced = false;

  constructor(options: InformerOptions<T>) {
    this.o = options;
  }

  async start(): Promise<void> {
    const rv = await this.relist();
    this.synced = true;
    this.loop = this.run(rv);
  }

  hasSynced(): boolean {
    return this.synced;
  }

  list(): T[] {
    return [...this.items.values()];
  }

  get(namespace: string, name: string): T | undefined {
    return this.items.get(`${namespace}/${name}`);
  }

  private async relist(): Promise<string> {
    const { items, resourceVersion } = await this.o.source.list(this.stop.signal);
    const next = new Map(items.map((o) => [keyOf(o), o] as const));
    const before = this.items;
    this.items = next;
    for (const [k, v] of next) {
      const old = before.get(k);
      if (!old) this.o.onChange?.(k, 'ADDED');
      else if (old.metadata.resourceVersion !== v.metadata.resourceVersion) this.o.onChange?.(k, 'MODIFIED');
    }
    for (const k of before.keys()) if (!next.has(k)) this.o.onChange?.(k, 'DELETED');
    return resourceVersion;
  }

  private async run(from: string): Promise<void> {
    let rv = from;
    const clock = this.o.clock ?? REAL_CLOCK;
    while (!this.stop.signal.aborted) {
      try {
        for await (const e of this.o.source.watch(rv, this.stop.signal)) {
          if (e.object.metadata.resourceVersion !== undefined) rv = e.object.metadata.resourceVersion;
          if (e.type === 'BOOKMARK') continue;
          const key = keyOf(e.object);
          if (e.type === 'DELETED') this.items.delete(key);
          else this.items.set(key, e.object);
          this.o.onChange?.(key, e.type);
        }
        if (this.stop.signal.aborted) return;
      } catch (error) {
        if (this.stop.signal.aborted) return;
        if (!(isTlsbootError(error) && error.code === 'GONE')) this.o.onError?.(error);
      }
      await new Promise<void>((r) => {
        const t = clock.setTimeout(r, this.o.retryDelayMs ?? 200);
        this.stop.signal.addEventListener(
          'abort',
          () => {
            t.cancel();
            r();
          },
          { once: true },
        );
      });
      if (this.stop.signal.aborted) return;
      try {
        rv = await this.relist();
      } catch (error) {
        this.o.onError?.(error);
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
