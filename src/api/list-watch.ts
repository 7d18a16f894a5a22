/**
 * The contract between a source of one resource's objects (the embedded store, or a Kubernetes
 * API server over HTTP) and the informers that cache them: a consistent list with the
 * resourceVersion it was read at, and a watch that follows on from such a version. It owns the
 * rules both sides must agree on: a watch whose history is gone fails with GONE (an ERROR event
 * carrying a 410 Status is turned into that by the implementation), BOOKMARK events only advance
 * the resourceVersion, and objects are keyed `namespace/name` ('' namespace when cluster-scoped).
 */

/** The metadata an informer needs from an object; every Kubernetes object has it. */
export interface ListWatchObject {
  readonly metadata: { readonly name: string; readonly namespace?: string; readonly resourceVersion?: string; readonly uid?: string };
}

export type ListWatchEventType = 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK';

export interface ListWatchEvent<T> {
  readonly type: ListWatchEventType;
  /** For BOOKMARK only `metadata.resourceVersion` is meaningful. */
  readonly object: T;
}

export interface ListResultOf<T> {
  readonly items: T[];
  /** Watch from here to follow on from the list without a gap. */
  readonly resourceVersion: string;
}

/**
 * Objects handed over belong to the receiver from then on (an informer freezes them), so an
 * implementation hands over copies or objects it no longer touches.
 */
export interface ListWatch<T extends ListWatchObject> {
  list(signal: AbortSignal): Promise<ListResultOf<T>>;
  /**
   * Every change after `resourceVersion`, in order. Ends cleanly when the signal aborts; may also
   * end at any time on its own (a server's watch timeout). @throws GONE when that history is gone.
   */
  watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<ListWatchEvent<T>>;
}

/** The cache key of an object: `namespace/name`, with '' for a cluster-scoped object's namespace. */
export function objectKeyOf(obj: ListWatchObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}
