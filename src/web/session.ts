/**
 * The console's logins and sessions, in memory: one-time login tokens (single use, short expiry)
 * that the terminal prints, the session each one opens (an HttpOnly cookie), and the CSRF token
 * bound to that session which every change must carry in a header. Time and randomness are injected.
 */
import { createHash, timingSafeEqual } from 'node:crypto';

export const SESSION_COOKIE = 'tlsboot_console';
export const CSRF_HEADER = 'x-csrf-token';
/** A printed login URL is good for one use within this time: long enough to click, short enough to go stale. */
export const LOGIN_TTL_MS = 5 * 60_000;
/** A session ends after this long, however busy: an approval console left open overnight should ask again. */
export const SESSION_TTL_MS = 12 * 60 * 60_000;

interface Session {
  readonly csrf: string;
  readonly expiresAt: number;
}

/** Compares secrets in time independent of where they differ (hashing first evens out the lengths). */
function sameSecret(a: string, b: string): boolean {
  const digest = (s: string) => createHash('sha256').update(s).digest();
  return timingSafeEqual(digest(a), digest(b));
}

export class Sessions {
  private readonly logins = new Map<string, number>();
  private readonly sessions = new Map<string, Session>();
  private readonly now: () => number;
  private readonly random: (size: number) => Uint8Array;

  constructor(now: () => number, random: (size: number) => Uint8Array) {
    this.now = now;
    this.random = random;
  }

  private secret(): string {
    return Buffer.from(this.random(32)).toString('base64url');
  }

  /** A new one-time login token. */
  newLogin(): string {
    const token = this.secret();
    this.logins.set(token, this.now() + LOGIN_TTL_MS);
    return token;
  }

  /** Spends a login token: a new session id, or undefined when it is unknown, used or expired. */
  login(token: string): string | undefined {
    const expiresAt = this.logins.get(token);
    if (expiresAt === undefined) return undefined;
    this.logins.delete(token);
    if (this.now() >= expiresAt) return undefined;
    this.prune();
    const id = this.secret();
    this.sessions.set(id, { csrf: this.secret(), expiresAt: this.now() + SESSION_TTL_MS });
    return id;
  }

  /** The CSRF token of a live session, or undefined. */
  csrfOf(id: string | undefined): string | undefined {
    if (id === undefined) return undefined;
    const session = this.sessions.get(id);
    if (session === undefined) return undefined;
    if (this.now() >= session.expiresAt) {
      this.sessions.delete(id);
      return undefined;
    }
    return session.csrf;
  }

  /** Whether `presented` is the CSRF token of the live session `id`. */
  csrfMatches(id: string | undefined, presented: string | undefined): boolean {
    const csrf = this.csrfOf(id);
    return csrf !== undefined && presented !== undefined && sameSecret(csrf, presented);
  }

  logout(id: string | undefined): void {
    if (id !== undefined) this.sessions.delete(id);
  }

  private prune(): void {
    const now = this.now();
    for (const [id, s] of this.sessions) if (now >= s.expiresAt) this.sessions.delete(id);
    for (const [t, at] of this.logins) if (now >= at) this.logins.delete(t);
  }
}

/** The value of cookie `name` in a Cookie header. */
export function cookieValue(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim();
  }
  return undefined;
}
