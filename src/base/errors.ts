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
  | 'INTERNAL';

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

export class TlsbootError extends Error {
  readonly code: ErrorCode;
  readonly reason: string;
  readonly field: string | undefined;
  readonly status: StatusDetailsOverride | undefined;

  constructor(code: ErrorCode, reason: string, message: string, details: ErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.name = 'TlsbootError';
    this.code = code;
    this.reason = reason;
    this.field = details.field;
    this.status = details.status;
  }
}

export class InvalidError extends TlsbootError {
  declare readonly code: 'INVALID';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('INVALID', reason, message, details);
    this.name = 'InvalidError';
  }
}

export class NotFoundError extends TlsbootError {
  declare readonly code: 'NOT_FOUND';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('NOT_FOUND', reason, message, details);
    this.name = 'NotFoundError';
  }
}

export class ConflictError extends TlsbootError {
  declare readonly code: 'CONFLICT';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('CONFLICT', reason, message, details);
    this.name = 'ConflictError';
  }
}

export class AlreadyExistsError extends TlsbootError {
  declare readonly code: 'ALREADY_EXISTS';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('ALREADY_EXISTS', reason, message, details);
    this.name = 'AlreadyExistsError';
  }
}

/** The requested history is no longer available (compacted, or a watcher fell too far behind); re-list and start over. */
export class GoneError extends TlsbootError {
  declare readonly code: 'GONE';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('GONE', reason, message, details);
    this.name = 'GoneError';
  }
}

export class TooLargeError extends TlsbootError {
  declare readonly code: 'TOO_LARGE';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('TOO_LARGE', reason, message, details);
    this.name = 'TooLargeError';
  }
}

export class UnavailableError extends TlsbootError {
  declare readonly code: 'UNAVAILABLE';
  constructor(reason: string, message: string, details?: ErrorDetails) {
    super('UNAVAILABLE', reason, message, details);
    this.name = 'UnavailableError';
  }
}

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

export function isTlsbootError(value: unknown): value is TlsbootError {
  return value instanceof TlsbootError;
}

/** Narrows an unknown thrown value to a message safe to show, without leaking stack or cause. */
export function describeError(value: unknown): string {
  if (value instanceof Error) return value.message;
  return String(value);
}
