/**
 * PKCS#10 certificate signing requests: strict parsing with self-signature verification, and
 * creation. A parsed request exposes what policy looks at (subject, public key, requested SANs
 * and extensions); nothing from it is ever copied into a certificate without policy deciding so.
 */
import { type KeyObject, sign, verify } from 'node:crypto';
import { InvalidError } from '../base/errors.ts';
import {
  contextTag,
  DEFAULT_DER_LIMITS,
  type DerLimits,
  DerReader,
  decodeBitStringBytes,
  decodeOid,
  decodeSmallInt,
  decodeString,
  encodeBitString,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInt,
  encodeTlv,
  Tag,
} from './der.ts';
import {
  type Extension,
  encodeRequestedExtensions,
  hasSans,
  isKnownExtension,
  NO_SANS,
  parseBasicConstraints,
  parseExtKeyUsage,
  parseKeyUsage,
  parseSubjectAltNames,
  readExtensions,
  type SubjectAltNames,
} from './extensions.ts';
import {
  assertKeyMatchesAlgorithm,
  type PublicKeyInfo,
  parseSpki,
  readSignatureAlgorithm,
  type SignatureAlgorithm,
  signatureAlgorithmFor,
  spkiOf,
} from './keys.ts';
import { assertRequestableSubject, type DistinguishedName, encodeName, type NameAttribute, readName } from './name.ts';
import { Oid } from './oids.ts';
import { decodePem, encodePem } from './pem.ts';

export interface CertificateRequest {
  readonly der: Uint8Array;
  readonly subject: DistinguishedName;
  /** DER SubjectPublicKeyInfo, exactly as requested. */
  readonly spki: Uint8Array;
  readonly publicKey: KeyObject;
  readonly publicKeyInfo: PublicKeyInfo;
  /** Subject key bits, which key identifiers hash. */
  readonly keyBits: Uint8Array;
  readonly sans: SubjectAltNames;
  /** Every extension in the extensionRequest attribute, validated but never trusted. */
  readonly extensions: readonly Extension[];
  readonly signatureAlgorithm: SignatureAlgorithm;
}

export const CSR_PEM_LABEL = 'CERTIFICATE REQUEST';

function csrError(reason: string, message: string): InvalidError {
  return new InvalidError(`CSR_${reason}`, message);
}

function setOfOrdered(elements: readonly Uint8Array[]): boolean {
  for (let i = 1; i < elements.length; i++) {
    if (Buffer.compare(elements[i - 1] as Uint8Array, elements[i] as Uint8Array) > 0) return false;
  }
  return true;
}

/**
 * Parses and verifies a DER CSR. Throws INVALID with a `CSR_*`, `DER_*`, `NAME_*`, `KEY_*`,
 * `SIGNATURE_*` or `EXTENSION_*` reason, or TOO_LARGE for oversized input.
 */
export function parseCsr(der: Uint8Array, limits: DerLimits = DEFAULT_DER_LIMITS): CertificateRequest {
  const top = DerReader.of(der, limits);
  const outer = top.enterNext(Tag.SEQUENCE, 'CertificationRequest');
  top.finish('CertificationRequest');
  const criTlv = outer.expect(Tag.SEQUENCE, 'CertificationRequestInfo');
  const cri = outer.enter(criTlv, 'CertificationRequestInfo');
  const signatureAlgorithm = readSignatureAlgorithm(outer, 'CSR signature algorithm');
  const signature = decodeBitStringBytes(outer.content(outer.expect(Tag.BIT_STRING, 'CSR signature')), 'CSR signature');
  outer.finish('CertificationRequest');

  const version = decodeSmallInt(cri.content(cri.expect(Tag.INTEGER, 'CSR version')), 'CSR version');
  if (version !== 0) throw csrError('VERSION', `CSR version must be 0 (v1), found ${version}`);
  const subject = readName(cri, 'CSR subject');
  assertRequestableSubject(subject);
  const spkiTlv = cri.expect(Tag.SEQUENCE, 'CSR public key');
  const spki = cri.bytes(spkiTlv);
  const attrsTlv = cri.expect(contextTag(0, true), 'CSR attributes');
  cri.finish('CertificationRequestInfo');

  const parsedKey = parseSpki(spki);
  assertKeyMatchesAlgorithm(parsedKey.info, signatureAlgorithm, 'CSR signature');

  let extensions: Extension[] = [];
  const attrs = cri.enter(attrsTlv, 'CSR attributes');
  const attrElements: Uint8Array[] = [];
  const seenAttrs = new Set<string>();
  while (!attrs.done) {
    const attrTlv = attrs.expect(Tag.SEQUENCE, 'CSR attribute');
    attrElements.push(attrs.bytes(attrTlv));
    const attr = attrs.enter(attrTlv, 'CSR attribute');
    const type = decodeOid(attr.content(attr.expect(Tag.OID, 'CSR attribute type')), 'CSR attribute type');
    const values = attr.enterNext(Tag.SET, `CSR attribute ${type} values`);
    attr.finish('CSR attribute');
    if (seenAttrs.has(type)) throw csrError('ATTRIBUTE', `CSR attribute ${type} appears more than once`);
    seenAttrs.add(type);
    const value = values.next();
    if (!values.done) throw csrError('ATTRIBUTE', `CSR attribute ${type} must have exactly one value`);
    if (type === Oid.extensionRequest) {
      if (value.tag !== Tag.SEQUENCE) throw csrError('ATTRIBUTE', 'extensionRequest value must be a SEQUENCE');
      extensions = readExtensions(values, value, 'extensionRequest');
    } else if (type === Oid.challengePassword) {
      // PKCS#9 DirectoryString; of those tlsboot reads UTF8String and PrintableString, and checks the content.
      if (value.tag !== Tag.UTF8_STRING && value.tag !== Tag.PRINTABLE_STRING) {
        throw csrError('ATTRIBUTE', 'challengePassword must be a UTF8String or PrintableString');
      }
      decodeString(value.tag, values.content(value), 'challengePassword');
    } else {
      throw csrError('ATTRIBUTE', `CSR attribute ${type} is not supported`);
    }
  }
  if (!setOfOrdered(attrElements)) throw csrError('ATTRIBUTE', 'CSR attributes are not in DER SET OF order');

  let sans: SubjectAltNames = NO_SANS;
  for (const ext of extensions) {
    if (ext.oid === Oid.subjectAltName) sans = parseSubjectAltNames(ext.value);
    else if (ext.oid === Oid.basicConstraints) parseBasicConstraints(ext.value);
    else if (ext.oid === Oid.keyUsage) parseKeyUsage(ext.value);
    else if (ext.oid === Oid.extKeyUsage) parseExtKeyUsage(ext.value);
    else if (ext.critical && !isKnownExtension(ext.oid)) {
      throw new InvalidError('EXTENSION_UNSUPPORTED_CRITICAL', `CSR requests unsupported critical extension ${ext.oid}`);
    }
  }

  const ok = verify(signatureAlgorithm.hash, cri.bytes(criTlv), { key: parsedKey.key, dsaEncoding: 'der' }, signature);
  if (!ok) throw new InvalidError('CSR_SIGNATURE', 'CSR self-signature does not verify');

  return {
    der,
    subject,
    spki,
    publicKey: parsedKey.key,
    publicKeyInfo: parsedKey.info,
    keyBits: parsedKey.keyBits,
    sans,
    extensions,
    signatureAlgorithm,
  };
}

/** Parses exactly one `CERTIFICATE REQUEST` PEM block. */
export function parseCsrPem(pem: string | Uint8Array, field?: string): CertificateRequest {
  return parseCsr(decodePem(pem, CSR_PEM_LABEL, field));
}

export interface CreateCsrParams {
  readonly key: KeyObject;
  readonly subject: readonly NameAttribute[];
  readonly sans?: SubjectAltNames;
}

/** A DER CSR signed by `key`, requesting only the given subject and SANs. */
export function createCsr(params: CreateCsrParams): Buffer {
  const spki = spkiOf(params.key);
  const alg = signatureAlgorithmFor(parseSpki(spki).info);
  const sans = params.sans ?? NO_SANS;
  const attributes = hasSans(sans) ? [encodeSequence(encodeOid(Oid.extensionRequest), encodeSetOf([encodeRequestedExtensions(sans)]))] : [];
  const cri = encodeSequence(encodeSmallInt(0), encodeName(params.subject), spki, encodeTlv(contextTag(0, true), attributes));
  const signature = sign(alg.hash, cri, { key: params.key, dsaEncoding: 'der' });
  return encodeSequence(cri, alg.der, encodeBitString(signature));
}

export function createCsrPem(params: CreateCsrParams): string {
  return encodePem(CSR_PEM_LABEL, createCsr(params));
}
