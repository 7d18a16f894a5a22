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
import { isObject } from '../base/json.ts';
import type { Store } from '../store/index.ts';
import { upsert } from './stored-objects.ts';

const KEY = { resource: storeKeyOf(CONFIGMAPS), namespace: PUBLISHED_RESERVED_NAMESPACE, name: PUBLISHED_RESERVED_NAME };
/** Writes `sources` as `server`'s entry, unless it already is; other servers' entries are kept. */
export async function publishReserved(store: Store, server: string, sources: readonly ReservedSource[], now: Date): Promise<void> {
  const entry = publishedEntryKey(server);
  const text = publishedEntryText(sources);
  await upsert(
    store,
    KEY.resource,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: KEY.name, namespace: KEY.namespace }, data: { [entry]: text } },
    (current) => {
      const data = isObject(current.data) ? current.data : {};
      return data[entry] === text ? undefined : { ...current, data: { ...data, [entry]: text } };
    },
    now,
  );
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
