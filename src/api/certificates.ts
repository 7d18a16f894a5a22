/**
 * CertificateSigningRequest (`certificates.k8s.io/v1`) as Kubernetes defines it: the object shape,
 * every validation rule of reference §3.4, the registry strategy of §3.5 (what create, update,
 * `/status` and `/approval` may change), the usage strings and their X.509 meaning, the built-in
 * signers' policies (§4.3), the kubelet-client recognisers the approver uses (§5), and kubectl's
 * CONDITION summary. Errors name the Kubernetes field path. Pure; `now` is passed in.
 */
import { BadRequestError, InvalidError, NotFoundError, TlsbootError } from '../base/errors.ts';

import { isObject, type JsonObject } from '../base/json.ts';

import { formatRfc3339 } from '../base/rfc3339.ts';

import {
  type CertificateRequest,
  CSR_PEM_LABEL,
  commonName,
  decodePem,
  type ExtKeyUsage,
  type KeyUsage,
  organizations,
  parseCertificateBundle,
  parseCsrPem,
} from '../pki/index.ts';

import { asCsrCondition, type CsrCondition, csrCertificatePem, csrConditions } from './csr.ts';

import { dns1123SubdomainProblem } from './identity.ts';

import type { UserInfo } from './rbac.ts';

export const SIGNER_KUBE_APISERVER_CLIENT = 'kubernetes.io/kube-apiserver-client';
export const SIGNER_KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
export const SIGNER_KUBELET_SERVING = 'kubernetes.io/kubelet-serving';
export const SIGNER_LEGACY_UNKNOWN = 'kubernetes.io/legacy-unknown';
/**
 * tlsboot's signer for the serving certificate of a control-plane node that joins a cluster whose
 * CA key is sealed or remote: it certifies the cluster's own names (load balancer, service IP), so
 * no controller approves it (a person does), and the remote signer signs it only under a grant
 * that names it.
 */
export const SIGNER_CONTROL_PLANE_SERVING = 'tlsboot.io/kube-apiserver-serving';
/** kubeadm's API server certificate subject: CN kube-apiserver, nothing else. */
export const CONTROL_PLANE_SERVING_CN = 'kube-apiserver';

/** Usage strings (reference §3.2) and the key usage or extended key usage each asserts. */
export const USAGES: Readonly<Record<string, { readonly ku?: KeyUsage; readonly eku?: ExtKeyUsage }>> = {
  signing: { ku: 'digitalSignature' },
  'digital signature': { ku: 'digitalSignature' },
  'content commitment': { ku: 'contentCommitment' },
  'key encipherment': { ku: 'keyEncipherment' },
  'key agreement': { ku: 'keyAgreement' },
  'data encipherment': { ku: 'dataEncipherment' },
  'cert sign': { ku: 'keyCertSign' },
  'crl sign': { ku: 'cRLSign' },
  'encipher only': { ku: 'encipherOnly' },
  'decipher only': { ku: 'decipherOnly' },
  any: { eku: 'any' },
  'server auth': { eku: 'serverAuth' },
  'client auth': { eku: 'clientAuth' },
  'code signing': { eku: 'codeSigning' },
  'email protection': { eku: 'emailProtection' },
  's/mime': { eku: 'emailProtection' },
  'ipsec end system': { eku: 'ipsecEndSystem' },
  'ipsec tunnel': { eku: 'ipsecTunnel' },
  'ipsec user': { eku: 'ipsecUser' },
  timestamping: { eku: 'timeStamping' },
  'ocsp signing': { eku: 'ocspSigning' },
  'microsoft sgc': { eku: 'microsoftSgc' },
  'netscape sgc': { eku: 'netscapeSgc' },
};

/** Key usages and sorted, de-duplicated extended key usages for a list of usage strings. */
export function x509Usages(usages: readonly string[]): { keyUsage: KeyUsage[]; extKeyUsage: ExtKeyUsage[] } {
  const ku = new Set<KeyUsage>();
  const eku = new Set<ExtKeyUsage>();
  for (const u of usages) {
    const m = USAGES[u];
    if (m?.ku) ku.add(m.ku);
    if (m?.eku) eku.add(m.eku);
  }
  return { keyUsage: [...ku], extKeyUsage: [...eku].sort() };
}

function invalid(field: string, message: string, reason = 'CSR_FIELD'): InvalidError {
  return new InvalidError(reason, `${field}: ${message}`, { field });
}

const SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** signerName rules of reference §3.4. */
export function validateSignerName(name: unknown, field = 'spec.signerName'): string {
  if (typeof name !== 'string' || name === '') throw invalid(field, 'Required value');
  if (name.length > 571) throw invalid(field, `Invalid value: "${name}": must be no more than 571 characters`);
  const parts = name.split('/');
  if (parts.length !== 2)
    throw invalid(field, `Invalid value: "${name}": must be a fully qualified domain and path of the form 'example.com/signer-name'`);
  const [domain, path] = parts as [string, string];
  if (domain.length > 253 || !SUBDOMAIN.test(domain) || !domain.includes('.')) {
    throw invalid(field, `Invalid value: "${name}": the domain must be a DNS subdomain with at least two labels`);
  }
  if (path === '' || !path.split('.').every((seg) => SUBDOMAIN.test(seg))) {
    throw invalid(field, `Invalid value: "${name}": the path must be one or more DNS subdomain segments separated by '.'`);
  }
  return name;
}

export interface ValidatedCsrSpec {
  readonly request: string;
  readonly signerName: string;
  readonly expirationSeconds?: number;
  readonly usages: readonly string[];
  readonly parsed: CertificateRequest;
}

const SPEC_FIELDS = new Set(['request', 'signerName', 'expirationSeconds', 'usages', 'username', 'uid', 'groups', 'extra']);

/** Decodes spec.request (base64 in JSON) and checks it is one verified PKCS#10 request. */
/**
 * Checked parses by request text. One CSR is read by validation, admission, the approver and the
 * signer; the signature check dominated their cost (profiled: a quarter of server CPU under load).
 * Parsing is a pure function of the bytes, so a cached success is the same answer; failures are
 * not cached. Bounded in entries and in bytes of request text held.
 */
const parsedRequests = new Map<string, CertificateRequest>();
const PARSE_CACHE_ENTRIES = 4096;
const PARSE_CACHE_BYTES = 16 * 1024 * 1024;
let parseCacheBytes = 0;

function rememberParse(request: string, parsed: CertificateRequest): void {
  parsedRequests.set(request, parsed);
  parseCacheBytes += request.length;
  while (parsedRequests.size > PARSE_CACHE_ENTRIES || parseCacheBytes > PARSE_CACHE_BYTES) {
    const oldest = parsedRequests.keys().next().value as string;
    parsedRequests.delete(oldest);
    parseCacheBytes -= oldest.length;
  }
}

function isBase64(request: string): boolean {
  return /^[A-Za-z0-9+/]*={0,2}$/.test(request) && request.length % 4 === 0;
}

export function parseCsrRequestField(request: unknown, field = 'spec.request'): CertificateRequest {
  if (typeof request !== 'string' || request === '') throw invalid(field, 'Required value');
  const cached = parsedRequests.get(request);
  if (cached) return cached;
  if (!isBase64(request)) throw invalid(field, 'Invalid value: must be base64-encoded PEM');
  try {
    const parsed = parseCsrPem(Buffer.from(request, 'base64'), field);
    rememberParse(request, parsed);
    return parsed;
  } catch (error) {
    if (error instanceof TlsbootError)
      throw new InvalidError(error.reason, `${field}: Invalid value: ${error.message}`, { field, cause: error });
    throw error;
  }
}

/**
 * Parses spec.request with `parse` (parseCsr on a crypto worker) into the cache above, so that
 * the synchronous parse of validation finds it. Only a success is kept: anything else (also a
 * worker not ready yet) is left to that parse, which reports it exactly as without a worker.
 */
export async function warmCsrRequestField(
  request: unknown,
  parse: (der: Uint8Array) => Promise<CertificateRequest> | undefined,
): Promise<void> {
  if (typeof request !== 'string' || request === '' || parsedRequests.has(request) || !isBase64(request)) return;
  let der: Uint8Array;
  try {
    der = decodePem(Buffer.from(request, 'base64'), CSR_PEM_LABEL);
  } catch {
    return;
  }
  // undefined: the worker is not ready, and validation parses in process meanwhile.
  const parsed = await parse(der)?.catch(() => undefined);
  if (parsed && !parsedRequests.has(request)) rememberParse(request, parsed);
}

/** Every spec rule of reference §3.4. */
export function validateCsrSpec(spec: unknown, opts: { readonly create: boolean }): ValidatedCsrSpec {
  if (!isObject(spec)) throw invalid('spec', 'Required value');
  for (const k of Object.keys(spec)) {
    if (!SPEC_FIELDS.has(k))
      throw new BadRequestError('UNKNOWN_FIELD', `strict decoding error: unknown field "spec.${k}"`, { field: `spec.${k}` });
  }
  const parsed = parseCsrRequestField(spec.request);
  // parseCsrRequestField accepted only a non-empty string, so this is spec.request itself.
  const request = typeof spec.request === 'string' ? spec.request : '';
  const signerName = validateSignerName(spec.signerName);
  if (opts.create && signerName === SIGNER_LEGACY_UNKNOWN) {
    throw invalid('spec.signerName', `Invalid value: "${signerName}": the legacy signerName is not allowed via this API version`);
  }
  let expirationSeconds: number | undefined;
  if (spec.expirationSeconds !== undefined && spec.expirationSeconds !== null) {
    const e = spec.expirationSeconds;
    if (typeof e !== 'number' || !Number.isInteger(e) || e > 2 ** 31 - 1 || e < 0) {
      throw invalid('spec.expirationSeconds', `Invalid value: ${String(e)}: must be a non-negative 32-bit integer`);
    }
    if (e < 600)
      throw invalid('spec.expirationSeconds', `Invalid value: ${e}: may not specify a duration less than 600 seconds (10 minutes)`);
    expirationSeconds = e;
  }
  const usages = spec.usages;
  if (!Array.isArray(usages) || usages.length === 0) throw invalid('spec.usages', 'Required value');
  const seen = new Set<string>();
  usages.forEach((u, i) => {
    if (typeof u !== 'string' || !Object.hasOwn(USAGES, u)) {
      throw invalid(
        `spec.usages[${i}]`,
        `Unsupported value: ${JSON.stringify(u)}: supported values: "${Object.keys(USAGES).join('", "')}"`,
      );
    }
    if (seen.has(u)) throw invalid(`spec.usages[${i}]`, `Duplicate value: "${u}"`);
    seen.add(u);
  });
  return {
    request,
    signerName,
    ...(expirationSeconds === undefined ? {} : { expirationSeconds }),
    // Duplicates were refused, so the set holds every usage in request order.
    usages: [...seen],
    parsed,
  };
}

/** Create strategy (§3.5): validated spec, requester identity from authentication, empty status. */
export function prepareCsrCreate(obj: JsonObject, user: UserInfo): JsonObject {
  const spec = validateCsrSpec(obj.spec, { create: true });
  return {
    ...obj,
    spec: {
      request: spec.request,
      signerName: spec.signerName,
      ...(spec.expirationSeconds === undefined ? {} : { expirationSeconds: spec.expirationSeconds }),
      usages: [...spec.usages],
      username: user.name,
      ...(user.uid ? { uid: user.uid } : {}),
      groups: [...user.groups],
      ...(user.extra && Object.keys(user.extra).length > 0 ? { extra: user.extra } : {}),
    },
    status: {},
  };
}

const STICKY = ['Approved', 'Denied', 'Failed'];

function validateConditions(raw: unknown): CsrCondition[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) throw invalid('status.conditions', 'must be a list');
  const seen = new Set<string>();
  return raw.map((c, i) => {
    const field = `status.conditions[${i}]`;
    if (!isObject(c)) throw invalid(field, 'must be an object');
    if (typeof c.type !== 'string' || c.type === '') throw invalid(`${field}.type`, 'Required value');
    if (typeof c.status !== 'string' || c.status === '') throw invalid(`${field}.status`, 'Required value');
    if (STICKY.includes(c.type) && c.status !== 'True')
      throw invalid(`${field}.status`, `Unsupported value: "${c.status}": supported values: "True"`);
    if (!['True', 'False', 'Unknown'].includes(c.status))
      throw invalid(`${field}.status`, `Unsupported value: "${c.status}": supported values: "False", "True", "Unknown"`);
    if (seen.has(c.type)) throw invalid(`${field}.type`, `Duplicate value: "${c.type}"`);
    seen.add(c.type);
    for (const k of ['reason', 'message', 'lastUpdateTime', 'lastTransitionTime'] as const) {
      if (c[k] !== undefined && typeof c[k] !== 'string') throw invalid(`${field}.${k}`, 'must be a string');
    }
    return asCsrCondition(c, field);
  });
}

function defaultTimes(conditions: readonly CsrCondition[], old: readonly CsrCondition[], now: Date): CsrCondition[] {
  return conditions.map((c) => {
    const before = old.find((o) => o.type === c.type && o.status === c.status);
    return {
      ...c,
      lastUpdateTime: c.lastUpdateTime || formatRfc3339(now),
      lastTransitionTime: c.lastTransitionTime || before?.lastTransitionTime || formatRfc3339(now),
    };
  });
}

function validateCertificateField(raw: unknown): string | undefined {
  if (raw === undefined || raw === null || raw === '') return undefined;
  if (typeof raw !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(raw)) throw invalid('status.certificate', 'must be base64-encoded PEM');
  const pem = Buffer.from(raw, 'base64').toString('utf8');
  try {
    parseCertificateBundle(pem, 'status.certificate');
  } catch (error) {
    throw invalid('status.certificate', `Invalid value: ${error instanceof Error ? error.message : String(error)}`);
  }
  return raw;
}

/**
 * Update strategy (§3.4, §3.5) for the main resource (''), `status` or `approval`. Returns the
 * object to store: spec always from `old`; status parts from `next` only where the subresource
 * may change them. Throws INVALID naming the field.
 */
export function prepareCsrUpdate(old: JsonObject, next: JsonObject, subresource: string, now: Date): JsonObject {
  const oldStatus = isObject(old.status) ? old.status : {};
  const nextStatus = isObject(next.status) ? next.status : {};
  const oldConditions = csrConditions(old);
  if (subresource === '') return { ...next, spec: old.spec, status: oldStatus };
  let conditions = validateConditions(nextStatus.conditions);
  if (subresource === 'status') {
    // Approval is the approver's business: /status keeps whatever Approved/Denied there was.
    conditions = [
      ...conditions.filter((c) => c.type !== 'Approved' && c.type !== 'Denied'),
      ...oldConditions.filter((c) => c.type === 'Approved' || c.type === 'Denied'),
    ];
  } else if (subresource !== 'approval') {
    throw new NotFoundError('NO_RESOURCE', `subresource ${subresource} does not exist`);
  }
  for (const sticky of STICKY) {
    if (oldConditions.some((c) => c.type === sticky) && !conditions.some((c) => c.type === sticky)) {
      throw invalid('status.conditions', `Forbidden: updates may not remove a condition of type "${sticky}"`);
    }
  }
  if (conditions.some((c) => c.type === 'Approved') && conditions.some((c) => c.type === 'Denied')) {
    throw invalid('status.conditions', 'Approved and Denied conditions are mutually exclusive');
  }
  const oldCert = typeof oldStatus.certificate === 'string' && oldStatus.certificate !== '' ? oldStatus.certificate : undefined;
  let certificate = oldCert;
  if (subresource === 'status') {
    const proposed = validateCertificateField(nextStatus.certificate);
    if (oldCert !== undefined && proposed !== oldCert)
      throw invalid('status.certificate', 'Forbidden: updates may not modify existing certificate content');
    certificate = proposed;
  }
  return {
    ...old,
    metadata: next.metadata,
    status: { conditions: defaultTimes(conditions, oldConditions, now), ...(certificate === undefined ? {} : { certificate }) },
  };
}

/**
 * kubectl's CONDITION column and `describe` Status (printers.go `extractCSRStatus`): Denied, else
 * Approved, else Pending; then `,Failed` and `,Issued` when they apply. Other condition types
 * (`AutoApprovalWithheld`) are not shown, so `kubectl get csr | grep Pending` finds withheld CSRs.
 */
export function csrConditionSummary(obj: JsonObject): string {
  const types = new Set(csrConditions(obj).map((c) => c.type));
  let summary = types.has('Denied') ? 'Denied' : types.has('Approved') ? 'Approved' : 'Pending';
  if (types.has('Failed')) summary += ',Failed';
  if (csrCertificatePem(obj) !== undefined) summary += ',Issued';
  return summary;
}

function sameSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x) => b.includes(x));
}

function hasNoSans(csr: CertificateRequest): boolean {
  const s = csr.sans;
  return s.dns.length + s.ip.length + s.email.length + s.uri.length === 0;
}

const KUBELET_CLIENT_USAGES = [
  ['digital signature', 'key encipherment', 'client auth'],
  ['digital signature', 'client auth'],
];
const SERVING_USAGES = [
  ['digital signature', 'key encipherment', 'server auth'],
  ['digital signature', 'server auth'],
];

function nodeSubjectProblem(csr: CertificateRequest): string | undefined {
  const orgs = organizations(csr.subject);
  if (orgs.length !== 1 || orgs[0] !== 'system:nodes') return 'subject organization must be exactly ["system:nodes"]';
  const cn = commonName(csr.subject) ?? '';
  if (!cn.startsWith('system:node:')) return 'subject common name must begin with "system:node:"';
  const syntax = dns1123SubdomainProblem(cn.slice('system:node:'.length));
  if (syntax !== undefined) return `the node name in the subject common name ${syntax}`;
  if (csr.subject.attributes.some((a) => a.type !== 'O' && a.type !== 'CN')) return 'subject may only carry CN and O';
  return undefined;
}

/**
 * Groups that are cluster-admin by the bootstrap policy (system:masters bypasses authorisation;
 * kubeadm binds kubeadm:cluster-admins to cluster-admin): no certificate signing request may ask
 * the client signer for them, or an approver of ordinary client certificates could mint an admin.
 */
export const PRIVILEGED_GROUPS: readonly string[] = ['system:masters', 'kubeadm:cluster-admins'];

/**
 * The built-in signers' policies (§4.3). Returns why a CSR cannot be signed by `signerName`, or
 * undefined when it can. Unknown signers are not ours to sign.
 */
export function signerPolicyProblem(signerName: string, csr: CertificateRequest, usages: readonly string[]): string | undefined {
  switch (signerName) {
    case SIGNER_KUBE_APISERVER_CLIENT: {
      const allowed = ['digital signature', 'key encipherment', 'client auth'];
      if (!usages.every((u) => allowed.includes(u)))
        return `usages ${JSON.stringify(usages)} are not a subset of ${JSON.stringify(allowed)}`;
      if (!usages.includes('client auth')) return 'usages must include "client auth"';
      const privileged = organizations(csr.subject).find((o) => PRIVILEGED_GROUPS.includes(o));
      if (privileged) return `subject organization "${privileged}" is not allowed`;
      return undefined;
    }
    case SIGNER_KUBELET_CLIENT: {
      const subject = nodeSubjectProblem(csr);
      if (subject) return subject;
      if (!hasNoSans(csr)) return 'kubelet client certificates may not carry DNS, IP, email or URI subject alternative names';
      if (!KUBELET_CLIENT_USAGES.some((set) => sameSet(set, usages)))
        return `usages must be exactly ${KUBELET_CLIENT_USAGES.map((s) => JSON.stringify(s)).join(' or ')}`;
      return undefined;
    }
    case SIGNER_KUBELET_SERVING: {
      const subject = nodeSubjectProblem(csr);
      if (subject) return subject;
      if (csr.sans.dns.length + csr.sans.ip.length === 0)
        return 'kubelet serving certificates need at least one DNS or IP subject alternative name';
      if (csr.sans.email.length + csr.sans.uri.length > 0)
        return 'kubelet serving certificates may not carry email or URI subject alternative names';
      if (!SERVING_USAGES.some((set) => sameSet(set, usages)))
        return `usages must be exactly ${SERVING_USAGES.map((s) => JSON.stringify(s)).join(' or ')}`;
      return undefined;
    }
    case SIGNER_CONTROL_PLANE_SERVING: {
      if (csr.subject.attributes.length !== 1 || commonName(csr.subject) !== CONTROL_PLANE_SERVING_CN)
        return `subject must be exactly CN=${CONTROL_PLANE_SERVING_CN}`;
      if (csr.sans.dns.length + csr.sans.ip.length === 0)
        return 'API server certificates need at least one DNS or IP subject alternative name';
      if (csr.sans.email.length + csr.sans.uri.length > 0)
        return 'API server certificates may not carry email or URI subject alternative names';
      const wildcard = csr.sans.dns.find((d) => d.includes('*'));
      if (wildcard !== undefined) return `DNS name ${wildcard} is a wildcard, which no API server certificate carries`;
      if (!SERVING_USAGES.some((set) => sameSet(set, usages)))
        return `usages must be exactly ${SERVING_USAGES.map((s) => JSON.stringify(s)).join(' or ')}`;
      return undefined;
    }
    default:
      return `signer ${signerName} is not a built-in signer`;
  }
}

/** §5 recogniser: a kubelet client certificate request (first approval or renewal). */
export function isNodeClientRequest(signerName: string, csr: CertificateRequest, usages: readonly string[]): boolean {
  return signerName === SIGNER_KUBELET_CLIENT && signerPolicyProblem(signerName, csr, usages) === undefined;
}

/** §5 recogniser: a node renewing its own client certificate (requester is the CN). */
export function isSelfNodeClientRequest(signerName: string, csr: CertificateRequest, usages: readonly string[], username: string): boolean {
  return isNodeClientRequest(signerName, csr, usages) && commonName(csr.subject) === username;
}
