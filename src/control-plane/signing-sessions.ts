/**
 * The `signingsessions.ca.tlsboot.io` API: opening, inspecting and closing the signing sessions of
 * a sealed or remote signer over the authenticated, RBAC-checked API. The secret a session is
 * opened with arrives in the create body and goes straight to the SessionSigner; no response,
 * object or log line carries it.
 */
import { InvalidError, NotFoundError, UnavailableError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import type { UserInfo } from '../server/authn.ts';
import type { VirtualResource } from '../server/registry.ts';
import type { SessionInfo, SessionSigner, SessionStatus } from '../signer/session-signer.ts';

export const SESSION_API_VERSION = 'ca.tlsboot.io/v1alpha1';

function time(d: Date | undefined): string | undefined {
  return d === undefined ? undefined : formatRfc3339(d);
}

function phaseOf(info: SessionInfo, open: boolean): string {
  if (open) return 'Open';
  return info.endReason === 'expired' ? 'Expired' : info.endReason === 'exhausted' ? 'Exhausted' : 'Closed';
}

export function sessionObject(info: SessionInfo, status: SessionStatus, open: boolean): JsonObject {
  return {
    apiVersion: SESSION_API_VERSION,
    kind: 'SigningSession',
    metadata: { name: info.id, creationTimestamp: time(info.openedAt) },
    spec: {
      ttlSeconds: Math.round((info.expiresAt.getTime() - info.openedAt.getTime()) / 1000),
      ...(info.maxCertificates === undefined ? {} : { maxCertificates: info.maxCertificates }),
      ...(info.signerNames === undefined ? {} : { signerNames: [...info.signerNames] }),
    },
    status: {
      mode: status.mode,
      phase: phaseOf(info, open),
      openedBy: info.openedBy,
      openedAt: time(info.openedAt),
      expiresAt: time(info.expiresAt),
      signed: info.signed,
      ...(info.grant === undefined
        ? {}
        : {
            grant: {
              ...(info.grant.certificatesLeft === undefined ? {} : { certificatesLeft: info.grant.certificatesLeft }),
              ...(info.grant.signerNames === undefined ? {} : { signerNames: [...info.grant.signerNames] }),
            },
          }),
      ...(info.closedAt ? { closedAt: time(info.closedAt), closedBy: info.closedBy } : {}),
      failedUnlocks: status.failedUnlocks,
    },
  };
}

function optionalInteger(spec: JsonObject, key: string): number | undefined {
  const v = spec[key];
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v))
    throw new InvalidError('SESSION_SPEC', `spec.${key} must be an integer`, { field: `spec.${key}` });
  return v;
}

/** Whether this server's controllers lead now, and who does, under leader election. */
export interface Leadership {
  isLeader(): boolean;
  leader(): string;
}

/**
 * The session API for a sealed or remote signer, or one that explains why there is none. Under
 * leader election only the leading server's controllers sign, so another server refuses to open a
 * session (503) rather than take a passphrase or grant that would sign nothing.
 */
export function signingSessionApi(
  signer: SessionSigner | undefined,
  signerMode: string,
  leadership?: () => Leadership | undefined,
): VirtualResource {
  const noSessions = () =>
    new InvalidError('SESSION_MODE', `this server signs with --signer ${signerMode}; signing sessions need --signer sealed or remote`);
  const actor = (user: UserInfo) => user.name;
  const find = (name: string): JsonObject => {
    if (!signer) throw noSessions();
    const status = signer.status();
    if (status.current && (name === 'current' || name === status.current.id)) return sessionObject(status.current, status, true);
    if (status.last && name === status.last.id) return sessionObject(status.last, status, false);
    throw new NotFoundError('SESSION_NOT_FOUND', name === 'current' ? 'no signing session is open' : `signing session "${name}" not found`);
  };
  return {
    async create(body: unknown, user: UserInfo) {
      if (!signer) throw noSessions();
      const elected = leadership?.();
      if (elected !== undefined && !elected.isLeader())
        throw new UnavailableError(
          'NOT_LEADER',
          `this server's controllers do not lead (the leader is ${elected.leader() || 'not known yet'}), so a session opened here would sign nothing: open it on the leading server's own address`,
        );
      const spec = isObject(body) && isObject(body.spec) ? body.spec : undefined;
      if (!spec) throw new InvalidError('SESSION_SPEC', 'spec: Required value', { field: 'spec' });
      const ttlSeconds = optionalInteger(spec, 'ttlSeconds');
      if (ttlSeconds === undefined) throw new InvalidError('SESSION_SPEC', 'spec.ttlSeconds: Required value', { field: 'spec.ttlSeconds' });
      const maxCertificates = optionalInteger(spec, 'maxCertificates');
      const names = spec.signerNames;
      if (names !== undefined && !(Array.isArray(names) && names.every((n) => typeof n === 'string')))
        throw new InvalidError('SESSION_SPEC', 'spec.signerNames must be a list of strings', { field: 'spec.signerNames' });
      const passphrase = spec.passphrase;
      const grant = spec.grant;
      if (passphrase !== undefined && (typeof passphrase !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(passphrase)))
        throw new InvalidError('SESSION_SPEC', 'spec.passphrase must be base64', { field: 'spec.passphrase' });
      if (grant !== undefined && typeof grant !== 'string')
        throw new InvalidError('SESSION_SPEC', 'spec.grant must be the text of a grant credential', { field: 'spec.grant' });
      const secretBytes = typeof passphrase === 'string' ? Buffer.from(passphrase, 'base64') : undefined;
      const info = await signer
        .open({
          secret: {
            ...(secretBytes ? { passphrase: secretBytes } : {}),
            ...(typeof grant === 'string' ? { credential: grant } : {}),
          },
          ttlMs: ttlSeconds * 1000,
          ...(maxCertificates === undefined ? {} : { maxCertificates }),
          ...(Array.isArray(names) ? { signerNames: names as string[] } : {}),
          actor: actor(user),
        })
        .finally(() => secretBytes?.fill(0));
      return sessionObject(info, signer.status(), true);
    },
    async get(name: string) {
      return find(name);
    },
    async list() {
      if (!signer) return [];
      const status = signer.status();
      return [
        ...(status.current ? [sessionObject(status.current, status, true)] : []),
        ...(status.last ? [sessionObject(status.last, status, false)] : []),
      ];
    },
    async delete(name: string, user: UserInfo) {
      const current = find(name);
      if (!isObject(current.status) || current.status.phase !== 'Open') return current;
      const info = await (signer as SessionSigner).closeSession(actor(user));
      if (!info) throw new NotFoundError('SESSION_NOT_FOUND', 'no signing session is open');
      return sessionObject(info, (signer as SessionSigner).status(), false);
    },
  };
}
