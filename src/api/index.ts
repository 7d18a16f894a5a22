/** The public surface of the API layer: resource types, validation, strategies and Status mapping. */
export type { CsrCondition, ValidatedCsrSpec } from './certificates.ts';
export {
  csrCertificatePem,
  csrConditionSummary,
  csrConditions,
  csrIsPending,
  isNodeClientRequest,
  isSelfNodeClientRequest,
  PRIVILEGED_GROUPS,
  parseCsrRequestField,
  prepareCsrCreate,
  prepareCsrUpdate,
  SIGNER_KUBE_APISERVER_CLIENT,
  SIGNER_KUBELET_CLIENT,
  SIGNER_KUBELET_SERVING,
  SIGNER_LEGACY_UNKNOWN,
  signerPolicyProblem,
  USAGES,
  validateCsrSpec,
  validateSignerName,
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
export type { AuthorizationAttributes, BindingLike, Decision, PolicyRule, RbacPolicy, RoleLike, UserInfo } from './rbac.ts';
export { authorize, prepareBinding, prepareRole, rulesFor } from './rbac.ts';
export type { StatusDetails, StatusResponse } from './status.ts';
export { STATUS_TABLE, toStatus } from './status.ts';
