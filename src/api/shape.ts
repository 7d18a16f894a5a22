/**
 * Shape checks for Kubernetes objects decoded from JSON: small composable checkers (string,
 * integer, list, map, object with named fields) that throw an INVALID error naming the exact field
 * path (`spec.usages[2]`, `metadata.labels[app]`) that has the wrong type. They check types only,
 * never semantics (validation lives with each resource's strategy), and they never copy: a value
 * that passes is the caller's object, narrowed, unknown fields kept.
 */
import { InvalidError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';

/** Throws when `value` at `field` does not have the checker's shape. */
export type Check = (value: unknown, field: string) => void;

/** Every shape error: code INVALID, reason OBJECT_FIELD, `field` the path of the offending value. */
export function wrongType(field: string, expected: string): InvalidError {
  return new InvalidError('OBJECT_FIELD', `${field}: Invalid value: must be ${expected}`, { field });
}

function join(field: string, key: string): string {
  return field === '' ? key : `${field}.${key}`;
}

export const string: Check = (v, field) => {
  if (typeof v !== 'string') throw wrongType(field, 'a string');
};

export const boolean: Check = (v, field) => {
  if (typeof v !== 'boolean') throw wrongType(field, 'a boolean');
};

/** Kubernetes int32 and int64 fields as JSON carries them: integral numbers. */
export const integer: Check = (v, field) => {
  if (typeof v !== 'number' || !Number.isSafeInteger(v)) throw wrongType(field, 'an integer');
};

/** One of a fixed set of strings (watch event types, Status.status). */
export function oneOf(values: readonly string[]): Check {
  return (v, field) => {
    if (typeof v !== 'string' || !values.includes(v)) throw wrongType(field, `one of "${values.join('", "')}"`);
  };
}

/** Absent is fine; present must pass `check`. JSON null counts as present: the server strips nulls before anything reads them. */
export function optional(check: Check): Check {
  return (v, field) => {
    if (v !== undefined) check(v, field);
  };
}

export function listOf(item: Check): Check {
  return (v, field) => {
    if (!Array.isArray(v)) throw wrongType(field, 'a list');
    for (const [i, x] of v.entries()) item(x, `${field}[${i}]`);
  };
}

/** A JSON object used as a map (labels, data, extra): every value passes `value`. */
export function mapOf(value: Check): Check {
  return (v, field) => {
    if (!isObject(v)) throw wrongType(field, 'an object');
    for (const [k, x] of Object.entries(v)) value(x, `${field}[${k}]`);
  };
}

/** Any JSON object; its fields are the reader's business. */
export const object: Check = (v, field) => {
  if (!isObject(v)) throw wrongType(field, 'an object');
};

/** A JSON object whose named fields pass their checks; other fields are kept and not looked at. */
export function fields(shape: Readonly<Record<string, Check>>): Check {
  return (v, field) => {
    if (!isObject(v)) throw wrongType(field === '' ? 'object' : field, 'an object');
    for (const [k, check] of Object.entries(shape)) check(v[k], join(field, k));
  };
}

/**
 * Narrows `value` to `T` once `check` accepted it. The one place a checker's verdict becomes a
 * type: each resource pairs its type with its checker, and a test pins that each field is checked.
 */
export function assertShape<T>(check: Check, value: unknown, field = ''): asserts value is T {
  check(value, field);
}

/** Whether `value` passes `check`, as a type guard (for readers that answer rather than throw). */
export function hasShape<T>(check: Check, value: unknown): value is T {
  try {
    check(value, '');
    return true;
  } catch (error) {
    if (error instanceof InvalidError) return false;
    throw error;
  }
}
