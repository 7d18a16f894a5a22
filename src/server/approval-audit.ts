/**
 * Records in the CA audit log every approval and denial made through the API (the approval
 * subresource of a CSR, directly or in a transaction), with the requester of the update as the
 * actor, once the update is stored. Users that record their own decisions (the in-process
 * approvers, which name the controller) are left out, so that each decision is recorded once.
 */
import { type AuditLog, csrDecisionEvent, newCsrDecisions } from '../api/audit.ts';
import type { RestDeps } from './rest.ts';

export interface ApprovalAudit {
  readonly log: AuditLog;
  /** Users whose decisions are recorded elsewhere in the same log. */
  readonly selfAuditing: readonly string[];
}

export function approvalAuditor(audit: ApprovalAudit): NonNullable<RestDeps['onUpdated']> {
  const skip = new Set(audit.selfAuditing);
  return ({ def, subresource, old, stored, user }) => {
    if (def.resource !== 'certificatesigningrequests' || subresource !== 'approval' || skip.has(user.name)) return;
    for (const decision of newCsrDecisions(old, stored)) audit.log.record(csrDecisionEvent(user.name, stored, decision));
  };
}
