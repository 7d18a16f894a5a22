import type { JsonObject } from '../base/json.ts';

/**
 * The RBAC objects a fresh control plane starts with: Kubernetes' bootstrap roles for discovery
 * and CSRs, kubeadm's bindings for bootstrap tokens and node renewal, `kubeadm:cluster-admins`
 * for admin.conf, and anonymous read of `kube-public/cluster-info`. Created when absent at
 * start-up and otherwise left alone, so an operator's edits survive restarts.
 */

const RBAC = 'rbac.authorization.k8s.io/v1';
const DEFAULT_TOKEN_GROUP = 'system:bootstrappers:kubeadm:default-node-token';

export const CERT_SIGNERS = [
  'kubernetes.io/kube-apiserver-client',
  'kubernetes.io/kube-apiserver-client-kubelet',
  'kubernetes.io/kubelet-serving',
  'kubernetes.io/legacy-unknown',
] as const;

interface Rule {
  readonly apiGroups?: readonly string[];
  readonly resources?: readonly string[];
  readonly resourceNames?: readonly string[];
  readonly nonResourceURLs?: readonly string[];
  readonly verbs: readonly string[];
}

const bootstrapLabels = { 'kubernetes.io/bootstrapping': 'rbac-defaults' };

function clusterRole(name: string, rules: readonly Rule[]): JsonObject {
  return { apiVersion: RBAC, kind: 'ClusterRole', metadata: { name, labels: bootstrapLabels }, rules };
}

function subject(kind: 'Group' | 'User', name: string): JsonObject {
  return { kind, apiGroup: 'rbac.authorization.k8s.io', name };
}

function clusterRoleBinding(name: string, role: string, subjects: readonly JsonObject[]): JsonObject {
  return {
    apiVersion: RBAC,
    kind: 'ClusterRoleBinding',
    metadata: { name, labels: bootstrapLabels },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: role },
    subjects,
  };
}

const CSR = 'certificates.k8s.io';

/**
 * Kubernetes' system:monitoring role, for scrapers, bound to the group system:monitoring: a
 * Prometheus whose client certificate says O=system:monitoring (or a token in that group) may
 * read /metrics and the health paths.
 */
export const MONITORING_RULES: readonly Rule[] = [
  { nonResourceURLs: ['/healthz', '/healthz/*', '/livez', '/livez/*', '/metrics', '/readyz', '/readyz/*'], verbs: ['get'] },
];

export const BOOTSTRAP_CLUSTER_ROLES: readonly JsonObject[] = [
  clusterRole('cluster-admin', [
    { apiGroups: ['*'], resources: ['*'], verbs: ['*'] },
    { nonResourceURLs: ['*'], verbs: ['*'] },
  ]),
  clusterRole('system:discovery', [
    {
      nonResourceURLs: [
        '/api',
        '/api/*',
        '/apis',
        '/apis/*',
        '/healthz',
        '/livez',
        '/openapi',
        '/openapi/*',
        '/readyz',
        '/version',
        '/version/',
      ],
      verbs: ['get'],
    },
  ]),
  clusterRole('system:public-info-viewer', [
    { nonResourceURLs: ['/healthz', '/livez', '/readyz', '/version', '/version/'], verbs: ['get'] },
  ]),
  clusterRole('system:monitoring', MONITORING_RULES),
  clusterRole('system:basic-user', [
    { apiGroups: ['authorization.k8s.io'], resources: ['selfsubjectaccessreviews', 'selfsubjectrulesreviews'], verbs: ['create'] },
    { apiGroups: ['authentication.k8s.io'], resources: ['selfsubjectreviews'], verbs: ['create'] },
  ]),
  // CRLs are signed and must reach every party that checks a certificate (plugins/crl.ts).
  clusterRole('tlsboot:crl-reader', [{ nonResourceURLs: ['/crl/*'], verbs: ['get'] }]),
  // Revoking certificates without the rest of cluster-admin: bind it to the people who may.
  clusterRole('tlsboot:certificate-revoker', [
    { apiGroups: ['tlsboot.io'], resources: ['certificaterevocations'], verbs: ['create', 'get', 'list', 'watch'] },
    { apiGroups: ['tlsboot.io'], resources: ['issuedcertificates'], verbs: ['get', 'list'] },
  ]),
  clusterRole('system:node-bootstrapper', [
    { apiGroups: [CSR], resources: ['certificatesigningrequests'], verbs: ['create', 'get', 'list', 'watch'] },
  ]),
  clusterRole('system:certificates.k8s.io:certificatesigningrequests:nodeclient', [
    { apiGroups: [CSR], resources: ['certificatesigningrequests/nodeclient'], verbs: ['create'] },
  ]),
  clusterRole('system:certificates.k8s.io:certificatesigningrequests:selfnodeclient', [
    { apiGroups: [CSR], resources: ['certificatesigningrequests/selfnodeclient'], verbs: ['create'] },
  ]),
  clusterRole('system:certificates.k8s.io:kube-apiserver-client-approver', [
    { apiGroups: [CSR], resources: ['signers'], resourceNames: ['kubernetes.io/kube-apiserver-client'], verbs: ['approve'] },
  ]),
  clusterRole('system:certificates.k8s.io:kube-apiserver-client-kubelet-approver', [
    { apiGroups: [CSR], resources: ['signers'], resourceNames: ['kubernetes.io/kube-apiserver-client-kubelet'], verbs: ['approve'] },
  ]),
  clusterRole('system:certificates.k8s.io:kubelet-serving-approver', [
    { apiGroups: [CSR], resources: ['signers'], resourceNames: ['kubernetes.io/kubelet-serving'], verbs: ['approve'] },
  ]),
  clusterRole('system:certificates.k8s.io:legacy-unknown-approver', [
    { apiGroups: [CSR], resources: ['signers'], resourceNames: ['kubernetes.io/legacy-unknown'], verbs: ['approve'] },
  ]),
  // Kubernetes gives nodes their CSR rights through the Node authorizer; tlsboot has no Node
  // objects, so the same rights are an ordinary role bound to system:nodes.
  clusterRole('tlsboot:node-certificates', [
    { apiGroups: [CSR], resources: ['certificatesigningrequests'], verbs: ['create', 'get', 'list', 'watch'] },
  ]),
  // What kube's system:node role gives kubelets on Nodes; node restriction narrows it to the
  // node's own Node (src/server/node-restriction.ts). A separate role, so that clusters whose
  // tlsboot:node-certificates predates Nodes get it at their next start.
  clusterRole('tlsboot:node-objects', [
    { apiGroups: [''], resources: ['nodes'], verbs: ['create', 'get', 'list', 'watch', 'update', 'patch'] },
    { apiGroups: [''], resources: ['nodes/status'], verbs: ['get', 'update', 'patch'] },
  ]),
];

export const BOOTSTRAP_CLUSTER_ROLE_BINDINGS: readonly JsonObject[] = [
  clusterRoleBinding('cluster-admin', 'cluster-admin', [subject('Group', 'system:masters')]),
  clusterRoleBinding('kubeadm:cluster-admins', 'cluster-admin', [subject('Group', 'kubeadm:cluster-admins')]),
  clusterRoleBinding('system:discovery', 'system:discovery', [subject('Group', 'system:authenticated')]),
  clusterRoleBinding('system:public-info-viewer', 'system:public-info-viewer', [
    subject('Group', 'system:authenticated'),
    subject('Group', 'system:unauthenticated'),
  ]),
  clusterRoleBinding('system:monitoring', 'system:monitoring', [subject('Group', 'system:monitoring')]),
  clusterRoleBinding('system:basic-user', 'system:basic-user', [subject('Group', 'system:authenticated')]),
  clusterRoleBinding('tlsboot:crl-reader', 'tlsboot:crl-reader', [
    subject('Group', 'system:authenticated'),
    subject('Group', 'system:unauthenticated'),
  ]),
  clusterRoleBinding('kubeadm:kubelet-bootstrap', 'system:node-bootstrapper', [subject('Group', DEFAULT_TOKEN_GROUP)]),
  clusterRoleBinding('kubeadm:node-autoapprove-bootstrap', 'system:certificates.k8s.io:certificatesigningrequests:nodeclient', [
    subject('Group', DEFAULT_TOKEN_GROUP),
  ]),
  clusterRoleBinding(
    'kubeadm:node-autoapprove-certificate-rotation',
    'system:certificates.k8s.io:certificatesigningrequests:selfnodeclient',
    [subject('Group', 'system:nodes')],
  ),
  clusterRoleBinding('tlsboot:node-certificates', 'tlsboot:node-certificates', [subject('Group', 'system:nodes')]),
  clusterRoleBinding('tlsboot:node-objects', 'tlsboot:node-objects', [subject('Group', 'system:nodes')]),
];

export const BOOTSTRAP_ROLES: readonly JsonObject[] = [
  {
    apiVersion: RBAC,
    kind: 'Role',
    metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
    rules: [{ apiGroups: [''], resources: ['configmaps'], resourceNames: ['cluster-info'], verbs: ['get'] }],
  },
];

export const BOOTSTRAP_ROLE_BINDINGS: readonly JsonObject[] = [
  {
    apiVersion: RBAC,
    kind: 'RoleBinding',
    metadata: { name: 'kubeadm:bootstrap-signer-clusterinfo', namespace: 'kube-public' },
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'Role', name: 'kubeadm:bootstrap-signer-clusterinfo' },
    subjects: [subject('User', 'system:anonymous')],
  },
];
