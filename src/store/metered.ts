/**
 * A Store that times its writes into tlsboot_store_write_duration_seconds and otherwise passes
 * everything through unchanged, so any backend (SQLite, etcd, encrypted) is measured the same
 * way and reads pay nothing. A failed write is timed too: a slow CONFLICT is still a slow write.
 */
import type { StoreMetrics, StoreWrite } from '../base/metrics.ts';
import type {
  DeleteOptions,
  ListOptions,
  ListPageOptions,
  ObjectKey,
  Store,
  StoredObject,
  TxnOp,
  UpdateOptions,
  WatchOptions,
} from './types.ts';

export function meteredStore(inner: Store, metrics: StoreMetrics): Store {
  const timed = <T>(operation: StoreWrite, write: Promise<T>): Promise<T> => {
    const end = metrics.writeSeconds.startTimer({ operation });
    return write.finally(() => end());
  };
  return {
    get: (key: ObjectKey) => inner.get(key),
    list: (resource: string, options?: ListOptions) => inner.list(resource, options),
    listPage: (resource: string, options: ListPageOptions) => inner.listPage(resource, options),
    listPageJson: (resource: string, options: ListPageOptions) => inner.listPageJson(resource, options),
    create: (key: ObjectKey, object: StoredObject) => timed('create', inner.create(key, object)),
    update: (key: ObjectKey, object: StoredObject, options: UpdateOptions) => timed('update', inner.update(key, object, options)),
    txn: (ops: readonly TxnOp[]) => timed('txn', inner.txn(ops)),
    delete: (key: ObjectKey, options?: DeleteOptions) => timed('delete', inner.delete(key, options)),
    watch: (resource: string, options: WatchOptions) => inner.watch(resource, options),
    revision: () => inner.revision(),
    compact: (revision: number) => inner.compact(revision),
    close: () => inner.close(),
  };
}
