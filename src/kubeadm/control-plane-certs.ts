/**
 * Issuing the control-plane certificates of the kubeadm layout: self-signed CAs, leaf
 * certificates for components, and the client certificates embedded in kubeconfigs. Shared by
 * `init` and `certs renew` so both make exactly the same shape of certificate.
 */
import type { KeyObject } from 'node:crypto';
import type { ExtKeyUsage } from '../pki/index.ts';
import {
  type Certificate,
  certificateToPem,
  generatePrivateKey,
  issueCertificate,
  type KeyAlgorithm,
  type KeyUsage,
  type NameAttribute,
  NO_SANS,
  type PublicKeyInfo,
  parseCertificate,
  privateKeyToPem,
  publicKeyInfoOf,
  type SubjectAltNames,
  spkiOf,
} from '../pki/index.ts';

/** Signing certificates before "now" by this much absorbs clock skew between machines (kubeadm's constant). */
export const BACKDATE_MS = 5 * 60_000;

export interface IssueEnv {
  readonly now: Date;
  readonly randomBytes: (size: number) => Uint8Array;
}

export interface IssuedPair {
  readonly certificate: Certificate;
  readonly certificatePem: string;
  readonly key: KeyObject;
  readonly keyPem: string;
}

export interface SigningCa {
  readonly certificate: Certificate;
  readonly key: KeyObject;
}

/** Key encipherment only means something for RSA key transport (kubernetes/kubernetes#109077). */
export function leafKeyUsages(key: KeyObject | PublicKeyInfo): KeyUsage[] {
  const info = 'kind' in key && typeof key.kind === 'string' ? key : publicKeyInfoOf(key as KeyObject);
  return info.kind === 'rsa' ? ['digitalSignature', 'keyEncipherment'] : ['digitalSignature'];
}

function pair(der: Uint8Array, key: KeyObject): IssuedPair {
  return { certificate: parseCertificate(der), certificatePem: certificateToPem(der), key, keyPem: privateKeyToPem(key) };
}

export function issueSelfSignedCa(p: {
  commonName: string;
  dnsSans: readonly string[];
  keyAlgorithm: KeyAlgorithm;
  validityMs: number;
  env: IssueEnv;
}): IssuedPair {
  const key = generatePrivateKey(p.keyAlgorithm);
  const der = issueCertificate({
    subject: [{ type: 'CN', value: p.commonName }],
    publicKey: spkiOf(key),
    sans: { ...NO_SANS, dns: p.dnsSans },
    keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
    ca: {},
    notBefore: new Date(p.env.now.getTime() - BACKDATE_MS),
    notAfter: new Date(p.env.now.getTime() + p.validityMs),
    issuer: { kind: 'self', key },
    randomBytes: p.env.randomBytes,
  });
  return pair(der, key);
}

export interface LeafRequest {
  readonly subject: readonly NameAttribute[];
  readonly sans: SubjectAltNames;
  readonly extKeyUsage: readonly ExtKeyUsage[];
  readonly keyAlgorithm: KeyAlgorithm;
  readonly validityMs: number;
}

/** A new key and a certificate for it signed by `ca`; NotAfter never outlives the CA. */
export function issueLeaf(request: LeafRequest, ca: SigningCa, env: IssueEnv): IssuedPair {
  const key = generatePrivateKey(request.keyAlgorithm);
  const der = issueCertificate({
    subject: request.subject,
    publicKey: spkiOf(key),
    sans: request.sans,
    keyUsage: leafKeyUsages(key),
    extKeyUsage: request.extKeyUsage,
    notBefore: new Date(env.now.getTime() - BACKDATE_MS),
    notAfter: new Date(env.now.getTime() + request.validityMs),
    issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
    randomBytes: env.randomBytes,
  });
  return pair(der, key);
}
