/**
 * The Store contract (DESIGN.md): Kubernetes-shaped JSON objects keyed by (resource, namespace,
 * name), one global monotonic revision that is every object's resourceVersion, compare-and-swap
 * updates and deletes, and watch from a revision with GONE once history is compacted. etcd has
 * exactly these semantics; every backend passes the suite in conformance.ts.
 */

export interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  uid?: string;
  [key: string]: unknown;
}

export interface StoredObject {
  metadata: ObjectMeta;
  [key: string]: unknown;
}

export interface ObjectKey {
  /** Opaque resource name, e.g. `certificates.k8s.io/certificatesigningrequests`. */
  readonly resource: string;
  /** '' for cluster-scoped objects. */
  readonly namespace: string;
  readonly name: string;
}

export type WatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface WatchEvent {
  readonly type: WatchEventType;
  readonly object: StoredObject;
  readonly revision: number;
}

export interface ListResult {
  readonly items: StoredObject[];
  /** The store revision the list was read at. */
  readonly revision: number;
}

export interface WatchOptions {
  /** Only this namespace; all when absent. */
  readonly namespace?: string;
  /** Deliver every change with a revision greater than this. */
  readonly fromRevision: number;
  readonly signal: AbortSignal;
}

export interface Store {
  get(key: ObjectKey): Promise<StoredObject>;
  list(resource: string, options?: { readonly namespace?: string }): Promise<ListResult>;
  create(key: ObjectKey, object: StoredObject): Promise<StoredObject>;
  update(key: ObjectKey, object: StoredObject, options: { readonly expectedResourceVersion: string }): Promise<StoredObject>;
  delete(key: ObjectKey, options?: { readonly expectedResourceVersion?: string }): Promise<StoredObject>;
  watch(resource: string, options: WatchOptions): AsyncIterable<WatchEvent>;
  revision(): Promise<number>;
  /** Drops history at or below `revision`; watches from there answer GONE. */
  compact(revision: number): Promise<void>;
  close(): Promise<void>;
}
