/**
 * Certificate issuance and parsing (certificate.ts). Issuance: the serial is exactly the 16 bytes
 * the injected randomBytes returns (an all-zero draw is redrawn), NotAfter is clamped to the
 * issuer's NotAfter, leaves get a critical CA:FALSE, CAs get CA:TRUE with the requested path
 * length, SKI is the SHA-1 of the key bits and AKI the issuer's SKI, key usages, extended key usages
 * and SANs are exactly the requested ones (no extension from anywhere else), and the signature
 * algorithm follows the issuer's key. Misuse (non-CA issuer, wrong issuer key, self-signed with a
 * foreign key, empty validity) is refused with CERT_* reasons. Parsing: hand-edited certificates,
 * re-signed so the edit is the only defect, are refused for bad versions, serials, mismatched
 * algorithms, unique IDs, duplicate extensions, non-RFC 5280 times and trailing data.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { rejects } from '../../test/helpers/errors.ts';
import {
  type Certificate,
  certificateToPem,
  type IssueParams,
  issueCertificate,
  keyIdentifier,
  parseCertificate,
  parseCertificateBundle,
  parseCertificatePem,
  verifyIssuedBy,
} from './certificate.ts';
import {
  contextTag,
  DerReader,
  encodeBitString,
  encodeExplicit,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInt,
  encodeTlv,
  encodeTrue,
  encodeUnsignedInteger,
  NULL_DER,
  Tag,
} from './der.ts';
import { NO_SANS, type SubjectAltNames } from './extensions.ts';
import { spkiOf } from './keys.ts';
import { type ExtKeyUsage, KEY_USAGES, type KeyUsage, Oid } from './oids.ts';
import { encodePem } from './pem.ts';

const NOW = new Date('2026-06-01T12:00:00Z');
const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const at = (ms: number) => new Date(NOW.getTime() + ms);

/** A deterministic randomBytes that records the sizes asked for. */
function scriptedRandom(...draws: Uint8Array[]): { fn: (size: number) => Uint8Array; sizes: number[] } {
  const sizes: number[] = [];
  let i = 0;
  return {
    sizes,
    fn: (size: number) => {
      sizes.push(size);
      const draw = draws[Math.min(i++, draws.length - 1)] as Uint8Array;
      return draw;
    },
  };
}

/** Distinct, deterministic serials for certificates whose serial is not under test. */
let counter = 0;
function nextRandom(size: number): Uint8Array {
  const b = Buffer.alloc(size, 0x5a);
  b.writeUInt32BE(++counter, size - 4);
  return b;
}

const rootKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const p384Key = generateKeyPairSync('ec', { namedCurve: 'P-384' }).privateKey;
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const leafKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

function selfSigned(key: KeyObject, extra: Partial<IssueParams> = {}): Certificate {
  return parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: 'root' }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      ca: {},
      notBefore: at(-DAY),
      notAfter: at(365 * DAY),
      issuer: { kind: 'self', key },
      randomBytes: nextRandom,
      ...extra,
    }),
  );
}

const root = selfSigned(rootKey);

function issueLeaf(
  extra: Partial<IssueParams> = {},
  issuer: { certificate: Certificate; key: KeyObject } = { certificate: root, key: rootKey },
): Buffer {
  return issueCertificate({
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: 'system:node:node-1' },
    ],
    publicKey: spkiOf(leafKey),
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['clientAuth'],
    notBefore: at(-5 * 60_000),
    notAfter: at(DAY),
    issuer: { kind: 'ca', ...issuer },
    randomBytes: nextRandom,
    ...extra,
  });
}

const leaf = (extra: Partial<IssueParams> = {}) => parseCertificate(issueLeaf(extra));

describe('issueCertificate: serial number', () => {
  test('is exactly the 16 bytes the injected randomBytes returns', () => {
    const draw = Uint8Array.from({ length: 16 }, (_, i) => 0x10 + i);
    const random = scriptedRandom(draw);
    const cert = leaf({ randomBytes: random.fn });
    assert.deepEqual(random.sizes, [16]);
    assert.equal(cert.serialNumber, Buffer.from(draw).toString('hex'));
  });

  test('a draw with the high bit set gets a 0x00 prefix in DER and keeps all 128 bits', () => {
    const draw = Uint8Array.from({ length: 16 }, (_, i) => 0xf0 - i);
    const der = issueLeaf({ randomBytes: scriptedRandom(draw).fn });
    assert.equal(parseCertificate(der).serialNumber, Buffer.from(draw).toString('hex'));
    assert.ok(der.includes(Buffer.concat([Buffer.from([Tag.INTEGER, 17, 0x00]), draw])));
  });

  test('leading zero bytes are dropped by DER, not replaced', () => {
    const draw = Uint8Array.from({ length: 16 }, (_, i) => (i < 2 ? 0 : i));
    assert.equal(leaf({ randomBytes: scriptedRandom(draw).fn }).serialNumber, Buffer.from(draw.subarray(2)).toString('hex'));
  });

  test('an all-zero draw is drawn again', () => {
    const second = Uint8Array.from({ length: 16 }, (_, i) => 0x20 + i);
    const random = scriptedRandom(new Uint8Array(16), second);
    assert.equal(leaf({ randomBytes: random.fn }).serialNumber, Buffer.from(second).toString('hex'));
    assert.deepEqual(random.sizes, [16, 16]);
  });

  test('a randomBytes returning the wrong length is a programming error', () => {
    assert.throws(() => issueLeaf({ randomBytes: () => new Uint8Array(8) }), RangeError);
  });
});

describe('issueCertificate: validity', () => {
  test('is as requested when inside the issuer’s validity', () => {
    const cert = leaf({ notBefore: at(-5 * 60_000), notAfter: at(30 * DAY) });
    assert.equal(cert.notBefore.getTime(), at(-5 * 60_000).getTime());
    assert.equal(cert.notAfter.getTime(), at(30 * DAY).getTime());
  });

  test('NotAfter is clamped to the issuer’s NotAfter', () => {
    const cert = leaf({ notAfter: at(10 * 365 * DAY) });
    assert.equal(cert.notAfter.getTime(), root.notAfter.getTime());
  });

  test('times from 2050 on are GeneralizedTime and round-trip', () => {
    const longRoot = selfSigned(rootKey, { notAfter: new Date('2070-01-01T00:00:00Z') });
    const der = issueLeaf({ notAfter: new Date('2055-05-05T05:05:05Z') }, { certificate: longRoot, key: rootKey });
    assert.equal(parseCertificate(der).notAfter.toISOString(), '2055-05-05T05:05:05.000Z');
    assert.ok(der.includes(Buffer.from('20550505050505Z')));
  });

  test('an empty or inverted validity, or an issuer expired before NotBefore, is refused', () => {
    rejects(() => issueLeaf({ notBefore: at(HOUR), notAfter: at(HOUR) }), 'INVALID', 'CERT_VALIDITY');
    rejects(() => issueLeaf({ notBefore: at(HOUR), notAfter: at(0) }), 'INVALID', 'CERT_VALIDITY');
    rejects(() => issueLeaf({ notBefore: at(400 * DAY), notAfter: at(500 * DAY) }), 'INVALID', 'CERT_VALIDITY');
  });
});

describe('issueCertificate: extensions', () => {
  test('a leaf gets exactly KU (critical), EKU, CA:FALSE (critical), SKI, AKI and SAN', () => {
    const cert = leaf({ sans: { dns: ['node-1'], ip: [], email: [], uri: [] } });
    assert.equal(cert.version, 3);
    assert.deepEqual(
      cert.extensions.map((e) => [e.oid, e.critical]),
      [
        [Oid.keyUsage, true],
        [Oid.extKeyUsage, false],
        [Oid.basicConstraints, true],
        [Oid.subjectKeyIdentifier, false],
        [Oid.authorityKeyIdentifier, false],
        [Oid.subjectAltName, false],
      ],
    );
    assert.deepEqual(cert.basicConstraints, { ca: false });
  });

  test('a CA gets CA:TRUE, with the path length only when asked', () => {
    assert.deepEqual(root.basicConstraints, { ca: true });
    assert.deepEqual(selfSigned(rootKey, { ca: { pathLength: 0 } }).basicConstraints, { ca: true, pathLength: 0 });
    assert.deepEqual(selfSigned(rootKey, { ca: { pathLength: 3 } }).basicConstraints, { ca: true, pathLength: 3 });
  });

  test('SKI is the SHA-1 of the key bits, AKI is the issuer’s SKI, and a root’s AKI is its own SKI', () => {
    const jwk = leafKey.export({ format: 'jwk' });
    const point = Buffer.concat([Buffer.from([4]), Buffer.from(jwk.x ?? '', 'base64url'), Buffer.from(jwk.y ?? '', 'base64url')]);
    const cert = leaf();
    assert.equal(Buffer.from(cert.subjectKeyId ?? []).toString('hex'), createHash('sha1').update(point).digest('hex'));
    assert.ok(keyIdentifier(spkiOf(leafKey)).equals(cert.subjectKeyId ?? new Uint8Array()));
    assert.ok(Buffer.from(cert.authorityKeyId ?? []).equals(root.subjectKeyId ?? new Uint8Array([1])));
    assert.ok(Buffer.from(root.authorityKeyId ?? []).equals(root.subjectKeyId ?? new Uint8Array([1])));
    assert.ok(Buffer.from(root.issuer.der).equals(root.subject.der));
    assert.ok(Buffer.from(cert.issuer.der).equals(root.subject.der));
  });

  test('key usages are exactly the requested ones, for every single usage and some sets', () => {
    const sets: KeyUsage[][] = [
      ...(Object.keys(KEY_USAGES) as KeyUsage[]).map((u) => [u]),
      ['digitalSignature', 'keyEncipherment'],
      ['digitalSignature', 'keyCertSign', 'cRLSign'],
      ['digitalSignature', 'keyAgreement', 'decipherOnly'],
    ];
    for (const keyUsage of sets) assert.deepEqual(leaf({ keyUsage }).keyUsage, keyUsage);
    const none = leaf({ keyUsage: [] });
    assert.equal(none.keyUsage, undefined);
    assert.ok(!none.extensions.some((e) => e.oid === Oid.keyUsage));
  });

  test('extended key usages are exactly the requested ones, in order, and absent when none are', () => {
    for (const extKeyUsage of [
      ['clientAuth'],
      ['serverAuth'],
      ['serverAuth', 'clientAuth'],
      ['clientAuth', 'serverAuth', 'codeSigning'],
    ] as ExtKeyUsage[][]) {
      assert.deepEqual(leaf({ extKeyUsage }).extKeyUsage, extKeyUsage);
    }
    const none = leaf({ extKeyUsage: [] });
    assert.equal(none.extKeyUsage, undefined);
    assert.ok(!none.extensions.some((e) => e.oid === Oid.extKeyUsage));
  });

  test('SANs are exactly the requested ones; none means no SAN extension; an empty subject makes it critical', () => {
    const mixes: [SubjectAltNames, SubjectAltNames][] = [
      [
        { dns: ['node-1', 'node-1.example'], ip: ['10.0.0.1', '2001:DB8::0:1'], email: ['a@example.com'], uri: ['spiffe://c/n'] },
        { dns: ['node-1', 'node-1.example'], ip: ['10.0.0.1', '2001:db8::1'], email: ['a@example.com'], uri: ['spiffe://c/n'] },
      ],
      [
        { dns: [], ip: ['::1'], email: [], uri: [] },
        { dns: [], ip: ['::1'], email: [], uri: [] },
      ],
      [
        { dns: ['only.example'], ip: [], email: [], uri: [] },
        { dns: ['only.example'], ip: [], email: [], uri: [] },
      ],
    ];
    for (const [requested, expected] of mixes) assert.deepEqual(leaf({ sans: requested }).sans, expected);
    const none = leaf({});
    assert.deepEqual(none.sans, NO_SANS);
    assert.ok(!none.extensions.some((e) => e.oid === Oid.subjectAltName));
    const anonymous = leaf({ subject: [], sans: { dns: ['x.example'], ip: [], email: [], uri: [] } });
    assert.deepEqual(anonymous.subject.attributes, []);
    assert.equal(anonymous.extensions.find((e) => e.oid === Oid.subjectAltName)?.critical, true);
  });
});

describe('issueCertificate: signature and issuer checks', () => {
  test('the signature algorithm follows the issuer key, and verifyIssuedBy accepts only the real issuer', () => {
    for (const [key, oid] of [
      [rootKey, Oid.ecdsaSha256],
      [p384Key, Oid.ecdsaSha384],
      [rsaKey, Oid.rsaSha256],
    ] as const) {
      const ca = selfSigned(key);
      assert.equal(ca.signatureAlgorithm.oid, oid);
      assert.equal(verifyIssuedBy(ca, ca), true);
      const cert = parseCertificate(issueLeaf({}, { certificate: ca, key }));
      assert.equal(cert.signatureAlgorithm.oid, oid);
      assert.equal(verifyIssuedBy(cert, ca), true);
      assert.equal(verifyIssuedBy(cert, key === rootKey ? selfSigned(p384Key) : root), false);
    }
  });

  test('a certificate whose signed bytes changed no longer verifies', () => {
    const der = issueLeaf();
    const i = der.indexOf('system:node:node-1') + 12;
    der[i] = (der[i] as number) ^ 0x01;
    assert.equal(verifyIssuedBy(parseCertificate(der), root), false);
  });

  test('issuing from a non-CA, with a key that is not the issuer’s, or self-signing a foreign key is refused', () => {
    const nonCa = leaf();
    rejects(() => issueLeaf({}, { certificate: nonCa, key: leafKey }), 'INVALID', 'CERT_ISSUER_NOT_CA');
    issueLeaf(); // warms the per-CA issuer-check cache: a cached success must not excuse another key
    rejects(() => issueLeaf({}, { certificate: root, key: p384Key }), 'INVALID', 'CERT_ISSUER_KEY_MISMATCH');
    rejects(() => selfSigned(rootKey, { publicKey: spkiOf(leafKey) }), 'INVALID', 'CERT_SELF_SIGNED_KEY');
  });
});

// ---------------------------------------------------------------------------------------------
// Hand-edited certificates, re-signed by the root so that the edit is the only defect.

function children(der: Uint8Array): Buffer[] {
  const top = DerReader.of(der);
  const seq = top.enter(top.next(), 'element');
  const out: Buffer[] = [];
  while (!seq.done) out.push(Buffer.from(seq.bytes(seq.next())));
  return out;
}

const ECDSA_SHA256 = encodeSequence(encodeOid(Oid.ecdsaSha256));

function resign(tbsElements: Buffer[], outerAlg: Buffer = ECDSA_SHA256, hash = 'sha256'): Buffer {
  const tbs = encodeSequence(...tbsElements);
  return encodeSequence(tbs, outerAlg, encodeBitString(sign(hash, tbs, { key: rootKey, dsaEncoding: 'der' })));
}

/** The TBSCertificate elements of a fresh leaf: version, serial, alg, issuer, validity, subject, spki, extensions. */
function tbsOfLeaf(): Buffer[] {
  const [tbs] = children(issueLeaf()) as [Buffer];
  const parts = children(tbs);
  assert.equal(parts.length, 8);
  return parts;
}

function withExtensions(parts: Buffer[], edit: (exts: Buffer[]) => Buffer[]): Buffer[] {
  const [wrapper] = children(parts[7] as Buffer) as [Buffer];
  return [...parts.slice(0, 7), encodeExplicit(3, encodeSequence(...edit(children(wrapper))))];
}

describe('parseCertificate refuses hand-edited certificates', () => {
  test('the unedited re-signed leaf parses and verifies (the edits below are the only defects)', () => {
    const cert = parseCertificate(resign(tbsOfLeaf()));
    assert.equal(verifyIssuedBy(cert, root), true);
  });

  const cases: [string, () => Buffer, string][] = [
    ['version v1 (omitted) with extensions', () => resign(tbsOfLeaf().slice(1)), 'CERT_VERSION'],
    ['version field 3 (v4)', () => resign([encodeExplicit(0, encodeSmallInt(3)), ...tbsOfLeaf().slice(1)]), 'CERT_VERSION'],
    ['version field 0 (v1 spelled out)', () => resign([encodeExplicit(0, encodeSmallInt(0)), ...tbsOfLeaf().slice(1)]), 'CERT_VERSION'],
    ['a negative serial', () => resign(replaceAt(tbsOfLeaf(), 1, encodeTlv(Tag.INTEGER, Buffer.from([0x80, 1])))), 'CERT_SERIAL'],
    ['a 21-octet serial', () => resign(replaceAt(tbsOfLeaf(), 1, encodeUnsignedInteger(Buffer.alloc(21, 0x11)))), 'CERT_SERIAL'],
    ['a non-minimal serial', () => resign(replaceAt(tbsOfLeaf(), 1, encodeTlv(Tag.INTEGER, Buffer.from([0, 1])))), 'DER_INTEGER'],
    [
      'inner and outer signature algorithms that differ',
      () => resign(tbsOfLeaf(), encodeSequence(encodeOid(Oid.ecdsaSha384))),
      'CERT_SIGNATURE_ALGORITHM',
    ],
    ['an issuer unique ID', () => resign(insertAt(tbsOfLeaf(), 7, encodeTlv(contextTag(1, false), Buffer.from([0, 1])))), 'CERT_UNIQUE_ID'],
    ['a duplicate extension', () => resign(withExtensions(tbsOfLeaf(), (exts) => [...exts, exts[0] as Buffer])), 'EXTENSION_DUPLICATE'],
    [
      'critical=FALSE encoded explicitly',
      () =>
        resign(
          withExtensions(tbsOfLeaf(), (exts) => [
            ...exts,
            encodeSequence(encodeOid('1.2.3.4'), Buffer.from([Tag.BOOLEAN, 1, 0]), encodeOctetString(Buffer.from([5, 0]))),
          ]),
        ),
      'EXTENSION_DEFAULT_ENCODED',
    ],
    [
      'a UTCTime with fractional seconds',
      () =>
        resign(
          replaceAt(
            tbsOfLeaf(),
            4,
            encodeSequence(encodeTlv(Tag.UTC_TIME, Buffer.from('260601120000.5Z')), encodeTlv(Tag.UTC_TIME, Buffer.from('260602120000Z'))),
          ),
        ),
      'DER_TIME',
    ],
    [
      'a SubjectPublicKeyInfo with a long-form length inside',
      () => resign(replaceAt(tbsOfLeaf(), 6, spkiWithLongFormAlgorithm())),
      'DER_LENGTH',
    ],
    [
      'a SubjectPublicKeyInfo with trailing data',
      () => resign(replaceAt(tbsOfLeaf(), 6, encodeSequence(...spkiParts(), NULL_DER))),
      'DER_TRAILING_DATA',
    ],
    [
      'an extra TBSCertificate element',
      () => resign([...tbsOfLeaf(), encodeTlv(contextTag(4, true), [encodeSequence()])]),
      'DER_TRAILING_DATA',
    ],
    ['a byte after the certificate', () => Buffer.concat([resign(tbsOfLeaf()), Buffer.from([0])]), 'DER_TRAILING_DATA'],
    [
      'a SHA-1 signature',
      () => resign(replaceAt(tbsOfLeaf(), 2, encodeSequence(encodeOid(Oid.ecdsaSha1))), encodeSequence(encodeOid(Oid.ecdsaSha1)), 'sha1'),
      'SIGNATURE_WEAK',
    ],
  ];
  for (const [what, make, reason] of cases) test(`${what} -> ${reason}`, () => rejects(() => parseCertificate(make()), 'INVALID', reason));

  test('an unknown critical extension is parsed and kept, for the chain check to refuse', () => {
    const cert = parseCertificate(
      resign(
        withExtensions(tbsOfLeaf(), (exts) => [
          ...exts,
          encodeSequence(encodeOid('1.2.3.4'), encodeTrue(), encodeOctetString(Buffer.from([5, 0]))),
        ]),
      ),
    );
    const last = cert.extensions.at(-1);
    assert.deepEqual([last?.oid, last?.critical, Buffer.from(last?.value ?? []).toString('hex')], ['1.2.3.4', true, '0500']);
  });
});

/** The leaf key's SPKI elements: AlgorithmIdentifier and subjectPublicKey. */
function spkiParts(): Buffer[] {
  return children(spkiOf(leafKey));
}

/** The leaf key's SPKI with its AlgorithmIdentifier length in long form (0x81 0x13 for 0x13): BER, not DER. */
function spkiWithLongFormAlgorithm(): Buffer {
  const [algorithm, key] = spkiParts() as [Buffer, Buffer];
  assert.ok((algorithm[1] as number) < 0x80);
  return encodeSequence(Buffer.concat([Buffer.from([0x30, 0x81]), algorithm.subarray(1)]), key);
}

function replaceAt(parts: Buffer[], i: number, value: Buffer): Buffer[] {
  const out = [...parts];
  out[i] = value;
  return out;
}

function insertAt(parts: Buffer[], i: number, value: Buffer): Buffer[] {
  return [...parts.slice(0, i), value, ...parts.slice(i)];
}

describe('certificate PEM', () => {
  test('round-trips, as one certificate and as a bundle in order', () => {
    const a = leaf();
    const pem = certificateToPem(a);
    assert.ok(Buffer.from(parseCertificatePem(pem).der).equals(a.der));
    assert.ok(Buffer.from(parseCertificatePem(certificateToPem(a.der)).der).equals(a.der));
    const bundle = parseCertificateBundle(`${pem}${certificateToPem(root)}`);
    assert.deepEqual(
      bundle.map((c) => c.serialNumber),
      [a.serialNumber, root.serialNumber],
    );
  });

  test('refuses two blocks where one is expected and a CSR block in a bundle', () => {
    rejects(() => parseCertificatePem(`${certificateToPem(root)}${certificateToPem(root)}`), 'INVALID', 'PEM_MULTIPLE');
    rejects(() => parseCertificateBundle(`${certificateToPem(root)}${encodePem('CERTIFICATE REQUEST', root.der)}`), 'INVALID', 'PEM_LABEL');
  });
});
