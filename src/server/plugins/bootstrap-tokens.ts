/**
 * The bootstrap-token authenticator (`[a-z0-9]{6}.[a-z0-9]{16}`): reads the token's
 * `kube-system/bootstrap-token-<id>` Secret on every request, so deleting or expiring it takes
 * effect at once, and accepts it only when the Secret is valid now (one validity rule:
 * checkBootstrapTokenSecret), allows authentication, and its secret matches in constant time.
 * A wrong secret and an unknown id look the same to the client. A store that cannot answer is
 * UNAVAILABLE (503), not a bad credential: a client must not be told to discard a good token.
 */
import { BOOTSTRAP_TOKEN_NAMESPACE, type UserInfo } from '../../api/index.ts';
import { isTlsbootError, UnavailableError } from '../../base/errors.ts';
import type { Store } from '../../store/index.ts';
import { bootstrapTokenAuthenticator as authenticatorOver } from '../authn.ts';

/** A user for a valid bootstrap token; undefined for anything that is not one. */
export type BootstrapTokenAuthenticator = (token: string, now: Date) => Promise<UserInfo | undefined>;

/** `secretsResource` is the store key of core/v1 Secrets (registry.ts storeResourceOf). */
export function bootstrapTokenAuthenticator(store: Store, secretsResource: string): BootstrapTokenAuthenticator {
  return authenticatorOver(async (name) => {
    try {
      return await store.get({ resource: secretsResource, namespace: BOOTSTRAP_TOKEN_NAMESPACE, name });
    } catch (error) {
      if (isTlsbootError(error) && error.code === 'NOT_FOUND') return undefined;
      throw new UnavailableError('TOKEN_LOOKUP', 'bootstrap tokens cannot be checked now; try again later');
    }
  });
}
