/**
 * JSON merge patch (RFC 7386): objects merge key by key, `null` deletes, anything else replaces.
 * kubectl's strategic merge patch is served with the same rules: for the resources tlsboot
 * serves, lists are replaced whole, which is what their patch strategies amount to for clients.
 */
import { isObject } from '../base/json.ts';

export function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (!isObject(patch)) return patch;
  const out: Record<string, unknown> = isObject(target) ? { ...target } : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = applyMergePatch(out[k], v);
  }
  return out;
}
