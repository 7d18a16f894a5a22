/**
 * Backend-neutral rules every Store implementation applies to what goes in and comes out: key
 * validation against the object's metadata, the JSON encoding that both copies the object and
 * stamps its resourceVersion, decoding with a shape check, and the errors for the contract's
 * failure cases, so that SQLite and etcd report the same codes and reasons. Internal to the store
 * layer; not exported from index.ts.
 */
import { AlreadyExistsError, ConflictError, GoneError, InternalError, InvalidError, NotFoundError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import type { ObjectKey, StoredObject, TxnOp } from './types.ts';

export function isStoredObject(value: unknown): value is StoredObject {
  return isObject(value) && isObject(value.metadata) && typeof value.metadata.name === 'string';
}

export function describeKey(key: ObjectKey): string {
  return key.namespace === '' ? `${key.resource} "${key.name}"` : `${key.resource} "${key.namespace}/${key.name}"`;
}

/** Checks the key itself; callers are typed, but keys are built from request paths at runtime. */
export function checkKey(key: ObjectKey): void {
  if (typeof key.resource !== 'string' || key.resource === '') {
    throw new InvalidError('STORE_KEY', 'the resource of a store key must be a non-empty string', { field: 'resource' });
  }
  if (typeof key.namespace !== 'string') {
    throw new InvalidError('STORE_KEY', "the namespace of a store key must be a string ('' when cluster-scoped)", { field: 'namespace' });
  }
  if (typeof key.name !== 'string' || key.name === '') {
    throw new InvalidError('STORE_KEY', 'the name of a store key must be a non-empty string', { field: 'name' });
  }
}

/** The key must name the object it stores, or a later get by the object's own name would miss it. */
export function checkObjectKey(key: ObjectKey, object: unknown): void {
  checkKey(key);
  if (!isStoredObject(object)) {
    throw new InvalidError('STORE_OBJECT', 'a stored object must be a JSON object with metadata.name', { field: 'metadata.name' });
  }
  if (object.metadata.name !== key.name) {
    throw new InvalidError('STORE_KEY', `object name "${object.metadata.name}" does not match key name "${key.name}"`, {
      field: 'metadata.name',
    });
  }
  const namespace: unknown = object.metadata.namespace;
  if (namespace !== undefined && typeof namespace !== 'string') {
    throw new InvalidError('STORE_OBJECT', 'metadata.namespace must be a string', { field: 'metadata.namespace' });
  }
  if ((namespace ?? '') !== key.namespace) {
    throw new InvalidError('STORE_KEY', `object namespace "${namespace ?? ''}" does not match key namespace "${key.namespace}"`, {
      field: 'metadata.namespace',
    });
  }
}

/** A transaction's shape, before anything of it is queued: at least one op, each key once (as etcd's Txn requires). */
export function checkTxn(ops: readonly TxnOp[]): void {
  if (!Array.isArray(ops) || ops.length === 0) {
    throw new InvalidError('STORE_TXN', 'a transaction needs at least one op', { field: 'ops' });
  }
  const seen = new Set<string>();
  ops.forEach((op, i) => {
    if (op.op !== 'create' && op.op !== 'update') {
      throw new InvalidError('STORE_TXN', `ops[${i}].op must be create or update`, { field: `ops[${i}].op` });
    }
    checkObjectKey(op.key, op.object);
    const id = JSON.stringify([op.key.resource, op.key.namespace, op.key.name]);
    if (seen.has(id))
      throw new InvalidError('STORE_TXN', `ops[${i}] writes ${describeKey(op.key)} a second time`, { field: `ops[${i}].key` });
    seen.add(id);
  });
}

export function checkRevision(value: number, what: string): void {
  if (!Number.isSafeInteger(value) || value < 0) {
    throw new InvalidError('STORE_REVISION', `${what} must be a non-negative integer, got ${String(value)}`, { field: what });
  }
}

export interface Encoded {
  /** The JSON text to store: the object with resourceVersion set to the write's revision. */
  readonly body: string;
  /** A private parse of `body`, safe to hand to the caller. */
  readonly object: StoredObject;
}

/**
 * Serialises with the store's resourceVersion. Going through JSON is the deep copy: what the caller
 * gets back is exactly what a later get returns (undefined fields dropped, Dates as strings).
 * Without a revision (etcd assigns it only when the write commits) the body has no
 * resourceVersion, as kube-apiserver stores objects in etcd; the reader stamps the key's revision.
 */
export function encodeObject(object: StoredObject, revision: number | undefined): Encoded {
  let body: string;
  try {
    const resourceVersion = revision === undefined ? undefined : String(revision);
    body = JSON.stringify({ ...object, metadata: { ...object.metadata, resourceVersion } });
  } catch (cause) {
    throw new InvalidError('STORE_OBJECT', 'the object cannot be stored as JSON', { cause });
  }
  const parsed: unknown = JSON.parse(body);
  // A toJSON hook could have reshaped the object; never store something get could not return.
  if (!isStoredObject(parsed)) throw new InvalidError('STORE_OBJECT', 'the object does not serialise to an object with metadata.name');
  return { body, object: parsed };
}

export function decodeObject(body: string): StoredObject {
  const parsed: unknown = JSON.parse(body);
  if (!isStoredObject(parsed)) throw new InternalError('STORE_CORRUPT', 'a stored object is not a valid object');
  return parsed;
}

export function notFound(key: ObjectKey): NotFoundError {
  return new NotFoundError('STORE_NOT_FOUND', `${describeKey(key)} not found`);
}

export function alreadyExists(key: ObjectKey): AlreadyExistsError {
  return new AlreadyExistsError('STORE_EXISTS', `${describeKey(key)} already exists`);
}

export function conflict(key: ObjectKey, stored: string, expected: string): ConflictError {
  return new ConflictError(
    'STORE_CONFLICT',
    `${describeKey(key)} was modified: resourceVersion is ${stored}, expected ${expected === '' ? '(none)' : expected}`,
  );
}

/** In kube-apiserver's words (its watch cache's), which clients show and match: the asked and the compacted revision. */
export function compacted(fromRevision: number, compactedRevision: number): GoneError {
  return new GoneError('STORE_COMPACTED', `too old resource version: ${fromRevision} (${compactedRevision})`);
}

/** kube-apiserver's words for a list at a revision its etcd has compacted (etcd does not say down to where). */
export function listTooOld(revision: number): GoneError {
  return new GoneError('STORE_COMPACTED', `The resourceVersion for the provided list is too old: ${revision}`);
}

export function tooSlow(limit: number): GoneError {
  return new GoneError('WATCH_TOO_SLOW', `the watcher fell more than ${limit} events behind; re-list and watch again`);
}
