/**
 * The resources tlsboot serves, each a ResourceDef binding the Kubernetes names, table columns and
 * field selectors to the api layer's validation and strategy: CSRs, Secrets, ConfigMaps, Events,
 * RBAC, Leases, Nodes, and the create-only access reviews.
 */

import { type ApiResource, BOOKKEEPING_RESOURCES, CERTIFICATE_REVOCATIONS, TRANSACTIONS } from '../api/cluster-client.ts';

import {
  csrConditionSummary,
  prepareBinding,
  prepareConfigMap,
  prepareCsrCreate,
  prepareCsrUpdate,
  prepareNodeCreate,
  prepareNodeUpdate,
  prepareRole,
  prepareSecret,
} from '../api/index.ts';
import { prepareRevocationCreate } from '../api/revocation.ts';

import { humanDuration } from '../base/duration.ts';
import { MethodNotAllowedError } from '../base/errors.ts';

import { isObject, type JsonObject } from '../base/json.ts';

import type { ResourceDef } from './registry.ts';
import { AGE_COLUMN, DEFAULT_COLUMNS, NAME_COLUMN, type TableColumn } from './table.ts';

const CRUD = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

/** kubectl's DATA column: how many keys a data map holds (none when it is absent). */
function entryCount(map: unknown): number {
  return isObject(map) ? Object.keys(map).length : 0;
}

function field(obj: JsonObject, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = isObject(cur) ? cur[p] : undefined;
  return cur;
}

function column(name: string, cell: TableColumn['cell'], type: TableColumn['type'] = 'string'): TableColumn {
  return { name, type, description: name, cell };
}

const passThrough = (obj: JsonObject) => obj;

export const csrResource: ResourceDef = {
  group: 'certificates.k8s.io',
  version: 'v1',
  resource: 'certificatesigningrequests',
  singular: 'certificatesigningrequest',
  kind: 'CertificateSigningRequest',
  namespaced: false,
  shortNames: ['csr'],
  subresources: ['approval', 'status'],
  verbs: CRUD,
  columns: [
    NAME_COLUMN,
    AGE_COLUMN,
    column('SignerName', (o) => String(field(o, 'spec', 'signerName') || '<none>')),
    column('Requestor', (o) => String(field(o, 'spec', 'username') ?? '')),
    column('RequestedDuration', (o) => {
      const s = field(o, 'spec', 'expirationSeconds');
      return typeof s === 'number' ? humanDuration(s * 1000) : '<none>';
    }),
    column('Condition', (o) => csrConditionSummary(o)),
  ],
  fields: { 'spec.signerName': (o) => String(field(o, 'spec', 'signerName') ?? '') },
  prepareCreate: (obj, ctx) => prepareCsrCreate(obj, ctx.user),
  prepareUpdate: (old, obj, sub, ctx) => prepareCsrUpdate(old, obj, sub, ctx.now),
};

export const secretResource: ResourceDef = {
  group: '',
  version: 'v1',
  resource: 'secrets',
  singular: 'secret',
  kind: 'Secret',
  namespaced: true,
  shortNames: [],
  subresources: [],
  verbs: CRUD,
  columns: [NAME_COLUMN, column('Type', (o) => String(o.type ?? '')), column('Data', (o) => entryCount(o.data), 'integer'), AGE_COLUMN],
  fields: { type: (o) => String(o.type ?? '') },
  prepareCreate: (obj) => prepareSecret(obj, undefined),
  prepareUpdate: (old, obj) => prepareSecret(obj, old),
};

export const configMapResource: ResourceDef = {
  group: '',
  version: 'v1',
  resource: 'configmaps',
  singular: 'configmap',
  kind: 'ConfigMap',
  namespaced: true,
  shortNames: ['cm'],
  subresources: [],
  verbs: CRUD,
  columns: [NAME_COLUMN, column('Data', (o) => entryCount(o.data) + entryCount(o.binaryData), 'integer'), AGE_COLUMN],
  fields: {},
  prepareCreate: (obj) => prepareConfigMap(obj),
  prepareUpdate: (_old, obj) => prepareConfigMap(obj),
};

export const eventResource: ResourceDef = {
  group: '',
  version: 'v1',
  resource: 'events',
  singular: 'event',
  kind: 'Event',
  namespaced: true,
  shortNames: ['ev'],
  subresources: [],
  verbs: CRUD,
  columns: DEFAULT_COLUMNS,
  fields: {
    'involvedObject.name': (o) => String(field(o, 'involvedObject', 'name') ?? ''),
    'involvedObject.kind': (o) => String(field(o, 'involvedObject', 'kind') ?? ''),
    'involvedObject.namespace': (o) => String(field(o, 'involvedObject', 'namespace') ?? ''),
    'involvedObject.uid': (o) => String(field(o, 'involvedObject', 'uid') ?? ''),
  },
  prepareCreate: passThrough,
  prepareUpdate: (_old, obj) => obj,
};

function rbacResource(resource: string, kind: string, namespaced: boolean, binding: boolean): ResourceDef {
  return {
    group: 'rbac.authorization.k8s.io',
    version: 'v1',
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames: [],
    subresources: [],
    verbs: CRUD,
    columns: binding
      ? [NAME_COLUMN, column('Role', (o) => `${String(field(o, 'roleRef', 'kind'))}/${String(field(o, 'roleRef', 'name'))}`), AGE_COLUMN]
      : DEFAULT_COLUMNS,
    fields: {},
    prepareCreate: (obj) => (binding ? prepareBinding(obj, undefined, !namespaced) : prepareRole(obj, !namespaced)),
    prepareUpdate: (old, obj) => (binding ? prepareBinding(obj, old, !namespaced) : prepareRole(obj, !namespaced)),
  };
}

export const leaseResource: ResourceDef = {
  group: 'coordination.k8s.io',
  version: 'v1',
  resource: 'leases',
  singular: 'lease',
  kind: 'Lease',
  namespaced: true,
  shortNames: [],
  subresources: [],
  verbs: CRUD,
  columns: [NAME_COLUMN, column('Holder', (o) => String(field(o, 'spec', 'holderIdentity') ?? '')), AGE_COLUMN],
  fields: {},
  prepareCreate: passThrough,
  prepareUpdate: (_old, obj) => obj,
};

/** kubectl's STATUS for a node: its Ready condition, then SchedulingDisabled when cordoned. */
function nodeStatusColumn(o: JsonObject): string {
  const conditions = field(o, 'status', 'conditions');
  const ready = Array.isArray(conditions) ? conditions.find((c) => isObject(c) && c.type === 'Ready') : undefined;
  const state = !isObject(ready) ? 'Unknown' : ready.status === 'True' ? 'Ready' : ready.status === 'False' ? 'NotReady' : 'Unknown';
  return field(o, 'spec', 'unschedulable') === true ? `${state},SchedulingDisabled` : state;
}

/** kubectl's ROLES: the `node-role.kubernetes.io/<role>` labels, and `kubernetes.io/role`. */
function nodeRolesColumn(o: JsonObject): string {
  const labels = field(o, 'metadata', 'labels');
  const roles = new Set<string>();
  for (const [k, v] of Object.entries(isObject(labels) ? labels : {})) {
    if (k.startsWith('node-role.kubernetes.io/') && k.length > 'node-role.kubernetes.io/'.length) roles.add(k.slice(k.indexOf('/') + 1));
    else if (k === 'kubernetes.io/role' && typeof v === 'string' && v !== '') roles.add(v);
  }
  return roles.size === 0 ? '<none>' : [...roles].sort().join(',');
}

/** kubectl's INTERNAL-IP and EXTERNAL-IP: the first address of that type. */
function nodeAddressCell(o: JsonObject, type: string): string {
  const addresses = field(o, 'status', 'addresses');
  const hit = Array.isArray(addresses) ? addresses.find((a) => isObject(a) && a.type === type) : undefined;
  return isObject(hit) && typeof hit.address === 'string' ? hit.address : '<none>';
}

const wide = (c: TableColumn): TableColumn => ({ ...c, priority: 1 });

export const nodeResource: ResourceDef = {
  group: '',
  version: 'v1',
  resource: 'nodes',
  singular: 'node',
  kind: 'Node',
  namespaced: false,
  shortNames: ['no'],
  subresources: ['status'],
  verbs: CRUD,
  columns: [
    NAME_COLUMN,
    column('Status', nodeStatusColumn),
    column('Roles', nodeRolesColumn),
    AGE_COLUMN,
    column('Version', (o) => String(field(o, 'status', 'nodeInfo', 'kubeletVersion') ?? '')),
    wide(column('Internal-IP', (o) => nodeAddressCell(o, 'InternalIP'))),
    wide(column('External-IP', (o) => nodeAddressCell(o, 'ExternalIP'))),
    wide(column('OS-Image', (o) => String(field(o, 'status', 'nodeInfo', 'osImage') || '<unknown>'))),
    wide(column('Kernel-Version', (o) => String(field(o, 'status', 'nodeInfo', 'kernelVersion') || '<unknown>'))),
    wide(column('Container-Runtime', (o) => String(field(o, 'status', 'nodeInfo', 'containerRuntimeVersion') || '<unknown>'))),
  ],
  fields: { 'spec.unschedulable': (o) => String(field(o, 'spec', 'unschedulable') === true) },
  prepareCreate: (obj) => prepareNodeCreate(obj),
  prepareUpdate: (old, obj, sub) => prepareNodeUpdate(old, obj, sub),
};

function reviewResource(resource: string, kind: string, group = 'authorization.k8s.io', namespaced = false): ResourceDef {
  return {
    group,
    version: 'v1',
    resource,
    singular: kind.toLowerCase(),
    kind,
    namespaced,
    shortNames: [],
    subresources: [],
    verbs: ['create'],
    columns: DEFAULT_COLUMNS,
    fields: {},
    prepareCreate: passThrough,
    prepareUpdate: (_old, obj) => obj,
  };
}

/** Several writes applied all or none (transactions.ts); served by code, never stored. */
const transactionResource: ResourceDef = {
  ...reviewResource(TRANSACTIONS.resource, TRANSACTIONS.kind, TRANSACTIONS.group),
  version: TRANSACTIONS.version,
};

/** The CA's signing sessions (sealed and remote signers); served by code, never stored. */
const signingSessionResource: ResourceDef = {
  group: 'ca.tlsboot.io',
  version: 'v1alpha1',
  resource: 'signingsessions',
  singular: 'signingsession',
  kind: 'SigningSession',
  namespaced: false,
  shortNames: [],
  subresources: [],
  verbs: ['create', 'delete', 'get', 'list'],
  columns: [
    NAME_COLUMN,
    column('Mode', (o) => String(field(o, 'status', 'mode') ?? '')),
    column('Phase', (o) => String(field(o, 'status', 'phase') ?? '')),
    column('Signed', (o) => Number(field(o, 'status', 'signed') ?? 0), 'integer'),
    column('Max', (o) => String(field(o, 'spec', 'maxCertificates') ?? '<none>')),
    column('Expires', (o) => String(field(o, 'status', 'expiresAt') ?? '')),
    column('Opened-By', (o) => String(field(o, 'status', 'openedBy') ?? '')),
  ],
  fields: {},
  prepareCreate: passThrough,
  prepareUpdate: (_old, obj) => obj,
};

/**
 * The controllers' bookkeeping (issued certificates, node-name and address claims): ordinary
 * objects that only the controllers' identity may write (bootstrap policy), served here natively
 * and as CustomResourceDefinitions on a stock cluster (`tlsboot controllers manifests`).
 */
function bookkeepingResource(r: ApiResource): ResourceDef {
  return {
    group: r.group,
    version: r.version,
    resource: r.resource,
    singular: r.kind.toLowerCase(),
    kind: r.kind,
    namespaced: r.namespaced,
    shortNames: [],
    subresources: [],
    verbs: CRUD,
    columns: DEFAULT_COLUMNS,
    fields: {},
    prepareCreate: passThrough,
    prepareUpdate: (_old, obj) => obj,
  };
}

/**
 * Revocations: created and deleted (pruning), never changed, so a revocation's reason and time are
 * what was first stored. Admission checks the serial against the issued-certificates inventory.
 */
const revocationResource: ResourceDef = {
  ...bookkeepingResource(CERTIFICATE_REVOCATIONS),
  verbs: ['create', 'delete', 'get', 'list', 'watch'],
  alone: true,
  columns: [
    NAME_COLUMN,
    column('Reason', (o) => String(o.reason ?? '')),
    column('Common-Name', (o) => String(o.commonName ?? '')),
    column('Revoked-By', (o) => String(o.revokedBy ?? '')),
    column('Not-After', (o) => String(o.notAfter ?? '')),
    AGE_COLUMN,
  ],
  prepareCreate: (obj, ctx) => prepareRevocationCreate(obj, ctx.user, ctx.now),
  prepareUpdate: () => {
    throw new MethodNotAllowedError(
      'REVOCATION_IMMUTABLE',
      'a certificate revocation cannot be changed; it ends when the certificate expires',
    );
  },
};

/** Resources served by code (reviews, signing sessions, transactions): never written to the store. */
const SERVED_BY_CODE: readonly ResourceDef[] = [
  reviewResource('subjectaccessreviews', 'SubjectAccessReview'),
  reviewResource('selfsubjectaccessreviews', 'SelfSubjectAccessReview'),
  reviewResource('localsubjectaccessreviews', 'LocalSubjectAccessReview', 'authorization.k8s.io', true),
  reviewResource('selfsubjectrulesreviews', 'SelfSubjectRulesReview'),
  reviewResource('selfsubjectreviews', 'SelfSubjectReview', 'authentication.k8s.io'),
  signingSessionResource,
  transactionResource,
];

/** Whether a resource's objects live in the store (what a transaction may write). */
export function isStoredResource(def: ResourceDef): boolean {
  return !SERVED_BY_CODE.includes(def);
}

export const ALL_RESOURCES: readonly ResourceDef[] = [
  configMapResource,
  eventResource,
  secretResource,
  csrResource,
  rbacResource('clusterroles', 'ClusterRole', false, false),
  rbacResource('clusterrolebindings', 'ClusterRoleBinding', false, true),
  rbacResource('roles', 'Role', true, false),
  rbacResource('rolebindings', 'RoleBinding', true, true),
  leaseResource,
  nodeResource,
  ...SERVED_BY_CODE,
  ...BOOKKEEPING_RESOURCES.map((r) => (r === CERTIFICATE_REVOCATIONS ? revocationResource : bookkeepingResource(r))),
];
