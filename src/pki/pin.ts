/**
 * CA public-key pins as kubeadm computes them: `sha256:` and the lower-case hex SHA-256 of the
 * CA certificate's DER SubjectPublicKeyInfo, so a pin survives re-issuing the CA with its key.
 */
import { createHash } from 'node:crypto';
import { InvalidError } from '../base/errors.ts';
import type { Certificate } from './certificate.ts';

export function spkiPin(spki: Uint8Array): string {
  return `sha256:${createHash('sha256').update(spki).digest('hex')}`;
}

export function certificatePin(cert: Certificate): string {
  return spkiPin(cert.spki);
}

/** Validates and normalises a pin; the prefix and hex are case-insensitive, stored lower-case. */
export function parsePin(text: string): string {
  const m = /^([A-Za-z0-9]+):(.*)$/.exec(text);
  if (!m) throw new InvalidError('PIN_FORMAT', 'a CA pin must look like sha256:<64 hex digits>', { field: 'discovery-token-ca-cert-hash' });
  const kind = (m[1] as string).toLowerCase();
  if (kind !== 'sha256')
    throw new InvalidError('PIN_FORMAT', `unknown hash format "${m[1]}" (only sha256 is supported)`, {
      field: 'discovery-token-ca-cert-hash',
    });
  const hex = (m[2] as string).toLowerCase();
  if (!/^[0-9a-f]{64}$/.test(hex))
    throw new InvalidError('PIN_FORMAT', 'a sha256 pin needs exactly 64 hex digits', { field: 'discovery-token-ca-cert-hash' });
  return `sha256:${hex}`;
}

/** True when any certificate's SPKI matches any pin (kubeadm's CheckAny). */
export function matchesAnyPin(certs: readonly Certificate[], pins: readonly string[]): boolean {
  const wanted = new Set(pins.map(parsePin));
  return certs.some((c) => wanted.has(certificatePin(c)));
}
