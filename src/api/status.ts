/**
 * The one table from tlsboot's error codes to HTTP status codes and Kubernetes `Status` reasons,
 * and the Status body clients (kubectl included) parse. Anything thrown that is not a
 * TlsbootError is a bug: it becomes a 500 with a generic message, never its own text.
 */
import { type ErrorCode, isTlsbootError, RateLimitedError } from '../base/errors.ts';

export const STATUS_TABLE: Readonly<Record<ErrorCode, { readonly http: number; readonly reason: string }>> = {
  INVALID: { http: 422, reason: 'Invalid' },
  BAD_REQUEST: { http: 400, reason: 'BadRequest' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, reason: 'UnsupportedMediaType' },
  METHOD_NOT_ALLOWED: { http: 405, reason: 'MethodNotAllowed' },
  NOT_FOUND: { http: 404, reason: 'NotFound' },
  ALREADY_EXISTS: { http: 409, reason: 'AlreadyExists' },
  CONFLICT: { http: 409, reason: 'Conflict' },
  UNAUTHENTICATED: { http: 401, reason: 'Unauthorized' },
  FORBIDDEN: { http: 403, reason: 'Forbidden' },
  GONE: { http: 410, reason: 'Expired' },
  TOO_LARGE: { http: 413, reason: 'RequestEntityTooLarge' },
  RATE_LIMITED: { http: 429, reason: 'TooManyRequests' },
  UNAVAILABLE: { http: 503, reason: 'ServiceUnavailable' },
  INTERNAL: { http: 500, reason: 'InternalError' },
};

export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  readonly kind?: string;
}

export interface StatusResponse {
  readonly code: number;
  readonly body: Record<string, unknown>;
  /** HTTP headers that go with the status (Retry-After for a 429). */
  readonly headers: Readonly<Record<string, string>>;
}

/** A Kubernetes Status for `error`; the field of an INVALID error becomes a cause. */
export function toStatus(error: unknown, details: StatusDetails = {}): StatusResponse {
  if (!isTlsbootError(error)) {
    return {
      code: 500,
      body: {
        kind: 'Status',
        apiVersion: 'v1',
        metadata: {},
        status: 'Failure',
        message: 'Internal error occurred: an unexpected error happened',
        reason: 'InternalError',
        code: 500,
      },
      headers: {},
    };
  }
  const row = STATUS_TABLE[error.code];
  const causes =
    error.status?.causes ??
    (error.field !== undefined && (error.code === 'INVALID' || error.code === 'BAD_REQUEST')
      ? [{ reason: 'FieldValueInvalid', message: error.message, field: error.field }]
      : []);
  const retryAfterSeconds = error instanceof RateLimitedError ? error.retryAfterSeconds : undefined;
  const { causes: _, ...own } = error.status ?? { causes: [] };
  const d = {
    ...(error.status === undefined ? details : own),
    ...(causes.length > 0 ? { causes } : {}),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
  return {
    code: row.http,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message: error.message,
      reason: row.reason,
      ...(Object.keys(d).length > 0 ? { details: d } : {}),
      code: row.http,
    },
    headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  };
}
