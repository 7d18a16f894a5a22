/** The one guard for decoded JSON: a plain object (not null, not an array) whose fields are still unknown. */
export function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
