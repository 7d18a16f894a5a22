/**
 * The token cleaner (reference §1.4): deletes bootstrap-token Secrets once expired (an unparsable
 * expiration counts as expired), with a resourceVersion precondition so a token updated meanwhile
 * is re-examined instead; tokens without expiry are kept. Others are looked at again at expiry.
 *
 * One narrow owner rule stands in for Kubernetes' garbage collector: a kube-system Secret whose
 * controller owner is a bootstrap-token Secret (kubeadm-certs, owned by upload-certs' 2-hour
 * token) goes with its owner, first when the owner expires, and also when the owner is gone or is
 * another object of that name (a token deleted by hand, a crash between the two deletes).
 */
import { BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_PREFIX, BOOTSTRAP_TOKEN_SECRET_TYPE, tokenExpired, tokenExpiry } from '../api/index.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import { type ClusterClient, isRaceError, SECRETS } from './cluster.ts';

/** The bootstrap-token Secret that controls `secret`, as ownerReferences name it. */
export function tokenOwnerOf(secret: JsonObject): { name: string; uid: string } | undefined {
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  const refs = Array.isArray(meta.ownerReferences) ? meta.ownerReferences : [];
  for (const ref of refs) {
    if (!isObject(ref) || ref.apiVersion !== 'v1' || ref.kind !== 'Secret' || ref.controller !== true) continue;
    if (typeof ref.name === 'string' && ref.name.startsWith(BOOTSTRAP_TOKEN_PREFIX) && typeof ref.uid === 'string')
      return { name: ref.name, uid: ref.uid };
  }
  return undefined;
}

async function deleteRead(client: ClusterClient, secret: JsonObject): Promise<void> {
  const meta = isObject(secret.metadata) ? secret.metadata : {};
  try {
    await client.delete(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, String(meta.name), String(meta.resourceVersion ?? ''));
  } catch (error) {
    if (!isRaceError(error)) throw error;
  }
}

/** A Secret a bootstrap token owns: deleted once that token is gone, replaced, or expired. */
async function reconcileOwned(secret: JsonObject, client: ClusterClient, now: Date): Promise<ReconcileResult | undefined> {
  const ref = tokenOwnerOf(secret);
  if (ref === undefined) return undefined;
  const owner = await client.get(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, ref.name);
  if (!owner || owner.metadata.uid !== ref.uid || owner.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) {
    await deleteRead(client, secret);
    return undefined;
  }
  const expiry = tokenExpiry(owner);
  if (tokenExpired(expiry, now)) {
    await deleteRead(client, secret);
    return undefined;
  }
  return expiry.kind === 'at' ? { requeueAfterMs: expiry.at.getTime() - now.getTime() + 1 } : undefined;
}

/**
 * @param owned the names of the kube-system Secrets that name this token as their owner (from the
 *   informer's cache); they are deleted before the token, so a crash between leaves none behind
 */
export async function reconcileToken(
  name: string,
  client: ClusterClient,
  now: Date,
  owned: (tokenName: string) => readonly string[] = () => [],
): Promise<ReconcileResult | undefined> {
  const secret = await client.get(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, name);
  if (!secret) return undefined;
  if (secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return reconcileOwned(secret, client, now);
  const expiry = tokenExpiry(secret);
  if (expiry.kind === 'never') return undefined;
  if (tokenExpired(expiry, now)) {
    for (const dependent of owned(name)) {
      const current = await client.get(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, dependent);
      if (current && tokenOwnerOf(current)?.uid === secret.metadata.uid) await deleteRead(client, current);
    }
    await deleteRead(client, secret);
    return undefined;
  }
  return expiry.kind === 'at' ? { requeueAfterMs: expiry.at.getTime() - now.getTime() + 1 } : undefined;
}
