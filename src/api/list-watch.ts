/**
 * The contract an informer reads a resource through: a list with the resourceVersion it was read
 * at, then a watch from there. Implemented over the store (in process) and over HTTP (client).
 */

export interface ListWatchObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly uid?: string };
}

export interface ListWatchEvent<T> {
  readonly type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';
  readonly object: T;
}

export interface ListWatch<T extends ListWatchObject> {
  list(signal: AbortSignal): Promise<{ items: T[]; resourceVersion: string }>;
  /** Throws a TlsbootError with code GONE when the history since `resourceVersion` is compacted. */
  watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<ListWatchEvent<T>>;
}
