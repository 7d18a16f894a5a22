/**
 * Publishes this server's reserved identities (its certificates' names and addresses) into the
 * cluster-wide ConfigMap (src/api/published-reserved.ts) at start and again whenever its PKI
 * changes, so that the leading controllers, on whichever server, refuse them to nodes. It writes
 * to the store directly, as the seeding of cluster-info does, and only its own entry.
 */
import { CONFIGMAPS, storeKeyOf } from '../api/cluster-client.ts';
import type { ReservedSource } from '../api/index.ts';
import { PUBLISHED_RESERVED_NAME, PUBLISHED_RESERVED_NAMESPACE, publishedEntryKey, publishedEntryText } from '../api/published-reserved.ts';
import { type Clock, every } from '../base/clock.ts';
import { isTlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import type { Store } from '../store/index.ts';
import { createIfAbsent } from './stored-objects.ts';

const KEY = { resource: storeKeyOf(CONFIGMAPS), namespace: PUBLISHED_RESERVED_NAMESPACE, name: PUBLISHED_RESERVED_NAME };
/** Compare-and-swap rounds lost to other servers before giving up until the next check. */
const MAX_ATTEMPTS = 8;

/** Writes `sources` as `server`'s entry, unless it already is; other servers' entries are kept. */
export async function publishReserved(store: Store, server: string, sources: readonly ReservedSource[], now: Date): Promise<void> {
  const entry = publishedEntryKey(server);
  const text = publishedEntryText(sources);
  for (let attempt = 1; ; attempt++) {
    try {
      const current = await store.get(KEY);
      const data = isObject(current.data) ? current.data : {};
      if (data[entry] === text) return;
      await store.update(
        KEY,
        { ...current, data: { ...data, [entry]: text } },
        { expectedResourceVersion: current.metadata.resourceVersion ?? '' },
      );
      return;
    } catch (error) {
      const code = isTlsbootError(error) ? error.code : undefined;
      if (code === 'NOT_FOUND') {
        // Created empty, then written by the next round like an existing one.
        await createIfAbsent(
          store,
          KEY.resource,
          { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KEY.name, namespace: KEY.namespace }, data: {} },
          now,
        );
      } else if (code !== 'CONFLICT') throw error;
      if (attempt >= MAX_ATTEMPTS) throw error;
    }
  }
}

export interface ReservedPublisher {
  close(): void;
}

/**
 * Publishes now (a failure is thrown: a server that cannot protect its names does not serve), then
 * checks every `intervalMs` and publishes again when the set changed.
 */
export async function startReservedPublisher(o: {
  store: Store;
  server: string;
  sources: () => readonly ReservedSource[];
  now: () => Date;
  clock: Clock;
  intervalMs: number;
  onError: (error: unknown) => void;
}): Promise<ReservedPublisher> {
  let published = publishedEntryText(o.sources());
  await publishReserved(o.store, o.server, o.sources(), o.now());
  const timer = every(
    o.clock,
    o.intervalMs,
    () => {
      const sources = o.sources();
      const text = publishedEntryText(sources);
      if (text === published) return;
      void publishReserved(o.store, o.server, sources, o.now()).then(() => {
        published = text;
      }, o.onError);
    },
    { unref: true },
  );
  return { close: () => timer.cancel() };
}
