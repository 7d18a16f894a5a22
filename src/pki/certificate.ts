/**
 * X.509 certificates: strict parsing of the fields tlsboot needs, and issuance from a template.
 * Issuance builds every extension from the template (basicConstraints, key usages, SANs, key
 * identifiers); the serial is 128 random bits from the injected source; NotAfter never outlives
 * the issuer. Time and randomness come from the caller.
 */
import { createHash, type KeyObject, sign, verify } from 'node:crypto';
import { InvalidError } from '../base/errors.ts';
import {
  contextTag,
  DerReader,
  decodeBitStringBytes,
  decodeIntegerBytes,
  decodeOid,
  decodeSmallInt,
  decodeTime,
  encodeBitString,
  encodeExplicit,
  encodeSequence,
  encodeSmallInt,
  encodeTime,
  encodeUnsignedInteger,
  Tag,
} from './der.ts';
import {
  type BasicConstraints,
  type CrlDistribution,
  crlShardOf,
  crlShardUri,
  type Extension,
  encodeCertificateExtensions,
  NO_SANS,
  parseAuthorityKeyIdentifier,
  parseBasicConstraints,
  parseExtKeyUsage,
  parseKeyUsage,
  parseSubjectAltNames,
  parseSubjectKeyIdentifier,
  readExtensions,
  type SubjectAltNames,
} from './extensions.ts';
import {
  type PublicKeyInfo,
  parseSpki,
  readSignatureAlgorithm,
  type SignatureAlgorithm,
  signatureAlgorithmFor,
  spkiKeyBits,
  spkiOf,
} from './keys.ts';
import { type DistinguishedName, encodeName, type NameAttribute, readName } from './name.ts';
import { type ExtKeyUsage, type KeyUsage, Oid } from './oids.ts';
import { decodePem, decodePemBundle, encodePem } from './pem.ts';

export const CERTIFICATE_PEM_LABEL = 'CERTIFICATE';

export interface Certificate {
  readonly der: Uint8Array;
  readonly tbs: Uint8Array;
  readonly version: 1 | 2 | 3;
  /** Lower-case hex of the serial's unsigned magnitude. */
  readonly serialNumber: string;
  readonly issuer: DistinguishedName;
  readonly subject: DistinguishedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly spki: Uint8Array;
  readonly signatureAlgorithm: SignatureAlgorithm;
  readonly signature: Uint8Array;
  readonly extensions: readonly Extension[];
  readonly basicConstraints: BasicConstraints | undefined;
  readonly keyUsage: readonly KeyUsage[] | undefined;
  readonly extKeyUsage: readonly (ExtKeyUsage | string)[] | undefined;
  readonly sans: SubjectAltNames;
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
}

function certError(reason: string, message: string): InvalidError {
  return new InvalidError(`CERT_${reason}`, message);
}

/** Parses a DER certificate. The signature is not checked here; see `verifyIssuedBy`. */
export function parseCertificate(der: Uint8Array): Certificate {
  const top = DerReader.of(der);
  const outer = top.enterNext(Tag.SEQUENCE, 'Certificate');
  top.finish('Certificate');
  const tbsTlv = outer.expect(Tag.SEQUENCE, 'TBSCertificate');
  const tbs = outer.enter(tbsTlv, 'TBSCertificate');
  const signatureAlgorithm = readSignatureAlgorithm(outer, 'certificate signature algorithm');
  const signature = decodeBitStringBytes(outer.content(outer.expect(Tag.BIT_STRING, 'certificate signature')), 'certificate signature');
  outer.finish('Certificate');

  let version: 1 | 2 | 3 = 1;
  const versionTlv = tbs.optional(contextTag(0, true));
  if (versionTlv) {
    const v = tbs.enter(versionTlv, 'version');
    const n = decodeSmallInt(v.content(v.expect(Tag.INTEGER, 'version')), 'version');
    v.finish('version');
    if (n !== 1 && n !== 2) throw certError('VERSION', `certificate version field ${n} is not v2 or v3 (v1 is encoded by omission)`);
    version = n === 1 ? 2 : 3;
  }
  const serial = decodeIntegerBytes(tbs.content(tbs.expect(Tag.INTEGER, 'serial number')), 'serial number');
  if ((serial[0] as number) & 0x80) throw certError('SERIAL', 'serial number is negative');
  if (serial.length > 21 || (serial.length === 21 && serial[0] !== 0)) throw certError('SERIAL', 'serial number is longer than 20 octets');
  const innerAlgorithm = readSignatureAlgorithm(tbs, 'TBSCertificate signature algorithm');
  if (innerAlgorithm !== signatureAlgorithm) throw certError('SIGNATURE_ALGORITHM', 'inner and outer signature algorithms differ');
  const issuer = readName(tbs, 'issuer');
  const validity = tbs.enterNext(Tag.SEQUENCE, 'validity');
  const nbTlv = validity.next();
  const notBefore = decodeTime(nbTlv.tag, validity.content(nbTlv), 'notBefore');
  const naTlv = validity.next();
  const notAfter = decodeTime(naTlv.tag, validity.content(naTlv), 'notAfter');
  validity.finish('validity');
  const subject = readName(tbs, 'subject');
  const spkiTlv = tbs.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo');
  const spki = tbs.bytes(spkiTlv);
  checkSpkiForm(tbs.enter(spkiTlv, 'subjectPublicKeyInfo'));
  if (tbs.optional(contextTag(1, false)) || tbs.optional(contextTag(2, false))) {
    throw certError('UNIQUE_ID', 'issuer/subject unique identifiers are not supported');
  }
  let extensions: Extension[] = [];
  const extTlv = tbs.optional(contextTag(3, true));
  if (extTlv) {
    if (version !== 3) throw certError('VERSION', 'extensions require a v3 certificate');
    const wrapper = tbs.enter(extTlv, 'extensions');
    extensions = readExtensions(wrapper, wrapper.expect(Tag.SEQUENCE, 'extensions'), 'extensions');
    wrapper.finish('extensions');
  }
  tbs.finish('TBSCertificate');

  let basicConstraints: BasicConstraints | undefined;
  let keyUsage: KeyUsage[] | undefined;
  let extKeyUsage: (ExtKeyUsage | string)[] | undefined;
  let sans: SubjectAltNames = NO_SANS;
  let subjectKeyId: Uint8Array | undefined;
  let authorityKeyId: Uint8Array | undefined;
  for (const ext of extensions) {
    if (ext.oid === Oid.basicConstraints) basicConstraints = parseBasicConstraints(ext.value);
    else if (ext.oid === Oid.keyUsage) keyUsage = parseKeyUsage(ext.value);
    else if (ext.oid === Oid.extKeyUsage) extKeyUsage = parseExtKeyUsage(ext.value);
    else if (ext.oid === Oid.subjectAltName) sans = parseSubjectAltNames(ext.value);
    else if (ext.oid === Oid.subjectKeyIdentifier) subjectKeyId = parseSubjectKeyIdentifier(ext.value);
    else if (ext.oid === Oid.authorityKeyIdentifier) authorityKeyId = parseAuthorityKeyIdentifier(ext.value);
  }
  const magnitude = serial[0] === 0 && serial.length > 1 ? serial.subarray(1) : serial;
  return {
    der,
    tbs: outer.bytes(tbsTlv),
    version,
    serialNumber: Buffer.from(magnitude).toString('hex'),
    issuer,
    subject,
    notBefore,
    notAfter,
    spki,
    signatureAlgorithm,
    signature,
    extensions,
    basicConstraints,
    keyUsage,
    extKeyUsage,
    sans,
    subjectKeyId,
    authorityKeyId,
  };
}

/**
 * The DER form of a SubjectPublicKeyInfo, without key policy: keys are judged by parseSpki where they
 * are used (issuers, CSRs). Without this the SPKI would be the one part of a certificate taken unread.
 */
function checkSpkiForm(spki: DerReader): void {
  const alg = spki.enterNext(Tag.SEQUENCE, 'public key algorithm');
  decodeOid(alg.content(alg.expect(Tag.OID, 'public key algorithm')), 'public key algorithm');
  const walk = (r: DerReader): void => {
    while (!r.done) {
      const tlv = r.next();
      if (tlv.tag & 0x20) walk(r.enter(tlv, 'public key parameters'));
    }
  };
  walk(alg);
  decodeBitStringBytes(spki.content(spki.expect(Tag.BIT_STRING, 'subjectPublicKey')), 'subjectPublicKey');
  spki.finish('subjectPublicKeyInfo');
}

export function parseCertificatePem(pem: string | Uint8Array, field?: string): Certificate {
  return parseCertificate(decodePem(pem, CERTIFICATE_PEM_LABEL, field));
}

/** One or more `CERTIFICATE` blocks, in order. */
export function parseCertificateBundle(pem: string | Uint8Array, field?: string): Certificate[] {
  return decodePemBundle(pem, CERTIFICATE_PEM_LABEL, field).map((der) => parseCertificate(der));
}

export function certificateToPem(cert: Certificate | Uint8Array): string {
  return encodePem(CERTIFICATE_PEM_LABEL, cert instanceof Uint8Array ? cert : cert.der);
}

/** Whether `cert`'s signature verifies under `issuer`'s public key and the names chain. */
export function verifyIssuedBy(cert: Certificate, issuer: Certificate): boolean {
  if (!Buffer.from(cert.issuer.der).equals(issuer.subject.der)) return false;
  const parsed = parseSpki(issuer.spki);
  if (parsed.info.kind !== cert.signatureAlgorithm.keyKind) return false;
  return verify(cert.signatureAlgorithm.hash, cert.tbs, { key: parsed.key, dsaEncoding: 'der' }, cert.signature);
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (an identifier, not security). */
export function keyIdentifier(spki: Uint8Array): Buffer {
  return createHash('sha1').update(spkiKeyBits(spki)).digest();
}

/** Who signs: an existing CA certificate and its key, or the subject's own key (a root). */
export type IssuerSpec =
  | { readonly kind: 'ca'; readonly certificate: Certificate; readonly key: KeyObject }
  | { readonly kind: 'self'; readonly key: KeyObject };

export interface IssueParams {
  readonly subject: readonly NameAttribute[];
  /** DER SubjectPublicKeyInfo of the key being certified. */
  readonly publicKey: Uint8Array;
  readonly sans?: SubjectAltNames;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage?: readonly ExtKeyUsage[];
  /** Present for a CA certificate. */
  readonly ca?: { readonly pathLength?: number };
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly issuer: IssuerSpec;
  readonly randomBytes: (size: number) => Uint8Array;
  /** Where the issuer's CRL shards are served: the certificate names its shard's URI (CDP). */
  readonly crl?: CrlDistribution;
}

/** 128 random bits, never zero: the INTEGER and its last octet (which picks the CRL shard). */
function randomSerial(randomBytes: (size: number) => Uint8Array): { der: Buffer; hex: string } {
  for (;;) {
    const bytes = randomBytes(16);
    if (bytes.length !== 16) throw new RangeError('randomBytes returned the wrong length');
    if (bytes.some((b) => b !== 0)) return { der: encodeUnsignedInteger(bytes), hex: Buffer.from(bytes).toString('hex') };
  }
}

/** Issues a certificate and returns its DER. NotAfter is cut to the issuer's NotAfter. */
/**
 * What issuance needs to know about a CA, checked once per (certificate, key) pair: parsing the
 * issuer's key and exporting the private key's public half cost as much as a signature.
 */
const checkedIssuers = new WeakMap<Certificate, { key: KeyObject; info: PublicKeyInfo; keyId: Uint8Array }>();

function checkedIssuer(certificate: Certificate, key: KeyObject): { info: PublicKeyInfo; keyId: Uint8Array } {
  const hit = checkedIssuers.get(certificate);
  if (hit && hit.key === key) return hit;
  if (!certificate.basicConstraints?.ca) throw certError('ISSUER_NOT_CA', 'the issuer certificate is not a CA');
  if (!spkiOf(key).equals(certificate.spki)) throw certError('ISSUER_KEY_MISMATCH', 'the issuer key does not match the issuer certificate');
  const entry = { key, info: parseSpki(certificate.spki).info, keyId: certificate.subjectKeyId ?? keyIdentifier(certificate.spki) };
  checkedIssuers.set(certificate, entry);
  return entry;
}

export function issueCertificate(params: IssueParams): Buffer {
  const { issuer } = params;
  const issuerSpki = issuer.kind === 'ca' ? issuer.certificate.spki : spkiOf(issuer.key);
  const ca = issuer.kind === 'ca' ? checkedIssuer(issuer.certificate, issuer.key) : undefined;
  const issuerInfo: PublicKeyInfo = ca ? ca.info : parseSpki(issuerSpki).info;
  if (issuer.kind === 'self' && !Buffer.from(issuerSpki).equals(params.publicKey)) {
    throw certError('SELF_SIGNED_KEY', 'a self-signed certificate must certify the signing key');
  }
  const notAfter = issuer.kind === 'ca' && params.notAfter > issuer.certificate.notAfter ? issuer.certificate.notAfter : params.notAfter;
  if (notAfter <= params.notBefore) throw certError('VALIDITY', 'notAfter must be after notBefore (is the issuer expired?)');
  const alg = signatureAlgorithmFor(issuerInfo);
  const subjectDer = encodeName(params.subject);
  const issuerDer = issuer.kind === 'ca' ? issuer.certificate.subject.der : subjectDer;
  const subjectKeyId = keyIdentifier(params.publicKey);
  const authorityKeyId = ca ? ca.keyId : subjectKeyId;
  const serial = randomSerial(params.randomBytes);
  const extensions = encodeCertificateExtensions({
    ...(params.crl === undefined ? {} : { crlDistributionPoint: crlShardUri(params.crl, crlShardOf(serial.hex, params.crl.shards)) }),
    basicConstraints: params.ca
      ? { ca: true, ...(params.ca.pathLength === undefined ? {} : { pathLength: params.ca.pathLength }) }
      : { ca: false },
    keyUsage: params.keyUsage,
    extKeyUsage: params.extKeyUsage ?? [],
    sans: params.sans ?? NO_SANS,
    subjectKeyId,
    authorityKeyId,
    subjectEmpty: params.subject.length === 0,
  });
  const tbs = encodeSequence(
    encodeExplicit(0, encodeSmallInt(2)),
    serial.der,
    alg.der,
    issuerDer,
    encodeSequence(encodeTime(params.notBefore), encodeTime(notAfter)),
    subjectDer,
    params.publicKey,
    extensions,
  );
  const signature = sign(alg.hash, tbs, { key: issuer.key, dsaEncoding: 'der' });
  return encodeSequence(tbs, alg.der, encodeBitString(signature));
}
