/**
 * PKCS#10 requests (csr.ts): createCsr -> parseCsr round trips for every key algorithm in
 * KEY_ALGORITHMS and every SAN mix (DNS, IPv4, IPv6, email, URI), and refusal of bad requests one
 * defect at a time. Each bad request is assembled with the DER writer and signed with a test key
 * (a real SHA-1 or SHA-256 signature over exactly the bytes under test), so the defect under test
 * is the only one and must surface as its own stable reason: version, subject (multi-valued RDN,
 * two CNs, BMPString, control characters), key (RSA-1024, RSA above 8192 bits, bad exponents,
 * secp256k1, explicit EC parameters, off-curve or compressed points, DSA, Ed25519), signature
 * (weak hashes, unknown or mismatched algorithms, flipped bits), attributes, extensions (duplicates,
 * unknown critical, explicit critical=FALSE, malformed SANs) and DER framing.
 */
import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { rejects } from '../../test/helpers/errors.ts';
import { isTlsbootError } from '../base/errors.ts';
import { CSR_PEM_LABEL, createCsr, createCsrPem, parseCsr, parseCsrPem } from './csr.ts';
import {
  contextTag,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInt,
  encodeString,
  encodeTlv,
  encodeTrue,
  encodeUnsignedInteger,
  NULL_DER,
  Tag,
} from './der.ts';
import { NO_SANS, type SubjectAltNames } from './extensions.ts';
import { generatePrivateKey, KEY_ALGORITHMS, type KeyAlgorithm, spkiOf } from './keys.ts';
import type { NameAttribute } from './name.ts';
import { Oid } from './oids.ts';
import { encodePem } from './pem.ts';

// Keys are made once per file: RSA-4096 generation alone can take seconds.
const keys = new Map<KeyAlgorithm, KeyObject>(KEY_ALGORITHMS.map((a) => [a, generatePrivateKey(a)]));
const keyOf = (a: KeyAlgorithm) => keys.get(a) as KeyObject;
const ecKey = keyOf('ecdsa-p256');
const rsaKey = keyOf('rsa-2048');

// ---------------------------------------------------------------------------------------------
// A CSR from raw parts, signed over exactly the bytes given.

const CN = '2.5.4.3';
const O = '2.5.4.10';
const EC_SHA256 = encodeSequence(encodeOid(Oid.ecdsaSha256));
const RSA_SHA256 = encodeSequence(encodeOid(Oid.rsaSha256), NULL_DER);

function rdn(type: string, value: Uint8Array): Buffer {
  return encodeTlv(Tag.SET, [encodeSequence(encodeOid(type), value)]);
}
const utf8 = (s: string) => encodeString(Tag.UTF8_STRING, s);
const subjectCn = (value: Uint8Array) => encodeSequence(rdn(CN, value));

interface Parts {
  readonly version?: Buffer;
  readonly subject?: Buffer;
  readonly spki?: Uint8Array;
  /** Attribute elements, put into DER SET OF order unless `unsorted`. */
  readonly attributes?: readonly Buffer[];
  readonly unsorted?: boolean;
  /** Replaces the whole `[0] attributes` element; `null` leaves it out. */
  readonly attributesElement?: Buffer | null;
  readonly criTrailer?: readonly Buffer[];
  readonly key?: KeyObject;
  readonly hash?: string;
  readonly sigAlg?: Buffer;
  /** Edits the encoded CertificationRequestInfo before it is signed. */
  readonly editCri?: (cri: Buffer) => Buffer;
}

function buildCri(p: Parts): Buffer {
  const key = p.key ?? ecKey;
  const attrs = p.unsorted ? [...(p.attributes ?? [])] : [...(p.attributes ?? [])].sort(Buffer.compare);
  const attributesElement = p.attributesElement === undefined ? encodeTlv(contextTag(0, true), attrs) : p.attributesElement;
  const cri = encodeSequence(
    p.version ?? encodeSmallInt(0),
    p.subject ?? subjectCn(utf8('node-1')),
    Buffer.from(p.spki ?? spkiOf(key)),
    ...(attributesElement === null ? [] : [attributesElement]),
    ...(p.criTrailer ?? []),
  );
  return p.editCri ? p.editCri(cri) : cri;
}

function buildCsr(p: Parts = {}): Buffer {
  const key = p.key ?? ecKey;
  const cri = buildCri(p);
  const isRsa = key.asymmetricKeyType === 'rsa';
  const signature = sign(p.hash ?? 'sha256', cri, { key, dsaEncoding: 'der' });
  return encodeSequence(cri, p.sigAlg ?? (isRsa ? RSA_SHA256 : EC_SHA256), encodeBitString(signature));
}

function extensionRequest(...exts: Buffer[]): Buffer {
  return encodeSequence(encodeOid(Oid.extensionRequest), encodeTlv(Tag.SET, [encodeSequence(...exts)]));
}

function ext(oid: string, value: Uint8Array, critical?: 'critical' | 'explicit-false' | 'boolean-01'): Buffer {
  const flag =
    critical === 'critical'
      ? [encodeTrue()]
      : critical === 'explicit-false'
        ? [Buffer.from([Tag.BOOLEAN, 1, 0x00])]
        : critical === 'boolean-01'
          ? [Buffer.from([Tag.BOOLEAN, 1, 0x01])]
          : [];
  return encodeSequence(encodeOid(oid), ...flag, encodeOctetString(value));
}

const gn = (n: number, value: Uint8Array | string) =>
  encodeTlv(contextTag(n, false), typeof value === 'string' ? Buffer.from(value, 'latin1') : value);
const sanValue = (...names: Buffer[]) => encodeSequence(...names);
const SAN_DNS = sanValue(gn(2, 'a.example'));
const challenge = (value: Buffer) => encodeSequence(encodeOid(Oid.challengePassword), encodeTlv(Tag.SET, [value]));

// ---------------------------------------------------------------------------------------------
// Keys built by hand for the key checks.

function ecPoint(key: KeyObject): Buffer {
  const spki = spkiOf(key);
  return spki.subarray(spki.length - 65);
}

function ecSpki(params: Buffer, point: Uint8Array): Buffer {
  return encodeSequence(encodeSequence(encodeOid(Oid.ecPublicKey), params), encodeBitString(point));
}

function rsaSpki(modulus: Uint8Array, exponent: Uint8Array): Buffer {
  const body = encodeSequence(encodeUnsignedInteger(modulus), encodeUnsignedInteger(exponent));
  return encodeSequence(encodeSequence(encodeOid(Oid.rsaEncryption), NULL_DER), encodeBitString(body));
}

const rsaModulus = Buffer.from(rsaKey.export({ format: 'jwk' }).n ?? '', 'base64url');

function syntheticModulus(bits: number): Buffer {
  const m = Buffer.alloc(Math.ceil(bits / 8), 0xa5);
  m[0] = 1 << ((bits - 1) % 8);
  m[m.length - 1] = 0xa5;
  return m;
}

// P-256 ECParameters in explicit form, as `openssl ecparam -name prime256v1 -param_enc explicit -outform DER` writes them.
const P256_EXPLICIT = Buffer.from(
  '3081f7020101302c06072a8648ce3d0101022100ffffffff00000001000000000000000000000000ffffffffffffffffffffffff305b0420ffffffff00000001' +
    '000000000000000000000000fffffffffffffffffffffffc04205ac635d8aa3a93e7b3ebbd55769886bc651d06b0cc53b0f63bce3c3e27d2604b031500c49d36' +
    '0886e704936a6678e1139d26b7819f7e900441046b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c2964fe342e2fe1a7f9b8ee7eb4a' +
    '7c0f9e162bce33576b315ececbb6406837bf51f5022100ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551020101',
  'hex',
);

// ---------------------------------------------------------------------------------------------

const SUBJECT: NameAttribute[] = [
  { type: 'O', value: 'system:nodes' },
  { type: 'CN', value: 'system:node:node-1' },
];

const SAN_MIXES: readonly [string, SubjectAltNames, SubjectAltNames][] = [
  ['no SANs', NO_SANS, NO_SANS],
  [
    'DNS',
    { dns: ['node-1', 'node-1.example.internal'], ip: [], email: [], uri: [] },
    { dns: ['node-1', 'node-1.example.internal'], ip: [], email: [], uri: [] },
  ],
  [
    'IPv4',
    { dns: [], ip: ['10.0.0.11', '192.168.1.2'], email: [], uri: [] },
    { dns: [], ip: ['10.0.0.11', '192.168.1.2'], email: [], uri: [] },
  ],
  [
    'IPv6 (made canonical)',
    { dns: [], ip: ['2001:DB8:0:0::11', 'fe80::1'], email: [], uri: [] },
    { dns: [], ip: ['2001:db8::11', 'fe80::1'], email: [], uri: [] },
  ],
  ['email', { dns: [], ip: [], email: ['ops@example.com'], uri: [] }, { dns: [], ip: [], email: ['ops@example.com'], uri: [] }],
  [
    'URI',
    { dns: [], ip: [], email: [], uri: ['spiffe://cluster.local/ns/a/sa/b'] },
    { dns: [], ip: [], email: [], uri: ['spiffe://cluster.local/ns/a/sa/b'] },
  ],
  [
    'all kinds',
    { dns: ['n1.example'], ip: ['10.1.2.3', '2001:db8::1'], email: ['a@example.com'], uri: ['https://n1.example/x'] },
    { dns: ['n1.example'], ip: ['10.1.2.3', '2001:db8::1'], email: ['a@example.com'], uri: ['https://n1.example/x'] },
  ],
];

const EXPECTED_SIGNATURE: Record<KeyAlgorithm, string> = {
  'ecdsa-p256': Oid.ecdsaSha256,
  'ecdsa-p384': Oid.ecdsaSha384,
  'rsa-2048': Oid.rsaSha256,
  'rsa-3072': Oid.rsaSha256,
  'rsa-4096': Oid.rsaSha256,
};

describe('createCsr -> parseCsr round trips', () => {
  for (const alg of KEY_ALGORITHMS) {
    test(`${alg}: subject, key, signature algorithm and every SAN mix come back as requested`, () => {
      const key = keyOf(alg);
      for (const [mix, requested, expected] of SAN_MIXES) {
        const der = createCsr({ key, subject: SUBJECT, sans: requested });
        const csr = parseCsr(der);
        assert.deepEqual(csr.subject.attributes, SUBJECT, mix);
        assert.deepEqual(csr.sans, expected, mix);
        assert.ok(Buffer.from(csr.spki).equals(spkiOf(key)), mix);
        assert.ok(Buffer.from(csr.der).equals(der), mix);
        assert.equal(csr.signatureAlgorithm.oid, EXPECTED_SIGNATURE[alg], mix);
        assert.deepEqual(
          csr.extensions.map((e) => [e.oid, e.critical]),
          requested === NO_SANS ? [] : [[Oid.subjectAltName, false]],
          mix,
        );
      }
      const info = parseCsr(createCsr({ key, subject: SUBJECT })).publicKeyInfo;
      assert.deepEqual(
        info,
        alg.startsWith('ecdsa')
          ? { kind: 'ec', curve: alg === 'ecdsa-p256' ? 'P-256' : 'P-384' }
          : { kind: 'rsa', bits: Number(alg.slice(4)) },
      );
    });
  }

  test('a request without SANs has an empty attribute set', () => {
    const csr = parseCsr(createCsr({ key: ecKey, subject: SUBJECT }));
    assert.deepEqual(csr.sans, NO_SANS);
    assert.deepEqual(csr.extensions, []);
  });

  test('every subject attribute type keeps its order and value', () => {
    const subject: NameAttribute[] = [
      { type: 'C', value: 'DE' },
      { type: 'ST', value: 'Berlin' },
      { type: 'L', value: 'Berlin' },
      { type: 'street', value: 'Hauptstraße 1' },
      { type: 'O', value: 'system:nodes' },
      { type: 'O', value: 'example' },
      { type: 'OU', value: 'ops' },
      { type: 'CN', value: 'system:node:ü-1' },
      { type: 'serialNumber', value: '1234' },
      { type: 'UID', value: 'u1' },
      { type: 'DC', value: 'example' },
      { type: 'emailAddress', value: 'a@example.com' },
    ];
    assert.deepEqual(parseCsr(createCsr({ key: ecKey, subject })).subject.attributes, subject);
  });

  test('PEM round trip, and the key bits are the subjectPublicKey', () => {
    const pem = createCsrPem({ key: ecKey, subject: SUBJECT, sans: SAN_MIXES[6]?.[1] ?? NO_SANS });
    assert.match(pem, new RegExp(`^-----BEGIN ${CSR_PEM_LABEL}-----\n`));
    const csr = parseCsrPem(pem);
    assert.deepEqual(csr.sans, SAN_MIXES[6]?.[2]);
    assert.ok(Buffer.from(csr.keyBits).equals(ecPoint(ecKey)));
    assert.equal(csr.publicKey.asymmetricKeyType, 'ec');
  });

  test('the hand-built requests below parse when given no defect, with either key type', () => {
    const ok = parseCsr(buildCsr({ attributes: [extensionRequest(ext(Oid.subjectAltName, SAN_DNS))] }));
    assert.deepEqual(ok.sans.dns, ['a.example']);
    assert.equal(parseCsr(buildCsr({ key: rsaKey })).publicKeyInfo.kind, 'rsa');
    assert.equal(parseCsr(buildCsr({ key: rsaKey, spki: rsaSpki(rsaModulus, Buffer.from([1, 0, 1])) })).publicKeyInfo.kind, 'rsa');
    assert.equal(parseCsr(buildCsr({ spki: ecSpki(encodeOid(Oid.p256), ecPoint(ecKey)) })).publicKeyInfo.kind, 'ec');
  });
});

type Case = readonly [what: string, make: () => Uint8Array, code: string, reason: string];

function runCases(cases: readonly Case[]): void {
  for (const [what, make, code, reason] of cases) {
    test(`${what} -> ${reason}`, () => rejects(() => parseCsr(make()), code, reason));
  }
}

describe('parseCsr refuses: version and framing', () => {
  runCases([
    ['version 1', () => buildCsr({ version: encodeSmallInt(1) }), 'INVALID', 'CSR_VERSION'],
    ['version 2', () => buildCsr({ version: encodeSmallInt(2) }), 'INVALID', 'CSR_VERSION'],
    ['version 0 encoded in two octets', () => buildCsr({ version: Buffer.from([Tag.INTEGER, 2, 0, 0]) }), 'INVALID', 'DER_INTEGER'],
    ['a negative version', () => buildCsr({ version: Buffer.from([Tag.INTEGER, 1, 0xff]) }), 'INVALID', 'DER_INTEGER'],
    ['no attributes element', () => buildCsr({ attributesElement: null }), 'INVALID', 'DER_TRUNCATED'],
    ['an extra element after the attributes', () => buildCsr({ criTrailer: [NULL_DER] }), 'INVALID', 'DER_TRAILING_DATA'],
    [
      'an extra element after the signature',
      () => {
        const der = buildCsr();
        return encodeSequence(...splitTop(der), NULL_DER);
      },
      'INVALID',
      'DER_TRAILING_DATA',
    ],
    ['a byte after the request', () => Buffer.concat([buildCsr(), Buffer.from([0])]), 'INVALID', 'DER_TRAILING_DATA'],
    [
      'indefinite length on the outer SEQUENCE',
      () => {
        const parts = splitTop(buildCsr());
        return Buffer.concat([Buffer.from([0x30, 0x80]), ...parts, Buffer.from([0, 0])]);
      },
      'INVALID',
      'DER_INDEFINITE_LENGTH',
    ],
    [
      'a signed CertificationRequestInfo with a long-form length where the short form fits',
      () =>
        buildCsr({
          subject: encodeSequence(),
          editCri: (cri) => {
            assert.ok((cri[1] as number) < 0x80, 'the CRI is short enough for a one-octet length');
            return Buffer.concat([Buffer.from([0x30, 0x81]), cri.subarray(1)]);
          },
        }),
      'INVALID',
      'DER_LENGTH',
    ],
    [
      'a signature BIT STRING with unused bits',
      () => withSignatureBits(buildCsr(), (b) => Buffer.concat([Buffer.from([1]), b.subarray(1)])),
      'INVALID',
      'DER_BIT_STRING',
    ],
    ['over the 64 KiB size cap', () => Buffer.concat([buildCsr(), Buffer.alloc(64 * 1024)]), 'TOO_LARGE', 'DER_TOO_LARGE'],
  ]);

  test('10,000 nested SEQUENCEs are refused quickly', () => {
    let nested: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 10_000 && nested.length < 60_000; i++) nested = encodeSequence(nested);
    const started = performance.now();
    assert.throws(
      () => parseCsr(nested),
      (e: unknown) => isTlsbootError(e) && e.code === 'INVALID',
    );
    assert.ok(performance.now() - started < 50, 'bounded work');
  });
});

/** Header length of the DER element starting at `at`. */
function headerLength(der: Uint8Array, at = 0): number {
  const first = der[at + 1] as number;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

/** Total length of the DER element starting at `at`. */
function elementLength(der: Uint8Array, at = 0): number {
  const first = der[at + 1] as number;
  if (first < 0x80) return 2 + first;
  let len = 0;
  for (let i = 0; i < (first & 0x7f); i++) len = len * 256 + (der[at + 2 + i] as number);
  return headerLength(der, at) + len;
}

/** The three elements of a CertificationRequest, encoded. */
function splitTop(der: Buffer): Buffer[] {
  const out: Buffer[] = [];
  for (let p = headerLength(der); p < der.length; p += elementLength(der, p)) out.push(der.subarray(p, p + elementLength(der, p)));
  assert.equal(out.length, 3);
  return out;
}

function withSignatureBits(der: Buffer, edit: (content: Buffer) => Buffer): Buffer {
  const [cri, alg, sig] = splitTop(der) as [Buffer, Buffer, Buffer];
  return encodeSequence(cri, alg, encodeTlv(Tag.BIT_STRING, edit(Buffer.from(sig.subarray(headerLength(sig))))));
}

describe('parseCsr refuses: subject', () => {
  runCases([
    [
      'a multi-valued RDN',
      () =>
        buildCsr({
          subject: encodeSequence(
            encodeTlv(Tag.SET, [encodeSequence(encodeOid(O), utf8('b')), encodeSequence(encodeOid(CN), utf8('a'))].sort(Buffer.compare)),
          ),
        }),
      'INVALID',
      'NAME_MULTI_VALUED_RDN',
    ],
    ['two CNs', () => buildCsr({ subject: encodeSequence(rdn(CN, utf8('a')), rdn(CN, utf8('b'))) }), 'INVALID', 'NAME_DUPLICATE_CN'],
    [
      'a BMPString CN',
      () => buildCsr({ subject: subjectCn(encodeTlv(Tag.BMP_STRING, Buffer.from('\u0000a\u0000b', 'latin1'))) }),
      'INVALID',
      'DER_STRING_TYPE',
    ],
    ['a T61String CN', () => buildCsr({ subject: subjectCn(encodeTlv(Tag.T61_STRING, Buffer.from('ab'))) }), 'INVALID', 'DER_STRING_TYPE'],
    [
      'a UniversalString CN',
      () => buildCsr({ subject: subjectCn(encodeTlv(Tag.UNIVERSAL_STRING, Buffer.from([0, 0, 0, 0x61]))) }),
      'INVALID',
      'DER_STRING_TYPE',
    ],
    ['a NUL in the CN', () => buildCsr({ subject: subjectCn(utf8('node-1\u0000.evil')) }), 'INVALID', 'NAME_CONTROL_CHARACTER'],
    [
      'a NUL in a PrintableString CN',
      () => buildCsr({ subject: subjectCn(encodeTlv(Tag.PRINTABLE_STRING, Buffer.from('a\u0000b', 'latin1'))) }),
      'INVALID',
      'DER_STRING',
    ],
    [
      'a newline in the CN',
      () => buildCsr({ subject: subjectCn(utf8('system:node:a\nsystem:masters')) }),
      'INVALID',
      'NAME_CONTROL_CHARACTER',
    ],
    ['a carriage return in the O', () => buildCsr({ subject: encodeSequence(rdn(O, utf8('a\rb'))) }), 'INVALID', 'NAME_CONTROL_CHARACTER'],
    ['a tab in the CN', () => buildCsr({ subject: subjectCn(utf8('a\tb')) }), 'INVALID', 'NAME_CONTROL_CHARACTER'],
    ['DEL in the CN', () => buildCsr({ subject: subjectCn(utf8('a\u007fb')) }), 'INVALID', 'NAME_CONTROL_CHARACTER'],
    ['a C1 control (NEL) in the CN', () => buildCsr({ subject: subjectCn(utf8('a\u0085b')) }), 'INVALID', 'NAME_CONTROL_CHARACTER'],
    [
      'a C1 control (CSI) in the O',
      () => buildCsr({ subject: encodeSequence(rdn(O, utf8('\u009bsystem:masters'))) }),
      'INVALID',
      'NAME_CONTROL_CHARACTER',
    ],
    ['an empty CN', () => buildCsr({ subject: subjectCn(utf8('')) }), 'INVALID', 'NAME_EMPTY_VALUE'],
    [
      'an attribute type tlsboot does not know (surname)',
      () => buildCsr({ subject: encodeSequence(rdn('2.5.4.4', utf8('x'))) }),
      'INVALID',
      'NAME_UNKNOWN_ATTRIBUTE',
    ],
    [
      'a PrintableString with "@"',
      () => buildCsr({ subject: subjectCn(encodeTlv(Tag.PRINTABLE_STRING, Buffer.from('a@b'))) }),
      'INVALID',
      'DER_STRING',
    ],
    [
      'invalid UTF-8',
      () => buildCsr({ subject: subjectCn(encodeTlv(Tag.UTF8_STRING, Buffer.from([0x61, 0xc3]))) }),
      'INVALID',
      'DER_STRING',
    ],
    ['an empty RDN', () => buildCsr({ subject: encodeSequence(encodeTlv(Tag.SET, [])) }), 'INVALID', 'DER_TRUNCATED'],
    [
      'an RDN that is a SEQUENCE, not a SET',
      () => buildCsr({ subject: encodeSequence(encodeSequence(encodeSequence(encodeOid(CN), utf8('a')))) }),
      'INVALID',
      'DER_UNEXPECTED_TAG',
    ],
  ]);

  test('a CN with a leading byte-order mark keeps it, so it never equals the bare name', () => {
    const csr = parseCsr(buildCsr({ subject: subjectCn(utf8('\ufeffsystem:node:node-1')) }));
    assert.deepEqual(csr.subject.attributes, [{ type: 'CN', value: '\ufeffsystem:node:node-1' }]);
  });
});

describe('parseCsr refuses: public key', () => {
  const point = ecPoint(ecKey);
  const offCurve = Buffer.from(point);
  offCurve[64] = (offCurve[64] as number) ^ 0x01;
  const compressed = Buffer.concat([Buffer.from([0x02 | ((point[64] as number) & 1)]), point.subarray(1, 33)]);
  runCases([
    [
      'RSA-1024',
      () => {
        const key = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
        return buildCsr({ key });
      },
      'INVALID',
      'KEY_RSA_SIZE',
    ],
    [
      'RSA of 2047 bits',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(syntheticModulus(2047), Buffer.from([1, 0, 1])) }),
      'INVALID',
      'KEY_RSA_SIZE',
    ],
    [
      'RSA of 8193 bits',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(syntheticModulus(8193), Buffer.from([1, 0, 1])) }),
      'INVALID',
      'KEY_RSA_SIZE',
    ],
    [
      'RSA of 16384 bits',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(syntheticModulus(16384), Buffer.from([1, 0, 1])) }),
      'INVALID',
      'KEY_RSA_SIZE',
    ],
    // 8192 bits is inside the limit: the same synthetic modulus gets as far as the signature.
    [
      'RSA of 8192 bits (size accepted)',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(syntheticModulus(8192), Buffer.from([1, 0, 1])) }),
      'INVALID',
      'CSR_SIGNATURE',
    ],
    ['RSA e=1', () => buildCsr({ key: rsaKey, spki: rsaSpki(rsaModulus, Buffer.from([1])) }), 'INVALID', 'KEY_RSA_EXPONENT'],
    [
      'RSA with an even e',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(rsaModulus, Buffer.from([1, 0, 0])) }),
      'INVALID',
      'KEY_RSA_EXPONENT',
    ],
    [
      'RSA with a 40-bit e',
      () => buildCsr({ key: rsaKey, spki: rsaSpki(rsaModulus, Buffer.from([1, 0, 0, 0, 1])) }),
      'INVALID',
      'KEY_RSA_EXPONENT',
    ],
    [
      'RSA with a negative modulus',
      () =>
        buildCsr({
          key: rsaKey,
          spki: encodeSequence(
            encodeSequence(encodeOid(Oid.rsaEncryption), NULL_DER),
            encodeBitString(encodeSequence(encodeTlv(Tag.INTEGER, rsaModulus), encodeSmallInt(65537))),
          ),
        }),
      'INVALID',
      'KEY_RSA',
    ],
    [
      'an unsupported curve (secp256k1)',
      () => {
        const key = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
        return buildCsr({ key });
      },
      'INVALID',
      'KEY_EC_CURVE',
    ],
    ['explicit EC parameters (P-256 spelled out)', () => buildCsr({ spki: ecSpki(P256_EXPLICIT, point) }), 'INVALID', 'KEY_EC_PARAMETERS'],
    ['implicitlyCA EC parameters (NULL)', () => buildCsr({ spki: ecSpki(NULL_DER, point) }), 'INVALID', 'KEY_EC_PARAMETERS'],
    ['a compressed EC point', () => buildCsr({ spki: ecSpki(encodeOid(Oid.p256), compressed) }), 'INVALID', 'KEY_EC_POINT'],
    [
      'a P-384-sized point on a P-256 key',
      () => buildCsr({ spki: ecSpki(encodeOid(Oid.p256), Buffer.concat([point, Buffer.alloc(32)])) }),
      'INVALID',
      'KEY_EC_POINT',
    ],
    ['an EC point not on the curve', () => buildCsr({ spki: ecSpki(encodeOid(Oid.p256), offCurve) }), 'INVALID', 'KEY_INVALID'],
    [
      'a DSA key',
      () => {
        const dsa = generateKeyPairSync('dsa', { modulusLength: 2048, divisorLength: 256 }).publicKey;
        return buildCsr({ spki: dsa.export({ type: 'spki', format: 'der' }) });
      },
      'INVALID',
      'KEY_ALGORITHM',
    ],
    [
      'an Ed25519 key',
      () => buildCsr({ spki: generateKeyPairSync('ed25519').publicKey.export({ type: 'spki', format: 'der' }) }),
      'INVALID',
      'KEY_ALGORITHM',
    ],
  ]);
});

describe('parseCsr refuses: signature', () => {
  runCases([
    ['ecdsa-with-SHA1', () => buildCsr({ hash: 'sha1', sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha1)) }), 'INVALID', 'SIGNATURE_WEAK'],
    [
      'sha1WithRSAEncryption',
      () => buildCsr({ key: rsaKey, hash: 'sha1', sigAlg: encodeSequence(encodeOid(Oid.rsaSha1), NULL_DER) }),
      'INVALID',
      'SIGNATURE_WEAK',
    ],
    [
      'md5WithRSAEncryption',
      () => buildCsr({ key: rsaKey, hash: 'md5', sigAlg: encodeSequence(encodeOid(Oid.rsaMd5), NULL_DER) }),
      'INVALID',
      'SIGNATURE_WEAK',
    ],
    ['dsa-with-SHA1', () => buildCsr({ hash: 'sha1', sigAlg: encodeSequence(encodeOid(Oid.dsaSha1)) }), 'INVALID', 'SIGNATURE_WEAK'],
    [
      'RSASSA-PSS',
      () => buildCsr({ key: rsaKey, sigAlg: encodeSequence(encodeOid(Oid.rsaPss), encodeSequence()) }),
      'INVALID',
      'SIGNATURE_ALGORITHM',
    ],
    [
      'ECDSA with NULL parameters',
      () => buildCsr({ sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha256), NULL_DER) }),
      'INVALID',
      'SIGNATURE_ALGORITHM',
    ],
    [
      'RSA without NULL parameters',
      () => buildCsr({ key: rsaKey, sigAlg: encodeSequence(encodeOid(Oid.rsaSha256)) }),
      'INVALID',
      'SIGNATURE_ALGORITHM',
    ],
    ['an EC key claiming an RSA signature', () => buildCsr({ sigAlg: RSA_SHA256 }), 'INVALID', 'SIGNATURE_ALGORITHM'],
    ['an RSA key claiming an ECDSA signature', () => buildCsr({ key: rsaKey, sigAlg: EC_SHA256 }), 'INVALID', 'SIGNATURE_ALGORITHM'],
    [
      'ECDSA claiming SHA-384 over a SHA-256 signature',
      () => buildCsr({ sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha384)) }),
      'INVALID',
      'CSR_SIGNATURE',
    ],
    ['a flipped bit in the ECDSA signature', () => withSignatureBits(buildCsr(), flipLast), 'INVALID', 'CSR_SIGNATURE'],
    ['a flipped bit in the RSA signature', () => withSignatureBits(buildCsr({ key: rsaKey }), flipLast), 'INVALID', 'CSR_SIGNATURE'],
    ['an empty signature', () => withSignatureBits(buildCsr(), () => Buffer.from([0])), 'INVALID', 'CSR_SIGNATURE'],
    [
      'a flipped bit in the signed subject',
      () => {
        const der = buildCsr({ subject: subjectCn(utf8('node-x')) });
        const at = der.indexOf('node-x');
        der[at + 5] = (der[at + 5] as number) ^ 0x01;
        return der;
      },
      'INVALID',
      'CSR_SIGNATURE',
    ],
    [
      'a signature by another key',
      () => {
        const [cri, alg] = splitTop(buildCsr()) as [Buffer, Buffer];
        return encodeSequence(cri, alg, encodeBitString(sign('sha256', cri, { key: keyOf('ecdsa-p384'), dsaEncoding: 'der' })));
      },
      'INVALID',
      'CSR_SIGNATURE',
    ],
  ]);

  test('stronger hashes than the default are accepted with either key type', () => {
    assert.equal(
      parseCsr(buildCsr({ hash: 'sha384', sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha384)) })).signatureAlgorithm.hash,
      'sha384',
    );
    assert.equal(
      parseCsr(buildCsr({ hash: 'sha512', sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha512)) })).signatureAlgorithm.hash,
      'sha512',
    );
    assert.equal(
      parseCsr(buildCsr({ key: rsaKey, hash: 'sha512', sigAlg: encodeSequence(encodeOid(Oid.rsaSha512), NULL_DER) })).signatureAlgorithm
        .hash,
      'sha512',
    );
  });
});

function flipLast(b: Buffer): Buffer {
  const out = Buffer.from(b);
  out[out.length - 1] = (out[out.length - 1] as number) ^ 0x01;
  return out;
}

describe('parseCsr refuses: attributes', () => {
  runCases([
    [
      'an unknown attribute (unstructuredName)',
      () => buildCsr({ attributes: [encodeSequence(encodeOid('1.2.840.113549.1.9.2'), encodeTlv(Tag.SET, [utf8('x')]))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'extensionRequest twice',
      () =>
        buildCsr({ attributes: [extensionRequest(ext(Oid.subjectAltName, SAN_DNS)), extensionRequest(ext(Oid.subjectAltName, SAN_DNS))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'an attribute with two values',
      () => buildCsr({ attributes: [encodeSequence(encodeOid(Oid.challengePassword), encodeTlv(Tag.SET, [utf8('a'), utf8('b')]))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'an attribute with no value',
      () => buildCsr({ attributes: [encodeSequence(encodeOid(Oid.challengePassword), encodeTlv(Tag.SET, []))] }),
      'INVALID',
      'DER_TRUNCATED',
    ],
    [
      'attributes out of DER SET OF order',
      () => {
        const attrs = [challenge(utf8('pw')), extensionRequest(ext(Oid.subjectAltName, SAN_DNS))].sort(Buffer.compare).reverse();
        return buildCsr({ attributes: attrs, unsorted: true });
      },
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'an extensionRequest that is not a SEQUENCE',
      () => buildCsr({ attributes: [encodeSequence(encodeOid(Oid.extensionRequest), encodeTlv(Tag.SET, [utf8('x')]))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'a challengePassword that is an INTEGER',
      () => buildCsr({ attributes: [challenge(encodeSmallInt(1234))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'a challengePassword that is a SEQUENCE',
      () => buildCsr({ attributes: [challenge(encodeSequence(utf8('pw')))] }),
      'INVALID',
      'CSR_ATTRIBUTE',
    ],
    [
      'a challengePassword PrintableString with "@"',
      () => buildCsr({ attributes: [challenge(encodeTlv(Tag.PRINTABLE_STRING, Buffer.from('a@b')))] }),
      'INVALID',
      'DER_STRING',
    ],
  ]);

  test('a challengePassword string is accepted next to an extensionRequest', () => {
    for (const value of [utf8('pässword'), encodeTlv(Tag.PRINTABLE_STRING, Buffer.from('password'))]) {
      const csr = parseCsr(buildCsr({ attributes: [challenge(value), extensionRequest(ext(Oid.subjectAltName, SAN_DNS))] }));
      assert.deepEqual(csr.sans.dns, ['a.example']);
    }
  });
});

describe('parseCsr refuses: requested extensions', () => {
  const req = (...exts: Buffer[]) => buildCsr({ attributes: [extensionRequest(...exts)] });
  runCases([
    [
      'a duplicate subjectAltName',
      () => req(ext(Oid.subjectAltName, SAN_DNS), ext(Oid.subjectAltName, sanValue(gn(2, 'b.example')))),
      'INVALID',
      'EXTENSION_DUPLICATE',
    ],
    [
      'a duplicate basicConstraints',
      () => req(ext(Oid.basicConstraints, encodeSequence(), 'critical'), ext(Oid.basicConstraints, encodeSequence(), 'critical')),
      'INVALID',
      'EXTENSION_DUPLICATE',
    ],
    [
      'a duplicate unknown extension',
      () => req(ext('1.2.3.4', Buffer.from([5, 0])), ext('1.2.3.4', Buffer.from([5, 0]))),
      'INVALID',
      'EXTENSION_DUPLICATE',
    ],
    ['an unknown critical extension', () => req(ext('1.2.3.4', encodeSequence(), 'critical')), 'INVALID', 'EXTENSION_UNSUPPORTED_CRITICAL'],
    [
      'critical=FALSE encoded explicitly',
      () => req(ext(Oid.subjectAltName, SAN_DNS, 'explicit-false')),
      'INVALID',
      'EXTENSION_DEFAULT_ENCODED',
    ],
    ['a critical flag of 0x01', () => req(ext(Oid.subjectAltName, SAN_DNS, 'boolean-01')), 'INVALID', 'DER_BOOLEAN'],
    ['an empty extension list', () => req(), 'INVALID', 'EXTENSION_EMPTY'],
    [
      'an extension value that is not an OCTET STRING',
      () => req(encodeSequence(encodeOid(Oid.subjectAltName), SAN_DNS)),
      'INVALID',
      'DER_UNEXPECTED_TAG',
    ],
    ['an empty subjectAltName', () => req(ext(Oid.subjectAltName, sanValue())), 'INVALID', 'EXTENSION_SAN'],
    [
      'a subjectAltName that is not a SEQUENCE',
      () => req(ext(Oid.subjectAltName, encodeTlv(Tag.SET, [gn(2, 'a.example')]))),
      'INVALID',
      'EXTENSION_SAN',
    ],
    [
      'a subjectAltName with trailing bytes',
      () => req(ext(Oid.subjectAltName, Buffer.concat([SAN_DNS, Buffer.from([0])]))),
      'INVALID',
      'DER_TRAILING_DATA',
    ],
    [
      'an otherName SAN',
      () =>
        req(
          ext(
            Oid.subjectAltName,
            sanValue(encodeTlv(contextTag(0, true), [encodeOid('1.3.6.1.4.1.311.20.2.3'), encodeTlv(contextTag(0, true), [utf8('u@x')])])),
          ),
        ),
      'INVALID',
      'EXTENSION_SAN_TYPE',
    ],
    [
      'a directoryName SAN',
      () => req(ext(Oid.subjectAltName, sanValue(encodeTlv(contextTag(4, true), [subjectCn(utf8('x'))])))),
      'INVALID',
      'EXTENSION_SAN_TYPE',
    ],
    [
      'a registeredID SAN',
      () => req(ext(Oid.subjectAltName, sanValue(gn(8, encodeOid('1.2.3').subarray(2))))),
      'INVALID',
      'EXTENSION_SAN_TYPE',
    ],
    [
      'an IP SAN of 5 octets',
      () => req(ext(Oid.subjectAltName, sanValue(gn(7, Buffer.from([10, 0, 0, 1, 0]))))),
      'INVALID',
      'EXTENSION_SAN',
    ],
    [
      'an IP SAN with a CIDR mask (8 octets)',
      () => req(ext(Oid.subjectAltName, sanValue(gn(7, Buffer.from([10, 0, 0, 0, 255, 0, 0, 0]))))),
      'INVALID',
      'EXTENSION_SAN',
    ],
    ['a DNS SAN with a NUL', () => req(ext(Oid.subjectAltName, sanValue(gn(2, 'a.example\u0000.evil')))), 'INVALID', 'EXTENSION_SAN'],
    ['an empty DNS SAN', () => req(ext(Oid.subjectAltName, sanValue(gn(2, '')))), 'INVALID', 'EXTENSION_SAN'],
    [
      'a DNS SAN with non-ASCII octets',
      () => req(ext(Oid.subjectAltName, sanValue(gn(2, Buffer.from('bücher.example', 'utf8'))))),
      'INVALID',
      'DER_STRING',
    ],
    ['a URI SAN with a newline', () => req(ext(Oid.subjectAltName, sanValue(gn(6, 'https://a/\nb')))), 'INVALID', 'EXTENSION_SAN'],
    [
      'basicConstraints with cA=FALSE encoded',
      () => req(ext(Oid.basicConstraints, encodeSequence(Buffer.from([Tag.BOOLEAN, 1, 0])))),
      'INVALID',
      'EXTENSION_DEFAULT_ENCODED',
    ],
    [
      'basicConstraints with a path length but no cA',
      () => req(ext(Oid.basicConstraints, encodeSequence(encodeSmallInt(0)))),
      'INVALID',
      'EXTENSION_BASIC_CONSTRAINTS',
    ],
    ['a keyUsage with no bits', () => req(ext(Oid.keyUsage, Buffer.from([Tag.BIT_STRING, 1, 0]))), 'INVALID', 'EXTENSION_KEY_USAGE'],
    [
      'a keyUsage with trailing zero bits',
      () => req(ext(Oid.keyUsage, Buffer.from([Tag.BIT_STRING, 2, 0, 0x80]))),
      'INVALID',
      'DER_BIT_STRING',
    ],
    ['an empty extKeyUsage', () => req(ext(Oid.extKeyUsage, encodeSequence())), 'INVALID', 'EXTENSION_EXT_KEY_USAGE'],
  ]);

  test('known extensions (even CA:TRUE, critical) and unknown non-critical ones are reported, never acted on', () => {
    const csr = parseCsr(
      req(
        ext(Oid.basicConstraints, encodeSequence(encodeTrue(), encodeSmallInt(3)), 'critical'),
        ext(Oid.keyUsage, Buffer.from([Tag.BIT_STRING, 2, 1, 0x06]), 'critical'),
        ext(Oid.extKeyUsage, encodeSequence(encodeOid('2.5.29.37.0'))),
        ext('1.2.3.4', Buffer.from('opaque')),
        ext(Oid.subjectAltName, SAN_DNS),
      ),
    );
    assert.deepEqual(
      csr.extensions.map((e) => [e.oid, e.critical]),
      [
        [Oid.basicConstraints, true],
        [Oid.keyUsage, true],
        [Oid.extKeyUsage, false],
        ['1.2.3.4', false],
        [Oid.subjectAltName, false],
      ],
    );
    assert.deepEqual(csr.sans.dns, ['a.example']);
  });
});

describe('parseCsrPem', () => {
  test('refuses the wrong label, two blocks and junk, and parses the right one', () => {
    const der = buildCsr();
    assert.equal(parseCsrPem(encodePem(CSR_PEM_LABEL, der)).subject.attributes[0]?.value, 'node-1');
    rejects(() => parseCsrPem(encodePem('CERTIFICATE', der)), 'INVALID', 'PEM_LABEL');
    rejects(() => parseCsrPem(encodePem('NEW CERTIFICATE REQUEST', der)), 'INVALID', 'PEM_LABEL');
    rejects(() => parseCsrPem(encodePem(CSR_PEM_LABEL, der).repeat(2)), 'INVALID', 'PEM_MULTIPLE');
    rejects(() => parseCsrPem(`${encodePem(CSR_PEM_LABEL, der)}junk`), 'INVALID', 'PEM_JUNK');
  });

  test('createCsr refuses a subject it cannot encode faithfully', () => {
    rejects(() => createCsr({ key: ecKey, subject: [{ type: 'CN', value: 'a\nb' }] }), 'INVALID', 'NAME_CONTROL_CHARACTER');
    rejects(() => createCsr({ key: ecKey, subject: [{ type: '2.5.4.4', value: 'x' }] }), 'INVALID', 'NAME_UNKNOWN_ATTRIBUTE');
  });

  test('a public KeyObject cannot sign a request', () => {
    assert.throws(() => createCsr({ key: createPublicKey(ecKey), subject: SUBJECT }));
  });
});
