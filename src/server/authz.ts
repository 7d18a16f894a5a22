/**
 * Authorisation for the server: Kubernetes RBAC (src/api/rbac.ts) over informers of the
 * four RBAC resources (started here over the store), so a decision costs no store read and follows edits within a watch event,
 * and kube-apiserver's wording of a Forbidden message.
 */
import { type AuthorizationAttributes, authorize, type Decision, type PolicyRule, rulesFor, type UserInfo } from '../api/index.ts';
import { Informer } from '../runtime/informer.ts';
import { type RbacCaches, rbacPolicy, type Store, type StoredObject, storeListWatch } from '../store/index.ts';

export type { RbacCaches };

export interface Authorizer {
  authorize(attributes: AuthorizationAttributes): Decision;
  /** The rules `user` has in `namespace`, for SelfSubjectRulesReview; an authorizer without it answers `incomplete`. */
  rulesFor?(user: UserInfo, namespace: string): { resource: PolicyRule[]; nonResource: PolicyRule[] };
}

/** The four RBAC informers over the store, started (synced); `close()` stops them. */
export async function startRbacInformers(
  store: Store,
  onError?: (error: unknown) => void,
): Promise<RbacCaches & { close(): Promise<void> }> {
  const informer = (resource: string) =>
    new Informer<StoredObject>({
      source: storeListWatch(store, `rbac.authorization.k8s.io/${resource}`),
      ...(onError === undefined ? {} : { onError }),
    });
  const caches = {
    clusterRoles: informer('clusterroles'),
    clusterRoleBindings: informer('clusterrolebindings'),
    roles: informer('roles'),
    roleBindings: informer('rolebindings'),
  };
  const all = Object.values(caches);
  const close = async () => {
    for (const i of all) await i.close();
  };
  try {
    for (const i of all) await i.start();
  } catch (error) {
    await close();
    throw error;
  }
  return { ...caches, close };
}

export class RbacAuthorizer implements Authorizer {
  private readonly caches: RbacCaches;

  constructor(caches: RbacCaches) {
    this.caches = caches;
  }

  authorize(attributes: AuthorizationAttributes): Decision {
    return authorize(attributes, rbacPolicy(this.caches));
  }

  rulesFor(user: UserInfo, namespace: string): { resource: PolicyRule[]; nonResource: PolicyRule[] } {
    return rulesFor(user, namespace, rbacPolicy(this.caches));
  }
}

/** `secrets "x" is forbidden: User "u" cannot get resource "secrets" in API group "" in the namespace "ns"`. */
export function forbiddenMessage(a: AuthorizationAttributes): string {
  if ('nonResourceURL' in a) return `forbidden: User "${a.user.name}" cannot ${a.verb} path "${a.nonResourceURL}"`;
  const qualified = a.apiGroup === '' ? a.resource : `${a.resource}.${a.apiGroup}`;
  const subject = a.name ? `${qualified} "${a.name}"` : qualified;
  const resource = a.subresource ? `${a.resource}/${a.subresource}` : a.resource;
  const scope = a.namespace ? `in the namespace "${a.namespace}"` : 'at the cluster scope';
  return `${subject} is forbidden: User "${a.user.name}" cannot ${a.verb} resource "${resource}" in API group "${a.apiGroup}" ${scope}`;
}
