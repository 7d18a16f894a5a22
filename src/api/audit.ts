/**
 * The CA audit log's port: the events it records and the one method that records them. The log
 * itself (hash-chained, rotating files) is src/signer/audit.ts; controllers and the API server
 * record through this interface, so they need not know where the log lives.
 * Callers pass only public facts; secrets (passphrases, grant keys, tokens) have no field here.
 */
import { isObject, type JsonObject } from '../base/json.ts';
import { type CsrCondition, csrConditions } from './csr.ts';

export type AuditEventType =
  | 'certificate.signed'
  | 'certificate.refused'
  | 'certificate.revoked'
  | 'crl.signed'
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

/**
 * The record of a decision on a CSR: `decision` is the Approved or Denied condition that was
 * added, `actor` who added it (a controller, or the user whose update of the approval
 * subresource it was). The one shape for the approvers and the API server.
 */
export function csrDecisionEvent(actor: string, csr: JsonObject, decision: Pick<CsrCondition, 'type' | 'reason' | 'message'>): AuditEvent {
  const meta = isObject(csr.metadata) ? csr.metadata : {};
  const spec = isObject(csr.spec) ? csr.spec : {};
  const text = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return {
    event: decision.type === 'Denied' ? 'csr.denied' : 'csr.approved',
    actor,
    csr: text(meta.name),
    csrUid: text(meta.uid),
    signer: text(spec.signerName),
    requester: text(spec.username),
    reason: decision.reason,
    message: decision.message,
  };
}

/** The Approved or Denied conditions `after` has that `before` had not: the decisions one update made. */
export function newCsrDecisions(before: JsonObject | undefined, after: JsonObject): CsrCondition[] {
  const had = new Set((before === undefined ? [] : csrConditions(before)).map((c) => c.type));
  return csrConditions(after).filter((c) => (c.type === 'Approved' || c.type === 'Denied') && !had.has(c.type));
}
