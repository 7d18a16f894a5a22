/**
 * Node restriction, as kube-apiserver's Node authorizer and NodeRestriction admission plugin do it
 * for Node objects: a node user (`system:node:<n>` in `system:nodes`) reads and writes only Node
 * `<n>` and its status, deletes no Node, never sets or changes labels under
 * `node-restriction.kubernetes.io/` (they are the operator's, used to steer workloads), and sets
 * taints only when it creates its Node. The authorizer half answers for requests whose target
 * name is in the URL (so SubjectAccessReview agrees); the admission half checks the object itself
 * (a create's name, labels, taints). Everyone else passes through to RBAC unchanged.
 */
import { type AuthorizationAttributes, type Decision, NODE_RESTRICTION_LABEL_PREFIX, nodeOfUser, type UserInfo } from '../api/index.ts';

import { ForbiddenError, type TlsbootError } from '../base/errors.ts';

import { isObject, type JsonObject } from '../base/json.ts';

import type { Authorizer } from './authz.ts';

/** Verbs a node may use on its own Node (`list` and `watch` are refused: the name is not in their URL). */
const OWN_NODE_VERBS = new Set(['get', 'create', 'update', 'patch']);

/** Wraps RBAC: for node users and Nodes, decides first and only narrows what RBAC would allow. */
export class NodeRestrictingAuthorizer implements Authorizer {
  private readonly inner: Authorizer;
  readonly rulesFor?: NonNullable<Authorizer['rulesFor']>;
  readonly roleRules?: NonNullable<Authorizer['roleRules']>;

  constructor(inner: Authorizer) {
    this.inner = inner;
    const rules = inner.rulesFor?.bind(inner);
    if (rules) this.rulesFor = rules;
    const roleRules = inner.roleRules?.bind(inner);
    if (roleRules) this.roleRules = roleRules;
  }

  authorize(a: AuthorizationAttributes): Decision {
    const refused = nodeAccessProblem(a);
    if (refused !== undefined) return { allowed: false, reason: refused };
    return this.inner.authorize(a);
  }
}

/** Why a node may not make this request on Nodes, or undefined when node restriction has no objection. */
export function nodeAccessProblem(a: AuthorizationAttributes): string | undefined {
  if ('nonResourceURL' in a || a.apiGroup !== '' || a.resource !== 'nodes') return undefined;
  const node = nodeOfUser(a.user);
  if (node === undefined) return undefined;
  if (!OWN_NODE_VERBS.has(a.verb)) return `node "${node}" may not ${a.verb} nodes`;
  // A create names its Node in the body, which admission checks; every other verb names it in the URL.
  if (a.verb !== 'create' && a.name !== node) return `node "${node}" may only ${a.verb} its own Node, not "${a.name ?? ''}"`;
  return undefined;
}

function forbidden(message: string): TlsbootError {
  return new ForbiddenError('NODE_RESTRICTION', message);
}

function labelsOf(obj: JsonObject | undefined): Record<string, unknown> {
  const meta = obj && isObject(obj.metadata) ? obj.metadata : {};
  return isObject(meta.labels) ? meta.labels : {};
}

function taintsOf(obj: JsonObject | undefined): string {
  const spec = obj && isObject(obj.spec) ? obj.spec : {};
  return JSON.stringify(Array.isArray(spec.taints) ? spec.taints : []);
}

/** Labels a kubelet reports about itself (Kubernetes' kubelet label set). */
const KUBELET_LABELS = new Set([
  'kubernetes.io/hostname',
  'kubernetes.io/os',
  'kubernetes.io/arch',
  'beta.kubernetes.io/os',
  'beta.kubernetes.io/arch',
  'beta.kubernetes.io/instance-type',
  'node.kubernetes.io/instance-type',
  'failure-domain.beta.kubernetes.io/zone',
  'failure-domain.beta.kubernetes.io/region',
  'topology.kubernetes.io/zone',
  'topology.kubernetes.io/region',
]);

function inDomain(namespace: string, domain: string): boolean {
  return namespace === domain || namespace.endsWith(`.${domain}`);
}

/**
 * Whether a node may set, change or remove this label on its own Node, as Kubernetes'
 * NodeRestriction decides: never under node-restriction.kubernetes.io (the operator's, to steer
 * workloads); under kubernetes.io and k8s.io only the kubelet's own labels and the
 * kubelet.kubernetes.io and node.kubernetes.io namespaces (so no node makes itself a control plane).
 */
export function mayNodeSetLabel(key: string): boolean {
  if (key.startsWith(NODE_RESTRICTION_LABEL_PREFIX)) return false;
  const slash = key.indexOf('/');
  if (slash < 0) return true;
  const namespace = key.slice(0, slash);
  if (inDomain(namespace, 'node-restriction.kubernetes.io')) return false;
  if (!inDomain(namespace, 'kubernetes.io') && !inDomain(namespace, 'k8s.io')) return true;
  return KUBELET_LABELS.has(key) || inDomain(namespace, 'kubelet.kubernetes.io') || inDomain(namespace, 'node.kubernetes.io');
}

/**
 * Admission for a Node write by `user`: @throws FORBIDDEN (reason NODE_RESTRICTION) when a node
 * writes another Node, touches a restricted label, or changes taints after create.
 */
export function admitNodeWrite(user: UserInfo, old: JsonObject | undefined, obj: JsonObject): void {
  const node = nodeOfUser(user);
  if (node === undefined) return;
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  if (meta.name !== node) throw forbidden(`node "${node}" is not allowed to modify node "${String(meta.name)}"`);
  const before = labelsOf(old);
  const after = labelsOf(obj);
  const restricted = [...new Set([...Object.keys(before), ...Object.keys(after)])].filter(
    (k) => !mayNodeSetLabel(k) && before[k] !== after[k],
  );
  if (restricted.length > 0) {
    throw forbidden(`node "${node}" is not allowed to modify labels: ${restricted.sort().join(', ')}`);
  }
  if (old !== undefined && taintsOf(old) !== taintsOf(obj)) throw forbidden(`node "${node}" is not allowed to modify taints`);
}
