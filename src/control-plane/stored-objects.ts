/**
 * Writing API objects straight into the store, as the server's create path would store them
 * (a uid and creationTimestamp given here, the resourceVersion by the store): the bootstrap
 * policy seeded at start, and what `init --upload-certs` writes before any server runs. The store
 * key of a resource is the registry's, and Secrets are encrypted by the store's transformer, so
 * what lands is what the API would have written.
 */
import { randomUUID } from 'node:crypto';
import { ConflictError, isTlsbootError } from '../base/errors.ts';
import { equalJson, type JsonObject } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import { Registry, storeResourceOf } from '../server/registry.ts';
import { ALL_RESOURCES } from '../server/resources.ts';
import type { Store, StoredObject } from '../store/index.ts';

const registry = new Registry(ALL_RESOURCES);

/** The store key of a resource by its plural name (`secrets`, `roles`, ...). */
export function storeKeyFor(resource: string): string {
  const def = registry.all.find((d) => d.resource === resource);
  if (!def) throw new Error(`no resource ${resource}`);
  return storeResourceOf(def);
}

function withServerMeta(obj: JsonObject, now: Date): { object: StoredObject; namespace: string; name: string } {
  const meta = obj.metadata as { name: string; namespace?: string };
  const object = { ...obj, metadata: { ...meta, uid: randomUUID(), creationTimestamp: formatRfc3339(now) } } as StoredObject;
  return { object, namespace: meta.namespace ?? '', name: meta.name };
}

/** Creates `obj` unless an object of that name exists (which is left as it is: an operator's edits survive). */
export async function createIfAbsent(store: Store, resource: string, obj: JsonObject, now: Date): Promise<void> {
  const { object, namespace, name } = withServerMeta(obj, now);
  try {
    await store.create({ resource, namespace, name }, object);
  } catch (error) {
    if (!(isTlsbootError(error) && error.code === 'ALREADY_EXISTS')) throw error;
  }
}

/** Compare-and-swap rounds lost to other writers (servers starting together) before giving up. */
const MAX_ROUNDS = 8;

/**
 * Creates `initial` when nothing of its name is stored, else brings the stored object to
 * `change(current)` (undefined: it is right already), by compare-and-swap; a round lost to
 * another writer, or a create that found the object after all, reads again.
 */
export async function upsert(
  store: Store,
  resource: string,
  initial: JsonObject,
  change: (current: StoredObject) => StoredObject | undefined,
  now: Date,
): Promise<void> {
  const meta = initial.metadata as { name: string; namespace?: string };
  const key = { resource, namespace: meta.namespace ?? '', name: meta.name };
  for (let round = 1; ; round++) {
    try {
      const current = await store.get(key);
      const next = change(current);
      if (next !== undefined) await store.update(key, next, { expectedResourceVersion: current.metadata.resourceVersion ?? '' });
      return;
    } catch (error) {
      const code = isTlsbootError(error) ? error.code : undefined;
      if (code === 'NOT_FOUND') {
        const { object } = withServerMeta(initial, now);
        try {
          await store.create(key, object);
          return;
        } catch (createError) {
          if (!(isTlsbootError(createError) && createError.code === 'ALREADY_EXISTS')) throw createError;
        }
      } else if (code !== 'CONFLICT') throw error;
      if (round >= MAX_ROUNDS) throw error;
    }
  }
}

/** Creates `obj`, or brings the stored one's content (all but metadata) to it. */
export async function ensureCurrent(store: Store, resource: string, obj: JsonObject, now: Date): Promise<void> {
  const { metadata: _wanted, ...content } = obj;
  await upsert(
    store,
    resource,
    obj,
    ({ metadata, ...stored }) => (equalJson(stored, content) ? undefined : ({ ...content, metadata } as StoredObject)),
    now,
  );
}

/** Creates `obj`, or replaces the object of that name (a new uid: it is a new object); returns what was stored. */
export async function createOrReplace(store: Store, resource: string, obj: JsonObject, now: Date): Promise<StoredObject> {
  const { object, namespace, name } = withServerMeta(obj, now);
  const key = { resource, namespace, name };
  // Each round loses only to another writer of the same name; a few rounds settle any honest race.
  for (let attempt = 0; attempt < 5; attempt++) {
    try {
      return await store.create(key, object);
    } catch (error) {
      if (!(isTlsbootError(error) && error.code === 'ALREADY_EXISTS')) throw error;
    }
    try {
      const current = await store.get(key);
      await store.delete(key, { expectedResourceVersion: current.metadata.resourceVersion ?? '' });
    } catch (error) {
      if (!(isTlsbootError(error) && (error.code === 'NOT_FOUND' || error.code === 'CONFLICT'))) throw error;
    }
  }
  throw new ConflictError('STORE_REPLACE', `${namespace}/${name} kept changing while it was being replaced; try again`);
}
