/**
 * Authorisation for the server: Kubernetes RBAC (src/api/rbac.ts) over informer caches of the
 * four RBAC resources, so a decision costs no store read and follows edits within a watch event,
 * and kube-apiserver's wording of a Forbidden message.
 */
import { type AuthorizationAttributes, authorize, type Decision, type PolicyRule, rulesFor, type UserInfo } from '../api/index.ts';
import { type RbacCaches, rbacPolicy } from '../store/index.ts';

export type { RbacCaches };

export interface Authorizer {
  authorize(attributes: AuthorizationAttributes): Decision;
  /** The rules `user` has in `namespace`, for SelfSubjectRulesReview; an authorizer without it answers `incomplete`. */
  rulesFor?(user: UserInfo, namespace: string): { resource: PolicyRule[]; nonResource: PolicyRule[] };
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
