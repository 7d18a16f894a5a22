/**
 * Authorisation for the server: Kubernetes RBAC (src/api/rbac.ts) over informers of the
 * four RBAC resources (started here over the store), so a decision costs no store read and follows edits within a watch event,
 * and kube-apiserver's wording of a Forbidden message.
 */
import {
  type AuthorizationAttributes,
  authorize,
  type Decision,
  type PolicyRule,
  type RbacPolicy,
  rulesFor,
  type UserInfo,
} from '../api/index.ts';
import { Informer } from '../runtime/informer.ts';
import { type RbacCaches, rbacPolicy, type Store, type StoredObject, storeListWatch } from '../store/index.ts';

export type { RbacCaches };

export interface Authorizer {
  authorize(attributes: AuthorizationAttributes): Decision;
  /** The rules `user` has in `namespace`, for SelfSubjectRulesReview; an authorizer without it answers `incomplete`. */
  rulesFor?(user: UserInfo, namespace: string): { resource: PolicyRule[]; nonResource: PolicyRule[] };
  /** The rules of the role a binding in `namespace` refers to; undefined when there is no such role. */
  roleRules?(roleRef: { readonly kind: string; readonly name: string }, namespace: string): readonly PolicyRule[] | undefined;
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

/** RBAC over a policy snapshot that `policy` reads afresh for every decision. */
export class PolicyAuthorizer implements Authorizer {
  private readonly policy: () => RbacPolicy;

  constructor(policy: () => RbacPolicy) {
    this.policy = policy;
  }

  authorize(attributes: AuthorizationAttributes): Decision {
    return authorize(attributes, this.policy());
  }

  rulesFor(user: UserInfo, namespace: string): { resource: PolicyRule[]; nonResource: PolicyRule[] } {
    return rulesFor(user, namespace, this.policy());
  }

  roleRules(roleRef: { readonly kind: string; readonly name: string }, namespace: string): readonly PolicyRule[] | undefined {
    const policy = this.policy();
    const role =
      roleRef.kind === 'ClusterRole'
        ? policy.clusterRoles.find((r) => r.metadata.name === roleRef.name)
        : policy.roles.find((r) => r.metadata.name === roleRef.name && r.metadata.namespace === namespace);
    return role === undefined ? undefined : (role.rules ?? []);
  }
}

/** RBAC over the four informers' current contents. */
export class RbacAuthorizer extends PolicyAuthorizer {
  constructor(caches: RbacCaches) {
    super(() => rbacPolicy(caches));
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
