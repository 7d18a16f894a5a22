/**
 * Time-boxed signing sessions: the Signer used by `--signer sealed` and `--signer remote`. Outside
 * a session it signs nothing (UNAVAILABLE, so approved CSRs wait); an operator opens a session
 * with a secret only they hold (the sealed key's passphrase, or a remote signer's grant), for a
 * fixed window, optionally limited to a number of certificates and to some signer names. The
 * secret and what it unlocks live only in this object's memory and are dropped when the session
 * closes, expires or is used up. Failed unlocks are counted and slow down further attempts.
 */
import type { SignedCertificate, Signer, SignRequest } from '../api/signer.ts';
import type { Clock, Timer } from '../base/clock.ts';
import { AlreadyExistsError, ConflictError, InvalidError, RateLimitedError, TlsbootError, UnavailableError } from '../base/errors.ts';
import type { SessionView } from '../base/metrics.ts';
import type { Certificate, CrlContent } from '../pki/index.ts';
import type { AuditLog } from './audit.ts';

export type SessionMode = 'sealed' | 'remote';

/** What a session is opened with; the backend turns it into a signer or throws. */
export interface SessionSecret {
  /** The sealed key's passphrase (sealed mode). */
  readonly passphrase?: Uint8Array;
  /** A grant credential from `tlsboot signer grant` (remote mode). */
  readonly credential?: string;
}

export interface Unlocked {
  readonly signer: Signer;
  /** When what unlocked it stops working (a grant's expiry): the session ends then at the latest. */
  readonly notAfter?: Date;
  /** Certificates what unlocked it may still obtain (a grant's budget left), enforced there. */
  readonly maxCertificates?: number;
  /** Signers what unlocked it covers (a grant's), enforced there. */
  readonly signerNames?: readonly string[];
}

export interface SessionBackend {
  readonly mode: SessionMode;
  /** Unlocks a signer for one session; a wrong secret throws FORBIDDEN. */
  unlock(secret: SessionSecret): Promise<Unlocked>;
}

export interface OpenSessionRequest {
  readonly secret: SessionSecret;
  readonly ttlMs: number;
  readonly maxCertificates?: number;
  /** Limit to these signer names; undefined means all. */
  readonly signerNames?: readonly string[];
  readonly actor: string;
}

export interface SessionInfo {
  readonly id: string;
  readonly openedBy: string;
  readonly openedAt: Date;
  readonly expiresAt: Date;
  readonly maxCertificates: number | undefined;
  readonly signerNames: readonly string[] | undefined;
  /** The limits of the grant that unlocked a remote session, as the signer stated them at open. */
  readonly grant?: { readonly certificatesLeft?: number; readonly signerNames?: readonly string[] };
  readonly signed: number;
  readonly closedAt?: Date;
  readonly closedBy?: string;
  readonly endReason?: 'closed' | 'expired' | 'exhausted';
}

export interface SessionStatus {
  readonly mode: SessionMode;
  readonly current: SessionInfo | undefined;
  readonly last: SessionInfo | undefined;
  readonly failedUnlocks: number;
}

interface OpenSession {
  info: SessionInfo;
  signer: Signer;
  inFlight: number;
  timer: Timer;
}

/**
 * The open session as the session gauges see it (src/base/metrics.ts): a remote session is
 * bounded by its own count and by its grant's, whichever leaves fewer.
 */
export function sessionView(status: SessionStatus): SessionView {
  const current = status.current;
  if (current === undefined) return { open: false };
  const limits = [current.maxCertificates, current.grant?.certificatesLeft].filter((n) => n !== undefined);
  const left = limits.length === 0 ? undefined : Math.max(0, Math.min(...limits) - current.signed);
  return { open: true, expiresAt: current.expiresAt, ...(left === undefined ? {} : { certificatesLeft: left }) };
}

export const MAX_SESSION_TTL_MS = 24 * 3_600_000;
export const MIN_SESSION_TTL_MS = 60_000;
/** Failed unlocks allowed before each further attempt must wait (doubling, capped). */
const FREE_FAILURES = 3;
const MAX_LOCKOUT_MS = 15 * 60_000;

export interface SessionSignerOptions {
  readonly backend: SessionBackend;
  readonly caCertificate: Certificate;
  readonly audit: AuditLog;
  readonly newId: () => string;
  /** The time every check reads, and the expiry timer. */
  readonly clock: Clock;
}

export class SessionSigner implements Signer {
  readonly caCertificate: Certificate;
  private session: OpenSession | undefined;
  private last: SessionInfo | undefined;
  private failedUnlocks = 0;
  private lockedUntil = 0;
  private unlocking = false;
  private closed = false;
  private readonly o: SessionSignerOptions;
  private readonly openListeners: (() => void)[] = [];

  private now(): Date {
    return new Date(this.o.clock.now());
  }

  constructor(o: SessionSignerOptions) {
    this.o = o;
    this.caCertificate = o.caCertificate;
  }

  /** Called after each session opens (the signer controller re-checks waiting CSRs at once). */
  onOpen(listener: () => void): void {
    this.openListeners.push(listener);
  }

  get mode(): SessionMode {
    return this.o.backend.mode;
  }

  status(): SessionStatus {
    this.expireIfDue(this.now());
    return { mode: this.mode, current: this.session?.info, last: this.last, failedUnlocks: this.failedUnlocks };
  }

  async open(request: OpenSessionRequest): Promise<SessionInfo> {
    if (this.closed) throw new UnavailableError('SIGNER_CLOSED', 'the signer is shutting down');
    const now = this.now();
    this.expireIfDue(now);
    checkLimits(request);
    if (this.session) {
      throw new AlreadyExistsError(
        'SESSION_OPEN',
        `a signing session is already open until ${this.session.info.expiresAt.toISOString()}; close it first`,
      );
    }
    if (this.unlocking) throw new ConflictError('SESSION_UNLOCKING', 'another session is being opened');
    if (now.getTime() < this.lockedUntil) {
      throw new RateLimitedError(
        'SESSION_LOCKED_OUT',
        `too many failed unlocks (${this.failedUnlocks}); try again after ${new Date(this.lockedUntil).toISOString()}`,
        Math.max(1, Math.ceil((this.lockedUntil - now.getTime()) / 1000)),
      );
    }
    let unlocked: Unlocked;
    this.unlocking = true;
    try {
      unlocked = await this.o.backend.unlock(request.secret);
    } catch (error) {
      if (error instanceof TlsbootError && error.code === 'FORBIDDEN') {
        this.failedUnlocks++;
        if (this.failedUnlocks >= FREE_FAILURES)
          this.lockedUntil = now.getTime() + Math.min(MAX_LOCKOUT_MS, 1000 * 2 ** (this.failedUnlocks - FREE_FAILURES));
        this.o.audit.record({ event: 'session.unlock-failed', actor: request.actor, mode: this.mode, failedUnlocks: this.failedUnlocks });
      }
      throw error;
    } finally {
      this.unlocking = false;
    }
    const { signer } = unlocked;
    if (this.closed) {
      await signer.close();
      throw new UnavailableError('SIGNER_CLOSED', 'the signer is shutting down');
    }
    this.failedUnlocks = 0;
    this.lockedUntil = 0;
    const opened = this.now();
    const ends = Math.min(opened.getTime() + request.ttlMs, unlocked.notAfter?.getTime() ?? Number.POSITIVE_INFINITY);
    const info: SessionInfo = {
      id: this.o.newId(),
      openedBy: request.actor,
      openedAt: opened,
      expiresAt: new Date(ends),
      maxCertificates: request.maxCertificates,
      signerNames: request.signerNames,
      ...(unlocked.maxCertificates === undefined && unlocked.signerNames === undefined
        ? {}
        : {
            grant: {
              ...(unlocked.maxCertificates === undefined ? {} : { certificatesLeft: unlocked.maxCertificates }),
              ...(unlocked.signerNames === undefined ? {} : { signerNames: unlocked.signerNames }),
            },
          }),
      signed: 0,
    };
    // The timer only wipes the key promptly; every sign() also checks the injected clock.
    // An end that is not a number (an unreadable grant expiry) ends the session at once, not never.
    const left = ends - opened.getTime();
    const timer = this.o.clock.setTimeout(() => this.expireIfDue(this.now(), true), Number.isNaN(left) ? 0 : Math.max(0, left), {
      unref: true,
    });
    this.session = { info, signer, inFlight: 0, timer };
    this.o.audit.record({
      event: 'session.opened',
      actor: request.actor,
      mode: this.mode,
      session: info.id,
      expiresAt: info.expiresAt.toISOString(),
      ...(info.maxCertificates === undefined ? {} : { maxCertificates: info.maxCertificates }),
      ...(info.signerNames === undefined ? {} : { signers: info.signerNames }),
    });
    for (const listener of this.openListeners) listener();
    return info;
  }

  /** Ends the open session now; returns what it was, or undefined when none was open. */
  async closeSession(actor: string): Promise<SessionInfo | undefined> {
    this.expireIfDue(this.now());
    if (!this.session) return undefined;
    return this.end('closed', actor);
  }

  async sign(request: SignRequest, now: Date): Promise<SignedCertificate> {
    this.expireIfDue(now);
    const session = this.session;
    const waiting =
      this.mode === 'sealed'
        ? 'waiting for a signing session: the CA key is sealed (tlsboot ca session open)'
        : 'waiting for a signing session: open one with a grant from the remote signer (tlsboot ca session open --grant-file)';
    if (!session) throw new UnavailableError('SESSION_NONE', waiting);
    const { info } = session;
    if (info.signerNames !== undefined && !info.signerNames.includes(request.signerName)) {
      throw new UnavailableError(
        'SESSION_SIGNER',
        `waiting for a signing session that covers ${request.signerName} (the open one covers ${info.signerNames.join(', ')})`,
      );
    }
    if (info.maxCertificates !== undefined && info.signed + session.inFlight >= info.maxCertificates) {
      throw new UnavailableError(
        'SESSION_EXHAUSTED',
        `waiting for a signing session: the open one has used its ${info.maxCertificates} certificates`,
      );
    }
    session.inFlight++;
    let signed: SignedCertificate;
    try {
      signed = await session.signer.sign(request, now);
    } catch (error) {
      // A certificate the backend refused after it was made (a remote signer's wrong answer) is
      // still signed by the CA: its serial goes on record here.
      if (error instanceof TlsbootError && error.code === 'INVALID')
        this.o.audit.record({
          event: 'certificate.refused',
          actor: request.requester,
          mode: this.mode,
          session: info.id,
          signer: request.signerName,
          csr: request.csrName,
          reason: error.reason,
          message: error.message,
        });
      throw error;
    } finally {
      session.inFlight--;
    }
    // Counted against the session that signed it, even if that session ended while a remote call
    // was in flight: the certificate exists, so it is recorded and delivered, never dropped.
    session.info = { ...session.info, signed: session.info.signed + 1 };
    if (this.session !== session && this.last?.id === info.id) this.last = { ...this.last, signed: this.last.signed + 1 };
    this.o.audit.record({
      event: 'certificate.signed',
      actor: request.requester,
      mode: this.mode,
      session: info.id,
      signer: request.signerName,
      csr: request.csrName,
      serial: signed.certificate.serialNumber,
      notAfter: signed.certificate.notAfter.toISOString(),
    });
    if (this.session === session && info.maxCertificates !== undefined && session.info.signed >= info.maxCertificates)
      await this.end('exhausted', 'tlsboot');
    return signed;
  }

  /**
   * Signs a CRL with the open session's key; between sessions, UNAVAILABLE (the last CRLs stay
   * served). A CRL counts against no certificate budget and no signer-name limit: it only restates
   * revocations, which the audit log already holds. A remote session has the remote signer sign it
   * under the grant (POST /v1/crl).
   */
  async signCrl(content: CrlContent, now: Date): Promise<Uint8Array> {
    this.expireIfDue(now);
    const session = this.session;
    if (!session) throw new UnavailableError('SESSION_NONE', 'CRLs are signed during signing sessions; none is open');
    if (session.signer.signCrl === undefined)
      throw new UnavailableError('CRL_UNSIGNABLE', `a ${this.mode} signing session cannot sign CRLs`);
    return session.signer.signCrl(content, now);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.session) await this.end('closed', 'tlsboot (shutdown)');
  }

  private expireIfDue(now: Date, fromTimer = false): void {
    const s = this.session;
    if (s && (now >= s.info.expiresAt || fromTimer)) void this.end('expired', 'tlsboot');
  }

  private async end(reason: 'closed' | 'expired' | 'exhausted', actor: string): Promise<SessionInfo> {
    const s = this.session as OpenSession;
    this.session = undefined;
    s.timer.cancel();
    const info: SessionInfo = { ...s.info, closedAt: this.now(), closedBy: actor, endReason: reason };
    this.last = info;
    this.o.audit.record({
      event: reason === 'expired' ? 'session.expired' : 'session.closed',
      actor,
      mode: this.mode,
      session: info.id,
      reason,
      signed: info.signed,
    });
    await s.signer.close();
    return info;
  }
}

function checkLimits(r: OpenSessionRequest): void {
  if (!Number.isInteger(r.ttlMs) || r.ttlMs < MIN_SESSION_TTL_MS || r.ttlMs > MAX_SESSION_TTL_MS) {
    throw new InvalidError('SESSION_TTL', 'the session TTL must be between 1m and 24h', { field: 'ttl' });
  }
  if (r.maxCertificates !== undefined && (!Number.isInteger(r.maxCertificates) || r.maxCertificates < 1)) {
    throw new InvalidError('SESSION_MAX', 'max-certificates must be a positive integer', { field: 'max-certificates' });
  }
  if (r.signerNames !== undefined && (r.signerNames.length === 0 || r.signerNames.some((n) => !/^[a-z0-9.-]+\/[A-Za-z0-9.-]+$/.test(n)))) {
    throw new InvalidError('SESSION_SIGNERS', 'signers must be a list of signer names like kubernetes.io/kubelet-serving', {
      field: 'signers',
    });
  }
}
