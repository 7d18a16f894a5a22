/**
 * The four RBAC informers a process keeps, and the policy snapshot they hold, shared by the API
 * server's authorizer and the controllers' SubjectAccessReviews so both decide from one reading.
 */
import type { BindingLike, RbacPolicy, RoleLike } from '../api/index.ts';
import type { StoredObject } from './types.ts';

/** An informer's view: what it holds now. */
interface Snapshot {
  list(): StoredObject[];
}

export interface RbacCaches {
  readonly clusterRoles: Snapshot;
  readonly clusterRoleBindings: Snapshot;
  readonly roles: Snapshot;
  readonly roleBindings: Snapshot;
}

export function rbacPolicy(caches: RbacCaches): RbacPolicy {
  return {
    clusterRoles: caches.clusterRoles.list() as unknown as RoleLike[],
    clusterRoleBindings: caches.clusterRoleBindings.list() as unknown as BindingLike[],
    roles: caches.roles.list() as unknown as RoleLike[],
    roleBindings: caches.roleBindings.list() as unknown as BindingLike[],
  };
}
