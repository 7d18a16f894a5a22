/**
 * RBAC escalation prevention, as kube-apiserver's RBAC storage enforces it: a user may write a
 * Role or ClusterRole only with rules they hold themselves (or with `escalate` on it), and a
 * RoleBinding or ClusterRoleBinding only to a role whose rules they hold where the binding applies
 * (or with `bind` on that role). Without it, anyone allowed to edit RBAC objects could grant
 * themselves cluster-admin. `system:masters` is exempt, as it is from authorisation.
 */
import { bindingLike, type PolicyRule, roleLike, type UserInfo } from '../api/rbac.ts';
import { formatRule, uncoveredRules } from '../api/rbac-coverage.ts';
import { ForbiddenError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import type { Authorizer } from './authz.ts';

const RBAC_GROUP = 'rbac.authorization.k8s.io';

function heldRules(authorizer: Authorizer, user: UserInfo, namespace: string): PolicyRule[] {
  // An authorizer that cannot list rules grants nothing to compare with: only escalate/bind let the write through.
  const rules = authorizer.rulesFor?.(user, namespace);
  return rules ? [...rules.resource, ...rules.nonResource] : [];
}

function refusal(resource: string, name: string, user: UserInfo, why: string): ForbiddenError {
  const groups = user.groups.map((g) => JSON.stringify(g)).join(' ');
  return new ForbiddenError(
    'RBAC_ESCALATION',
    `${resource}.${RBAC_GROUP} "${name}" is forbidden: user "${user.name}" (groups=[${groups}]) ${why}`,
  );
}

function checkCovered(resource: string, name: string, user: UserInfo, held: PolicyRule[], granted: readonly PolicyRule[]): void {
  const missing = uncoveredRules(held, granted);
  if (missing.length > 0)
    throw refusal(
      resource,
      name,
      user,
      `is attempting to grant RBAC permissions not currently held:\n${missing.map(formatRule).join('\n')}`,
    );
}

/** Admits a write of one of the four RBAC kinds; anything else passes. @throws FORBIDDEN naming what is not held */
export function admitRbacWrite(authorizer: Authorizer, p: { resource: string; obj: JsonObject; user: UserInfo }): void {
  if (p.user.groups.includes('system:masters')) return;
  const meta = isObject(p.obj.metadata) ? p.obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const namespace = typeof meta.namespace === 'string' ? meta.namespace : '';
  const scoped = namespace === '' ? {} : { namespace };
  if (p.resource === 'roles' || p.resource === 'clusterroles') {
    const may = authorizer.authorize({ user: p.user, verb: 'escalate', apiGroup: RBAC_GROUP, resource: p.resource, name, ...scoped });
    if (may.allowed) return;
    checkCovered(p.resource, name, p.user, heldRules(authorizer, p.user, namespace), roleLike(p.obj)?.rules ?? []);
    return;
  }
  if (p.resource !== 'rolebindings' && p.resource !== 'clusterrolebindings') return;
  const ref = bindingLike(p.obj)?.roleRef;
  if (ref === undefined) return;
  const refResource = ref.kind === 'ClusterRole' ? 'clusterroles' : 'roles';
  // `bind` on a ClusterRole is asked where the binding applies: in its namespace, or cluster-wide.
  const may = authorizer.authorize({ user: p.user, verb: 'bind', apiGroup: RBAC_GROUP, resource: refResource, name: ref.name, ...scoped });
  if (may.allowed) return;
  const granted = authorizer.roleRules?.(ref, namespace);
  if (granted === undefined)
    throw refusal(
      p.resource,
      name,
      p.user,
      `may not bind ${ref.kind} "${ref.name}": it does not exist, and only a user with bind on it may bind it before it does`,
    );
  checkCovered(p.resource, name, p.user, heldRules(authorizer, p.user, namespace), granted);
}
