/**
 * The public surface of the PKI core: pure functions over keys, PEM, CSRs, certificates, chains,
 * pins and detached JWS. No I/O and no clock reads; time and randomness are parameters.
 */
export type { Certificate, IssueParams, IssuerSpec } from './certificate.ts';
export {
  CERTIFICATE_PEM_LABEL,
  certificateToPem,
  issueCertificate,
  keyIdentifier,
  parseCertificate,
  parseCertificateBundle,
  parseCertificatePem,
  verifyIssuedBy,
} from './certificate.ts';
export type { ChainParams } from './chain.ts';
export { verifyChain } from './chain.ts';
export { type CrlContent, type CrlEntry, crlTbs, issueCrl, readSignedCrl, type SignedCrlTimes } from './crl.ts';
export type { CertificateRequest, CreateCsrParams } from './csr.ts';
export { CSR_PEM_LABEL, createCsr, createCsrPem, parseCsr, parseCsrPem } from './csr.ts';
export type { DerLimits } from './der.ts';
export { DEFAULT_DER_LIMITS } from './der.ts';
export type { BasicConstraints, Extension, SubjectAltNames } from './extensions.ts';
export { type CrlDistribution, crlShardOf, crlShardUri, NO_SANS } from './extensions.ts';
export { bytesToIp, canonicalIp, comparableIp, ipToBytes } from './ip.ts';
export { signDetachedJws, verifyDetachedJws } from './jws.ts';
export type { KeyAlgorithm, PublicKeyInfo } from './keys.ts';
export {
  generatePrivateKey,
  isKeyAlgorithm,
  KEY_ALGORITHMS,
  keyAlgorithmOf,
  keyMatchesSpki,
  parsePrivateKeyPem,
  parseSpki,
  privateKeyToPem,
  publicKeyInfoOf,
  spkiOf,
} from './keys.ts';
export type { DistinguishedName, NameAttribute } from './name.ts';
export { commonName, formatName, makeName, organizations } from './name.ts';
export type { ExtKeyUsage, KeyUsage } from './oids.ts';
export { decodePem, decodePemBlocks, decodePemBundle, encodePem } from './pem.ts';
export { certificatePin, matchesAnyPin, parsePin, spkiPin } from './pin.ts';
