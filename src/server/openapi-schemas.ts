/**
 * The schema of every kind tlsboot serves, in OpenAPI v2 form (`#/definitions/...` references),
 * named as kube-apiserver names them so that kubectl's validator, `explain` and strategic-merge
 * logic find them. This module owns the field lists, required fields and descriptions; openapi.ts
 * turns them into the v2 and v3 documents. Descriptions are short paraphrases of the Kubernetes
 * API reference.
 */
import { BOOKKEEPING_KINDS } from '../api/bookkeeping.ts';

import { isObject, type JsonObject } from '../base/json.ts';

const META = 'io.k8s.apimachinery.pkg.apis.meta.v1';

type Schema = JsonObject;

const str = (description: string, format?: string): Schema => ({ type: 'string', description, ...(format ? { format } : {}) });
const int = (description: string, format = 'int32'): Schema => ({ type: 'integer', format, description });
const bool = (description: string): Schema => ({ type: 'boolean', description });
const ref = (name: string, description?: string): Schema => ({ $ref: `#/definitions/${name}`, ...(description ? { description } : {}) });
const arr = (items: Schema, description: string, extra: JsonObject = {}): Schema => ({ type: 'array', items, description, ...extra });
const strings = (description: string): Schema => arr({ type: 'string', default: '' }, description);
const map = (values: Schema, description: string): Schema => ({ type: 'object', additionalProperties: values, description });
const time = (description: string): Schema => ref(`${META}.Time`, description);

function obj(description: string, properties: Record<string, Schema>, required: readonly string[] = []): Schema {
  return { type: 'object', description, properties, ...(required.length > 0 ? { required: [...required] } : {}) };
}

/** A top-level kind: apiVersion, kind and metadata first, with the GVK extension kubectl maps kinds by. */
function kind(
  gvk: { group: string; version: string; kind: string },
  description: string,
  properties: Record<string, Schema>,
  required: readonly string[] = [],
): Schema {
  return {
    ...obj(
      description,
      {
        apiVersion: str(
          'The versioned schema of this representation of an object; servers convert recognised schemas to the latest value.',
        ),
        kind: str('The REST resource this object represents, in CamelCase; servers may infer it from the endpoint.'),
        metadata: ref(`${META}.ObjectMeta`, "Standard object's metadata."),
        ...properties,
      },
      required,
    ),
    'x-kubernetes-group-version-kind': [gvk],
  };
}

const resourceAttributes = obj('The information for a resource access request.', {
  namespace: str('The namespace of the action; "" means all namespaces for namespaced resources and nothing for cluster-scoped ones.'),
  verb: str('A Kubernetes resource API verb, such as get, list, watch, create, update, delete, proxy; "*" means all.'),
  group: str('The API group of the resource; "*" means all.'),
  version: str('The API version of the resource; "*" means all.'),
  resource: str('One of the existing resource types; "*" means all.'),
  subresource: str('One of the existing subresources; "" means none.'),
  name: str('The name of the resource being requested for a get or deleted for a delete; "" means all.'),
});

const nonResourceAttributes = obj('The information for a non-resource access request.', {
  path: str('The URL path of the request.'),
  verb: str('The standard HTTP verb.'),
});

const reviewStatus = obj(
  'The result of an access review.',
  {
    allowed: bool('Whether the action is allowed.'),
    denied: bool('Whether the action is explicitly denied; both allowed and denied false means no opinion.'),
    reason: str('Why the action was allowed or denied.'),
    evaluationError: str('An error met while checking authorization; the decision may still be valid.'),
  },
  ['allowed'],
);

const AUTHZ = 'io.k8s.api.authorization.v1';
const authz = (k: string) => ({ group: 'authorization.k8s.io', version: 'v1', kind: k });

/** The definitions, by the names kube-apiserver's OpenAPI gives them. */
export const DEFINITIONS: Record<string, Schema> = {
  [`${META}.Time`]: { type: 'string', format: 'date-time', description: 'An RFC 3339 date and time in UTC, to the second.' },
  [`${META}.MicroTime`]: { type: 'string', format: 'date-time', description: 'An RFC 3339 date and time with microseconds.' },
  [`${META}.FieldsV1`]: { type: 'object', description: 'A set of fields in the structured-merge-diff field-set format.' },
  [`${META}.OwnerReference`]: obj(
    'Enough information to identify an owning object in the same namespace, or a cluster-scoped one.',
    {
      apiVersion: str('API version of the referent.'),
      kind: str('Kind of the referent.'),
      name: str('Name of the referent.'),
      uid: str('UID of the referent.'),
      controller: bool('True when this reference points to the managing controller.'),
      blockOwnerDeletion: bool('When true, the owner cannot be deleted from storage until this reference is removed.'),
    },
    ['apiVersion', 'kind', 'name', 'uid'],
  ),
  [`${META}.ManagedFieldsEntry`]: obj('The workflow that manages a set of fields of an object, and at which version.', {
    apiVersion: str('The version of the resource this field set applies to.'),
    fieldsType: str('The format of fieldsV1; only "FieldsV1" exists.'),
    fieldsV1: ref(`${META}.FieldsV1`, 'The field set, in the FieldsV1 format.'),
    manager: str('An identifier of the workflow managing these fields.'),
    operation: str('The kind of operation that produced this entry: Apply or Update.'),
    subresource: str('The subresource used to update the object, if any.'),
    time: time('When the fields were last changed.'),
  }),
  [`${META}.ObjectMeta`]: obj('Metadata that all persisted resources must have, including all objects users must create.', {
    name: str('Unique within a namespace; required when creating, unless generateName is set. Cannot be updated.'),
    generateName: str('A prefix from which the server generates a unique name when name is empty.'),
    namespace: str('The namespace the object lives in; empty for cluster-scoped objects. Cannot be updated.'),
    uid: str('Unique in time and space, set by the server on create. Read-only.'),
    resourceVersion: str('An opaque version of the object for optimistic concurrency and watches. Read-only.'),
    generation: int('A sequence number of the desired state, set by the system. Read-only.', 'int64'),
    creationTimestamp: time('When the object was created, set by the server. Read-only.'),
    deletionTimestamp: time('When the object will be deleted, set by the server when deletion is requested. Read-only.'),
    deletionGracePeriodSeconds: int('Seconds allowed for graceful termination before removal. Read-only.', 'int64'),
    labels: map({ type: 'string', default: '' }, 'String keys and values to organise and select objects.'),
    annotations: map({ type: 'string', default: '' }, 'Arbitrary non-identifying metadata stored by tools and libraries.'),
    ownerReferences: arr(ref(`${META}.OwnerReference`), 'Objects this object depends on; it is garbage-collected once all are gone.', {
      'x-kubernetes-patch-merge-key': 'uid',
      'x-kubernetes-patch-strategy': 'merge',
    }),
    finalizers: arr({ type: 'string', default: '' }, 'Must be empty before the object is removed from the registry.', {
      'x-kubernetes-patch-strategy': 'merge',
    }),
    managedFields: arr(ref(`${META}.ManagedFieldsEntry`), 'Which workflow manages which fields; maintained by the server.'),
  }),
  [`${META}.ListMeta`]: obj('Metadata of a list.', {
    resourceVersion: str('The revision the list was read at.'),
    continue: str('A token to fetch the next page, when the list was limited.'),
    remainingItemCount: int('How many items remain after this page, when known.', 'int64'),
  }),

  'io.k8s.api.core.v1.ConfigMap': kind({ group: '', version: 'v1', kind: 'ConfigMap' }, 'Configuration data for pods to consume.', {
    data: map({ type: 'string', default: '' }, 'UTF-8 configuration data; keys are alphanumerics, "-", "_" or ".".'),
    binaryData: map({ type: 'string', format: 'byte' }, 'Binary configuration data, base64-encoded; keys may not overlap data.'),
    immutable: bool('When true, data cannot be changed, only the object deleted and recreated.'),
  }),
  'io.k8s.api.core.v1.Secret': kind({ group: '', version: 'v1', kind: 'Secret' }, 'Secret data of a certain type, up to 1 MiB.', {
    data: map({ type: 'string', format: 'byte' }, 'Secret data, base64-encoded values.'),
    stringData: map({ type: 'string', default: '' }, 'Write-only plain-text values merged into data on write.'),
    type: str('The type of the secret, which constrains its keys (e.g. bootstrap.kubernetes.io/token).'),
    immutable: bool('When true, data cannot be changed, only the object deleted and recreated.'),
  }),
  'io.k8s.api.core.v1.NodeAddress': obj(
    "One of a node's addresses.",
    {
      type: str('The kind of address: Hostname, ExternalIP, InternalIP, ExternalDNS or InternalDNS.'),
      address: str('The address itself.'),
    },
    ['type', 'address'],
  ),
  'io.k8s.api.core.v1.Taint': obj(
    'Repels pods that do not tolerate it from the node it is on.',
    {
      key: str('The taint key.'),
      value: str('The taint value.'),
      effect: str('NoSchedule, PreferNoSchedule or NoExecute.'),
      timeAdded: time('When a NoExecute taint was added.'),
    },
    ['key', 'effect'],
  ),
  'io.k8s.api.core.v1.NodeCondition': obj(
    'One aspect of the state of a node.',
    {
      type: str('The condition type, such as Ready.'),
      status: str('True, False or Unknown.'),
      lastHeartbeatTime: time('When the condition was last reported.'),
      lastTransitionTime: time('When the status last changed.'),
      reason: str('A machine-readable reason for the last transition.'),
      message: str('A human-readable account of the last transition.'),
    },
    ['type', 'status'],
  ),
  'io.k8s.api.core.v1.NodeSystemInfo': obj('Facts about the node the kubelet reports.', {
    machineID: str('The machine ID.'),
    systemUUID: str('The system UUID.'),
    bootID: str('The boot ID.'),
    kernelVersion: str('The kernel version.'),
    osImage: str('The OS image.'),
    containerRuntimeVersion: str('The container runtime and its version.'),
    kubeletVersion: str('The kubelet version.'),
    kubeProxyVersion: str('Deprecated: the kube-proxy version.'),
    operatingSystem: str('The operating system.'),
    architecture: str('The architecture.'),
    swap: { type: 'object', description: 'Swap memory information.' },
  }),
  'io.k8s.api.core.v1.NodeSpec': obj('How the node is to be used.', {
    podCIDR: str('The pod IP range assigned to the node.'),
    podCIDRs: strings('The pod IP ranges assigned to the node.'),
    providerID: str('The node ID the cloud provider assigned.'),
    unschedulable: bool('When true, no new pods are scheduled onto the node (cordoned).'),
    taints: arr(ref('io.k8s.api.core.v1.Taint'), "The node's taints."),
    configSource: { type: 'object', description: 'Deprecated: dynamic kubelet configuration.' },
    externalID: str('Deprecated.'),
  }),
  'io.k8s.api.core.v1.NodeStatus': obj('The most recently observed state of the node, reported by the node.', {
    capacity: map({ type: 'string' }, 'The total resources of the node.'),
    allocatable: map({ type: 'string' }, 'The resources available for scheduling.'),
    phase: str('Deprecated: the lifecycle phase.'),
    conditions: arr(ref('io.k8s.api.core.v1.NodeCondition'), "The node's conditions.", {
      'x-kubernetes-patch-merge-key': 'type',
      'x-kubernetes-patch-strategy': 'merge',
    }),
    addresses: arr(ref('io.k8s.api.core.v1.NodeAddress'), "The node's addresses; tlsboot's serving approver takes them as evidence.", {
      'x-kubernetes-patch-merge-key': 'type',
      'x-kubernetes-patch-strategy': 'merge',
    }),
    daemonEndpoints: { type: 'object', description: 'Endpoints of daemons running on the node.' },
    nodeInfo: ref('io.k8s.api.core.v1.NodeSystemInfo', 'Facts about the node.'),
    images: arr({ type: 'object' }, 'Container images on the node.'),
    volumesInUse: strings('Attachable volumes in use.'),
    volumesAttached: arr({ type: 'object' }, 'Volumes attached to the node.'),
    config: { type: 'object', description: 'Deprecated: dynamic kubelet configuration status.' },
    runtimeHandlers: arr({ type: 'object' }, 'The available runtime handlers.'),
    features: { type: 'object', description: 'Features the node implements.' },
  }),
  'io.k8s.api.core.v1.Node': kind(
    { group: '', version: 'v1', kind: 'Node' },
    'A worker machine of the cluster, registered by its kubelet (tlsboot agent).',
    {
      spec: ref('io.k8s.api.core.v1.NodeSpec', 'How the node is to be used.'),
      status: ref('io.k8s.api.core.v1.NodeStatus', 'The state of the node, written by the node through the status subresource.'),
    },
  ),
  'io.k8s.api.core.v1.ObjectReference': obj('A reference to an object, enough to inspect or modify it.', {
    apiVersion: str('API version of the referent.'),
    kind: str('Kind of the referent.'),
    name: str('Name of the referent.'),
    namespace: str('Namespace of the referent.'),
    uid: str('UID of the referent.'),
    resourceVersion: str('The resourceVersion the reference was taken at.'),
    fieldPath: str('A field within the object, for a part of it such as a container.'),
  }),
  'io.k8s.api.core.v1.EventSource': obj('The component that reported an event.', {
    component: str('The component from which the event was generated.'),
    host: str('The node name on which the event was generated.'),
  }),
  'io.k8s.api.core.v1.Event': kind(
    { group: '', version: 'v1', kind: 'Event' },
    'A report of something that happened in the cluster.',
    {
      involvedObject: ref('io.k8s.api.core.v1.ObjectReference', 'The object this event is about.'),
      reason: str('A short, machine-understandable reason for the transition into the object current status.'),
      message: str('A human-readable description of the event.'),
      source: ref('io.k8s.api.core.v1.EventSource', 'The component reporting the event.'),
      firstTimestamp: time('When the event was first recorded.'),
      lastTimestamp: time('When the event most recently occurred.'),
      count: int('How many times the event has occurred.'),
      type: str('Normal or Warning.'),
      eventTime: ref(`${META}.MicroTime`, 'When the event was first observed.'),
      action: str('What action was taken or failed about the involved object.'),
      reportingComponent: str('The controller that emitted the event.'),
      reportingInstance: str('The ID of the controller instance.'),
    },
    ['metadata', 'involvedObject'],
  ),

  'io.k8s.api.certificates.v1.CertificateSigningRequest': kind(
    { group: 'certificates.k8s.io', version: 'v1', kind: 'CertificateSigningRequest' },
    'A request for a certificate from a named signer; approved or denied, then signed into status.certificate.',
    {
      spec: ref('io.k8s.api.certificates.v1.CertificateSigningRequestSpec', 'The certificate request, and the requester; immutable.'),
      status: ref(
        'io.k8s.api.certificates.v1.CertificateSigningRequestStatus',
        'The approval conditions and the issued certificate, set through the approval and status subresources.',
      ),
    },
    ['spec'],
  ),
  'io.k8s.api.certificates.v1.CertificateSigningRequestSpec': obj(
    'The certificate request and the identity of its requester.',
    {
      request: str('A PEM-encoded PKCS#10 CERTIFICATE REQUEST, base64-encoded in JSON.', 'byte'),
      signerName: str('The signer the request is for, such as kubernetes.io/kube-apiserver-client-kubelet.'),
      expirationSeconds: int('The requested validity of the certificate in seconds, at least 600; the signer may shorten it.'),
      usages: {
        ...strings('The key usages requested, such as "digital signature", "key encipherment", "client auth", "server auth".'),
        'x-kubernetes-list-type': 'atomic',
      },
      username: str('The user who created the request, set by the server.'),
      uid: str('The UID of the user who created the request, set by the server.'),
      groups: { ...strings('The groups of the user who created the request, set by the server.'), 'x-kubernetes-list-type': 'atomic' },
      extra: map(arr({ type: 'string', default: '' }, ''), 'Extra attributes of the requesting user, set by the server.'),
    },
    ['request', 'signerName'],
  ),
  'io.k8s.api.certificates.v1.CertificateSigningRequestStatus': obj('The state of the request.', {
    conditions: arr(
      ref('io.k8s.api.certificates.v1.CertificateSigningRequestCondition'),
      'Approved, Denied and Failed conditions; at most one of Approved and Denied.',
      { 'x-kubernetes-list-map-keys': ['type'], 'x-kubernetes-list-type': 'map' },
    ),
    certificate: {
      type: 'string',
      format: 'byte',
      description: 'The issued certificate chain, PEM-encoded, set by the signer once approved.',
      'x-kubernetes-list-type': 'atomic',
    },
  }),
  'io.k8s.api.certificates.v1.CertificateSigningRequestCondition': obj(
    'One condition of a request.',
    {
      type: str('Approved, Denied or Failed.'),
      status: str('True or False; Approved and Denied may only be True.'),
      reason: str('A brief machine-readable reason for the condition.'),
      message: str('A human-readable explanation.'),
      lastUpdateTime: time('When the condition was last updated.'),
      lastTransitionTime: time('When the condition last changed status.'),
    },
    ['type', 'status'],
  ),

  'io.k8s.api.rbac.v1.PolicyRule': obj(
    'What actions a rule allows, on which resources or non-resource URLs.',
    {
      verbs: strings('The verbs allowed, or "*" for all.'),
      apiGroups: strings('The API groups of the resources; "" is the core group, "*" all groups.'),
      resources: strings('The resources the rule applies to; "*" all, "r/sub" a subresource.'),
      resourceNames: strings('Names the rule is restricted to; empty means every name.'),
      nonResourceURLs: strings('Non-resource URL paths the rule applies to (cluster roles only); a trailing "*" is a prefix.'),
    },
    ['verbs'],
  ),
  'io.k8s.api.rbac.v1.Subject': obj(
    'A user, group or service account a binding applies to.',
    {
      kind: str('User, Group or ServiceAccount.'),
      apiGroup: str('rbac.authorization.k8s.io for users and groups, "" for service accounts.'),
      name: str('The name of the subject.'),
      namespace: str('The namespace of a service account; empty for users and groups.'),
    },
    ['kind', 'name'],
  ),
  'io.k8s.api.rbac.v1.RoleRef': obj(
    'The role a binding grants.',
    {
      apiGroup: str('The group of the role: rbac.authorization.k8s.io.'),
      kind: str('Role or ClusterRole.'),
      name: str('The name of the role.'),
    },
    ['apiGroup', 'kind', 'name'],
  ),
  'io.k8s.api.rbac.v1.AggregationRule': obj('How to build a ClusterRole from others.', {
    clusterRoleSelectors: arr({ type: 'object' }, 'Label selectors of the ClusterRoles whose rules are aggregated.'),
  }),
  'io.k8s.api.rbac.v1.Role': kind(
    { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'Role' },
    'A namespaced set of policy rules, granted by a RoleBinding.',
    { rules: arr(ref('io.k8s.api.rbac.v1.PolicyRule'), 'The policy rules of this role.') },
  ),
  'io.k8s.api.rbac.v1.ClusterRole': kind(
    { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRole' },
    'A cluster-wide set of policy rules, granted by a ClusterRoleBinding or in a namespace by a RoleBinding.',
    {
      rules: arr(ref('io.k8s.api.rbac.v1.PolicyRule'), 'The policy rules of this cluster role.'),
      aggregationRule: ref('io.k8s.api.rbac.v1.AggregationRule', 'When set, the rules are computed from other ClusterRoles.'),
    },
  ),
  'io.k8s.api.rbac.v1.RoleBinding': kind(
    { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'RoleBinding' },
    'Grants a Role or ClusterRole to subjects inside one namespace.',
    {
      subjects: arr(ref('io.k8s.api.rbac.v1.Subject'), 'The users, groups and service accounts granted the role.'),
      roleRef: ref('io.k8s.api.rbac.v1.RoleRef', 'The role granted; cannot be changed.'),
    },
    ['roleRef'],
  ),
  'io.k8s.api.rbac.v1.ClusterRoleBinding': kind(
    { group: 'rbac.authorization.k8s.io', version: 'v1', kind: 'ClusterRoleBinding' },
    'Grants a ClusterRole to subjects in every namespace.',
    {
      subjects: arr(ref('io.k8s.api.rbac.v1.Subject'), 'The users, groups and service accounts granted the role.'),
      roleRef: ref('io.k8s.api.rbac.v1.RoleRef', 'The cluster role granted; cannot be changed.'),
    },
    ['roleRef'],
  ),

  'io.k8s.api.coordination.v1.LeaseSpec': obj('The holder and timing of a lease.', {
    holderIdentity: str('The identity of the current holder.'),
    leaseDurationSeconds: int('How long candidates wait after the last renewal before taking the lease.'),
    acquireTime: ref(`${META}.MicroTime`, 'When the current holder acquired the lease.'),
    renewTime: ref(`${META}.MicroTime`, 'When the holder last renewed the lease.'),
    leaseTransitions: int('How many times the lease changed holders.'),
  }),
  'io.k8s.api.coordination.v1.Lease': kind(
    { group: 'coordination.k8s.io', version: 'v1', kind: 'Lease' },
    'A lease, used for leader election among controllers.',
    { spec: ref('io.k8s.api.coordination.v1.LeaseSpec', 'The lease holder and timing.') },
  ),

  [`${AUTHZ}.ResourceAttributes`]: resourceAttributes,
  [`${AUTHZ}.NonResourceAttributes`]: nonResourceAttributes,
  [`${AUTHZ}.SubjectAccessReviewStatus`]: reviewStatus,
  [`${AUTHZ}.SubjectAccessReviewSpec`]: obj(
    'An access question about a user: exactly one of resourceAttributes and nonResourceAttributes.',
    {
      resourceAttributes: ref(`${AUTHZ}.ResourceAttributes`, 'The resource access asked about.'),
      nonResourceAttributes: ref(`${AUTHZ}.NonResourceAttributes`, 'The non-resource access asked about.'),
      user: str('The user to test for.'),
      groups: strings('The groups to test for.'),
      uid: str('The UID of the user.'),
      extra: map(arr({ type: 'string', default: '' }, ''), 'Extra attributes of the user.'),
    },
  ),
  [`${AUTHZ}.SelfSubjectAccessReviewSpec`]: obj(
    'An access question about the requesting user: exactly one of resourceAttributes and nonResourceAttributes.',
    {
      resourceAttributes: ref(`${AUTHZ}.ResourceAttributes`, 'The resource access asked about.'),
      nonResourceAttributes: ref(`${AUTHZ}.NonResourceAttributes`, 'The non-resource access asked about.'),
    },
  ),
  [`${AUTHZ}.SubjectAccessReview`]: kind(
    authz('SubjectAccessReview'),
    'Asks whether a user or group may perform an action.',
    {
      spec: ref(`${AUTHZ}.SubjectAccessReviewSpec`, 'The question.'),
      status: ref(`${AUTHZ}.SubjectAccessReviewStatus`, 'The answer, set by the server.'),
    },
    ['spec'],
  ),
  [`${AUTHZ}.LocalSubjectAccessReview`]: kind(
    authz('LocalSubjectAccessReview'),
    'Asks whether a user or group may perform an action in one namespace.',
    {
      spec: ref(`${AUTHZ}.SubjectAccessReviewSpec`, 'The question; resourceAttributes.namespace must be this namespace.'),
      status: ref(`${AUTHZ}.SubjectAccessReviewStatus`, 'The answer, set by the server.'),
    },
    ['spec'],
  ),
  [`${AUTHZ}.SelfSubjectAccessReview`]: kind(
    authz('SelfSubjectAccessReview'),
    'Asks whether the requesting user may perform an action.',
    {
      spec: ref(`${AUTHZ}.SelfSubjectAccessReviewSpec`, 'The question.'),
      status: ref(`${AUTHZ}.SubjectAccessReviewStatus`, 'The answer, set by the server.'),
    },
    ['spec'],
  ),
  [`${AUTHZ}.ResourceRule`]: obj(
    'Actions allowed on resources; incomplete lists are possible.',
    {
      verbs: strings('The verbs allowed, or "*".'),
      apiGroups: strings('The API groups of the resources.'),
      resources: strings('The resources, or "*".'),
      resourceNames: strings('The names allowed; empty means all.'),
    },
    ['verbs'],
  ),
  [`${AUTHZ}.NonResourceRule`]: obj(
    'Actions allowed on non-resource URLs.',
    { verbs: strings('The verbs allowed, or "*".'), nonResourceURLs: strings('The URL paths; a trailing "*" is a prefix.') },
    ['verbs'],
  ),
  [`${AUTHZ}.SelfSubjectRulesReviewSpec`]: obj('Which namespace to list rules in.', {
    namespace: str('The namespace to evaluate rules for.'),
  }),
  [`${AUTHZ}.SubjectRulesReviewStatus`]: obj(
    'The rules the user has in the namespace.',
    {
      resourceRules: arr(ref(`${AUTHZ}.ResourceRule`), 'Actions allowed on resources.'),
      nonResourceRules: arr(ref(`${AUTHZ}.NonResourceRule`), 'Actions allowed on non-resource URLs.'),
      incomplete: bool('True when the authorizer cannot list every rule (not the case with RBAC alone).'),
      evaluationError: str('An error met while listing rules.'),
    },
    ['resourceRules', 'nonResourceRules', 'incomplete'],
  ),
  [`${AUTHZ}.SelfSubjectRulesReview`]: kind(
    authz('SelfSubjectRulesReview'),
    'Lists the actions the requesting user may perform in a namespace.',
    {
      spec: ref(`${AUTHZ}.SelfSubjectRulesReviewSpec`, 'The namespace asked about.'),
      status: ref(`${AUTHZ}.SubjectRulesReviewStatus`, 'The rules, set by the server.'),
    },
    ['spec'],
  ),

  'io.k8s.api.authentication.v1.UserInfo': obj('The identity of a user.', {
    username: str('The name of the user.'),
    uid: str('A unique value that identifies the user across time.'),
    groups: strings('The groups the user belongs to.'),
    extra: map(arr({ type: 'string', default: '' }, ''), 'Further information from the authenticator.'),
  }),
  'io.k8s.api.authentication.v1.SelfSubjectReviewStatus': obj('The user as the server authenticated them.', {
    userInfo: ref('io.k8s.api.authentication.v1.UserInfo', 'The authenticated user.'),
  }),
  'io.k8s.api.authentication.v1.SelfSubjectReview': kind(
    { group: 'authentication.k8s.io', version: 'v1', kind: 'SelfSubjectReview' },
    'Returns the user attributes the server authenticated the request with (kubectl auth whoami).',
    { status: ref('io.k8s.api.authentication.v1.SelfSubjectReviewStatus', 'The authenticated user, set by the server.') },
  ),

  'io.tlsboot.ca.v1alpha1.SigningSession': kind(
    { group: 'ca.tlsboot.io', version: 'v1alpha1', kind: 'SigningSession' },
    'A time-boxed window in which a sealed or remote CA signs certificates.',
    {
      // Free-form: a create carries secrets (passphrase, grant) that no client should validate away.
      spec: {
        type: 'object',
        description: 'The limits of the session (ttlSeconds, maxCertificates, signerNames) and how to unlock the CA.',
      },
      status: { type: 'object', description: 'The state of the session (mode, phase, signed, expiresAt, openedBy), set by the server.' },
    },
  ),

  'io.tlsboot.v1alpha1.TransactionWrite': obj(
    'One write of a transaction, authorised and admitted as its own request would be.',
    {
      verb: str('create or update.'),
      apiVersion: str('The apiVersion of the resource written.'),
      resource: str('The plural resource written.'),
      subresource: str('For an update: status or approval, where the resource has it.'),
      namespace: str('For a namespaced resource.'),
      name: str('For an update: the object written (a create names it in object.metadata.name).'),
      object: { type: 'object', description: 'The object, as the request body of that write.' },
    },
    ['verb', 'apiVersion', 'resource', 'object'],
  ),
  'io.tlsboot.v1alpha1.Transaction': kind(
    { group: 'tlsboot.io', version: 'v1alpha1', kind: 'Transaction' },
    'Several writes applied all or none in one durable write; created, never stored.',
    {
      spec: obj('The writes, in order.', { writes: arr(ref('io.tlsboot.v1alpha1.TransactionWrite'), 'At most 16.') }, ['writes']),
      status: obj('Set by the server.', { objects: arr({ type: 'object' }, 'The stored objects, in write order.') }),
    },
    ['spec'],
  ),
};

for (const k of BOOKKEEPING_KINDS) {
  const r = k.resource;
  DEFINITIONS[`io.tlsboot.${r.version}.${r.kind}`] = kind(
    { group: r.group, version: r.version, kind: r.kind },
    k.description,
    Object.fromEntries(
      Object.entries(k.fields).map(([name, f]) => [
        name,
        f.type === 'map' ? map({ type: 'string', default: '' }, f.description) : str(f.description),
      ]),
    ),
  );
}

/** Definition names by `group/version/kind`, from the extension itself so that the two cannot disagree. */
const BY_KIND = new Map<string, string>();
for (const [name, schema] of Object.entries(DEFINITIONS)) {
  const gvks = schema['x-kubernetes-group-version-kind'];
  if (!Array.isArray(gvks)) continue;
  for (const g of gvks) if (isObject(g)) BY_KIND.set(`${String(g.group)}/${String(g.version)}/${String(g.kind)}`, name);
}

/** The definition name of a served kind, or undefined when none is described. */
export function definitionOf(group: string, version: string, kind: string): string | undefined {
  return BY_KIND.get(`${group}/${version}/${kind}`);
}
