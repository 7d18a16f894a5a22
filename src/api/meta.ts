/**
 * The apimachinery shapes every resource shares, as Kubernetes serialises them (`meta/v1`):
 * ObjectMeta, ListMeta and a List of objects, a watch event, and the Status body of a failed
 * request. Each has a type and a guard that takes `unknown` and either answers with the typed
 * value or throws INVALID naming the field of the wrong type. Optional fields follow the Go
 * types' `omitempty`; timestamps are RFC 3339 strings as they travel.
 */
import { isObject, type JsonObject } from '../base/json.ts';

import { assertShape, type Check, fields, hasShape, integer, listOf, mapOf, object, oneOf, optional, string } from './shape.ts';

export type ObjectMeta = {
  readonly name?: string;
  readonly generateName?: string;
  readonly namespace?: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
  readonly generation?: number;
  readonly creationTimestamp?: string;
  readonly deletionTimestamp?: string;
  readonly deletionGracePeriodSeconds?: number;
  readonly labels?: Readonly<Record<string, string>>;
  readonly annotations?: Readonly<Record<string, string>>;
  readonly ownerReferences?: readonly JsonObject[];
  readonly finalizers?: readonly string[];
  readonly managedFields?: readonly JsonObject[];
};

export const OBJECT_META: Check = fields({
  name: optional(string),
  generateName: optional(string),
  namespace: optional(string),
  uid: optional(string),
  resourceVersion: optional(string),
  generation: optional(integer),
  creationTimestamp: optional(string),
  deletionTimestamp: optional(string),
  deletionGracePeriodSeconds: optional(integer),
  labels: optional(mapOf(string)),
  annotations: optional(mapOf(string)),
  ownerReferences: optional(listOf(object)),
  finalizers: optional(listOf(string)),
  managedFields: optional(listOf(object)),
});

/** `value` as ObjectMeta; throws INVALID naming `metadata.<field>` when a field has the wrong type. */
export function asObjectMeta(value: unknown, field = 'metadata'): ObjectMeta {
  assertShape<ObjectMeta>(OBJECT_META, value, field);
  return value;
}

/**
 * The metadata of any object, typed: `{}` when it has none, so that readers of names, namespaces
 * and resourceVersions need no guard of their own. Metadata of the wrong shape still throws: it is
 * a bug upstream, not an absence.
 */
export function metadataOf(obj: JsonObject): ObjectMeta {
  return obj.metadata === undefined ? {} : asObjectMeta(obj.metadata);
}

/**
 * The metadata object as written, `{}` when absent or not an object: for code that checks each
 * field itself (request bodies before validation, table cells over whatever is stored).
 */
export function looseMetadataOf(obj: JsonObject): JsonObject {
  return isObject(obj.metadata) ? obj.metadata : {};
}

/**
 * One string field of an object's metadata, undefined when absent or not a string. It reads only
 * that field, so a hot path (watch, selectors) never fails on some other unusual metadata field.
 */
export function metadataString(
  obj: JsonObject,
  key: 'name' | 'generateName' | 'namespace' | 'uid' | 'resourceVersion' | 'creationTimestamp' | 'deletionTimestamp',
): string | undefined {
  const value = looseMetadataOf(obj)[key];
  return typeof value === 'string' ? value : undefined;
}

export type ListMeta = {
  readonly resourceVersion?: string;
  readonly continue?: string;
  readonly remainingItemCount?: number;
};

const LIST_META: Check = fields({ resourceVersion: optional(string), continue: optional(string), remainingItemCount: optional(integer) });

export type List<T> = {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ListMeta;
  readonly items: readonly T[];
};

/** `value` as a List whose every item passed `item`; errors name `items[i].<field>`. */
export function asList<T>(value: unknown, item: Check): List<T> {
  assertShape<List<T>>(
    fields({ apiVersion: optional(string), kind: optional(string), metadata: optional(LIST_META), items: listOf(item) }),
    value,
  );
  return value;
}

export const WATCH_EVENT_TYPES = ['ADDED', 'MODIFIED', 'DELETED', 'BOOKMARK', 'ERROR'] as const;
export type WatchEventType = (typeof WATCH_EVENT_TYPES)[number];

/** One line of a watch stream. ERROR events carry a Status; the others the object. */
export type WatchEvent<T = JsonObject> = {
  readonly type: WatchEventType;
  readonly object: T;
};

const WATCH_EVENT: Check = fields({ type: oneOf(WATCH_EVENT_TYPES), object });

/** `value` as a watch event with an object of any kind; throws INVALID naming `type` or `object`. */
export function asWatchEvent(value: unknown): WatchEvent {
  assertShape<WatchEvent>(WATCH_EVENT, value);
  return value;
}

export function isWatchEvent(value: unknown): value is WatchEvent {
  return hasShape<WatchEvent>(WATCH_EVENT, value);
}

export type StatusCauseBody = {
  readonly reason?: string;
  readonly message?: string;
  readonly field?: string;
};

/** `meta/v1` Status, the body of every failed request (and of a watch ERROR event). */
export type Status = {
  readonly apiVersion?: string;
  readonly kind: 'Status';
  readonly metadata?: ListMeta;
  readonly status?: 'Success' | 'Failure';
  readonly message?: string;
  readonly reason?: string;
  readonly details?: {
    readonly name?: string;
    readonly group?: string;
    readonly kind?: string;
    readonly uid?: string;
    readonly causes?: readonly StatusCauseBody[];
    readonly retryAfterSeconds?: number;
  };
  readonly code?: number;
};

const STATUS: Check = fields({
  apiVersion: optional(string),
  kind: oneOf(['Status']),
  metadata: optional(LIST_META),
  status: optional(oneOf(['Success', 'Failure'])),
  message: optional(string),
  reason: optional(string),
  details: optional(
    fields({
      name: optional(string),
      group: optional(string),
      kind: optional(string),
      uid: optional(string),
      causes: optional(listOf(fields({ reason: optional(string), message: optional(string), field: optional(string) }))),
      retryAfterSeconds: optional(integer),
    }),
  ),
  code: optional(integer),
});

/** `value` as a Status; throws INVALID naming the field that is not a Status's. */
export function asStatus(value: unknown): Status {
  assertShape<Status>(STATUS, value);
  return value;
}

/** Whether `value` is a Status body (a failed request's answer) rather than some other JSON. */
export function isStatus(value: unknown): value is Status {
  return hasShape<Status>(STATUS, value);
}
