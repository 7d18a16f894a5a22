/**
 * RBAC as Kubernetes evaluates it (rbac.authorization.k8s.io/v1): ClusterRoleBindings grant their
 * ClusterRole everywhere, RoleBindings grant their Role or ClusterRole inside their namespace;
 * rules match on verbs, API groups, resources (`resource/subresource`, a star, or a star with a subresource), resource
 * names and non-resource URLs (with a trailing `*`). `system:masters` is never denied. Pure.
 */

import { InvalidError } from '../base/errors.ts';
import { isObject, isStringArray } from '../base/json.ts';

export interface UserInfo {
  readonly name: string;
  readonly uid?: string;
  readonly groups: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
}

export interface PolicyRule {
  readonly verbs?: readonly string[];
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
}

export interface RoleLike {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly rules?: readonly PolicyRule[];
}

export interface Subject {
  readonly kind: string;
  readonly name: string;
  readonly namespace?: string;
}

export interface BindingLike {
  readonly metadata: { readonly name: string; readonly namespace?: string };
  readonly roleRef: { readonly kind: string; readonly name: string };
  readonly subjects?: readonly Subject[];
}

function strings(v: unknown): readonly string[] | undefined {
  return isStringArray(v) ? v : undefined;
}

function objectMeta(v: unknown): { name: string; namespace?: string } | undefined {
  if (typeof v !== 'object' || v === null || !('name' in v) || typeof v.name !== 'string') return undefined;
  return 'namespace' in v && typeof v.namespace === 'string' ? { name: v.name, namespace: v.namespace } : { name: v.name };
}

/**
 * A stored Role or ClusterRole as the evaluator reads it; undefined when it is not one (the
 * strategy validated it on the way in, so that means a store holding something else).
 */
export function roleLike(obj: { readonly metadata?: unknown; readonly rules?: unknown }): RoleLike | undefined {
  const metadata = objectMeta(obj.metadata);
  if (!metadata || (obj.rules !== undefined && !Array.isArray(obj.rules))) return undefined;
  const rules: PolicyRule[] = [];
  for (const r of Array.isArray(obj.rules) ? obj.rules : []) {
    if (typeof r !== 'object' || r === null) return undefined;
    const rule: Record<string, readonly string[]> = {};
    for (const k of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs'] as const) {
      const v: unknown = k in r ? Reflect.get(r, k) : undefined;
      if (v === undefined) continue;
      const list = strings(v);
      if (!list) return undefined;
      rule[k] = list;
    }
    rules.push(rule);
  }
  return { metadata, rules };
}

/** A stored RoleBinding or ClusterRoleBinding as the evaluator reads it; undefined when it is not one. */
export function bindingLike(obj: {
  readonly metadata?: unknown;
  readonly roleRef?: unknown;
  readonly subjects?: unknown;
}): BindingLike | undefined {
  const metadata = objectMeta(obj.metadata);
  const ref = obj.roleRef;
  if (!metadata || typeof ref !== 'object' || ref === null || !('kind' in ref) || !('name' in ref)) return undefined;
  if (typeof ref.kind !== 'string' || typeof ref.name !== 'string') return undefined;
  const subjects: Subject[] = [];
  for (const s of Array.isArray(obj.subjects) ? obj.subjects : []) {
    if (typeof s !== 'object' || s === null || !('kind' in s) || !('name' in s) || typeof s.kind !== 'string' || typeof s.name !== 'string')
      return undefined;
    subjects.push(
      'namespace' in s && typeof s.namespace === 'string'
        ? { kind: s.kind, name: s.name, namespace: s.namespace }
        : { kind: s.kind, name: s.name },
    );
  }
  return { metadata, roleRef: { kind: ref.kind, name: ref.name }, subjects };
}

export interface RbacPolicy {
  readonly clusterRoles: readonly RoleLike[];
  readonly clusterRoleBindings: readonly BindingLike[];
  readonly roles: readonly RoleLike[];
  readonly roleBindings: readonly BindingLike[];
}

export type AuthorizationAttributes =
  | {
      readonly user: UserInfo;
      readonly verb: string;
      readonly apiGroup: string;
      readonly resource: string;
      readonly subresource?: string;
      readonly name?: string;
      readonly namespace?: string;
    }
  | { readonly user: UserInfo; readonly verb: string; readonly nonResourceURL: string };

export interface Decision {
  readonly allowed: boolean;
  readonly reason: string;
}

function has(list: readonly string[] | undefined, value: string): boolean {
  return list !== undefined && (list.includes('*') || list.includes(value));
}

function subjectMatches(s: Subject, user: UserInfo, bindingNamespace: string | undefined): boolean {
  if (s.kind === 'User') return s.name === user.name;
  if (s.kind === 'Group') return user.groups.includes(s.name);
  if (s.kind === 'ServiceAccount') return user.name === `system:serviceaccount:${s.namespace ?? bindingNamespace ?? ''}:${s.name}`;
  return false;
}

function ruleAllows(rule: PolicyRule, a: AuthorizationAttributes): boolean {
  if (!has(rule.verbs, a.verb)) return false;
  if ('nonResourceURL' in a) {
    return (rule.nonResourceURLs ?? []).some(
      (u) => u === '*' || u === a.nonResourceURL || (u.endsWith('*') && a.nonResourceURL.startsWith(u.slice(0, -1))),
    );
  }
  if (!has(rule.apiGroups, a.apiGroup)) return false;
  const sub = a.subresource ?? '';
  const combined = sub === '' ? a.resource : `${a.resource}/${sub}`;
  const resources = rule.resources ?? [];
  const resourceOk = resources.some((r) => r === '*' || r === combined || (sub !== '' && r === `*/${sub}`));
  if (!resourceOk) return false;
  if (rule.resourceNames && rule.resourceNames.length > 0)
    return a.name !== undefined && a.name !== '' && rule.resourceNames.includes(a.name);
  return true;
}

function describe(a: AuthorizationAttributes): string {
  return 'nonResourceURL' in a ? `${a.verb} ${a.nonResourceURL}` : `${a.verb} ${a.resource}${a.subresource ? `/${a.subresource}` : ''}`;
}

export function authorize(a: AuthorizationAttributes, policy: RbacPolicy): Decision {
  if (a.user.groups.includes('system:masters')) return { allowed: true, reason: 'system:masters' };
  const clusterRole = (name: string) => policy.clusterRoles.find((r) => r.metadata.name === name);
  for (const b of policy.clusterRoleBindings) {
    if (b.roleRef.kind !== 'ClusterRole' || !(b.subjects ?? []).some((s) => subjectMatches(s, a.user, undefined))) continue;
    const role = clusterRole(b.roleRef.name);
    if (role?.rules?.some((r) => ruleAllows(r, a)))
      return { allowed: true, reason: `RBAC: allowed by ClusterRoleBinding "${b.metadata.name}"` };
  }
  const namespace = 'nonResourceURL' in a ? undefined : a.namespace;
  if (namespace) {
    for (const b of policy.roleBindings) {
      if (b.metadata.namespace !== namespace || !(b.subjects ?? []).some((s) => subjectMatches(s, a.user, namespace))) continue;
      const role =
        b.roleRef.kind === 'ClusterRole'
          ? clusterRole(b.roleRef.name)
          : policy.roles.find((r) => r.metadata.name === b.roleRef.name && r.metadata.namespace === namespace);
      if (role?.rules?.some((r) => ruleAllows(r, a)))
        return { allowed: true, reason: `RBAC: allowed by RoleBinding "${b.metadata.name}/${namespace}"` };
    }
  }
  return { allowed: false, reason: `no RBAC policy matched ${describe(a)}` };
}

/**
 * The rules that apply to `user` in `namespace`, as kube's RBAC rule resolver lists them for a
 * SelfSubjectRulesReview: those of every ClusterRoleBinding naming the user, then, in a namespace,
 * those of its RoleBindings there; each rule split into its resource and non-resource halves.
 * The system:masters shortcut of authorize() is not a rule, so it lists nothing (kube's is an
 * authorizer that lists nothing either; masters see cluster-admin through its binding).
 */
export function rulesFor(user: UserInfo, namespace: string, policy: RbacPolicy): { resource: PolicyRule[]; nonResource: PolicyRule[] } {
  const clusterRole = (name: string) => policy.clusterRoles.find((r) => r.metadata.name === name);
  const rules: PolicyRule[] = [];
  for (const b of policy.clusterRoleBindings) {
    if (b.roleRef.kind !== 'ClusterRole' || !(b.subjects ?? []).some((s) => subjectMatches(s, user, undefined))) continue;
    rules.push(...(clusterRole(b.roleRef.name)?.rules ?? []));
  }
  if (namespace !== '') {
    for (const b of policy.roleBindings) {
      if (b.metadata.namespace !== namespace || !(b.subjects ?? []).some((s) => subjectMatches(s, user, namespace))) continue;
      const role =
        b.roleRef.kind === 'ClusterRole'
          ? clusterRole(b.roleRef.name)
          : policy.roles.find((r) => r.metadata.name === b.roleRef.name && r.metadata.namespace === namespace);
      rules.push(...(role?.rules ?? []));
    }
  }
  const resource: PolicyRule[] = [];
  const nonResource: PolicyRule[] = [];
  for (const r of rules) {
    if ((r.resources ?? []).length > 0) {
      resource.push({
        verbs: [...(r.verbs ?? [])],
        apiGroups: [...(r.apiGroups ?? [])],
        resources: [...(r.resources ?? [])],
        ...((r.resourceNames ?? []).length > 0 ? { resourceNames: [...(r.resourceNames ?? [])] } : {}),
      });
    }
    if ((r.nonResourceURLs ?? []).length > 0)
      nonResource.push({ verbs: [...(r.verbs ?? [])], nonResourceURLs: [...(r.nonResourceURLs ?? [])] });
  }
  return { resource, nonResource };
}

function stringList(v: unknown, field: string): void {
  if (v === undefined || v === null) return;
  if (!isStringArray(v)) {
    throw new InvalidError('FIELD_INVALID', `${field}: must be a list of strings`, { field });
  }
}

/** Role and ClusterRole: every rule names verbs, and either resources (with API groups) or URLs. */
export function prepareRole(obj: Record<string, unknown>, clusterScoped: boolean): Record<string, unknown> {
  const rules = obj.rules ?? [];
  if (!Array.isArray(rules)) throw new InvalidError('FIELD_INVALID', 'rules: must be a list', { field: 'rules' });
  rules.forEach((r, i) => {
    const f = `rules[${i}]`;
    if (!isObject(r)) throw new InvalidError('FIELD_INVALID', `${f}: must be an object`, { field: f });
    for (const k of ['verbs', 'apiGroups', 'resources', 'resourceNames', 'nonResourceURLs']) stringList(r[k], `${f}.${k}`);
    if (!Array.isArray(r.verbs) || r.verbs.length === 0)
      throw new InvalidError('FIELD_INVALID', `${f}.verbs: Required value: verbs must contain at least one value`, { field: `${f}.verbs` });
    const urls = Array.isArray(r.nonResourceURLs) ? r.nonResourceURLs.length : 0;
    const resources = Array.isArray(r.resources) ? r.resources.length : 0;
    if (urls > 0 && !clusterScoped)
      throw new InvalidError('FIELD_INVALID', `${f}.nonResourceURLs: Invalid value: namespaced rules cannot apply to non-resource URLs`, {
        field: `${f}.nonResourceURLs`,
      });
    if (urls > 0 && resources > 0)
      throw new InvalidError('FIELD_INVALID', `${f}: rules cannot apply to both regular resources and non-resource URLs`, { field: f });
    if (urls === 0 && (resources === 0 || !Array.isArray(r.apiGroups) || r.apiGroups.length === 0)) {
      throw new InvalidError('FIELD_INVALID', `${f}: resource rules must supply at least one api group and one resource`, { field: f });
    }
  });
  return { ...obj, rules };
}

/** RoleBinding and ClusterRoleBinding: roleRef required and immutable, subjects well-formed. */
export function prepareBinding(
  obj: Record<string, unknown>,
  old: Record<string, unknown> | undefined,
  clusterScoped: boolean,
): Record<string, unknown> {
  const ref = obj.roleRef;
  if (!isObject(ref) || typeof ref.name !== 'string' || ref.name === '' || (ref.kind !== 'ClusterRole' && ref.kind !== 'Role')) {
    throw new InvalidError('FIELD_INVALID', 'roleRef: Required value: kind (Role or ClusterRole) and name', { field: 'roleRef' });
  }
  if (clusterScoped && ref.kind !== 'ClusterRole')
    throw new InvalidError('FIELD_INVALID', 'roleRef.kind: Unsupported value: "Role"', { field: 'roleRef.kind' });
  if (old && JSON.stringify(old.roleRef) !== JSON.stringify(ref))
    throw new InvalidError('FIELD_INVALID', 'roleRef: Invalid value: cannot change roleRef', { field: 'roleRef' });
  const subjects = obj.subjects ?? [];
  if (!Array.isArray(subjects)) throw new InvalidError('FIELD_INVALID', 'subjects: must be a list', { field: 'subjects' });
  subjects.forEach((s, i) => {
    if (!isObject(s) || typeof s.name !== 'string' || s.name === '' || !['User', 'Group', 'ServiceAccount'].includes(String(s.kind))) {
      throw new InvalidError('FIELD_INVALID', `subjects[${i}]: kind must be User, Group or ServiceAccount, with a name`, {
        field: `subjects[${i}]`,
      });
    }
  });
  return { ...obj, roleRef: { apiGroup: 'rbac.authorization.k8s.io', ...ref }, subjects };
}
