/**
 * The Signer contract (DESIGN.md) shared by the signer controller and the backends in src/signer
 * (local, sealed, remote): a request built from an approved CSR, and the certificate that comes
 * back. A backend that cannot sign right now throws UNAVAILABLE and the CSR waits.
 */
import type { Certificate, CrlContent, ExtKeyUsage, KeyUsage, NameAttribute, SubjectAltNames } from '../pki/index.ts';

export interface SignRequest {
  readonly signerName: string;
  /** Subject as approved, in request order. */
  readonly subject: readonly NameAttribute[];
  /** DER SubjectPublicKeyInfo from the verified CSR. */
  readonly publicKey: Uint8Array;
  readonly sans: SubjectAltNames;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
  /** Requested lifetime (spec.expirationSeconds), if any. */
  readonly requestedTtlMs?: number;
  /** The CSR's DER and usages, for backends that re-check policy themselves (remote). */
  readonly csrDer: Uint8Array;
  readonly usages: readonly string[];
  /** For audit and idempotency: the CSR's name, uid and requester. */
  readonly csrName: string;
  readonly csrUid: string;
  readonly requester: string;
}

export interface SignedCertificate {
  readonly certificate: Certificate;
  /** Leaf PEM (what goes into status.certificate). */
  readonly pem: string;
}

export interface Signer {
  /** Throws UNAVAILABLE when the backend cannot sign right now (sealed, remote down). */
  sign(request: SignRequest, now: Date): Promise<SignedCertificate>;
  /** Signs a CRL under the CA; absent where the key cannot sign one now (sealed and remote backends). */
  signCrl?(content: CrlContent, now: Date): Promise<Uint8Array>;
  /** The CA certificate this signer issues under. */
  readonly caCertificate: Certificate;
  close(): Promise<void>;
}
