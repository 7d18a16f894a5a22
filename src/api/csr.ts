/**
 * The CertificateSigningRequest object (`certificates.k8s.io/v1`) as a type, its guard, and the
 * readers everyone uses on it: its conditions, its issued certificate, and whether it is pending,
 * approved, denied or failed. Validation of what may be written is the strategy's job
 * (certificates.ts); this module only says what a CSR looks like and reads one. Field optionality
 * follows the Go type's JSON tags (`request` and `signerName` are the only required spec fields).
 */
import { isObject, type JsonObject } from '../base/json.ts';

import { asList, type List, OBJECT_META, type ObjectMeta } from './meta.ts';

import { assertShape, type Check, fields, hasShape, integer, listOf, mapOf, optional, string } from './shape.ts';

export const CSR_API_VERSION = 'certificates.k8s.io/v1';
export const CSR_KIND = 'CertificateSigningRequest';

export type CsrCondition = {
  readonly type: string;
  readonly status: string;
  readonly reason?: string;
  readonly message?: string;
  readonly lastUpdateTime?: string;
  readonly lastTransitionTime?: string;
};

export type CertificateSigningRequestSpec = {
  /** base64 of a PEM `CERTIFICATE REQUEST`, as JSON carries bytes. */
  readonly request: string;
  readonly signerName: string;
  readonly expirationSeconds?: number;
  readonly usages?: readonly string[];
  readonly username?: string;
  readonly uid?: string;
  readonly groups?: readonly string[];
  readonly extra?: Readonly<Record<string, readonly string[]>>;
};

export type CertificateSigningRequestStatus = {
  readonly conditions?: readonly CsrCondition[];
  /** base64 of the issued PEM chain, leaf first. */
  readonly certificate?: string;
};

export type CertificateSigningRequest = {
  readonly apiVersion?: string;
  readonly kind?: string;
  readonly metadata?: ObjectMeta;
  readonly spec: CertificateSigningRequestSpec;
  readonly status?: CertificateSigningRequestStatus;
};

const CONDITION: Check = fields({
  type: string,
  status: string,
  reason: optional(string),
  message: optional(string),
  lastUpdateTime: optional(string),
  lastTransitionTime: optional(string),
});

const CSR: Check = fields({
  apiVersion: optional(string),
  kind: optional(string),
  metadata: optional(OBJECT_META),
  spec: fields({
    request: string,
    signerName: string,
    expirationSeconds: optional(integer),
    usages: optional(listOf(string)),
    username: optional(string),
    uid: optional(string),
    groups: optional(listOf(string)),
    extra: optional(mapOf(listOf(string))),
  }),
  status: optional(fields({ conditions: optional(listOf(CONDITION)), certificate: optional(string) })),
});

/** `value` as one CSR condition; throws INVALID naming `<field>.type` and so on. */
export function asCsrCondition(value: unknown, field: string): CsrCondition {
  assertShape<CsrCondition>(CONDITION, value, field);
  return value;
}

/** `value` as a CertificateSigningRequest; throws INVALID whose `field` names the first field of the wrong type. */
export function asCertificateSigningRequest(value: unknown): CertificateSigningRequest {
  assertShape<CertificateSigningRequest>(CSR, value);
  return value;
}

/** The guard for `asList` and other checkers that compose shapes. */
export const CERTIFICATE_SIGNING_REQUEST: Check = CSR;

/** A CertificateSigningRequestList; errors name `items[i].<field>`. */
export function asCertificateSigningRequestList(value: unknown): List<CertificateSigningRequest> {
  return asList<CertificateSigningRequest>(value, CSR);
}

export function isCertificateSigningRequest(value: unknown): value is CertificateSigningRequest {
  return hasShape<CertificateSigningRequest>(CSR, value);
}

function statusOf(csr: CertificateSigningRequest | JsonObject): JsonObject {
  return isObject(csr.status) ? csr.status : {};
}

/**
 * The CSR's conditions. Untyped objects are accepted for callers that still hold raw store
 * objects; conditions of the wrong shape there are skipped (the strategy never stores one).
 */
export function csrConditions(csr: CertificateSigningRequest | JsonObject): CsrCondition[] {
  const conditions = statusOf(csr).conditions;
  return Array.isArray(conditions) ? conditions.filter((c) => hasShape<CsrCondition>(CONDITION, c)) : [];
}

/** Whether the CSR carries a condition of `type` (Kubernetes' sticky types need status True, so presence is the fact). */
export function csrHasCondition(csr: CertificateSigningRequest | JsonObject, type: string): boolean {
  return csrConditions(csr).some((c) => c.type === type);
}

/** Approved and not Denied, as client-go's `IsCertificateRequestApproved` decides. */
export function csrIsApproved(csr: CertificateSigningRequest | JsonObject): boolean {
  return csrHasCondition(csr, 'Approved') && !csrHasCondition(csr, 'Denied');
}

export function csrIsDenied(csr: CertificateSigningRequest | JsonObject): boolean {
  return csrHasCondition(csr, 'Denied');
}

export function csrIsFailed(csr: CertificateSigningRequest | JsonObject): boolean {
  return csrHasCondition(csr, 'Failed');
}

/** The issued certificate chain as PEM, or undefined while there is none. */
export function csrCertificatePem(csr: CertificateSigningRequest | JsonObject): string | undefined {
  const certificate = statusOf(csr).certificate;
  return typeof certificate === 'string' && certificate !== '' ? Buffer.from(certificate, 'base64').toString('utf8') : undefined;
}

/** Still waiting: no certificate issued, and neither Denied nor Failed (what the requester's pending-CSR limit counts). */
export function csrIsPending(csr: CertificateSigningRequest | JsonObject): boolean {
  return csrCertificatePem(csr) === undefined && !csrIsDenied(csr) && !csrIsFailed(csr);
}
