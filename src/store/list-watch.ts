/**
 * The store as a ListWatch (src/api/list-watch.ts), so that server-side code caches a resource
 * with the same informer the controllers use. It owns the mapping between the store's numeric
 * revision and the API's opaque resourceVersion string; GONE from the store passes through
 * unchanged, which is what makes an informer re-list.
 */

import type { ListResultOf, ListWatch, ListWatchEvent } from '../api/list-watch.ts';
import { InvalidError } from '../base/errors.ts';
import type { Store, StoredObject } from './types.ts';

/** A ListWatch of one resource, optionally one namespace ('' = cluster-scoped objects only). */
export function storeListWatch(store: Store, resource: string, namespace?: string): ListWatch<StoredObject> {
  const scope = namespace === undefined ? {} : { namespace };
  return {
    async list(): Promise<ListResultOf<StoredObject>> {
      const { items, revision } = await store.list(resource, scope);
      return { items, resourceVersion: String(revision) };
    },
    async *watch(resourceVersion: string, signal: AbortSignal): AsyncIterable<ListWatchEvent<StoredObject>> {
      const fromRevision = revisionOf(resourceVersion);
      for await (const { type, object } of store.watch(resource, { ...scope, fromRevision, signal })) yield { type, object };
    },
  };
}

/** The store writes resourceVersions as decimal revisions; anything else did not come from it. */
function revisionOf(resourceVersion: string): number {
  const revision = /^(0|[1-9][0-9]*)$/.test(resourceVersion) ? Number(resourceVersion) : Number.NaN;
  if (!Number.isSafeInteger(revision)) {
    throw new InvalidError('RESOURCE_VERSION', `resourceVersion "${resourceVersion}" is not a store revision`, {
      field: 'resourceVersion',
    });
  }
  return revision;
}
