/**
 * The bootstrap-token authenticator (`[a-z0-9]{6}.[a-z0-9]{16}`): reads the token's
 * `kube-system/bootstrap-token-<id>` Secret on every request, so deleting or expiring it takes
 * effect at once, and accepts it only when the Secret is valid now (one validity rule:
 * checkBootstrapTokenSecret), allows authentication, and its secret matches in constant time.
 * A wrong secret and an unknown id look the same to the client. A store that cannot answer is
 * UNAVAILABLE (503), not a bad credential: a client must not be told to discard a good token.
 */
import {
  BOOTSTRAP_TOKEN_NAMESPACE,
  bootstrapTokenSecretName,
  bootstrapTokenUser,
  checkBootstrapTokenSecret,
  secretsEqual,
  TOKEN_PATTERN,
  type UserInfo,
} from '../../api/index.ts';
import { isTlsbootError, UnavailableError } from '../../base/errors.ts';
import type { Store, StoredObject } from '../../store/index.ts';

/** A user for a valid bootstrap token; undefined for anything that is not one. */
export type BootstrapTokenAuthenticator = (token: string, now: Date) => Promise<UserInfo | undefined>;

/** `secretsResource` is the store key of core/v1 Secrets (registry.ts storeResourceOf). */
export function bootstrapTokenAuthenticator(store: Store, secretsResource: string): BootstrapTokenAuthenticator {
  return async (token, now) => {
    const m = TOKEN_PATTERN.exec(token);
    if (!m) return undefined;
    const id = m[1] as string;
    let secret: StoredObject;
    try {
      secret = await store.get({ resource: secretsResource, namespace: BOOTSTRAP_TOKEN_NAMESPACE, name: bootstrapTokenSecretName(id) });
    } catch (error) {
      if (isTlsbootError(error) && error.code === 'NOT_FOUND') return undefined;
      throw new UnavailableError('TOKEN_LOOKUP', 'bootstrap tokens cannot be checked now; try again later');
    }
    const check = checkBootstrapTokenSecret(secret, now);
    if (!check.ok || !check.token.usages.authentication || check.token.id !== id || !secretsEqual(check.token.secret, m[2] as string))
      return undefined;
    return bootstrapTokenUser(check.token);
  };
}
