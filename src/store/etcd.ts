/**
 * The etcd backend of the Store contract, for control planes of several servers on one etcd.
 * Every read asks etcd (linearizable), so servers sharing it never answer from a stale memory.
 *
 * Keys follow kube-apiserver's layout, `<prefix>/<group>/<plural>/<namespace>/<name>` and
 * `<prefix>/<group>/<plural>/<name>` for cluster-scoped objects, where the store's resource
 * `group/plural` is split at its last '/' (a resource without one has an empty group) and every
 * segment escapes '%' and '/', so keys are collision-free and parse back to the object's key.
 * Values are the object's JSON without resourceVersion, through the ValueTransformer (encryption
 * at rest), as kube-apiserver stores them.
 *
 * Revisions: the contract's empty store is at 0 and etcd's empty keyspace at 1, so a store
 * revision is etcd's minus one, a constant every server agrees on: resourceVersion =
 * mod_revision - 1. Writes are etcd Txns comparing create_revision (create) or mod_revision
 * (update, delete), and their failure branch reads the key in the same Txn to tell NOT_FOUND from
 * CONFLICT. A store txn is one etcd Txn, so its ops share one revision (the contract allows it).
 * Watches are etcd watches with prev_kv, resumed after a broken stream from the last revision
 * received; etcd's compaction answer becomes GONE. Compaction is etcd's, so it is cluster-wide:
 * every prefix on the same etcd shares one revision and one compacted revision.
 */
import { InternalError, InvalidError, isTlsbootError, UnavailableError } from '../base/errors.ts';
import { deepFreeze } from '../base/json.ts';
import { IDENTITY_TRANSFORMER, type ValueTransformer } from './encryption.ts';
import {
  bool,
  bytes,
  CMP,
  EtcdCallError,
  EtcdRpc,
  type EtcdTls,
  EVENT_DELETE,
  EVENT_PUT,
  headerRevision,
  int,
  type Msg,
  msg,
  msgs,
  TARGET,
  text,
  type UnaryMethod,
  type WatchStream,
} from './etcd-rpc.ts';
import {
  alreadyExists,
  checkKey,
  checkObjectKey,
  checkRevision,
  checkTxn,
  compacted,
  conflict,
  decodeObject,
  encodeObject,
  listTooOld,
  notFound,
  tooSlow,
} from './objects.ts';
import type {
  DeleteOptions,
  ListOptions,
  ListPage,
  ListPageJson,
  ListPageOptions,
  ListResult,
  ObjectKey,
  Store,
  StoredObject,
  TxnOp,
  UpdateOptions,
  WatchEvent,
  WatchOptions,
} from './types.ts';

export type { EtcdTls } from './etcd-rpc.ts';

export interface EtcdStoreOptions {
  /** Client endpoints as `host:port` (an `https://` scheme is accepted and dropped); calls move to the next one when one is away. */
  readonly endpoints: readonly string[];
  readonly tls: EtcdTls;
  /** Where the objects live, kube-apiserver's `--etcd-prefix`. Default `/registry`. */
  readonly prefix?: string;
  /** What bodies become in etcd (encryption at rest). Default: stored as they are. */
  readonly transformer?: ValueTransformer;
  /** The deadline of every call to etcd; past it the call fails with UNAVAILABLE. Default 5,000 ms. */
  readonly timeoutMs?: number;
  /** Events a watcher may have waiting before it is ended with GONE. Default 10,000. */
  readonly maxWatchBacklog?: number;
}

/** The contract's revision 0 is etcd's 1 (its empty keyspace). */
const OFFSET = 1;
const toStore = (etcdRevision: number) => etcdRevision - OFFSET;
const toEtcd = (storeRevision: number) => storeRevision + OFFSET;

const PREFIX = /^(\/[A-Za-z0-9._-]+)+$/;
/** A resourceVersion the store could have written; anything else can only be a CONFLICT. */
const RESOURCE_VERSION = /^(0|[1-9][0-9]{0,15})$/;

function escapeSegment(segment: string): string {
  return segment.replaceAll('%', '%25').replaceAll('/', '%2F');
}

function unescapeSegment(segment: string): string {
  return segment.replace(/%(25|2F)/g, (m) => (m === '%25' ? '%' : '/'));
}

/** The smallest key after every key that starts with `prefix` (etcd's range_end for a prefix). */
function prefixEnd(prefix: Buffer): Buffer {
  const end = Buffer.from(prefix);
  for (let i = end.length - 1; i >= 0; i--) {
    const byte = end[i] ?? 0;
    if (byte < 0xff) {
      end[i] = byte + 1;
      return end.subarray(0, i + 1);
    }
  }
  return Buffer.from([0]);
}

/** The smallest key after `key` itself. */
function justAfter(key: Buffer): Buffer {
  return Buffer.concat([key, Buffer.from([0])]);
}

function maxKey(a: Buffer, b: Buffer): Buffer {
  return Buffer.compare(a, b) >= 0 ? a : b;
}

function checkResource(resource: string): void {
  if (typeof resource !== 'string' || resource === '') {
    throw new InvalidError('STORE_KEY', 'the resource of a store key must be a non-empty string', { field: 'resource' });
  }
}

function parseEndpoint(endpoint: string): string {
  const bare = endpoint.replace(/^https:\/\//, '').replace(/\/$/, '');
  if (!/^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):[0-9]{1,5}$/.test(bare)) {
    throw new InvalidError('STORE_ETCD_ENDPOINT', `etcd endpoint "${endpoint}" is not host:port`, { field: 'endpoints' });
  }
  return bare;
}

interface Located {
  readonly namespace: string;
  readonly name: string;
}

/** The key layout of one resource. */
class ResourceKeys {
  readonly base: Buffer;
  readonly resource: string;
  private readonly baseText: string;

  constructor(prefix: string, resource: string) {
    this.resource = resource;
    const slash = resource.lastIndexOf('/');
    const group = slash < 0 ? '' : resource.slice(0, slash);
    this.baseText = `${prefix}/${escapeSegment(group)}/${escapeSegment(resource.slice(slash + 1))}/`;
    this.base = Buffer.from(this.baseText);
  }

  of(at: Located): Buffer {
    return Buffer.from(
      at.namespace === ''
        ? `${this.baseText}${escapeSegment(at.name)}`
        : `${this.baseText}${escapeSegment(at.namespace)}/${escapeSegment(at.name)}`,
    );
  }

  /** The range holding a namespace's objects, or the whole resource's. */
  range(namespace: string | undefined): { key: Buffer; rangeEnd: Buffer } {
    const key = namespace === undefined || namespace === '' ? this.base : Buffer.from(`${this.baseText}${escapeSegment(namespace)}/`);
    return { key, rangeEnd: prefixEnd(key) };
  }

  /** Where a key of this resource's range points; undefined for a key that is none of ours. */
  locate(key: Buffer): Located | undefined {
    if (key.length <= this.base.length || !key.subarray(0, this.base.length).equals(this.base)) return undefined;
    const parts = key.subarray(this.base.length).toString('utf8').split('/');
    if (parts.length === 1 && parts[0]) return { namespace: '', name: unescapeSegment(parts[0]) };
    if (parts.length === 2 && parts[0] && parts[1]) return { namespace: unescapeSegment(parts[0]), name: unescapeSegment(parts[1]) };
    return undefined;
  }

  objectKey(at: Located): ObjectKey {
    return { resource: this.resource, namespace: at.namespace, name: at.name };
  }
}

/** Whether an object at `at` belongs to what a namespace option selects ('' = cluster-scoped only). */
function inNamespace(at: Located, namespace: string | undefined): boolean {
  return namespace === undefined || at.namespace === namespace;
}

class EtcdStore implements Store {
  private readonly rpc: EtcdRpc;
  private readonly prefix: string;
  private readonly transformer: ValueTransformer;
  private readonly maxBacklog: number;
  private readonly watches = new Set<EtcdWatch>();
  private closed = false;

  constructor(options: EtcdStoreOptions) {
    const prefix = options.prefix ?? '/registry';
    if (!PREFIX.test(prefix)) {
      throw new InvalidError('STORE_ETCD_PREFIX', `etcd prefix "${prefix}" must look like /registry (segments of letters, digits, ._-)`, {
        field: 'prefix',
      });
    }
    if (options.endpoints.length === 0)
      throw new InvalidError('STORE_ETCD_ENDPOINT', 'at least one etcd endpoint is needed', { field: 'endpoints' });
    const timeoutMs = options.timeoutMs ?? 5000;
    const maxBacklog = options.maxWatchBacklog ?? 10_000;
    for (const [name, value] of [
      ['timeoutMs', timeoutMs],
      ['maxWatchBacklog', maxBacklog],
    ] as const) {
      if (!Number.isSafeInteger(value) || value < 1)
        throw new InvalidError('STORE_OPTION', `${name} must be a positive integer`, { field: name });
    }
    this.prefix = prefix;
    this.transformer = options.transformer ?? IDENTITY_TRANSFORMER;
    this.maxBacklog = maxBacklog;
    this.rpc = new EtcdRpc(options.endpoints.map(parseEndpoint), options.tls, timeoutMs);
  }

  private assertOpen(): void {
    if (this.closed) throw new UnavailableError('STORE_CLOSED', 'the store is closed');
  }

  /** etcd's compaction and future-revision answers pass through for the caller to word; every other failure is UNAVAILABLE. */
  async call(method: UnaryMethod, request: Msg): Promise<Msg> {
    this.assertOpen();
    try {
      return await this.rpc.call(method, request);
    } catch (error) {
      if (error instanceof EtcdCallError && (error.compacted || error.future)) throw error;
      if (this.closed) throw new UnavailableError('STORE_CLOSED', 'the store is closed');
      throw new UnavailableError('STORE_UNAVAILABLE', error instanceof Error ? error.message : String(error), { cause: error });
    }
  }

  keys(resource: string): ResourceKeys {
    return new ResourceKeys(this.prefix, resource);
  }

  private value(key: ObjectKey, body: string): Buffer {
    const stored = this.transformer.toStorage(key, body);
    return typeof stored === 'string' ? Buffer.from(stored, 'utf8') : Buffer.from(stored);
  }

  /** The object a stored value holds, stamped with the revision it carries (its write, or its deletion). */
  decode(key: ObjectKey, value: Buffer, revision: number): { object: StoredObject; size: number } {
    const body = this.transformer.fromStorage(key, value);
    const object = decodeObject(body);
    object.metadata.resourceVersion = String(toStore(revision));
    return { object, size: body.length };
  }

  private decodeKv(key: ObjectKey, kv: Msg, revision = int(kv, 'modRevision')): StoredObject {
    return this.decode(key, bytes(kv, 'value'), revision).object;
  }

  async get(key: ObjectKey): Promise<StoredObject> {
    this.assertOpen();
    checkKey(key);
    const r = await this.call('Range', { key: this.keys(key.resource).of(key) });
    const kv = msgs(r, 'kvs')[0];
    if (!kv) throw notFound(key);
    return this.decodeKv(key, kv);
  }

  async list(resource: string, options: ListOptions = {}): Promise<ListResult> {
    this.assertOpen();
    checkResource(resource);
    const keys = this.keys(resource);
    const r = await this.call('Range', keys.range(options.namespace));
    const items: StoredObject[] = [];
    for (const kv of msgs(r, 'kvs')) {
      const at = keys.locate(bytes(kv, 'key'));
      if (at && inNamespace(at, options.namespace)) items.push(this.decodeKv(keys.objectKey(at), kv));
    }
    return { items, revision: toStore(headerRevision(r)) };
  }

  /** A Range at a fixed revision, with etcd's compaction and future answers in the contract's words. */
  private async rangeAt(request: Msg, revision: number): Promise<Msg> {
    try {
      return await this.call('Range', request);
    } catch (error) {
      if (error instanceof EtcdCallError && error.compacted) throw listTooOld(revision);
      if (error instanceof EtcdCallError && error.future) {
        throw new InvalidError('STORE_REVISION', `revision ${revision} is newer than the store`, { field: 'revision' });
      }
      throw error;
    }
  }

  /** listPage's objects as JSON text; etcd holds them encoded without their resourceVersion, so they are encoded again. */
  async listPageJson(resource: string, options: ListPageOptions): Promise<ListPageJson> {
    const page = await this.listPage(resource, options);
    return {
      ...page,
      items: page.items.map((o) => ({ namespace: o.metadata.namespace ?? '', name: o.metadata.name, json: JSON.stringify(o) })),
    };
  }

  async listPage(resource: string, options: ListPageOptions): Promise<ListPage> {
    this.assertOpen();
    checkResource(resource);
    const { limit, namespace } = options;
    if (!Number.isSafeInteger(limit) || limit < 1) {
      throw new InvalidError('STORE_LIMIT', `limit must be a positive integer, got ${String(limit)}`, { field: 'limit' });
    }
    if (options.name !== undefined && namespace === undefined)
      throw new InvalidError('STORE_NAME', 'a page of one name needs its namespace', { field: 'namespace' });
    if (options.revision !== undefined) checkRevision(options.revision, 'revision');
    const keys = this.keys(resource);
    const range =
      options.name !== undefined && namespace !== undefined
        ? (() => {
            const key = keys.of({ namespace, name: options.name });
            return { key, rangeEnd: justAfter(key) };
          })()
        : keys.range(namespace);
    let start = options.after ? maxKey(range.key, justAfter(keys.of(options.after))) : range.key;
    // The first read fixes the revision when none is given, so every later read of the page sees the same instant.
    let etcdRevision = options.revision === undefined ? 0 : toEtcd(options.revision);
    const maxBytes = options.maxBytes ?? Number.POSITIVE_INFINITY;
    const items: StoredObject[] = [];
    let size = 0;
    let more = false;
    let lastKey: Buffer | undefined;
    scan: while (Buffer.compare(start, range.rangeEnd) < 0) {
      const r = await this.rangeAt(
        { key: start, rangeEnd: range.rangeEnd, revision: etcdRevision, limit: limit - items.length + 1 },
        options.revision ?? 0,
      );
      if (etcdRevision === 0) etcdRevision = headerRevision(r);
      const kvs = msgs(r, 'kvs');
      for (const kv of kvs) {
        const key = bytes(kv, 'key');
        start = justAfter(key);
        const at = keys.locate(key);
        if (!at || !inNamespace(at, namespace)) continue;
        if (items.length >= limit || size >= maxBytes) {
          more = true;
          break scan;
        }
        const decoded = this.decode(keys.objectKey(at), bytes(kv, 'value'), int(kv, 'modRevision'));
        items.push(decoded.object);
        size += decoded.size;
        lastKey = key;
      }
      if (!bool(r, 'more') || kvs.length === 0) break;
    }
    if (etcdRevision === 0) etcdRevision = toEtcd(await this.revision());
    const page = { items, revision: toStore(etcdRevision), more };
    if (!options.count) return page;
    return { ...page, remaining: await this.countAfter(keys, range, lastKey, namespace, etcdRevision) };
  }

  /** How many objects of the range follow `lastKey` at the revision: a count where the range is exact, a key scan where '' filters it. */
  private async countAfter(
    keys: ResourceKeys,
    range: { key: Buffer; rangeEnd: Buffer },
    lastKey: Buffer | undefined,
    namespace: string | undefined,
    etcdRevision: number,
  ): Promise<number> {
    const key = lastKey ? justAfter(lastKey) : range.key;
    if (Buffer.compare(key, range.rangeEnd) >= 0) return 0;
    const revision = toStore(etcdRevision);
    if (namespace !== '') {
      return int(await this.rangeAt({ key, rangeEnd: range.rangeEnd, revision: etcdRevision, countOnly: true }, revision), 'count');
    }
    const r = await this.rangeAt({ key, rangeEnd: range.rangeEnd, revision: etcdRevision, keysOnly: true }, revision);
    return msgs(r, 'kvs').filter((kv) => keys.locate(bytes(kv, 'key'))?.namespace === '').length;
  }

  async create(key: ObjectKey, object: StoredObject): Promise<StoredObject> {
    this.assertOpen();
    checkObjectKey(key, object);
    const [stored] = await this.txn([{ op: 'create', key, object }]);
    if (!stored) throw new InternalError('STORE_ETCD', 'etcd answered a create without its object');
    return stored;
  }

  async update(key: ObjectKey, object: StoredObject, options: UpdateOptions): Promise<StoredObject> {
    this.assertOpen();
    checkObjectKey(key, object);
    const [stored] = await this.txn([{ op: 'update', key, object, expectedResourceVersion: options.expectedResourceVersion }]);
    if (!stored) throw new InternalError('STORE_ETCD', 'etcd answered an update without its object');
    return stored;
  }

  async txn(ops: readonly TxnOp[]): Promise<StoredObject[]> {
    this.assertOpen();
    checkTxn(ops);
    const prepared = ops.map((op) => {
      const encoded = encodeObject(op.object, undefined);
      return { op, etcdKey: this.keys(op.key.resource).of(op.key), encoded, value: this.value(op.key, encoded.body) };
    });
    const r = await this.call('Txn', {
      compare: prepared.map(({ op, etcdKey }) =>
        op.op === 'create'
          ? { key: etcdKey, target: TARGET.CREATE, result: CMP.EQUAL, createRevision: 0 }
          : { key: etcdKey, target: TARGET.MOD, result: CMP.EQUAL, modRevision: expectedModRevision(op.expectedResourceVersion) },
      ),
      success: prepared.map(({ etcdKey, value }) => ({ requestPut: { key: etcdKey, value } })),
      // Read back in the same Txn, so the error names the state that refused it.
      failure: prepared.map(({ etcdKey }) => ({ requestRange: { key: etcdKey } })),
    });
    if (!bool(r, 'succeeded')) {
      const responses = msgs(r, 'responses');
      prepared.forEach(({ op }, i) => {
        const kv = msgs(msg(responses[i], 'responseRange'), 'kvs')[0];
        if (op.op === 'create') {
          if (kv) throw alreadyExists(op.key);
        } else if (!kv) {
          throw notFound(op.key);
        } else if (int(kv, 'modRevision') !== expectedModRevision(op.expectedResourceVersion)) {
          throw conflict(op.key, String(toStore(int(kv, 'modRevision'))), op.expectedResourceVersion);
        }
      });
      throw new InternalError('STORE_ETCD', 'etcd refused a transaction whose every compare holds');
    }
    const resourceVersion = String(toStore(headerRevision(r)));
    return prepared.map(({ encoded }) => {
      encoded.object.metadata.resourceVersion = resourceVersion;
      return encoded.object;
    });
  }

  async delete(key: ObjectKey, options: DeleteOptions = {}): Promise<StoredObject> {
    this.assertOpen();
    checkKey(key);
    const etcdKey = this.keys(key.resource).of(key);
    const expected = options.expectedResourceVersion;
    const r = await this.call('Txn', {
      compare: [
        expected === undefined
          ? { key: etcdKey, target: TARGET.VERSION, result: CMP.GREATER, version: 0 }
          : { key: etcdKey, target: TARGET.MOD, result: CMP.EQUAL, modRevision: expectedModRevision(expected) },
      ],
      success: [{ requestDeleteRange: { key: etcdKey, prevKv: true } }],
      failure: [{ requestRange: { key: etcdKey } }],
    });
    const response = msgs(r, 'responses')[0];
    if (!bool(r, 'succeeded')) {
      const kv = msgs(msg(response, 'responseRange'), 'kvs')[0];
      if (!kv) throw notFound(key);
      throw conflict(key, String(toStore(int(kv, 'modRevision'))), expected ?? '');
    }
    const prev = msgs(msg(response, 'responseDeleteRange'), 'prevKvs')[0];
    if (!prev) throw notFound(key);
    return this.decodeKv(key, prev, headerRevision(r));
  }

  watch(resource: string, options: WatchOptions): AsyncIterable<WatchEvent> {
    return { [Symbol.asyncIterator]: () => this.events(resource, options) };
  }

  private async *events(resource: string, options: WatchOptions): AsyncGenerator<WatchEvent> {
    this.assertOpen();
    checkResource(resource);
    checkRevision(options.fromRevision, 'fromRevision');
    const { namespace, name } = options;
    if (options.signal.aborted) return;
    const keys = this.keys(resource);
    const range =
      name !== undefined && namespace !== undefined
        ? { key: keys.of({ namespace, name }), rangeEnd: Buffer.alloc(0) }
        : keys.range(namespace);
    const w = new EtcdWatch(this, this.rpc, keys, range, (at) => inNamespace(at, namespace) && (name === undefined || at.name === name), {
      fromRevision: options.fromRevision,
      signal: options.signal,
      maxBacklog: this.maxBacklog,
    });
    this.watches.add(w);
    try {
      yield* w.run();
    } finally {
      w.stop();
      this.watches.delete(w);
    }
  }

  async revision(): Promise<number> {
    this.assertOpen();
    const r = await this.call('Range', { key: Buffer.from(this.prefix), countOnly: true });
    return toStore(headerRevision(r));
  }

  async compact(revision: number): Promise<void> {
    this.assertOpen();
    checkRevision(revision, 'revision');
    const target = Math.min(revision, await this.revision());
    if (target <= 0) return;
    try {
      await this.call('Compact', { revision: toEtcd(target) });
    } catch (error) {
      // Already compacted at or past it: compaction never moves backwards.
      if (error instanceof EtcdCallError && error.compacted) return;
      throw error;
    }
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const w of this.watches) w.stop();
    this.watches.clear();
    this.rpc.close();
  }
}

/** The mod_revision a resourceVersion compares with; -1, which no key has, when it is none the store could have written. */
function expectedModRevision(resourceVersion: string): number {
  return RESOURCE_VERSION.test(resourceVersion) ? toEtcd(Number(resourceVersion)) : -1;
}

interface WatchSetup {
  readonly fromRevision: number;
  readonly signal: AbortSignal;
  readonly maxBacklog: number;
}

const RETRY_MIN_MS = 100;
const RETRY_MAX_MS = 2000;

/**
 * One watcher: an etcd watch stream feeding a bounded queue. A stream that breaks (member down,
 * leader lost, connection reset) is reopened from the last revision received, so no event is lost
 * or repeated; a stream etcd ends because that revision is compacted ends the watch with GONE.
 */
class EtcdWatch {
  private readonly queue: Array<WatchEvent | undefined> = [];
  private head = 0;
  private failure: Error | undefined;
  private stopped = false;
  private wake: (() => void) | undefined;
  private stream: WatchStream | undefined;
  private retryMs = RETRY_MIN_MS;
  private retryTimer: NodeJS.Timeout | undefined;
  /** The store revision of the last event received (or the one the watch started after). */
  private last: number;
  private readonly onAbort = () => this.stop();
  private readonly store: EtcdStore;
  private readonly rpc: EtcdRpc;
  private readonly keys: ResourceKeys;
  private readonly range: { key: Buffer; rangeEnd: Buffer };
  private readonly selects: (at: Located) => boolean;
  private readonly setup: WatchSetup;

  constructor(
    store: EtcdStore,
    rpc: EtcdRpc,
    keys: ResourceKeys,
    range: { key: Buffer; rangeEnd: Buffer },
    selects: (at: Located) => boolean,
    setup: WatchSetup,
  ) {
    this.store = store;
    this.rpc = rpc;
    this.keys = keys;
    this.range = range;
    this.selects = selects;
    this.setup = setup;
    this.last = setup.fromRevision;
    setup.signal.addEventListener('abort', this.onAbort, { once: true });
    this.open();
  }

  async *run(): AsyncGenerator<WatchEvent> {
    for (;;) {
      if (this.stopped) return;
      const event = this.queue[this.head];
      if (event) {
        this.queue[this.head++] = undefined;
        if (this.head > 1024 && this.head * 2 > this.queue.length) {
          this.queue.splice(0, this.head);
          this.head = 0;
        }
        yield event;
        continue;
      }
      if (this.failure) throw this.failure;
      await new Promise<void>((resolve) => {
        this.wake = resolve;
      });
    }
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.setup.signal.removeEventListener('abort', this.onAbort);
    clearTimeout(this.retryTimer);
    this.stream?.cancel();
    this.stream = undefined;
    this.notify();
  }

  private notify(): void {
    const wake = this.wake;
    this.wake = undefined;
    wake?.();
  }

  private fail(error: Error): void {
    if (this.failure || this.stopped) return;
    this.failure = error;
    this.stream?.cancel();
    this.stream = undefined;
    this.notify();
  }

  /**
   * Starts at the revision received last, not the one after: etcd then reports a compaction
   * exactly when the contract calls the watch GONE (that revision's history dropped), and the
   * events of that revision, already delivered, are skipped.
   */
  private open(): void {
    if (this.stopped || this.failure) return;
    const stream = this.rpc.watch((error) => {
      if (stream === this.stream) this.broken(error.message);
    });
    this.stream = stream;
    stream.on('data', (response: Msg) => {
      if (stream !== this.stream) return;
      try {
        this.receive(response);
      } catch (error) {
        this.fail(isTlsbootError(error) ? error : new InternalError('STORE_ETCD', String(error), { cause: error }));
      }
    });
    stream.on('end', () => {
      if (stream === this.stream) this.broken('the watch stream ended');
    });
    stream.write({
      createRequest: { key: this.range.key, rangeEnd: this.range.rangeEnd, startRevision: toEtcd(this.last), prevKv: true },
    });
  }

  private broken(_why: string): void {
    if (this.stopped || this.failure) return;
    this.stream = undefined;
    this.retryTimer = setTimeout(() => this.open(), this.retryMs);
    this.retryMs = Math.min(this.retryMs * 2, RETRY_MAX_MS);
  }

  private receive(response: Msg): void {
    const compactRevision = int(response, 'compactRevision');
    if (compactRevision > 0) {
      this.fail(compacted(this.last, toStore(compactRevision)));
      return;
    }
    if (bool(response, 'canceled')) {
      // Canceled for another reason (the member lost its leader): watch again, from where we are.
      this.stream?.cancel();
      this.broken(text(response, 'cancelReason'));
      return;
    }
    this.retryMs = RETRY_MIN_MS;
    const floor = this.last;
    for (const event of msgs(response, 'events')) {
      const kv = msg(event, 'kv');
      const revision = toStore(int(kv, 'modRevision'));
      if (revision <= floor) continue;
      this.last = Math.max(this.last, revision);
      const at = this.keys.locate(bytes(kv, 'key'));
      if (!at || !this.selects(at)) continue;
      const key = this.keys.objectKey(at);
      let type: WatchEvent['type'];
      let object: StoredObject;
      if (int(event, 'type') === EVENT_DELETE) {
        const prev = msg(event, 'prevKv');
        if (!prev) throw new InternalError('STORE_ETCD', `etcd sent the deletion of ${key.name} without its last state`);
        type = 'DELETED';
        object = this.store.decode(key, bytes(prev, 'value'), int(kv, 'modRevision')).object;
      } else if (int(event, 'type') === EVENT_PUT) {
        type = int(kv, 'createRevision') === int(kv, 'modRevision') ? 'ADDED' : 'MODIFIED';
        object = this.store.decode(key, bytes(kv, 'value'), int(kv, 'modRevision')).object;
      } else {
        continue;
      }
      this.queue.push({ type, object: deepFreeze(object), revision });
      if (this.queue.length - this.head > this.setup.maxBacklog) {
        this.fail(tooSlow(this.setup.maxBacklog));
        return;
      }
    }
    this.notify();
  }
}

/**
 * Opens the etcd backend. Nothing is sent until the first call; a member that cannot be reached
 * makes calls fail with UNAVAILABLE at their deadline, never hang.
 * @throws INVALID for a malformed endpoint, prefix or option
 */
export function openEtcdStore(options: EtcdStoreOptions): Store {
  return new EtcdStore(options);
}
