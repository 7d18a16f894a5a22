/**
 * X.509 v3 extensions tlsboot reads and writes: subjectAltName, basicConstraints, keyUsage,
 * extKeyUsage and the key identifiers. Reading is strict (no duplicates, DEFAULT values not
 * encoded, known extensions fully validated); writing takes tlsboot's own types only, so no
 * requested extension is ever copied into a certificate.
 */
import { InvalidError } from '../base/errors.ts';
import {
  contextTag,
  DerReader,
  decodeBoolean,
  decodeNamedBits,
  decodeOid,
  decodeSmallInt,
  decodeString,
  encodeExplicit,
  encodeNamedBits,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInt,
  encodeTlv,
  encodeTrue,
  Tag,
  type Tlv,
} from './der.ts';
import { bytesToIp, ipToBytes } from './ip.ts';
import { bitsToKeyUsages, EXT_KEY_USAGE_BY_OID, EXT_KEY_USAGES, type ExtKeyUsage, type KeyUsage, keyUsagesToBits, Oid } from './oids.ts';

export interface Extension {
  readonly oid: string;
  readonly critical: boolean;
  readonly value: Uint8Array;
}

export interface SubjectAltNames {
  readonly dns: readonly string[];
  /** Canonical text (IPv6 per RFC 5952). */
  readonly ip: readonly string[];
  readonly email: readonly string[];
  readonly uri: readonly string[];
}

export const NO_SANS: SubjectAltNames = Object.freeze({ dns: [], ip: [], email: [], uri: [] });

export interface BasicConstraints {
  readonly ca: boolean;
  readonly pathLength?: number;
}

function extError(reason: string, message: string): InvalidError {
  return new InvalidError(`EXTENSION_${reason}`, message);
}

/** Reads `SEQUENCE OF Extension` from a reader positioned on it; duplicates are an error. */
export function readExtensions(outer: DerReader, tlv: Tlv, what: string): Extension[] {
  const list = outer.enter(tlv, what);
  const out: Extension[] = [];
  const seen = new Set<string>();
  while (!list.done) {
    const ext = list.enterNext(Tag.SEQUENCE, `${what} extension`);
    const oid = decodeOid(ext.content(ext.expect(Tag.OID, 'extension id')), 'extension id');
    let critical = false;
    const crit = ext.optional(Tag.BOOLEAN);
    if (crit) {
      critical = decodeBoolean(ext.content(crit), `extension ${oid} critical flag`);
      if (!critical) throw extError('DEFAULT_ENCODED', `extension ${oid} encodes critical=FALSE, which DER omits`);
    }
    const value = ext.content(ext.expect(Tag.OCTET_STRING, `extension ${oid} value`));
    ext.finish(`extension ${oid}`);
    if (seen.has(oid)) throw extError('DUPLICATE', `extension ${oid} appears more than once`);
    seen.add(oid);
    out.push({ oid, critical, value });
  }
  if (out.length === 0) throw extError('EMPTY', `${what} is present but empty`);
  return out;
}

const KNOWN_EXTENSIONS = new Set<string>([
  Oid.subjectAltName,
  Oid.basicConstraints,
  Oid.keyUsage,
  Oid.extKeyUsage,
  Oid.subjectKeyIdentifier,
  Oid.authorityKeyIdentifier,
]);

export function isKnownExtension(oid: string): boolean {
  return KNOWN_EXTENSIONS.has(oid);
}

function whole(value: Uint8Array, what: string): { r: DerReader; tlv: Tlv } {
  const top = DerReader.of(value);
  const tlv = top.next();
  top.finish(what);
  return { r: top, tlv };
}

// biome-ignore lint/suspicious/noControlCharactersInRegex: the point is to find them
const CONTROL = /[\u0000-\u001f\u007f]/;

export function parseSubjectAltNames(value: Uint8Array): SubjectAltNames {
  const { r, tlv } = whole(value, 'subjectAltName');
  if (tlv.tag !== Tag.SEQUENCE) throw extError('SAN', 'subjectAltName is not a SEQUENCE');
  const names = r.enter(tlv, 'subjectAltName');
  const dns: string[] = [];
  const ip: string[] = [];
  const email: string[] = [];
  const uri: string[] = [];
  while (!names.done) {
    const gn = names.next();
    const content = names.content(gn);
    switch (gn.tag) {
      case contextTag(1, false):
      case contextTag(2, false):
      case contextTag(6, false): {
        const s = decodeString(Tag.IA5_STRING, content, 'subjectAltName entry');
        if (s === '' || CONTROL.test(s)) throw extError('SAN', 'subjectAltName entry is empty or has control characters');
        (gn.tag === contextTag(1, false) ? email : gn.tag === contextTag(2, false) ? dns : uri).push(s);
        break;
      }
      case contextTag(7, false):
        if (content.length !== 4 && content.length !== 16) throw extError('SAN', 'subjectAltName IP address must have 4 or 16 octets');
        ip.push(bytesToIp(content));
        break;
      default:
        throw extError('SAN_TYPE', `subjectAltName entry of type [${gn.tag & 0x1f}] is not supported (only DNS, IP, email and URI)`);
    }
  }
  if (dns.length + ip.length + email.length + uri.length === 0) throw extError('SAN', 'subjectAltName is empty');
  return { dns, ip, email, uri };
}

export function parseBasicConstraints(value: Uint8Array): BasicConstraints {
  const { r, tlv } = whole(value, 'basicConstraints');
  if (tlv.tag !== Tag.SEQUENCE) throw extError('BASIC_CONSTRAINTS', 'basicConstraints is not a SEQUENCE');
  const seq = r.enter(tlv, 'basicConstraints');
  let ca = false;
  const caTlv = seq.optional(Tag.BOOLEAN);
  if (caTlv) {
    ca = decodeBoolean(seq.content(caTlv), 'basicConstraints cA');
    if (!ca) throw extError('DEFAULT_ENCODED', 'basicConstraints encodes cA=FALSE, which DER omits');
  }
  const lenTlv = seq.optional(Tag.INTEGER);
  seq.finish('basicConstraints');
  if (lenTlv === undefined) return { ca };
  if (!ca) throw extError('BASIC_CONSTRAINTS', 'pathLenConstraint on a non-CA certificate');
  return { ca, pathLength: decodeSmallInt(seq.content(lenTlv), 'pathLenConstraint') };
}

export function parseKeyUsage(value: Uint8Array): KeyUsage[] {
  const { r, tlv } = whole(value, 'keyUsage');
  if (tlv.tag !== Tag.BIT_STRING) throw extError('KEY_USAGE', 'keyUsage is not a BIT STRING');
  const usages = bitsToKeyUsages(decodeNamedBits(r.content(tlv), 'keyUsage'));
  if (usages.length === 0) throw extError('KEY_USAGE', 'keyUsage asserts no bits');
  return usages;
}

/** Known usages by name; unknown ones by dotted OID. */
export function parseExtKeyUsage(value: Uint8Array): (ExtKeyUsage | string)[] {
  const { r, tlv } = whole(value, 'extKeyUsage');
  if (tlv.tag !== Tag.SEQUENCE) throw extError('EXT_KEY_USAGE', 'extKeyUsage is not a SEQUENCE');
  const seq = r.enter(tlv, 'extKeyUsage');
  const out: (ExtKeyUsage | string)[] = [];
  while (!seq.done) {
    const oid = decodeOid(seq.content(seq.expect(Tag.OID, 'extKeyUsage entry')), 'extKeyUsage entry');
    out.push(EXT_KEY_USAGE_BY_OID.get(oid) ?? oid);
  }
  if (out.length === 0) throw extError('EXT_KEY_USAGE', 'extKeyUsage is empty');
  return out;
}

export function parseSubjectKeyIdentifier(value: Uint8Array): Uint8Array {
  const { r, tlv } = whole(value, 'subjectKeyIdentifier');
  if (tlv.tag !== Tag.OCTET_STRING) throw extError('KEY_IDENTIFIER', 'subjectKeyIdentifier is not an OCTET STRING');
  return r.content(tlv);
}

export function parseAuthorityKeyIdentifier(value: Uint8Array): Uint8Array | undefined {
  const { r, tlv } = whole(value, 'authorityKeyIdentifier');
  if (tlv.tag !== Tag.SEQUENCE) throw extError('KEY_IDENTIFIER', 'authorityKeyIdentifier is not a SEQUENCE');
  const seq = r.enter(tlv, 'authorityKeyIdentifier');
  const id = seq.optional(contextTag(0, false));
  return id ? seq.content(id) : undefined;
}

// ---------------------------------------------------------------------------------------------
// Writers.

function extension(oid: string, critical: boolean, value: Uint8Array): Buffer {
  return critical
    ? encodeSequence(encodeOid(oid), encodeTrue(), encodeOctetString(value))
    : encodeSequence(encodeOid(oid), encodeOctetString(value));
}

export function encodeSubjectAltNamesValue(sans: SubjectAltNames): Buffer {
  const parts: Buffer[] = [];
  for (const d of sans.dns) parts.push(encodeTlv(contextTag(2, false), Buffer.from(d, 'latin1')));
  for (const e of sans.email) parts.push(encodeTlv(contextTag(1, false), Buffer.from(e, 'latin1')));
  for (const u of sans.uri) parts.push(encodeTlv(contextTag(6, false), Buffer.from(u, 'latin1')));
  for (const i of sans.ip) parts.push(encodeTlv(contextTag(7, false), ipToBytes(i)));
  return encodeSequence(...parts);
}

export function hasSans(sans: SubjectAltNames): boolean {
  return sans.dns.length + sans.ip.length + sans.email.length + sans.uri.length > 0;
}

/** DistributionPointName [0] { fullName [0] GeneralNames { uniformResourceIdentifier [6] } }. */
export function distributionPointName(uri: string): Buffer {
  if (!/^[\x21-\x7e]+$/.test(uri)) throw new RangeError(`a distribution point URI is printable ASCII: ${JSON.stringify(uri)}`);
  return encodeTlv(0xa0, [encodeTlv(0xa0, [encodeTlv(0x86, Buffer.from(uri, 'ascii'))])]);
}

/** The value of a certificate's cRLDistributionPoints extension (2.5.29.31) naming one URI. */
export function crlDistributionPointsValue(uri: string): Buffer {
  return encodeSequence(encodeSequence(distributionPointName(uri)));
}

/** Where the CRL shards of an issuer are served: `<baseUrl>/crl/<shard>.crl`, one of `shards`. */
export interface CrlDistribution {
  readonly baseUrl: string;
  readonly shards: number;
}

/** The URI of a shard, as a certificate's CDP and its CRL's IDP name it. */
export function crlShardUri(d: CrlDistribution, shard: number): string {
  return `${d.baseUrl.replace(/\/+$/, '')}/crl/${shard}.crl`;
}

/**
 * The shard a serial belongs to: its last octet modulo `shards` (Boulder's rule: serials are
 * random, so shards fill evenly, and a certificate's shard is fixed when it is issued).
 */
export function crlShardOf(serialNumber: string, shards: number): number {
  return Number.parseInt(serialNumber.slice(-2), 16) % shards;
}

export interface ExtensionSet {
  readonly basicConstraints: BasicConstraints;
  readonly keyUsage: readonly KeyUsage[];
  readonly extKeyUsage: readonly ExtKeyUsage[];
  readonly sans: SubjectAltNames;
  readonly subjectKeyId: Uint8Array;
  readonly authorityKeyId?: Uint8Array;
  /** RFC 5280 §4.2.1.6: SANs are critical when the subject is empty. */
  readonly subjectEmpty: boolean;
  /** The URI of the CRL that will list this certificate if it is revoked. */
  readonly crlDistributionPoint?: string;
}

/** The `[3] EXPLICIT Extensions` element of a TBSCertificate. */
export function encodeCertificateExtensions(set: ExtensionSet): Buffer {
  const exts: Buffer[] = [];
  const bc = set.basicConstraints;
  const bcValue = bc.ca
    ? encodeSequence(encodeTrue(), ...(bc.pathLength === undefined ? [] : [encodeSmallInt(bc.pathLength)]))
    : encodeSequence();
  if (set.keyUsage.length > 0) exts.push(extension(Oid.keyUsage, true, encodeNamedBits(keyUsagesToBits(set.keyUsage))));
  if (set.extKeyUsage.length > 0) {
    exts.push(extension(Oid.extKeyUsage, false, encodeSequence(...set.extKeyUsage.map((u) => encodeOid(EXT_KEY_USAGES[u])))));
  }
  exts.push(extension(Oid.basicConstraints, true, bcValue));
  exts.push(extension(Oid.subjectKeyIdentifier, false, encodeOctetString(set.subjectKeyId)));
  if (set.authorityKeyId) {
    exts.push(extension(Oid.authorityKeyIdentifier, false, encodeSequence(encodeTlv(contextTag(0, false), set.authorityKeyId))));
  }
  if (hasSans(set.sans)) exts.push(extension(Oid.subjectAltName, set.subjectEmpty, encodeSubjectAltNamesValue(set.sans)));
  if (set.crlDistributionPoint !== undefined) {
    exts.push(extension(Oid.crlDistributionPoints, false, crlDistributionPointsValue(set.crlDistributionPoint)));
  }
  return encodeExplicit(3, encodeSequence(...exts));
}

/** The extensionRequest attribute value of a CSR: only SANs are ever requested by tlsboot. */
export function encodeRequestedExtensions(sans: SubjectAltNames): Buffer {
  return encodeSequence(extension(Oid.subjectAltName, false, encodeSubjectAltNamesValue(sans)));
}
