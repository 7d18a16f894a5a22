/**
 * The CA audit log: one JSON object per line, appended, never rewritten. It records who did what
 * to the signing authority and when: every certificate signed (serial, CSR, signer, subject),
 * every certificate revoked (serial, reason, holder), every signing session opened, closed, expired
 * or refused, every grant issued, used up or revoked.
 * Callers pass only public facts; secrets (passphrases, grant keys, tokens) have no field here.
 */
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';

export type AuditEventType =
  | 'certificate.signed'
  | 'certificate.refused'
  | 'certificate.revoked'
  | 'session.opened'
  | 'session.closed'
  | 'session.expired'
  | 'session.unlock-failed'
  | 'grant.issued'
  | 'grant.revoked'
  | 'grant.refused';

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

/** Appends to a file opened once with O_APPEND; events about authority (not signatures) are fsynced. */
export class FileAuditLog implements AuditLog {
  private fd: number | undefined;
  readonly path: string;
  private readonly now: () => Date;

  constructor(path: string, now: () => Date) {
    this.path = path;
    this.now = now;
    this.fd = openSync(path, 'a', 0o600);
  }

  record(event: AuditEvent): void {
    if (this.fd === undefined) return;
    const line = `${JSON.stringify({ time: this.now().toISOString(), ...event })}\n`;
    writeSync(this.fd, line);
    // Signatures are already durable in the issued-certificate inventory; session and grant
    // changes exist nowhere else, so they must survive a crash.
    if (!event.event.startsWith('certificate.')) fsyncSync(this.fd);
  }

  close(): void {
    if (this.fd === undefined) return;
    closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Collects events in memory (tests, and callers that do not keep a log). */
export class MemoryAuditLog implements AuditLog {
  readonly events: AuditEvent[] = [];
  record(event: AuditEvent): void {
    this.events.push(event);
  }
  close(): void {}
}
