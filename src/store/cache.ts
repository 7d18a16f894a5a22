/**
 * An informer: a local cache of one resource kept current by list-then-watch, re-listing when
 * the watch reports GONE (history compacted) or breaks. Readers get immutable snapshots; change
 * handlers only receive keys, so consumers stay level-based. `start()` resolves once the first
 * list is loaded (synced); `close()` stops the loop.
 */
import { isTlsbootError } from '../base/errors.ts';
import type { Store, StoredObject } from './types.ts';

export type CacheEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface CacheOptions {
  readonly store: Store;
  readonly resource: string;
  readonly namespace?: string;
  /** Called after each change with the object's `namespace/name` key. */
  readonly onChange?: (key: string, type: CacheEventType) => void;
  /** Wait between re-lists after a failure. */
  readonly retryDelayMs?: number;
  /** Reports failures that are retried (never thrown). */
  readonly onError?: (error: unknown) => void;
}

export function objectKey(obj: StoredObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

export class ObjectCache {
  private readonly options: CacheOptions;
  private items = new Map<string, StoredObject>();
  private readonly stop = new AbortController();
  private loop: Promise<void> | undefined;
  private revisionSeen = 0;

  constructor(options: CacheOptions) {
    this.options = options;
  }

  /** Lists once (so the cache is synced when this resolves), then keeps watching. */
  async start(): Promise<void> {
    const revision = await this.relist();
    this.loop = this.run(revision);
  }

  get revision(): number {
    return this.revisionSeen;
  }

  list(): StoredObject[] {
    return [...this.items.values()];
  }

  get(namespace: string, name: string): StoredObject | undefined {
    return this.items.get(`${namespace}/${name}`);
  }

  private async relist(): Promise<number> {
    const { items, revision } = await this.options.store.list(
      this.options.resource,
      this.options.namespace === undefined ? {} : { namespace: this.options.namespace },
    );
    const next = new Map(items.map((o) => [objectKey(o), o] as const));
    const before = this.items;
    this.items = next;
    this.revisionSeen = revision;
    for (const [k, v] of next) {
      const old = before.get(k);
      if (!old) this.options.onChange?.(k, 'ADDED');
      else if (old.metadata.resourceVersion !== v.metadata.resourceVersion) this.options.onChange?.(k, 'MODIFIED');
    }
    for (const k of before.keys()) if (!next.has(k)) this.options.onChange?.(k, 'DELETED');
    return revision;
  }

  private async run(fromRevision: number): Promise<void> {
    let revision = fromRevision;
    while (!this.stop.signal.aborted) {
      try {
        const events = this.options.store.watch(this.options.resource, {
          ...(this.options.namespace === undefined ? {} : { namespace: this.options.namespace }),
          fromRevision: revision,
          signal: this.stop.signal,
        });
        for await (const e of events) {
          const key = objectKey(e.object);
          if (e.type === 'DELETED') this.items.delete(key);
          else this.items.set(key, e.object);
          revision = e.revision;
          this.revisionSeen = e.revision;
          this.options.onChange?.(key, e.type);
        }
        if (this.stop.signal.aborted) return;
      } catch (error) {
        if (this.stop.signal.aborted) return;
        if (!(isTlsbootError(error) && error.code === 'GONE')) this.options.onError?.(error);
      }
      await new Promise((r) => setTimeout(r, this.options.retryDelayMs ?? 200));
      if (this.stop.signal.aborted) return;
      try {
        revision = await this.relist();
      } catch (error) {
        this.options.onError?.(error);
      }
    }
  }

  async close(): Promise<void> {
    this.stop.abort();
    await this.loop;
  }
}
