/**
 * Certificate revocation lists, RFC 5280 §5: a v2 CertificateList with the CRL number, the
 * issuer's authority key identifier, one entry per revoked serial with its revocation date and a
 * reasonCode (absent for unspecified, as §5.3.1 asks), and, for a CRL that covers one shard of the
 * issuer's certificates, a critical issuing distribution point naming the same URI as the CRL
 * distribution point written into those certificates (so a client can tell the shard is the right
 * one) (shards: extensions.ts, beside the CDP they share). Pure: the caller passes
 * the times; signing uses node:crypto with the issuer's key.
 */
import { type KeyObject, sign, verify } from 'node:crypto';
import { type Certificate, keyIdentifier } from './certificate.ts';
import {
  type Der,
  DerReader,
  decodeBitStringBytes,
  decodeTime,
  encodeBitString,
  encodeExplicit,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInt,
  encodeTime,
  encodeTlv,
  encodeTrue,
  encodeUnsignedInteger,
  Tag,
} from './der.ts';
import { distributionPointName } from './extensions.ts';
import { parseSpki, signatureAlgorithmFor } from './keys.ts';
import { Oid } from './oids.ts';

export interface CrlEntry {
  /** Lower-case hex, as Certificate.serialNumber. */
  readonly serialNumber: string;
  readonly revokedAt: Date;
  /** RFC 5280 CRLReason code; 0 (unspecified) writes no reasonCode. */
  readonly reasonCode: number;
}

/** What a CRL says, without who signs it. */
export interface CrlContent {
  /** Increases with every CRL the issuer publishes for this scope (at most 20 octets). */
  readonly crlNumber: bigint;
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
  readonly entries: readonly CrlEntry[];
  /** The shard's URI: written as a critical issuing distribution point (user certificates only). */
  readonly distributionPoint?: string;
}

const ENUMERATED = 0x0a;

function extension(oid: string, value: Der, critical = false): Buffer {
  return critical
    ? encodeSequence(encodeOid(oid), encodeTrue(), encodeOctetString(value))
    : encodeSequence(encodeOid(oid), encodeOctetString(value));
}

function bigintMagnitude(n: bigint): Buffer {
  if (n < 0n) throw new RangeError('a CRL number is not negative');
  let hex = n.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (hex.length > 40) throw new RangeError('a CRL number has at most 20 octets');
  return Buffer.from(hex, 'hex');
}

/** IssuingDistributionPoint { distributionPoint, onlyContainsUserCerts TRUE }: tlsboot's shards hold leaf certificates only. */
function issuingDistributionPointValue(uri: string): Buffer {
  return encodeSequence(distributionPointName(uri), Buffer.from([0x81, 0x01, 0xff]));
}

function entryDer(e: CrlEntry): Buffer {
  if (!/^[0-9a-f]+$/.test(e.serialNumber)) throw new RangeError(`not a hex serial: ${e.serialNumber}`);
  const serial = encodeUnsignedInteger(Buffer.from(e.serialNumber.length % 2 ? `0${e.serialNumber}` : e.serialNumber, 'hex'));
  if (e.reasonCode === 0) return encodeSequence(serial, encodeTime(e.revokedAt));
  const reason = encodeTlv(ENUMERATED, encodeSmallInt(e.reasonCode).subarray(2));
  return encodeSequence(serial, encodeTime(e.revokedAt), encodeSequence(extension(Oid.crlReason, reason)));
}

/** The TBSCertList of `content` issued by `issuer`. */
export function crlTbs(content: CrlContent, issuer: Certificate): Buffer {
  if (content.nextUpdate <= content.thisUpdate) throw new RangeError('nextUpdate must be after thisUpdate');
  const alg = signatureAlgorithmFor(parseSpki(issuer.spki).info);
  const keyId = issuer.subjectKeyId ?? keyIdentifier(issuer.spki);
  const extensions = [
    extension(Oid.authorityKeyIdentifier, encodeSequence(encodeTlv(0x80, keyId))),
    extension(Oid.crlNumber, encodeUnsignedInteger(bigintMagnitude(content.crlNumber))),
    ...(content.distributionPoint === undefined
      ? []
      : [extension(Oid.issuingDistributionPoint, issuingDistributionPointValue(content.distributionPoint), true)]),
  ];
  return encodeSequence(
    encodeSmallInt(1),
    alg.der,
    Buffer.from(issuer.subject.der),
    encodeTime(content.thisUpdate),
    encodeTime(content.nextUpdate),
    // An empty list is left out (§5.1.2.6), not written as an empty SEQUENCE.
    ...(content.entries.length === 0 ? [] : [encodeTlv(Tag.SEQUENCE, content.entries.map(entryDer))]),
    encodeExplicit(0, encodeSequence(...extensions)),
  );
}

/** A signed DER CRL. */
export function issueCrl(content: CrlContent, issuer: { readonly certificate: Certificate; readonly key: KeyObject }): Buffer {
  const tbs = crlTbs(content, issuer.certificate);
  const alg = signatureAlgorithmFor(parseSpki(issuer.certificate.spki).info);
  const signature = sign(alg.hash, tbs, { key: issuer.key, dsaEncoding: 'der' });
  return encodeSequence(tbs, alg.der, encodeBitString(signature));
}

/** The times of a CRL read back (readSignedCrl). */
export interface SignedCrlTimes {
  readonly thisUpdate: Date;
  readonly nextUpdate: Date;
}

/** A CRL of 100k revocations over 32 shards stays below this; one larger is refused, not parsed. */
const MAX_CRL_BYTES = 4 * 1024 * 1024;

/**
 * Reads back a CRL this module issued (kept between signing sessions outside the key's reach):
 * undefined unless its signature verifies under `issuer` and its issuer name is `issuer`'s
 * subject, so a copy that was edited anywhere is never served. Reads only what the caller needs.
 */
export function readSignedCrl(der: Uint8Array, issuer: Certificate): SignedCrlTimes | undefined {
  try {
    const top = DerReader.of(der, { maxBytes: MAX_CRL_BYTES, maxDepth: 24 });
    const outer = top.enterNext(Tag.SEQUENCE, 'CertificateList');
    top.finish('CertificateList');
    const tbsTlv = outer.expect(Tag.SEQUENCE, 'TBSCertList');
    outer.expect(Tag.SEQUENCE, 'CRL signature algorithm');
    const signature = decodeBitStringBytes(outer.content(outer.expect(Tag.BIT_STRING, 'CRL signature')), 'CRL signature');
    outer.finish('CertificateList');
    const parsed = parseSpki(issuer.spki);
    const alg = signatureAlgorithmFor(parsed.info);
    if (!verify(alg.hash, outer.bytes(tbsTlv), { key: parsed.key, dsaEncoding: 'der' }, signature)) return undefined;
    const tbs = outer.enter(tbsTlv, 'TBSCertList');
    tbs.expect(Tag.INTEGER, 'CRL version');
    tbs.expect(Tag.SEQUENCE, 'TBSCertList signature algorithm');
    if (!Buffer.from(tbs.bytes(tbs.expect(Tag.SEQUENCE, 'CRL issuer'))).equals(issuer.subject.der)) return undefined;
    const thisTlv = tbs.next();
    const nextTlv = tbs.next();
    return {
      thisUpdate: decodeTime(thisTlv.tag, tbs.content(thisTlv), 'thisUpdate'),
      nextUpdate: decodeTime(nextTlv.tag, tbs.content(nextTlv), 'nextUpdate'),
    };
  } catch {
    return undefined;
  }
}
