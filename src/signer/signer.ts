/**
 * The local Signer backend (the contract is in src/api/signer.ts), with the
 * lifetime rules of Kubernetes' CSR signer (reference §4.4) applied identically by every backend:
 * TTL clamped to [10 min, the signer's maximum], NotBefore backdated 5 minutes, NotAfter cut to the
 * CA's, refusal once the CA has expired. The certificate comes from a template: subject and SANs as
 * approved, usages from policy, CA:FALSE; nothing is copied from the CSR's extensions.
 */
import type { KeyObject } from 'node:crypto';
import type { SignedCertificate, Signer, SignRequest } from '../api/signer.ts';
import { UnavailableError } from '../base/errors.ts';
import {
  type Certificate,
  type CrlContent,
  type CrlDistribution,
  certificateToPem,
  type ExtKeyUsage,
  issueCertificate,
  issueCrl,
  type KeyUsage,
  type NameAttribute,
  parseCertificate,
  type SubjectAltNames,
} from '../pki/index.ts';
import type { AuditLog } from './audit.ts';

export type { SignedCertificate, Signer, SignRequest };

export const BACKDATE_MS = 5 * 60_000;
export const MIN_TTL_MS = 10 * 60_000;
/** Below this lifetime the end is not backdated (Kubernetes' `Short`). */
export const SHORT_TTL_MS = 8 * 3_600_000;
export const DEFAULT_MAX_TTL_MS = 8760 * 3_600_000;

export interface Validity {
  readonly notBefore: Date;
  readonly notAfter: Date;
}

/** The validity window of reference §4.4 for a request at `now`. */
export function signingValidity(p: { now: Date; requestedTtlMs: number | undefined; maxTtlMs: number; caNotAfter: Date }): Validity {
  const { now, caNotAfter } = p;
  if (now >= caNotAfter) throw new UnavailableError('SIGNER_EXPIRED', 'refusing to sign a certificate: the signing CA has expired');
  // Kubernetes' rule: no request takes the configured duration (which may be under 10 minutes);
  // a request above it is cut down to it; a request under 10 minutes is raised to 10 minutes.
  const requested = p.requestedTtlMs;
  const ttl = requested === undefined || requested > p.maxTtlMs ? p.maxTtlMs : Math.max(MIN_TTL_MS, requested);
  const notBefore = new Date(now.getTime() - BACKDATE_MS);
  if (notBefore >= caNotAfter) throw new UnavailableError('SIGNER_EXPIRED', 'the signer has expired');
  let notAfter = new Date(now.getTime() + ttl - (ttl >= SHORT_TTL_MS ? BACKDATE_MS : 0));
  if (notAfter >= caNotAfter) notAfter = caNotAfter;
  return { notBefore, notAfter };
}

/** What a certificate is built from once policy and the lifetime rules have decided: no key, no randomness. */
export interface IssueTemplate {
  readonly subject: readonly NameAttribute[];
  readonly publicKey: Uint8Array;
  readonly sans: SubjectAltNames;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** Where the CA's CRL shards are served (the certificate's CDP names its shard). */
  readonly crl?: CrlDistribution;
}

/** Builds and signs the certificate of `template` under the CA: the one issuance step of the local signer, in process or in a crypto worker. */
export function issueFromTemplate(
  template: IssueTemplate,
  ca: { readonly certificate: Certificate; readonly key: KeyObject },
  randomBytes: (size: number) => Uint8Array,
): SignedCertificate {
  // Its own buffer, not a view into Node's shared allocation pool, which the parsed fields would
  // pin and which a crypto worker would copy whole into its reply.
  const der = new Uint8Array(
    issueCertificate({
      subject: template.subject,
      publicKey: template.publicKey,
      sans: template.sans,
      keyUsage: template.keyUsage,
      extKeyUsage: [...template.extKeyUsage].sort(),
      notBefore: template.notBefore,
      notAfter: template.notAfter,
      issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
      randomBytes,
      ...(template.crl === undefined ? {} : { crl: template.crl }),
    }),
  );
  return { certificate: parseCertificate(der), pem: certificateToPem(der) };
}

/** Runs `issueFromTemplate` elsewhere (a crypto worker pool holding the same CA key), or answers undefined when it cannot start now. */
export interface TemplateIssuer {
  tryIssue(template: IssueTemplate): Promise<SignedCertificate> | undefined;
}

export interface LocalSignerOptions {
  readonly caCertificate: Certificate;
  readonly caKey: KeyObject;
  readonly maxTtlMs?: number;
  readonly randomBytes: (size: number) => Uint8Array;
  /** Signs off the main thread (src/signer/crypto-pool.ts, loaded with this CA); in process when absent. */
  readonly issuer?: TemplateIssuer;
  /** Where the CA's CRL shards are served: every certificate names its shard (none when absent). */
  readonly crl?: CrlDistribution;
}

/** Signs with a CA key held in this process's memory. */
export class LocalSigner implements Signer {
  readonly caCertificate: Certificate;
  private caKey: KeyObject | undefined;
  private readonly maxTtlMs: number;
  private readonly randomBytes: (size: number) => Uint8Array;
  private readonly issuer: TemplateIssuer | undefined;
  private readonly crl: CrlDistribution | undefined;

  constructor(options: LocalSignerOptions) {
    this.crl = options.crl;
    this.caCertificate = options.caCertificate;
    this.caKey = options.caKey;
    this.maxTtlMs = options.maxTtlMs ?? DEFAULT_MAX_TTL_MS;
    this.randomBytes = options.randomBytes;
    this.issuer = options.issuer;
  }

  async sign(request: SignRequest, now: Date): Promise<SignedCertificate> {
    const caKey = this.caKey;
    if (!caKey) throw new UnavailableError('SIGNER_CLOSED', 'the signer is closed');
    const validity = signingValidity({
      now,
      requestedTtlMs: request.requestedTtlMs,
      maxTtlMs: this.maxTtlMs,
      caNotAfter: this.caCertificate.notAfter,
    });
    const template: IssueTemplate = {
      subject: request.subject,
      publicKey: request.publicKey,
      sans: request.sans,
      keyUsage: request.keyUsage,
      extKeyUsage: request.extKeyUsage,
      notBefore: validity.notBefore,
      notAfter: validity.notAfter,
      ...(this.crl === undefined ? {} : { crl: this.crl }),
    };
    const elsewhere = this.issuer?.tryIssue(template);
    if (elsewhere) return elsewhere;
    return issueFromTemplate(template, { certificate: this.caCertificate, key: caKey }, this.randomBytes);
  }

  async signCrl(content: CrlContent): Promise<Uint8Array> {
    const caKey = this.caKey;
    if (!caKey) throw new UnavailableError('SIGNER_CLOSED', 'the signer is closed');
    return issueCrl(content, { certificate: this.caCertificate, key: caKey });
  }

  /** Drops this signer's reference to the key, so a session's key can be collected once it ends. */
  async close(): Promise<void> {
    this.caKey = undefined;
  }
}

/** Records every signature of `inner` in the audit log (the local signer; session signers audit themselves). */
export class AuditedSigner implements Signer {
  readonly caCertificate: Certificate;
  private readonly inner: Signer;
  private readonly audit: AuditLog;

  constructor(inner: Signer, audit: AuditLog) {
    this.inner = inner;
    this.audit = audit;
    this.caCertificate = inner.caCertificate;
  }

  async sign(request: SignRequest, now: Date): Promise<SignedCertificate> {
    const signed = await this.inner.sign(request, now);
    this.audit.record({
      event: 'certificate.signed',
      actor: request.requester,
      mode: 'local',
      signer: request.signerName,
      csr: request.csrName,
      serial: signed.certificate.serialNumber,
      notAfter: signed.certificate.notAfter.toISOString(),
    });
    return signed;
  }

  /** CRLs are not audited one by one: each only restates revocations the audit log already holds. */
  signCrl(content: CrlContent, now: Date): Promise<Uint8Array> {
    if (this.inner.signCrl === undefined) throw new UnavailableError('CRL_UNSIGNABLE', 'this signer does not sign CRLs');
    return this.inner.signCrl(content, now);
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
