/**
 * What the controllers need from a cluster, as Kubernetes objects: the RBAC that lets one identity
 * run them (nothing more: CSRs, their approval and status, approve and sign on the built-in
 * signers, bootstrap-token Secrets and the servers' published reserved identities in kube-system,
 * cluster-info in kube-public, their Lease,
 * SubjectAccessReviews, Nodes to read, their bookkeeping kinds) and the CustomResourceDefinitions of that
 * bookkeeping. `tlsboot server` seeds the RBAC for its in-process identity; `tlsboot controllers
 * manifests` prints all of it for a stock cluster.
 */
import { BOOKKEEPING_KINDS } from '../api/bookkeeping.ts';
import { BOOKKEEPING_RESOURCES, CERTIFICATE_REVOCATIONS, TLSBOOT_GROUP, TRANSACTIONS } from '../api/cluster-client.ts';
import { BOOTSTRAP_TOKEN_NAMESPACE, SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING } from '../api/index.ts';
import { LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE } from '../api/lease.ts';
import type { JsonObject } from '../base/json.ts';
import { CLUSTER_INFO_NAMESPACE } from './bootstrap-signer.ts';
import { BUILT_IN_SIGNERS } from './signer.ts';

/** The name of the controllers' ClusterRole, Roles and bindings. */
export const CONTROLLERS_ROLE = 'tlsboot:controllers';
/** The identity `tlsboot server` runs its in-process controllers as. */
export const IN_PROCESS_CONTROLLERS_USER = 'system:tlsboot:controllers';
export { LEADER_LEASE_NAME, LEADER_LEASE_NAMESPACE };

const RBAC = 'rbac.authorization.k8s.io/v1';
const CSR = 'certificates.k8s.io';

export type ControllerSubject =
  | { readonly kind: 'User' | 'Group'; readonly name: string }
  | { readonly kind: 'ServiceAccount'; readonly name: string; readonly namespace: string };

function subjectObject(s: ControllerSubject): JsonObject {
  return s.kind === 'ServiceAccount'
    ? { kind: 'ServiceAccount', name: s.name, namespace: s.namespace }
    : { kind: s.kind, apiGroup: 'rbac.authorization.k8s.io', name: s.name };
}

function namespacedRole(namespace: string, rules: readonly JsonObject[]): JsonObject {
  return { apiVersion: RBAC, kind: 'Role', metadata: { name: CONTROLLERS_ROLE, namespace }, rules };
}

function roleBinding(namespace: string, subject: ControllerSubject): JsonObject {
  return {
    apiVersion: RBAC,
    kind: 'RoleBinding',
    metadata: { name: CONTROLLERS_ROLE, namespace },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: CONTROLLERS_ROLE },
    subjects: [subjectObject(subject)],
  };
}

/** The controllers' RBAC: a ClusterRole, two Roles, and their bindings to `subject`. */
export function controllerRbac(subject: ControllerSubject): { clusterScoped: JsonObject[]; namespaced: JsonObject[] } {
  const clusterRole = {
    apiVersion: RBAC,
    kind: 'ClusterRole',
    metadata: { name: CONTROLLERS_ROLE },
    rules: [
      { apiGroups: [CSR], resources: ['certificatesigningrequests'], verbs: ['get', 'list', 'watch', 'delete'] },
      { apiGroups: [CSR], resources: ['certificatesigningrequests/approval', 'certificatesigningrequests/status'], verbs: ['update'] },
      {
        apiGroups: [CSR],
        resources: ['signers'],
        resourceNames: [SIGNER_KUBELET_CLIENT, SIGNER_KUBELET_SERVING],
        verbs: ['approve'],
      },
      {
        apiGroups: [CSR],
        resources: ['signers'],
        resourceNames: [...BUILT_IN_SIGNERS],
        verbs: ['sign'],
      },
      { apiGroups: ['authorization.k8s.io'], resources: ['subjectaccessreviews'], verbs: ['create'] },
      { apiGroups: [''], resources: ['nodes'], verbs: ['get', 'list', 'watch'] },
      {
        apiGroups: [TLSBOOT_GROUP],
        resources: BOOKKEEPING_RESOURCES.filter((r) => r !== CERTIFICATE_REVOCATIONS).map((r) => r.resource),
        verbs: ['get', 'list', 'watch', 'create', 'update', 'delete'],
      },
      // Revoking is a person's decision; the controllers read revocations and prune expired ones.
      { apiGroups: [TLSBOOT_GROUP], resources: [CERTIFICATE_REVOCATIONS.resource], verbs: ['get', 'list', 'watch', 'delete'] },
      // tlsboot's server only: several of the writes above as one (each still authorised by its own rule).
      { apiGroups: [TLSBOOT_GROUP], resources: [TRANSACTIONS.resource], verbs: ['create'] },
    ],
  };
  const binding = {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name: CONTROLLERS_ROLE },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: CONTROLLERS_ROLE },
    subjects: [subjectObject(subject)],
  };
  const system = namespacedRole(BOOTSTRAP_TOKEN_NAMESPACE, [
    { apiGroups: [''], resources: ['secrets'], verbs: ['get', 'list', 'watch', 'delete'] },
    // What every control-plane server reserves (src/api/published-reserved.ts); read, never written.
    { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], verbs: ['create'] },
    { apiGroups: ['coordination.k8s.io'], resources: ['leases'], resourceNames: [LEADER_LEASE_NAME], verbs: ['get', 'update'] },
  ]);
  const publicRole = namespacedRole(CLUSTER_INFO_NAMESPACE, [
    { apiGroups: [''], resources: ['configmaps'], verbs: ['list', 'watch'] },
    { apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get', 'update'] },
  ]);
  return {
    clusterScoped: [clusterRole, binding],
    namespaced: [system, roleBinding(BOOTSTRAP_TOKEN_NAMESPACE, subject), publicRole, roleBinding(CLUSTER_INFO_NAMESPACE, subject)],
  };
}

/** CustomResourceDefinitions (apiextensions.k8s.io/v1) of the bookkeeping kinds, for a stock cluster. */
export function bookkeepingCrds(): JsonObject[] {
  return BOOKKEEPING_KINDS.map((k) => {
    const r = k.resource;
    const properties = Object.fromEntries(
      Object.entries(k.fields).map(([name, f]) => [
        name,
        f.type === 'map'
          ? { type: 'object', description: f.description, additionalProperties: { type: 'string' } }
          : { type: 'string', description: f.description },
      ]),
    );
    return {
      apiVersion: 'apiextensions.k8s.io/v1',
      kind: 'CustomResourceDefinition',
      metadata: { name: `${r.resource}.${r.group}` },
      spec: {
        group: r.group,
        scope: r.namespaced ? 'Namespaced' : 'Cluster',
        names: { plural: r.resource, singular: r.kind.toLowerCase(), kind: r.kind, listKind: `${r.kind}List` },
        versions: [
          {
            name: r.version,
            served: true,
            storage: true,
            schema: { openAPIV3Schema: { type: 'object', description: k.description, properties } },
          },
        ],
      },
    };
  });
}
