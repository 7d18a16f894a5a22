/**
 * The resources tlsboot serves, each a ResourceDef binding the Kubernetes names, table columns and
 * field selectors to the api layer's validation and strategy: CSRs, Secrets, ConfigMaps, Events,
 * RBAC, Leases, and the create-only access reviews.
 */

import {
  csrConditionSummary,
  prepareBinding,
  prepareConfigMap,
  prepareCsrCreate,
  prepareCsrUpdate,
  prepareRole,
  prepareSecret,
} from '../api/index.ts';
import { humanDuration } from '../base/duration.ts';
import type { JsonObject } from '../base/json.ts';
import type { ResourceDef } from './registry.ts';
import { AGE_COLUMN, DEFAULT_COLUMNS, NAME_COLUMN, type TableColumn } from './table.ts';

const CRUD = ['create', 'delete', 'get', 'list', 'patch', 'update', 'watch'];

function field(obj: JsonObject, ...path: string[]): unknown {
  let cur: unknown = obj;
  for (const p of path) cur = typeof cur === 'object' && cur !== null ? (cur as JsonObject)[p] : undefined;
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
  columns: [
    NAME_COLUMN,
    column('Type', (o) => String(o.type ?? '')),
    column('Data', (o) => Object.keys((field(o, 'data') as JsonObject | undefined) ?? {}).length, 'integer'),
    AGE_COLUMN,
  ],
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
  columns: [
    NAME_COLUMN,
    column(
      'Data',
      (o) =>
        Object.keys((field(o, 'data') as JsonObject | undefined) ?? {}).length +
        Object.keys((field(o, 'binaryData') as JsonObject | undefined) ?? {}).length,
      'integer',
    ),
    AGE_COLUMN,
  ],
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
  reviewResource('subjectaccessreviews', 'SubjectAccessReview'),
  reviewResource('selfsubjectaccessreviews', 'SelfSubjectAccessReview'),
  reviewResource('localsubjectaccessreviews', 'LocalSubjectAccessReview', 'authorization.k8s.io', true),
  reviewResource('selfsubjectrulesreviews', 'SelfSubjectRulesReview'),
  reviewResource('selfsubjectreviews', 'SelfSubjectReview', 'authentication.k8s.io'),
  signingSessionResource,
];
