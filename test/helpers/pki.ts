/** Test fixtures for PKI material: a self-signed CA in one call. */
import { type KeyObject, randomBytes } from 'node:crypto';
import {
  type Certificate,
  type ExtKeyUsage,
  generatePrivateKey,
  issueCertificate,
  parseCertificate,
  type SubjectAltNames,
  spkiOf,
} from '../../src/pki/index.ts';

export interface TestCa {
  readonly certificate: Certificate;
  readonly key: KeyObject;
}

/** A self-signed CA valid from an hour ago for `hours` hours. */
export function selfSignedCa(
  p: { cn?: string; hours?: number; sans?: SubjectAltNames; extKeyUsage?: ExtKeyUsage[]; key?: KeyObject } = {},
): TestCa {
  const key = p.key ?? generatePrivateKey('ecdsa-p256');
  const now = Date.now();
  const certificate = parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: p.cn ?? 'kubernetes' }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature', 'keyCertSign'],
      ...(p.extKeyUsage ? { extKeyUsage: p.extKeyUsage } : {}),
      ...(p.sans ? { sans: p.sans } : {}),
      ca: {},
      notBefore: new Date(now - 3_600_000),
      notAfter: new Date(now + (p.hours ?? 100) * 3_600_000),
      issuer: { kind: 'self', key },
      randomBytes,
    }),
  );
  return { certificate, key };
}
