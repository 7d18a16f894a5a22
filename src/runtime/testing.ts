/**
 * An in-memory ListWatch for tests of the runtime and of controllers: objects with a global
 * resourceVersion, a history that watches replay from any version, and the failures an informer
 * must survive on command (compaction answering GONE, watches that end or break, failing lists);
 * and an in-memory Lease API for leader election.
 * It loads no test framework, so production code could import it, but nothing does.
 */

import type { Lease, LeaseClient, LeaseSpec } from '../api/lease.ts';
import type { ListResultOf, ListWatch, ListWatchEvent, ListWatchObject } from '../api/list-watch.ts';
import { objectKeyOf } from '../api/list-watch.ts';
import { AlreadyExistsError, ConflictError, GoneError, NotFoundError, UnavailableError } from '../base/errors.ts';

export interface TestObject extends ListWatchObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string };
  readonly data?: string;
}

interface Recorded<T> {
  readonly rv: number;
  readonly event: ListWatchEvent<T>;
}

interface LiveWatch<T> {
  readonly queue: ListWatchEvent<T>[];
  wake: (() => void) | undefined;
  end: { readonly error?: unknown } | undefined;
}

export class MemoryListWatch<T extends ListWatchObject> implements ListWatch<T> {
  private readonly objects = new Map<string, T>();
  private readonly history: Recorded<T>[] = [];
  private readonly live = new Set<LiveWatch<T>>();
  private rv = 0;
  private compacted = 0;
  private listFailures: unknown[] = [];
  /** Calls so far, for tests that count re-lists. */
  lists = 0;
  watches = 0;

  /** Creates or replaces the object; returns it with its new resourceVersion. */
  put(object: T): T {
    const key = objectKeyOf(object);
    const stored: T = { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } };
    const type = this.objects.has(key) ? 'MODIFIED' : 'ADDED';
    this.objects.set(key, stored);
    this.record({ type, object: stored });
    return stored;
  }

  remove(namespace: string, name: string): void {
    const key = `${namespace}/${name}`;
    const old = this.objects.get(key);
    if (old === undefined) return;
    this.objects.delete(key);
    this.record({ type: 'DELETED', object: { ...old, metadata: { ...old.metadata, resourceVersion: String(++this.rv) } } });
  }

  /** Changes the data without telling any watch, as happens while a watch is down. */
  putQuietly(object: T): void {
    this.objects.set(objectKeyOf(object), { ...object, metadata: { ...object.metadata, resourceVersion: String(++this.rv) } });
  }

  removeQuietly(namespace: string, name: string): void {
    this.objects.delete(`${namespace}/${name}`);
    this.rv++;
  }

  /** Advances the version without a change and tells every open watch by a BOOKMARK built on `template`. */
  bookmark(template: T): void {
    const object: T = { ...template, metadata: { ...template.metadata, resourceVersion: String(++this.rv) } };
    for (const w of this.live) this.push(w, { type: 'BOOKMARK', object });
  }

  /** Drops all history: a watch from an older version then fails with GONE, and so do open ones. */
  compact(): void {
    this.compacted = this.rv;
    this.history.length = 0;
    this.endWatches(new GoneError('COMPACTED', 'history compacted'));
  }

  /** Ends every open watch, cleanly or with `error`. */
  endWatches(error?: unknown): void {
    for (const w of this.live) {
      w.end = error === undefined ? {} : { error };
      w.wake?.();
    }
    this.live.clear();
  }

  /** The next lists fail with these errors, in order. */
  failLists(...errors: unknown[]): void {
    this.listFailures.push(...errors);
  }

  get openWatches(): number {
    return this.live.size;
  }

  async list(): Promise<ListResultOf<T>> {
    this.lists++;
    const failure = this.listFailures.shift();
    if (failure !== undefined) throw failure;
    return { items: [...this.objects.values()].map((o) => structuredClone(o)), resourceVersion: String(this.rv) };
  }

  async *watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<ListWatchEvent<T>> {
    this.watches++;
    const from = Number(resourceVersion);
    if (from < this.compacted) throw new GoneError('COMPACTED', `resourceVersion ${resourceVersion} is compacted`);
    const w: LiveWatch<T> = { queue: this.history.filter((r) => r.rv > from).map((r) => r.event), wake: undefined, end: undefined };
    this.live.add(w);
    const onAbort = (): void => {
      w.end = {};
      w.wake?.();
    };
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      for (;;) {
        const next = w.queue.shift();
        if (next !== undefined) {
          yield structuredClone(next);
          continue;
        }
        if (w.end !== undefined) {
          if ('error' in w.end) throw w.end.error;
          return;
        }
        await new Promise<void>((resolve) => {
          w.wake = resolve;
        });
        w.wake = undefined;
      }
    } finally {
      signal.removeEventListener('abort', onAbort);
      this.live.delete(w);
    }
  }

  private record(event: ListWatchEvent<T>): void {
    this.history.push({ rv: this.rv, event });
    for (const w of this.live) this.push(w, event);
  }

  private push(w: LiveWatch<T>, event: ListWatchEvent<T>): void {
    w.queue.push(event);
    w.wake?.();
  }
}

export interface PartitionableLeaseClient extends LeaseClient {
  /** ok: answers; fail: every call fails with UNAVAILABLE; hang: no call ever answers. */
  mode: 'ok' | 'fail' | 'hang';
}

/**
 * An in-memory Lease store with the API's compare-and-swap (CONFLICT on a stale resourceVersion,
 * ALREADY_EXISTS on a second create), shared by several electors; `as(identity)` gives one
 * candidate its own view that a test can cut off ('fail') or make hang ('hang'), as a network
 * partition would.
 */
export class MemoryLeaseClient {
  private readonly leases = new Map<string, Lease>();
  private rv = 0;
  /** Every successful write, for tests that check who wrote what and in which order. */
  readonly writes: { readonly by: string; readonly op: 'create' | 'update'; readonly spec: LeaseSpec }[] = [];
  private heldGets: { count: number; waiting: (() => void)[] } | undefined;

  stored(namespace: string, name: string): Lease | undefined {
    const lease = this.leases.get(`${namespace}/${name}`);
    return lease === undefined ? undefined : structuredClone(lease);
  }

  /** The next `count` gets answer together, once all have arrived, so their callers race. */
  holdGets(count: number): void {
    this.heldGets = { count, waiting: [] };
  }

  as(identity: string): PartitionableLeaseClient {
    const self = this;
    const gate = async (): Promise<void> => {
      if (view.mode === 'fail') throw new UnavailableError('PARTITIONED', `${identity} cannot reach the API`);
      if (view.mode === 'hang') await new Promise<never>(() => undefined);
    };
    const view: PartitionableLeaseClient = {
      mode: 'ok',
      async get(namespace: string, name: string): Promise<Lease | undefined> {
        await gate();
        const held = self.heldGets;
        if (held !== undefined) {
          await new Promise<void>((resolve) => {
            held.waiting.push(resolve);
            if (held.waiting.length === held.count) {
              self.heldGets = undefined;
              for (const w of held.waiting) w();
            }
          });
        }
        return self.stored(namespace, name);
      },
      async create(lease: Lease): Promise<Lease> {
        await gate();
        const key = `${lease.metadata.namespace}/${lease.metadata.name}`;
        if (self.leases.has(key)) throw new AlreadyExistsError('LEASE_EXISTS', `lease ${key} exists`);
        return self.store(key, lease, identity, 'create');
      },
      async update(lease: Lease): Promise<Lease> {
        await gate();
        const key = `${lease.metadata.namespace}/${lease.metadata.name}`;
        const current = self.leases.get(key);
        if (current === undefined) throw new NotFoundError('LEASE_NOT_FOUND', `lease ${key} not found`);
        if (current.metadata.resourceVersion !== lease.metadata.resourceVersion) {
          throw new ConflictError('LEASE_CONFLICT', `lease ${key} was changed meanwhile`);
        }
        return self.store(key, lease, identity, 'update');
      },
    };
    return view;
  }

  private store(key: string, lease: Lease, by: string, op: 'create' | 'update'): Lease {
    const stored: Lease = structuredClone({ ...lease, metadata: { ...lease.metadata, resourceVersion: String(++this.rv) } });
    this.leases.set(key, stored);
    this.writes.push({ by, op, spec: structuredClone(stored.spec ?? {}) });
    return structuredClone(stored);
  }
}
