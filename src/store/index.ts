/** The public surface of the store layer: the contract, the SQLite backend and the informer cache. */
export type { CacheEventType, CacheOptions } from './cache.ts';
export { ObjectCache, objectKey } from './cache.ts';
export type { SqliteStoreOptions } from './sqlite.ts';
export { openSqliteStore, SqliteStore } from './sqlite.ts';
export type { ListResult, ObjectKey, ObjectMeta, Store, StoredObject, WatchEvent, WatchEventType, WatchOptions } from './types.ts';
