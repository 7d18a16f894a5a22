/**
 * JSON merge patch (RFC 7386): objects merge key by key, `null` deletes, anything else replaces.
 * kubectl's strategic merge patch is served with the same rules: for the resources tlsboot
 * serves, lists are replaced whole, which is what their patch strategies amount to for clients.
 */
import { BadRequestError } from '../base/errors.ts';
import { isObject, MAX_JSON_DEPTH } from '../base/json.ts';

/** Throws BAD_REQUEST for a patch nested deeper than MAX_JSON_DEPTH, before the recursion could exhaust the stack. */
export function applyMergePatch(target: unknown, patch: unknown): unknown {
  return merge(target, patch, 0);
}

function merge(target: unknown, patch: unknown, depth: number): unknown {
  if (!isObject(patch)) return patch;
  if (depth >= MAX_JSON_DEPTH) {
    throw new BadRequestError('BODY_TOO_DEEP', `the patch nests objects deeper than ${MAX_JSON_DEPTH} levels`);
  }
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = merge(out[k], v, depth + 1);
  }
  return out;
}
