/**
 * External-CA mode: the cluster holds only the CA certificate. `init --external-ca` writes, for each
 * certificate that CA must sign, a new private key and a PKCS#10 request for exactly the subject
 * and SANs the certificate will carry (like `kubeadm certs generate-csr`); the CA's machine signs
 * them (`certs sign-offline`); init then checks and keeps the result. The helpers here are shared
 * by both sides: making and re-checking a pending request, and issuing a certificate from one.
 */
import type { KeyObject } from 'node:crypto';
import { InvalidError } from '../base/errors.ts';
import {
  type Certificate,
  type CertificateRequest,
  certificateToPem,
  createCsrPem,
  type ExtKeyUsage,
  generatePrivateKey,
  issueCertificate,
  type KeyAlgorithm,
  keyMatchesSpki,
  makeName,
  type NameAttribute,
  parseCertificate,
  parseCsrPem,
  privateKeyToPem,
  type SubjectAltNames,
} from '../pki/index.ts';
import { BACKDATE_MS, type IssueEnv, leafKeyUsages, type SigningCa } from './control-plane-certs.ts';
import type { CaName } from './layout.ts';
import { inFile } from './pki-files.ts';

/** A certificate whose key and CSR are written and which waits for the CA's signature. */
export interface PendingCsr {
  /** kubeadm's name (`apiserver`, `admin.conf`, ...). */
  readonly name: string;
  readonly ca: CaName;
  readonly csrPath: string;
  /** Written by this run (false: kept from an earlier run). */
  readonly created: boolean;
}

export function newKeyAndCsr(
  subject: readonly NameAttribute[],
  sans: SubjectAltNames,
  algorithm: KeyAlgorithm,
): { key: KeyObject; keyPem: string; csrPem: string } {
  const key = generatePrivateKey(algorithm);
  return { key, keyPem: privateKeyToPem(key), csrPem: createCsrPem({ key, subject, sans }) };
}

function sorted(values: readonly string[]): string {
  return [...values].sort().join(',');
}

export function sameSans(a: SubjectAltNames, b: SubjectAltNames): boolean {
  return (
    sorted(a.dns) === sorted(b.dns) &&
    sorted(a.ip) === sorted(b.ip) &&
    sorted(a.email) === sorted(b.email) &&
    sorted(a.uri) === sorted(b.uri)
  );
}

/** `DNS:a, IP:b` for output and messages. */
export function formatSans(sans: SubjectAltNames): string {
  return [
    ...sans.dns.map((d) => `DNS:${d}`),
    ...sans.ip.map((i) => `IP:${i}`),
    ...sans.email.map((e) => `email:${e}`),
    ...sans.uri.map((u) => `URI:${u}`),
  ].join(', ');
}

/**
 * Re-checks a request kept from an earlier `init --external-ca`: it must verify, belong to the key
 * next to it, and still ask for exactly what the current options make the certificate carry (a
 * new SAN flag after the CSR was written would otherwise be silently lost at signing).
 */
export function checkPendingCsr(p: {
  readonly csrPem: Uint8Array;
  readonly csrPath: string;
  readonly key: KeyObject;
  readonly keyPath: string;
  readonly subject: readonly NameAttribute[];
  readonly sans: SubjectAltNames;
}): CertificateRequest {
  const csr = inFile(p.csrPath, () => parseCsrPem(p.csrPem, p.csrPath));
  const redo = `remove ${p.csrPath} and ${p.keyPath} to have them re-created`;
  if (!keyMatchesSpki(p.key, csr.spki)) {
    throw new InvalidError('PKI_CSR_KEY_MISMATCH', `${p.csrPath} was not made for the key ${p.keyPath}; ${redo}`, { field: p.csrPath });
  }
  if (!Buffer.from(csr.subject.der).equals(makeName(p.subject).der)) {
    throw new InvalidError('PKI_CSR_STALE', `${p.csrPath} asks for another subject than the layout expects; ${redo}`, { field: p.csrPath });
  }
  if (!sameSans(csr.sans, p.sans)) {
    throw new InvalidError(
      'PKI_CSR_STALE',
      `${p.csrPath} asks for the SANs [${formatSans(csr.sans)}], but the options now need [${formatSans(p.sans)}]; ${redo}`,
      { field: p.csrPath },
    );
  }
  return csr;
}

/** What a certificate issued from a request carries; every part is decided by the layout, never read from the CSR's extensions. */
export interface CsrTemplate {
  readonly subject: readonly NameAttribute[];
  readonly sans: SubjectAltNames;
  readonly extKeyUsage: readonly ExtKeyUsage[];
}

/**
 * Certifies the request's public key. Key usages follow the same rule as init's own leaves
 * (control-plane-certs.ts): key encipherment only for RSA, whose keys can transport keys.
 */
export function issueFromCsr(
  csr: CertificateRequest,
  template: CsrTemplate,
  ca: SigningCa,
  validityMs: number,
  env: IssueEnv,
): { certificate: Certificate; certificatePem: string } {
  const keyUsage = leafKeyUsages(csr.publicKeyInfo);
  const der = issueCertificate({
    subject: template.subject,
    publicKey: csr.spki,
    sans: template.sans,
    keyUsage,
    extKeyUsage: template.extKeyUsage,
    notBefore: new Date(env.now.getTime() - BACKDATE_MS),
    notAfter: new Date(env.now.getTime() + validityMs),
    issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
    randomBytes: env.randomBytes,
  });
  return { certificate: parseCertificate(der), certificatePem: certificateToPem(der) };
}
