/**
 * The bootstrap signer (reference §2.3): keeps one `jws-kubeconfig-<id>` entry in
 * `kube-public/cluster-info` for every valid signing token, byte-exact detached JWS over the
 * `kubeconfig` value, and removes entries of tokens that expired or were deleted, so a joiner with
 * a dead token finds no signature.
 */
import { BOOTSTRAP_TOKEN_NAMESPACE, checkBootstrapTokenSecret } from '../api/index.ts';
import { isObject } from '../base/json.ts';
import { signDetachedJws } from '../pki/index.ts';
import type { ReconcileResult } from '../runtime/runner.ts';
import { type ClusterClient, CONFIGMAPS, SECRETS } from './cluster.ts';

export const CLUSTER_INFO_NAMESPACE = 'kube-public';
export const CLUSTER_INFO_NAME = 'cluster-info';
const JWS_PREFIX = 'jws-kubeconfig-';

export async function reconcileClusterInfo(client: ClusterClient, now: Date): Promise<ReconcileResult | undefined> {
  const cm = await client.get(CONFIGMAPS, CLUSTER_INFO_NAMESPACE, CLUSTER_INFO_NAME);
  if (!cm) return undefined;
  const data = isObject(cm.data) ? cm.data : {};
  const kubeconfig = data.kubeconfig;
  if (typeof kubeconfig !== 'string') return undefined;
  const next: Record<string, unknown> = Object.fromEntries(Object.entries(data).filter(([k]) => !k.startsWith(JWS_PREFIX)));
  let soonest: number | undefined;
  for (const secret of await client.list(SECRETS, BOOTSTRAP_TOKEN_NAMESPACE)) {
    const check = checkBootstrapTokenSecret(secret, now, 'signing');
    if (!check.ok) continue;
    const key = `${JWS_PREFIX}${check.token.id}`;
    if (Object.hasOwn(next, key)) continue;
    next[key] = signDetachedJws(kubeconfig, check.token.id, check.token.secret);
    const exp = check.token.expiration?.getTime();
    if (exp !== undefined) soonest = Math.min(soonest ?? exp, exp);
  }
  const changed = JSON.stringify(Object.entries(next).sort()) !== JSON.stringify(Object.entries(data).sort());
  if (changed) await client.update(CONFIGMAPS, { ...cm, data: next });
  // Expiry removes a signature even when no event arrives.
  return soonest === undefined ? undefined : { requeueAfterMs: Math.max(1000, soonest - now.getTime() + 1000) };
}
