/** The public surface of the API layer: resource types, validation, strategies and Status mapping. */
export type { ValidatedCsrSpec } from './certificates.ts';
export {
  csrConditionSummary,
  isNodeClientRequest,
  isSelfNodeClientRequest,
  PRIVILEGED_GROUPS,
  parseCsrRequestField,
  prepareCsrCreate,
  prepareCsrUpdate,
  SIGNER_CONTROL_PLANE_SERVING,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  SIGNER_LEGACY_UNKNOWN,
  signerPolicyProblem,
  USAGES,
  validateCsrSpec,
  validateSignerName,
  warmCsrRequestField,
  x509Usages,
} from './certificates.ts';
export type { BootstrapToken, TokenCheck, TokenExpiry, TokenFacts, TokenSecretParams, TokenSecretProblem } from './core.ts';
export {
  BOOTSTRAP_GROUP,
  BOOTSTRAP_TOKEN_NAMESPACE,
  BOOTSTRAP_TOKEN_PREFIX,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  bootstrapTokenAuthentication,
  bootstrapTokenSecret,
  bootstrapTokenSecretName,
  bootstrapTokenUser,
  checkBootstrapTokenSecret,
  EXTRA_GROUP_PATTERN,
  generateToken,
  matchBootstrapToken,
  parseBootstrapToken,
  prepareConfigMap,
  prepareSecret,
  secretString,
  secretsEqual,
  TOKEN_ALPHABET,
  TOKEN_ID_PATTERN,
  TOKEN_PATTERN,
  TOKEN_SECRET_PATTERN,
  tokenExpired,
  tokenExpiry,
  tokenSecretProblem,
} from './core.ts';
export type {
  CertificateSigningRequest,
  CertificateSigningRequestSpec,
  CertificateSigningRequestStatus,
  CsrCondition,
} from './csr.ts';
export {
  asCertificateSigningRequest,
  asCertificateSigningRequestList,
  asCsrCondition,
  CERTIFICATE_SIGNING_REQUEST,
  CSR_API_VERSION,
  CSR_KIND,
  csrCertificatePem,
  csrConditions,
  csrHasCondition,
  csrIsApproved,
  csrIsDenied,
  csrIsFailed,
  csrIsPending,
  isCertificateSigningRequest,
} from './csr.ts';
export type { NodeNameContext, ReservedIdentities, ReservedSource } from './identity.ts';
export {
  ADDRESS_CLAIM_RESOURCE,
  addressClaimName,
  dns1123SubdomainProblem,
  NODE_ADDRESSES_RESOURCE,
  NODE_CLIENT_RESOURCE,
  NODE_NAME_CLAIM_RESOURCE,
  NodeNameIndex,
  nodeNameOf,
  nodeNameProblem,
  normalDnsName,
  requestedNodeName,
  reservedIdentities,
  reservedIpSource,
  reservedNameSource,
  reservedSanProblems,
} from './identity.ts';
export type { ClientKubeconfigParams, Kubeconfig, ResolvedKubeconfig } from './kubeconfig.ts';
export { buildKubeconfig, parseKubeconfig, resolveKubeconfig } from './kubeconfig.ts';
export type { List, ListMeta, ObjectMeta, Status, StatusCauseBody, WatchEvent, WatchEventType } from './meta.ts';
export {
  asList,
  asObjectMeta,
  asStatus,
  asWatchEvent,
  isStatus,
  isWatchEvent,
  looseMetadataOf,
  metadataOf,
  metadataString,
  OBJECT_META,
  WATCH_EVENT_TYPES,
} from './meta.ts';
export type { Node, NodeAddress, NodeAddressType, NodeTaint } from './nodes.ts';
export {
  isNode,
  NODE_ADDRESS_TYPES,
  NODE_RESTRICTION_LABEL_PREFIX,
  NODES_GROUP,
  NodeAddressIndex,
  nodeAddresses,
  nodeAddressesInclude,
  nodeOfUser,
  prepareNodeCreate,
  prepareNodeUpdate,
} from './nodes.ts';
export type { ConfigMap, Lease, LeaseSpec, Secret } from './objects.ts';
export { asConfigMap, asLease, asSecret, CONFIG_MAP, LEASE, LEASE_API_VERSION, SECRET } from './objects.ts';
export type { AuthorizationAttributes, BindingLike, Decision, PolicyRule, RbacPolicy, RoleLike, UserInfo } from './rbac.ts';
export { authorize, prepareBinding, prepareRole, rulesFor } from './rbac.ts';
export type { StatusDetails, StatusResponse } from './status.ts';
export { STATUS_TABLE, toStatus } from './status.ts';
