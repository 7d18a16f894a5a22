/**
 * Decoded JSON: the one `JsonObject` type, the one plain-object guard, and the nesting limit every
 * body is held to before anything walks it recursively.
 */

/** A decoded JSON object whose fields are still unknown: what every layer passes before it has a typed resource. */
export type JsonObject = Record<string, unknown>;

/** A plain object (not null, not an array) whose fields are still unknown. */
export function isObject(v: unknown): v is JsonObject {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** Whether two decoded JSON values are equal, whatever the order of their objects' keys. */
export function equalJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (Array.isArray(a) && Array.isArray(b)) return a.length === b.length && a.every((x, i) => equalJson(x, b[i]));
  if (isObject(a) && isObject(b)) {
    const ka = Object.keys(a);
    return ka.length === Object.keys(b).length && ka.every((k) => Object.hasOwn(b, k) && equalJson(a[k], b[k]));
  }
  return false;
}

/** An array of strings only. */
export function isStringArray(v: unknown): v is string[] {
  return Array.isArray(v) && v.every((x) => typeof x === 'string');
}

/**
 * The deepest nesting of objects and arrays a request body may have. Every object tlsboot serves
 * nests fewer than 10 levels; 100 leaves room for unknown fields while keeping every recursive
 * walk (merge patch, serialisation, validation) far from the stack limit.
 */
export const MAX_JSON_DEPTH = 100;

/** Whether `value` nests objects or arrays deeper than `max` levels. Iterative, so it cannot overflow the stack itself. */
export function exceedsJsonDepth(value: unknown, max: number = MAX_JSON_DEPTH): boolean {
  const stack: [unknown, number][] = [[value, 0]];
  for (let top = stack.pop(); top !== undefined; top = stack.pop()) {
    const [v, depth] = top;
    if (typeof v !== 'object' || v === null) continue;
    if (depth + 1 > max) return true;
    for (const child of Array.isArray(v) ? v : Object.values(v)) stack.push([child, depth + 1]);
  }
  return false;
}

/**
 * `value` with every object field whose value is null removed, at any depth (array elements are
 * kept). Recursive: call it only on values that passed `exceedsJsonDepth`.
 */
export function withoutNullFields(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(withoutNullFields);
  if (!isObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) if (v !== null) out[k] = withoutNullFields(v);
  return out;
}

/**
 * Freezes the value and everything reachable from it, so one parsed copy can be shared by many
 * readers (informer caches, watchers of one event) without any of them changing it for the others.
 * A frozen value is taken as frozen all the way down, which holds for everything frozen here.
 */
export function deepFreeze<V>(value: V): V {
  const stack: unknown[] = [value];
  for (let v = stack.pop(); v !== undefined; v = stack.pop()) {
    if (typeof v !== 'object' || v === null || Object.isFrozen(v)) continue;
    Object.freeze(v);
    for (const child of Object.values(v)) stack.push(child);
  }
  return value;
}
