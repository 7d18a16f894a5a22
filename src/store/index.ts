/**
 * The public surface of the store layer: the Store contract, the SQLite backend and the informer
 * cache built on the contract. The conformance suite is imported by backend test files straight
 * from conformance.ts, so production code never loads node:test; everything else here is internal.
 */
export type { CacheEventType, CacheOptions } from './cache.ts';
export { ObjectCache, objectKey } from './cache.ts';
export { type RbacCaches, rbacPolicy } from './rbac-caches.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export { openSqliteStore } from './sqlite.ts';
export type {
  DeleteOptions,
  ListOptions,
  ListPage,
  ListPageOptions,
  ListResult,
  ObjectKey,
  ObjectMeta,
  PageStart,
  Store,
  StoredObject,
  UpdateOptions,
  WatchEvent,
  WatchEventType,
  WatchOptions,
} from './types.ts';
