/**
 * The four RBAC informers the API server keeps, and the policy snapshot they hold: what its
 * authorizer (and the SubjectAccessReviews it answers, the controllers' among them) decides by.
 * A stored object that is not a role or binding grants nothing.
 */
import { type BindingLike, bindingLike, type RbacPolicy, type RoleLike, roleLike } from '../api/rbac.ts';
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

// Checked once per stored object: an informer hands out the same (frozen) object until it changes,
// and authorisation reads the policy on every request.
const checkedRoles = new WeakMap<StoredObject, RoleLike | null>();
const checkedBindings = new WeakMap<StoredObject, BindingLike | null>();

function roles(s: Snapshot): RoleLike[] {
  return s.list().flatMap((o) => {
    let r = checkedRoles.get(o);
    if (r === undefined) {
      r = roleLike(o) ?? null;
      checkedRoles.set(o, r);
    }
    return r ?? [];
  });
}

function bindings(s: Snapshot): BindingLike[] {
  return s.list().flatMap((o) => {
    let b = checkedBindings.get(o);
    if (b === undefined) {
      b = bindingLike(o) ?? null;
      checkedBindings.set(o, b);
    }
    return b ?? [];
  });
}

export function rbacPolicy(caches: RbacCaches): RbacPolicy {
  return {
    clusterRoles: roles(caches.clusterRoles),
    clusterRoleBindings: bindings(caches.clusterRoleBindings),
    roles: roles(caches.roles),
    roleBindings: bindings(caches.roleBindings),
  };
}
