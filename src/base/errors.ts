/**
 * The error family every layer throws. A `code` is the transport-neutral category the server
 * maps to an HTTP status in one place; a `reason` is a stable, finer-grained machine code
 * (for example `CSR_SIGNATURE`) that tests and callers may match on. Messages are for people
 * and may change; they must never contain secret material.
 */

export type ErrorCode =
  | 'INVALID'
  | 'BAD_REQUEST'
  | 'UNSUPPORTED_MEDIA_TYPE'
  | 'NOT_ACCEPTABLE'
  | 'METHOD_NOT_ALLOWED'
  | 'NOT_FOUND'
  | 'ALREADY_EXISTS'
  | 'CONFLICT'
  | 'UNAUTHENTICATED'
  | 'FORBIDDEN'
  | 'GONE'
  | 'TOO_LARGE'
  | 'RATE_LIMITED'
  | 'UNAVAILABLE'
  | 'INTERNAL'
  | 'CANCELLED';

/** One entry of a Kubernetes Status's `details.causes`. */
export interface StatusCause {
  readonly reason: string;
  readonly message: string;
  readonly field: string;
}

/** Status details an error dictates itself, replacing those derived from the request (kube's apply conflicts, PatchOptions). */
export interface StatusDetailsOverride {
  readonly group?: string;
  readonly kind?: string;
  readonly causes: readonly StatusCause[];
}

export interface ErrorDetails {
  /** The input field or file the error is about, when there is one. */
  readonly field?: string;
  readonly cause?: unknown;
  readonly status?: StatusDetailsOverride;
}

/**
 * The base of the family. Its constructor is protected: code throws the subclass of its code
 * (`new InvalidError(...)`), or `errorForCode` where the code is data (a client decoding a Status),
 * so `instanceof` and `code` always agree.
 */
export class TlsbootError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly field: string | undefined;
  readonly status: StatusDetailsOverride | undefined;

  protected constructor(code: ErrorCode, reason: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TlsbootError';
    this.code = code;
    this.reason = reason;
    this.field = details.field;
    this.status = details.status;
  }
}

/** A subclass of TlsbootError whose `code` is the literal `C`. */
export type ErrorClass<C extends ErrorCode> = new (
  reason: string,
  message: string,
  details?: ErrorDetails,
) => TlsbootError & { readonly code: C };

/** One subclass per code, written once here instead of seven copies of the same seven lines. */
function defineError<C extends ErrorCode>(code: C, name: string): ErrorClass<C> {
  return class extends TlsbootError {
    declare readonly code: C;
    constructor(reason: string, message: string, details?: ErrorDetails) {
      super(code, reason, message, details);
      this.name = name;
    }
  };
}

/** A field or object breaks a rule (HTTP 422). */
export const InvalidError = defineError('INVALID', 'InvalidError');
export type InvalidError = InstanceType<typeof InvalidError>;
/** The request itself is malformed: syntax, query parameters, body encoding (HTTP 400). */
export const BadRequestError = defineError('BAD_REQUEST', 'BadRequestError');
export type BadRequestError = InstanceType<typeof BadRequestError>;
export const UnsupportedMediaTypeError = defineError('UNSUPPORTED_MEDIA_TYPE', 'UnsupportedMediaTypeError');
export type UnsupportedMediaTypeError = InstanceType<typeof UnsupportedMediaTypeError>;
export const NotAcceptableError = defineError('NOT_ACCEPTABLE', 'NotAcceptableError');
export type NotAcceptableError = InstanceType<typeof NotAcceptableError>;
export const MethodNotAllowedError = defineError('METHOD_NOT_ALLOWED', 'MethodNotAllowedError');
export type MethodNotAllowedError = InstanceType<typeof MethodNotAllowedError>;
export const NotFoundError = defineError('NOT_FOUND', 'NotFoundError');
export type NotFoundError = InstanceType<typeof NotFoundError>;
export const AlreadyExistsError = defineError('ALREADY_EXISTS', 'AlreadyExistsError');
export type AlreadyExistsError = InstanceType<typeof AlreadyExistsError>;
/** A compare-and-swap lost: the object changed since it was read. */
export const ConflictError = defineError('CONFLICT', 'ConflictError');
export type ConflictError = InstanceType<typeof ConflictError>;
export const UnauthenticatedError = defineError('UNAUTHENTICATED', 'UnauthenticatedError');
export type UnauthenticatedError = InstanceType<typeof UnauthenticatedError>;
export const ForbiddenError = defineError('FORBIDDEN', 'ForbiddenError');
export type ForbiddenError = InstanceType<typeof ForbiddenError>;
/** The requested history is no longer available (compacted, or a watcher fell too far behind); re-list and start over. */
export const GoneError = defineError('GONE', 'GoneError');
export type GoneError = InstanceType<typeof GoneError>;
export const TooLargeError = defineError('TOO_LARGE', 'TooLargeError');
export type TooLargeError = InstanceType<typeof TooLargeError>;
/** Something needed is away for now (store, signer, peer); retrying later may succeed. */
export const UnavailableError = defineError('UNAVAILABLE', 'UnavailableError');
export type UnavailableError = InstanceType<typeof UnavailableError>;
/** A bug or broken invariant on our side. */
export const InternalError = defineError('INTERNAL', 'InternalError');
export type InternalError = InstanceType<typeof InternalError>;
/**
 * The caller gave up (its AbortSignal fired, or its owner is closing). Not a failure: loops end on
 * it quietly instead of retrying or reporting it.
 */
export const CancelledError = defineError('CANCELLED', 'CancelledError');
export type CancelledError = InstanceType<typeof CancelledError>;

/** Too many requests or failures; the client should wait `retryAfterSeconds` (HTTP Retry-After). */
export class RateLimitedError extends TlsbootError {
  declare readonly code: 'RATE_LIMITED';
  readonly retryAfterSeconds: number;
  constructor(reason: string, message: string, retryAfterSeconds: number, details?: ErrorDetails) {
    super('RATE_LIMITED', reason, message, details);
    this.name = 'RateLimitedError';
    this.retryAfterSeconds = retryAfterSeconds;
  }
}

const CLASSES: { readonly [C in Exclude<ErrorCode, 'RATE_LIMITED'>]: ErrorClass<C> } = {
  INVALID: InvalidError,
  BAD_REQUEST: BadRequestError,
  UNSUPPORTED_MEDIA_TYPE: UnsupportedMediaTypeError,
  NOT_ACCEPTABLE: NotAcceptableError,
  METHOD_NOT_ALLOWED: MethodNotAllowedError,
  NOT_FOUND: NotFoundError,
  ALREADY_EXISTS: AlreadyExistsError,
  CONFLICT: ConflictError,
  UNAUTHENTICATED: UnauthenticatedError,
  FORBIDDEN: ForbiddenError,
  GONE: GoneError,
  TOO_LARGE: TooLargeError,
  UNAVAILABLE: UnavailableError,
  INTERNAL: InternalError,
  CANCELLED: CancelledError,
};

/** The error of `code`'s class, for code that holds the code as data; RATE_LIMITED takes `retryAfterSeconds` (default 1). */
export function errorForCode(
  code: ErrorCode,
  reason: string,
  message: string,
  details?: ErrorDetails & { retryAfterSeconds?: number },
): TlsbootError {
  if (code === 'RATE_LIMITED') return new RateLimitedError(reason, message, details?.retryAfterSeconds ?? 1, details);
  return new CLASSES[code](reason, message, details);
}

/** Whether `value` says its work was cancelled, which callers treat as an ending, not a failure. */
export function isCancelled(value: unknown): value is CancelledError {
  return value instanceof CancelledError;
}

export function isTlsbootError(value: unknown): value is TlsbootError {
  return value instanceof TlsbootError;
}

/** Narrows an unknown thrown value to a message safe to show, without leaking stack or cause. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
