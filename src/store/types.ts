/**
 * The Store contract (DESIGN.md): Kubernetes-shaped JSON objects keyed by (resource, namespace,
 * name), one global monotonic revision that is every object's resourceVersion, compare-and-swap
 * updates and deletes, and watch from a revision with GONE once history is compacted. The rules
 * are written against etcd's semantics so an etcd backend can implement them one for one; every
 * backend must pass the suite in conformance.ts, which is the executable form of this file.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  /** Set by the store to the decimal revision of the object's last write; never trusted from callers. */
  resourceVersion?: string;
  uid?: string;
  [key: string]: unknown;
}

/** A JSON object shaped like a Kubernetes object. Anything JSON cannot represent is lost on the way in. */
export interface StoredObject {
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ObjectKey {
  /** Opaque to the store, e.g. `certificates.k8s.io/certificatesigningrequests` or `v1/secrets`. */
  readonly resource: string;
  /** '' for cluster-scoped objects; must equal `metadata.namespace ?? ''` of the object. */
  readonly namespace: string;
  /** Must equal `metadata.name` of the object. */
  readonly name: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly type: WatchEventType;
  /** The object as stored by the write; for DELETED, the last stored state with the deletion revision as resourceVersion. */
  readonly object: StoredObject;
  readonly revision: number;
}

export interface ListOptions {
  /** Only this namespace ('' = only cluster-scoped objects); every namespace when absent. */
  readonly namespace?: string;
}

export interface ListResult {
  /** Ordered by namespace, then name. */
  readonly items: StoredObject[];
  /** The store revision the list was read at: watch from here to follow on without gap. */
  readonly revision: number;
}

/** The key a page starts after: (namespace, name) in list order. */
export interface PageStart {
  readonly namespace: string;
  readonly name: string;
}

export interface ListPageOptions extends ListOptions {
  /**
   * Only the object of this name in `namespace`, which must be given ('' for cluster-scoped): one
   * key's read, not a scan, so a kubelet listing its own CSR costs the same among 50,000. @throws INVALID without namespace
   */
  readonly name?: string;
  /** Most objects in the page (a positive integer). */
  readonly limit: number;
  /** Only objects whose key orders after this one (exclusive). */
  readonly after?: PageStart;
  /**
   * Read the objects as they were at this revision, so that the pages of one list describe one
   * instant however the objects change between them; the current revision when absent.
   */
  readonly revision?: number;
  /**
   * Ends the page early once the objects in it reach about this many bytes of JSON (always at
   * least one object), so a page of large objects stays small in memory.
   */
  readonly maxBytes?: number;
  /** Also count the objects after the page (`remaining`); costs a scan of their keys. */
  readonly count?: boolean;
}

export interface ListPage {
  /** Ordered by namespace, then name, as list orders them. */
  readonly items: StoredObject[];
  /** The revision the page describes: `options.revision`, or the current one. */
  readonly revision: number;
  /** Whether any object follows the page at that revision. */
  readonly more: boolean;
  /** With `count`: how many objects follow the page at that revision. */
  readonly remaining?: number;
}

/** An object of a page as stored: its key and its JSON text, exactly `JSON.stringify` of what get would return for it then. */
export interface PageItem extends PageStart {
  readonly json: string;
}

/** A ListPage whose objects are JSON text, for a reader that passes them on rather than decoding them. */
export interface ListPageJson extends Omit<ListPage, 'items'> {
  readonly items: readonly PageItem[];
}

export interface UpdateOptions {
  /** The resourceVersion the caller last read; any other stored value is CONFLICT. */
  readonly expectedResourceVersion: string;
}

export interface DeleteOptions {
  /** When present, the delete happens only if the stored resourceVersion equals it (else CONFLICT). */
  readonly expectedResourceVersion?: string;
}

/** One write of a transaction: a create, or a compare-and-swap replace. */
export type TxnOp =
  | { readonly op: 'create'; readonly key: ObjectKey; readonly object: StoredObject }
  | { readonly op: 'update'; readonly key: ObjectKey; readonly object: StoredObject; readonly expectedResourceVersion: string };

export interface WatchOptions {
  /** Only this namespace ('' = only cluster-scoped objects); every namespace when absent. */
  readonly namespace?: string;
  /**
   * Only this object's changes (etcd's single-key watch; kube's `fieldSelector=metadata.name=`):
   * such watchers are found by the object's key, so a thousand of them cost a write nothing more.
   */
  readonly name?: string;
  /** Deliver every change with a revision greater than this (a list's revision, or 0 for all history). */
  readonly fromRevision: number;
  /** Ends the watch: the iterator then finishes without error. */
  readonly signal: AbortSignal;
}

/**
 * One global revision orders every write: it starts at 0 for an empty store and every successful
 * write (create, update, delete) adds exactly 1 (a transaction: see txn); failed writes change nothing. All methods are
 * asynchronous so that a networked backend fits. Every object going in or out is a copy, except
 * those of watch events: they are deep-frozen, and a live event's object is shared by all its
 * watchers, so that an event costs one decode however many watch it (as in kube's watch cache).
 *
 * Errors are TlsbootError codes: INVALID (key disagrees with metadata, malformed input),
 * NOT_FOUND, ALREADY_EXISTS, CONFLICT (stale expected resourceVersion), GONE (history compacted,
 * or a watcher fell too far behind: re-list and watch again), UNAVAILABLE (store closed or
 * storage failure).
 */
export interface Store {
  /** @throws NOT_FOUND */
  get(key: ObjectKey): Promise<StoredObject>;
  list(resource: string, options?: ListOptions): Promise<ListResult>;
  /**
   * At most `limit` objects after `after`, as of `revision` (a snapshot read: what `list` would
   * have answered then, ignoring every later write). @throws GONE when `revision` is below the
   * compacted revision (its history is gone), INVALID for a revision not reached yet or a bad limit.
   */
  listPage(resource: string, options: ListPageOptions): Promise<ListPage>;
  /**
   * listPage with each object as its stored JSON text: the same objects, revision, `more`,
   * `remaining` and errors. A LIST streams these to the client without parsing and re-encoding
   * them (the text is shared, not copied), which was most of the cost of a large LIST.
   */
  listPageJson(resource: string, options: ListPageOptions): Promise<ListPageJson>;
  /** Stores a new object; its resourceVersion becomes the new revision. @throws ALREADY_EXISTS, INVALID */
  create(key: ObjectKey, object: StoredObject): Promise<StoredObject>;
  /** Compare-and-swap replace. @throws NOT_FOUND, CONFLICT, INVALID */
  update(key: ObjectKey, object: StoredObject, options: UpdateOptions): Promise<StoredObject>;
  /**
   * Applies every op or none (etcd's Txn: compares on each key's revision, then the puts), so that
   * an issued certificate, its inventory record and its approval become durable in one write.
   * Each op succeeds or fails as the single create or update would; the first that fails fails
   * the transaction with that op's error, and nothing of it is stored or seen. The ops take revisions in op order with no other write between them:
   * this backend gives them consecutive revisions, etcd one shared revision; watchers and readers
   * see all of them or none. A key may appear once. @returns the stored objects, in op order.
   * @throws INVALID (empty, a key twice, a bad key), and each op's own errors
   */
  txn(ops: readonly TxnOp[]): Promise<StoredObject[]>;
  /** Returns the last stored object with resourceVersion set to the deletion revision. @throws NOT_FOUND, CONFLICT */
  delete(key: ObjectKey, options?: DeleteOptions): Promise<StoredObject>;
  /**
   * Every change to `resource` (optionally one namespace) with revision > fromRevision, in
   * revision order: first the stored history, then live changes, with no gap and no duplicate.
   * Never throws synchronously; errors (GONE when fromRevision is below the compacted revision
   * or the consumer fell too far behind, INVALID, UNAVAILABLE) come from the iterator. Ends
   * cleanly when the signal aborts or the store closes.
   */
  watch(resource: string, options: WatchOptions): AsyncIterable<WatchEvent>;
  /** The revision of the last successful write (0 for an empty store). */
  revision(): Promise<number>;
  /**
   * Drops the history at or below `revision` (clamped to the current revision; never moves
   * backwards). Objects and the revision are untouched; watches from below it answer GONE.
   */
  compact(revision: number): Promise<void>;
  /** Releases everything and ends open watches; later calls fail with UNAVAILABLE. Idempotent. */
  close(): Promise<void>;
}
