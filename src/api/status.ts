/**
 * The one table from tlsboot's error codes to HTTP status codes and Kubernetes `Status` reasons,
 * read both ways: `toStatus` writes the Status body clients (kubectl included) parse, and
 * `codeFromStatus` turns a status and reason back into the code, for our HTTP client and the
 * remote signer's. Anything thrown that is not a TlsbootError is a bug: it becomes a 500 with a
 * generic message, never its own text.
 */
import { type ErrorCode, isTlsbootError, RateLimitedError } from '../base/errors.ts';

export const STATUS_TABLE: Readonly<Record<ErrorCode, { readonly http: number; readonly reason: string }>> = {
  INVALID: { http: 422, reason: 'Invalid' },
  BAD_REQUEST: { http: 400, reason: 'BadRequest' },
  UNSUPPORTED_MEDIA_TYPE: { http: 415, reason: 'UnsupportedMediaType' },
  NOT_ACCEPTABLE: { http: 406, reason: 'NotAcceptable' },
  METHOD_NOT_ALLOWED: { http: 405, reason: 'MethodNotAllowed' },
  NOT_FOUND: { http: 404, reason: 'NotFound' },
  // Before ALREADY_EXISTS: a bare 409 is a conflict (see codeFromStatus).
  CONFLICT: { http: 409, reason: 'Conflict' },
  ALREADY_EXISTS: { http: 409, reason: 'AlreadyExists' },
  UNAUTHENTICATED: { http: 401, reason: 'Unauthorized' },
  FORBIDDEN: { http: 403, reason: 'Forbidden' },
  GONE: { http: 410, reason: 'Expired' },
  TOO_LARGE: { http: 413, reason: 'RequestEntityTooLarge' },
  RATE_LIMITED: { http: 429, reason: 'TooManyRequests' },
  UNAVAILABLE: { http: 503, reason: 'ServiceUnavailable' },
  INTERNAL: { http: 500, reason: 'InternalError' },
  // nginx's "client closed request": written only to a log or a client that is already gone.
  CANCELLED: { http: 499, reason: 'ClientClosedRequest' },
};

/**
 * The code a peer meant by HTTP `http` and, when its body was a Status, that Status's `reason`.
 * The reason decides where two codes share a status (409: AlreadyExists or Conflict); without one,
 * the first row with that status wins. A 5xx that names no row is UNAVAILABLE (a server or proxy
 * failing without saying why may well answer later); any other status no row has is INTERNAL.
 */
export function codeFromStatus(http: number, reason?: unknown): ErrorCode {
  const rows = Object.entries(STATUS_TABLE) as [ErrorCode, { readonly http: number; readonly reason: string }][];
  const named = rows.find(([, row]) => row.http === http && row.reason === reason);
  if (named) return named[0];
  if (http >= 500) return 'UNAVAILABLE';
  return rows.find(([, row]) => row.http === http)?.[0] ?? 'INTERNAL';
}

/** What a Status says the failed request was about. */
export interface StatusDetails {
  readonly name?: string;
  readonly group?: string;
  /** The plural resource (`certificatesigningrequests`): `details.kind` of most Status bodies. */
  readonly resource?: string;
  /** The object's Kind (`CertificateSigningRequest`): `details.kind` of an Invalid Status, as NewInvalid writes it. */
  readonly kind?: string;
}

export interface StatusResponse {
  readonly code: number;
  readonly body: Record<string, unknown>;
  /** HTTP headers that go with the status (Retry-After for a 429). */
  readonly headers: Readonly<Record<string, string>>;
}

/**
 * apimachinery's field.ErrorType for a field error's body (`Required value`, `Invalid value: ...`):
 * a cause's `reason`. A body that names no type is an invalid value, the commonest case.
 */
const CAUSE_TYPES: readonly (readonly [string, string])[] = [
  ['Required value', 'FieldValueRequired'],
  ['Invalid value', 'FieldValueInvalid'],
  ['Unsupported value', 'FieldValueNotSupported'],
  ['Duplicate value', 'FieldValueDuplicate'],
  ['Forbidden', 'FieldValueForbidden'],
  ['Too long', 'FieldValueTooLong'],
  ['Too many', 'FieldValueTooMany'],
  ['Not found', 'FieldValueNotFound'],
  ['Internal error', 'InternalError'],
];

function causeOf(field: string, message: string): { reason: string; message: string; field: string } {
  // Our messages are field.Error's `<field>: <body>`; a cause carries the body alone (ErrorBody).
  const body = message.startsWith(`${field}: `) ? message.slice(field.length + 2) : message;
  const type = CAUSE_TYPES.find(([prefix]) => body === prefix || body.startsWith(`${prefix}:`));
  return { reason: type?.[1] ?? 'FieldValueInvalid', message: body, field };
}

/**
 * A Kubernetes Status for `error`. An INVALID error about an object is written as apimachinery's
 * errors.NewInvalid writes it: message `<Kind>[.<group>] "<name>" is invalid: <field>: <body>`,
 * details with the Kind (not the resource), group, name and one cause per field error. Other
 * errors carry the resource as `details.kind`, as NewNotFound, NewConflict and the rest do.
 */
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
    (error.field !== undefined && (error.code === 'INVALID' || error.code === 'BAD_REQUEST') ? [causeOf(error.field, error.message)] : []);
  const retryAfterSeconds = error instanceof RateLimitedError ? error.retryAfterSeconds : undefined;
  // An error that carries its own Status details (apply's conflicts, option errors) is written as it says.
  const { causes: _, ...own } = error.status ?? { causes: [] };
  const invalidObject = error.status === undefined && error.code === 'INVALID' && details.kind !== undefined;
  const name = details.name ?? '';
  const group = details.group ?? '';
  // StatusDetails' fields are omitempty: an empty name or the core group's '' is left out.
  const d = {
    ...(error.status !== undefined
      ? own
      : {
          ...(name ? { name } : {}),
          ...(group ? { group } : {}),
          ...(invalidObject ? { kind: details.kind } : details.resource ? { kind: details.resource } : {}),
        }),
    ...(causes.length > 0 ? { causes } : {}),
    ...(retryAfterSeconds === undefined ? {} : { retryAfterSeconds }),
  };
  const message = invalidObject
    ? `${group ? `${details.kind}.${group}` : details.kind} "${name}" is invalid: ${error.message}`
    : error.message;
  return {
    code: row.http,
    body: {
      kind: 'Status',
      apiVersion: 'v1',
      metadata: {},
      status: 'Failure',
      message,
      reason: row.reason,
      ...(Object.keys(d).length > 0 ? { details: d } : {}),
      code: row.http,
    },
    headers: retryAfterSeconds === undefined ? {} : { 'retry-after': String(retryAfterSeconds) },
  };
}
