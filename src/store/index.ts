/**
 * The public surface of the store layer: the Store contract, the SQLite backend, encryption at
 * rest for any backend, and the contract as a ListWatch (storeListWatch) for the runtime's
 * informer. The conformance suite is imported by backend test files straight from conformance.ts,
 * so production code never loads node:test. The etcd backend is imported from etcd.ts itself
 * (dynamically, where a command picks it): gRPC costs every process that loads it about half a
 * second at start, which SQLite users should not pay. Everything else here is internal.
 */
export type { AesGcmOptions, EncryptionKey, StoredValue, ValueTransformer } from './encryption.ts';
export { AesGcmTransformer, IDENTITY_TRANSFORMER, KEY_BYTES, KEY_NAME } from './encryption.ts';
export { storeListWatch } from './list-watch.ts';
export { meteredStore } from './metered.ts';
export { type RbacCaches, rbacPolicy } from './rbac-caches.ts';
export type { SqliteStoreOptions, StoreReport } from './sqlite.ts';
export { openSqliteStore } from './sqlite.ts';
export type {
  DeleteOptions,
  ListOptions,
  ListPage,
  ListPageJson,
  ListPageOptions,
  ListResult,
  ObjectKey,
  ObjectMeta,
  PageItem,
  PageStart,
  Store,
  StoredObject,
  TxnOp,
  UpdateOptions,
  WatchEvent,
  WatchEventType,
  WatchOptions,
} from './types.ts';
