/**
 * CertificateRevocation (tlsboot.io/v1alpha1, cluster-scoped): one object per revoked certificate,
 * named by its serial number in lower-case hex, so that revoking twice is AlreadyExists by
 * construction. The reasons are RFC 5280's (§5.3.1) that make sense for a cluster CA's leaf
 * certificates, as Let's Encrypt accepts them: revocation is permanent here, so certificateHold
 * and removeFromCRL are refused, and cACompromise / aACompromise name no leaf certificate. The
 * server fills in who revoked it and when (strategy) and the certificate's facts from the
 * issued-certificates inventory (admission); the client gives only the serial and the reason.
 */
import { InvalidError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { formatRfc3339 } from '../base/rfc3339.ts';
import { apiVersionOfResource, CERTIFICATE_REVOCATIONS } from './cluster-client.ts';
import type { UserInfo } from './rbac.ts';

/** RFC 5280 CRLReason codes of the reasons accepted. */
export const REVOCATION_REASONS = {
  unspecified: 0,
  keyCompromise: 1,
  affiliationChanged: 3,
  superseded: 4,
  cessationOfOperation: 5,
  privilegeWithdrawn: 9,
} as const;
export type RevocationReason = keyof typeof REVOCATION_REASONS;

export function isRevocationReason(v: unknown): v is RevocationReason {
  return typeof v === 'string' && Object.hasOwn(REVOCATION_REASONS, v);
}

/** A serial as tlsboot writes it (certificate.ts): 1 to 20 octets, lower-case hex, no leading zero octet. */
const SERIAL_PATTERN = /^(?!00)(?:[0-9a-f]{2}){1,20}$/;

export function serialProblem(serial: string): string | undefined {
  if (SERIAL_PATTERN.test(serial)) return undefined;
  return `"${serial}" is not a certificate serial number: expected 1 to 20 octets in lower-case hex without a leading 00, as "tlsboot csr describe" and openssl print it`;
}

/** Normalises what an operator types (`0A:1B`, `0x0a1b`, upper case) to the object name, or undefined. */
export function normaliseSerial(text: string): string | undefined {
  let hex = text.trim().toLowerCase().replace(/^0x/, '').replace(/[:\s]/g, '');
  if (!/^[0-9a-f]+$/.test(hex)) return undefined;
  if (hex.length % 2 === 1) hex = `0${hex}`;
  while (hex.startsWith('00') && hex.length > 2) hex = hex.slice(2);
  return serialProblem(hex) === undefined ? hex : undefined;
}

/** The certificate facts admission copies from the issued-certificates inventory. */
export interface RevokedCertificateFacts {
  readonly commonName: string;
  readonly csrName: string;
  readonly signerName: string;
  readonly notAfter: string;
}

/** The typed fields of a stored revocation. */
export interface CertificateRevocation {
  readonly serialNumber: string;
  readonly reason: RevocationReason;
  readonly revokedAt: string;
  readonly revokedBy: string;
  readonly notAfter: string;
  readonly commonName: string;
}

/** A stored revocation's fields, or undefined when it is not one (a malformed object is never trusted). */
export function asRevocation(obj: unknown): CertificateRevocation | undefined {
  if (!isObject(obj) || !isObject(obj.metadata)) return undefined;
  const name = obj.metadata.name;
  const { reason, revokedAt, revokedBy, notAfter, commonName } = obj;
  if (typeof name !== 'string' || serialProblem(name) !== undefined || !isRevocationReason(reason)) return undefined;
  if (typeof revokedAt !== 'string' || typeof revokedBy !== 'string' || typeof notAfter !== 'string') return undefined;
  return { serialNumber: name, reason, revokedAt, revokedBy, notAfter, commonName: typeof commonName === 'string' ? commonName : '' };
}

/**
 * The create strategy: the name is the serial, the reason one of REVOCATION_REASONS (unspecified
 * when absent); who and when are the server's, whatever the client sent; other fields are dropped.
 */
export function prepareRevocationCreate(obj: JsonObject, user: UserInfo, now: Date): JsonObject {
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const name = typeof meta.name === 'string' ? meta.name : '';
  const problem = serialProblem(name);
  if (problem !== undefined) throw new InvalidError('REVOCATION', `metadata.name: ${problem}`, { field: 'metadata.name' });
  const reason = obj.reason ?? 'unspecified';
  if (!isRevocationReason(reason)) {
    throw new InvalidError(
      'REVOCATION',
      `reason: Unsupported value ${JSON.stringify(reason)}: supported values: ${Object.keys(REVOCATION_REASONS)
        .map((r) => `"${r}"`)
        .join(', ')}`,
      { field: 'reason' },
    );
  }
  return {
    apiVersion: apiVersionOfResource(CERTIFICATE_REVOCATIONS),
    kind: CERTIFICATE_REVOCATIONS.kind,
    metadata: meta,
    serialNumber: name,
    reason,
    revokedAt: formatRfc3339(now),
    revokedBy: user.name,
  };
}

/** The object `tlsboot certs revoke` creates. */
export function revocationObject(serial: string, reason: RevocationReason): JsonObject {
  return {
    apiVersion: apiVersionOfResource(CERTIFICATE_REVOCATIONS),
    kind: CERTIFICATE_REVOCATIONS.kind,
    metadata: { name: serial },
    reason,
  };
}
