/**
 * The token cleaner (reference §1.4): deletes bootstrap-token Secrets once expired (an unparsable
 * expiration counts as expired), with a resourceVersion precondition so a token updated meanwhile
 * is re-examined instead; tokens without expiry are kept. Others are looked at again at expiry.
 */
import { BOOTSTRAP_TOKEN_NAMESPACE, BOOTSTRAP_TOKEN_SECRET_TYPE, tokenExpired, tokenExpiry } from '../api/index.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import { type ClusterClient, isRaceError, SECRETS } from './cluster.ts';

export async function reconcileToken(name: string, client: ClusterClient, now: Date): Promise<ReconcileResult | undefined> {
  const secret = await client.get(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, name);
  if (!secret || secret.type !== BOOTSTRAP_TOKEN_SECRET_TYPE) return undefined;
  const expiry = tokenExpiry(secret);
  if (expiry.kind === 'never') return undefined;
  if (tokenExpired(expiry, now)) {
    const rv = secret.metadata.resourceVersion ?? '';
    try {
      await client.delete(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE, name, rv);
    } catch (error) {
      if (!isRaceError(error)) throw error;
    }
    return undefined;
  }
  return expiry.kind === 'at' ? { requeueAfterMs: expiry.at.getTime() - now.getTime() + 1 } : undefined;
}
