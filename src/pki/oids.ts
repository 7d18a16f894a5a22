/**
 * Object identifiers tlsboot reads or writes, in dotted form, with the short names used in its
 * own types. One table, so a parser and a writer can never disagree about a number.
 */

export const Oid = {
  // Public-key algorithms and curves.
  ecPublicKey: '1.2.840.10045.2.1',
  p256: '1.2.840.10045.3.1.7',
  p384: '1.3.132.0.34',
  rsaEncryption: '1.2.840.113549.1.1.1',
  // Signature algorithms.
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  ecdsaSha512: '1.2.840.10045.4.3.4',
  rsaSha256: '1.2.840.113549.1.1.11',
  rsaSha384: '1.2.840.113549.1.1.12',
  rsaSha512: '1.2.840.113549.1.1.13',
  // Weak or unsupported algorithms named so the error can say what was refused.
  ecdsaSha1: '1.2.840.10045.4.1',
  rsaMd2: '1.2.840.113549.1.1.2',
  rsaMd4: '1.2.840.113549.1.1.3',
  rsaMd5: '1.2.840.113549.1.1.4',
  rsaSha1: '1.2.840.113549.1.1.5',
  rsaPss: '1.2.840.113549.1.1.10',
  dsaSha1: '1.2.840.10040.4.3',
  dsaSha256: '2.16.840.1.101.3.4.3.2',
  // PKCS#9 attributes in a CSR.
  extensionRequest: '1.2.840.113549.1.9.14',
  challengePassword: '1.2.840.113549.1.9.7',
  // Extensions.
  subjectKeyIdentifier: '2.5.29.14',
  keyUsage: '2.5.29.15',
  subjectAltName: '2.5.29.17',
  basicConstraints: '2.5.29.19',
  authorityKeyIdentifier: '2.5.29.35',
  extKeyUsage: '2.5.29.37',
  // CRLs (RFC 5280 §5.2, §5.3) and the certificate extension that points at them.
  crlNumber: '2.5.29.20',
  crlReason: '2.5.29.21',
  issuingDistributionPoint: '2.5.29.28',
  crlDistributionPoints: '2.5.29.31',
} as const;

export const WEAK_SIGNATURE_OIDS: ReadonlyMap<string, string> = new Map([
  [Oid.ecdsaSha1, 'ecdsa-with-SHA1'],
  [Oid.rsaMd2, 'md2WithRSAEncryption'],
  [Oid.rsaMd4, 'md4WithRSAEncryption'],
  [Oid.rsaMd5, 'md5WithRSAEncryption'],
  [Oid.rsaSha1, 'sha1WithRSAEncryption'],
  [Oid.dsaSha1, 'dsa-with-SHA1'],
]);

/** Subject attribute types, short name to OID, in the order a Name is written. */
export const NAME_ATTRIBUTES = {
  C: '2.5.4.6',
  ST: '2.5.4.8',
  L: '2.5.4.7',
  street: '2.5.4.9',
  O: '2.5.4.10',
  OU: '2.5.4.11',
  CN: '2.5.4.3',
  serialNumber: '2.5.4.5',
  UID: '0.9.2342.19200300.100.1.1',
  DC: '0.9.2342.19200300.100.1.25',
  emailAddress: '1.2.840.113549.1.9.1',
} as const;

export type NameAttributeType = keyof typeof NAME_ATTRIBUTES;

export const NAME_ATTRIBUTE_BY_OID: ReadonlyMap<string, NameAttributeType> = new Map(
  (Object.entries(NAME_ATTRIBUTES) as [NameAttributeType, string][]).map(([k, v]) => [v, k]),
);

/** Extended key usages by the names tlsboot uses; the values are RFC 5280 / IANA OIDs. */
export const EXT_KEY_USAGES = {
  any: '2.5.29.37.0',
  serverAuth: '1.3.6.1.5.5.7.3.1',
  clientAuth: '1.3.6.1.5.5.7.3.2',
  codeSigning: '1.3.6.1.5.5.7.3.3',
  emailProtection: '1.3.6.1.5.5.7.3.4',
  ipsecEndSystem: '1.3.6.1.5.5.7.3.5',
  ipsecTunnel: '1.3.6.1.5.5.7.3.6',
  ipsecUser: '1.3.6.1.5.5.7.3.7',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  ocspSigning: '1.3.6.1.5.5.7.3.9',
  microsoftSgc: '1.3.6.1.4.1.311.10.3.3',
  netscapeSgc: '2.16.840.1.113730.4.1',
} as const;

export type ExtKeyUsage = keyof typeof EXT_KEY_USAGES;

export const EXT_KEY_USAGE_BY_OID: ReadonlyMap<string, ExtKeyUsage> = new Map(
  (Object.entries(EXT_KEY_USAGES) as [ExtKeyUsage, string][]).map(([k, v]) => [v, k]),
);

/** KeyUsage named bits, RFC 5280 §4.2.1.3, as masks over the first 16 bits (MSB = bit 0). */
export const KEY_USAGES = {
  digitalSignature: 0x8000,
  contentCommitment: 0x4000,
  keyEncipherment: 0x2000,
  dataEncipherment: 0x1000,
  keyAgreement: 0x0800,
  keyCertSign: 0x0400,
  cRLSign: 0x0200,
  encipherOnly: 0x0100,
  decipherOnly: 0x0080,
} as const;

export type KeyUsage = keyof typeof KEY_USAGES;

export function keyUsagesToBits(usages: readonly KeyUsage[]): number {
  let bits = 0;
  for (const u of usages) bits |= KEY_USAGES[u];
  return bits;
}

export function bitsToKeyUsages(bits: number): KeyUsage[] {
  return (Object.keys(KEY_USAGES) as KeyUsage[]).filter((u) => (bits & KEY_USAGES[u]) !== 0);
}
