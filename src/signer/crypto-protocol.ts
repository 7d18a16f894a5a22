/**
 * The messages between the crypto pool (src/signer/crypto-pool.ts) and its workers
 * (src/signer/crypto-worker.ts): batches of jobs one way, batches of results the other, and
 * errors as data so that a TlsbootError thrown in a worker arrives as the same class, code,
 * reason and message. Everything here is structured-clonable (KeyObject included).
 */
import { KeyObject } from 'node:crypto';
import { type ErrorCode, errorForCode, isTlsbootError, type TlsbootError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import type { Certificate, CertificateRequest } from '../pki/index.ts';
import type { IssueTemplate, SignedCertificate } from './signer.ts';

export type CryptoJob = { readonly kind: 'csr'; readonly der: Uint8Array } | { readonly kind: 'issue'; readonly template: IssueTemplate };

/** What `workerData` carries: the CA that `issue` jobs sign under, when this pool signs. */
export interface CryptoWorkerData {
  readonly ca: { readonly certificateDer: Uint8Array; readonly key: KeyObject } | undefined;
}

export interface JobBatch {
  readonly jobs: readonly { readonly id: number; readonly job: CryptoJob }[];
}

export interface WireError {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly message: string;
  readonly field: string | undefined;
}

export type JobResult =
  | { readonly id: number; readonly ok: true; readonly value: CertificateRequest | SignedCertificate }
  | { readonly id: number; readonly ok: false; readonly error: WireError };

export interface ResultBatch {
  readonly results: readonly JobResult[];
}

/** A TlsbootError as data; anything else becomes INTERNAL with its message only (never a stack or a cause). */
export function errorToWire(error: unknown): WireError {
  if (isTlsbootError(error)) return { code: error.code, reason: error.reason, message: error.message, field: error.field };
  return {
    code: 'INTERNAL',
    reason: 'CRYPTO_WORKER',
    message: `crypto worker: ${error instanceof Error ? error.message : String(error)}`,
    field: undefined,
  };
}

export function errorFromWire(wire: WireError): TlsbootError {
  return errorForCode(wire.code, wire.reason, wire.message, wire.field === undefined ? {} : { field: wire.field });
}

const ERROR_CODES: ReadonlySet<string> = new Set<ErrorCode>([
  'INVALID',
  'BAD_REQUEST',
  'UNSUPPORTED_MEDIA_TYPE',
  'NOT_ACCEPTABLE',
  'METHOD_NOT_ALLOWED',
  'NOT_FOUND',
  'ALREADY_EXISTS',
  'CONFLICT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'GONE',
  'TOO_LARGE',
  'UNAVAILABLE',
  'INTERNAL',
  'CANCELLED',
]);

function isErrorCode(v: unknown): v is ErrorCode {
  return typeof v === 'string' && ERROR_CODES.has(v);
}

function isWireError(v: unknown): v is WireError {
  return (
    isObject(v) &&
    isErrorCode(v.code) &&
    typeof v.reason === 'string' &&
    typeof v.message === 'string' &&
    (v.field === undefined || typeof v.field === 'string')
  );
}

/** The fields a parsed CSR's users read; structured cloning keeps their types, so their presence is the check. */
export function isCertificateRequest(v: unknown): v is CertificateRequest {
  return (
    isObject(v) &&
    v.der instanceof Uint8Array &&
    v.spki instanceof Uint8Array &&
    v.keyBits instanceof Uint8Array &&
    v.publicKey instanceof KeyObject &&
    isObject(v.subject) &&
    isObject(v.publicKeyInfo) &&
    isObject(v.sans) &&
    Array.isArray(v.extensions) &&
    isObject(v.signatureAlgorithm)
  );
}

function isCertificate(v: unknown): v is Certificate {
  return (
    isObject(v) &&
    v.der instanceof Uint8Array &&
    typeof v.serialNumber === 'string' &&
    v.notBefore instanceof Date &&
    v.notAfter instanceof Date &&
    isObject(v.subject) &&
    isObject(v.sans)
  );
}

export function isSignedCertificate(v: unknown): v is SignedCertificate {
  return isObject(v) && typeof v.pem === 'string' && isCertificate(v.certificate);
}

function isJobResult(v: unknown): v is JobResult {
  if (!isObject(v) || typeof v.id !== 'number') return false;
  return v.ok === true ? v.value !== undefined : v.ok === false && isWireError(v.error);
}

/** The first message of a worker, once its modules (and the CA) loaded. */
export const READY = { ready: true } as const;

export function isReady(v: unknown): boolean {
  return isObject(v) && v.ready === true;
}

export function isResultBatch(v: unknown): v is ResultBatch {
  return isObject(v) && Array.isArray(v.results) && v.results.every(isJobResult);
}

function isJob(v: unknown): v is CryptoJob {
  if (!isObject(v)) return false;
  if (v.kind === 'csr') return v.der instanceof Uint8Array;
  return v.kind === 'issue' && isObject(v.template) && v.template.publicKey instanceof Uint8Array;
}

export function isJobBatch(v: unknown): v is JobBatch {
  return isObject(v) && Array.isArray(v.jobs) && v.jobs.every((j) => isObject(j) && typeof j.id === 'number' && isJob(j.job));
}
