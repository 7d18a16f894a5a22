/**
 * A ListWatch over the Store for in-process informers that are not controllers (the server's
 * RBAC and identity caches): the store revision is the resourceVersion, GONE passes through.
 */
import type { ListWatch } from '../api/list-watch.ts';
import type { Store, StoredObject } from './types.ts';

export function storeListWatch(store: Store, resource: string, namespace?: string): ListWatch<StoredObject> {
  const scope = namespace === undefined ? {} : { namespace };
  return {
    async list() {
      const { items, revision } = await store.list(resource, scope);
      return { items, resourceVersion: String(revision) };
    },
    async *watch(resourceVersion, signal) {
      for await (const e of store.watch(resource, { ...scope, fromRevision: Number(resourceVersion), signal }))
        yield { type: e.type, object: e.object };
    },
  };
}
