/**
 * The CA audit log's port: the events it records and the one method that records them. The log
 * itself (hash-chained, rotating files) is src/signer/audit.ts; controllers and the API server
 * record through this interface, so they need not know where the log lives.
 * Callers pass only public facts; secrets (passphrases, grant keys, tokens) have no field here.
 */

export type AuditEventType =
  | 'certificate.signed'
  | 'certificate.refused'
  | 'certificate.revoked'
  | 'csr.approved'
  | 'csr.denied'
  | 'session.opened'
  | 'session.closed'
  | 'session.expired'
  | 'session.unlock-failed'
  | 'grant.issued'
  | 'grant.revoked'
  | 'grant.refused'
  | 'audit.recovered';

export interface AuditEvent {
  readonly event: AuditEventType;
  /** The person or component on whose behalf it happened. */
  readonly actor: string;
  readonly [detail: string]: string | number | boolean | readonly string[] | undefined;
}

export interface AuditLog {
  record(event: AuditEvent): void;
  close(): void;
}
