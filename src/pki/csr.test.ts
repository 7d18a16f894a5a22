/**
 * CSR parsing, one defect at a time: each bad request is built with the DER writer and signed with
 * a test key so that the defect under test is the only one, then refused with its stable reason.
 * Also round trips for every key algorithm and SAN kind.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, type KeyObject, sign } from 'node:crypto';
import { describe, test } from 'node:test';
import { reasonOf } from '../../test/helpers/pki.ts';
import {
  contextTag,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInt,
  encodeString,
  encodeTlv,
  encodeTrue,
  Tag,
} from './der.ts';
import { createCsr, generatePrivateKey, KEY_ALGORITHMS, parseCsr, parseCsrPem, spkiOf } from './index.ts';
import { Oid } from './oids.ts';
import { encodePem } from './pem.ts';

const ecKey = generatePrivateKey('ecdsa-p256');

function rdn(type: string, value: Buffer): Buffer {
  return encodeSetOf([encodeSequence(encodeOid(type), value)]);
}

const CN = '2.5.4.3';
const O = '2.5.4.10';

interface Parts {
  readonly version?: number;
  readonly subject?: Buffer;
  readonly spki?: Buffer;
  readonly attributes?: readonly Buffer[];
  readonly key?: KeyObject;
  readonly hash?: string;
  readonly sigAlg?: Buffer;
}

/** A CSR from raw parts, signed with `key` (P-256 ECDSA-SHA256 unless told otherwise). */
function buildCsr(p: Parts = {}): Buffer {
  const key = p.key ?? ecKey;
  const subject = p.subject ?? encodeSequence(rdn(CN, encodeString(Tag.UTF8_STRING, 'x')));
  const cri = encodeSequence(
    encodeSmallInt(p.version ?? 0),
    subject,
    p.spki ?? spkiOf(key),
    encodeTlv(contextTag(0, true), p.attributes ?? []),
  );
  const sig = sign(p.hash ?? 'sha256', cri, { key, dsaEncoding: 'der' });
  return encodeSequence(cri, p.sigAlg ?? encodeSequence(encodeOid(Oid.ecdsaSha256)), encodeBitString(sig));
}

function extensionRequest(...exts: Buffer[]): Buffer {
  return encodeSequence(encodeOid(Oid.extensionRequest), encodeSetOf([encodeSequence(...exts)]));
}

function ext(oid: string, value: Buffer, critical?: 'true' | 'explicit-false'): Buffer {
  if (critical === 'true') return encodeSequence(encodeOid(oid), encodeTrue(), encodeOctetString(value));
  if (critical === 'explicit-false') return encodeSequence(encodeOid(oid), Buffer.from([Tag.BOOLEAN, 1, 0]), encodeOctetString(value));
  return encodeSequence(encodeOid(oid), encodeOctetString(value));
}

const sanDns = encodeSequence(encodeTlv(contextTag(2, false), Buffer.from('a.example')));

describe('parseCsr round trips', () => {
  for (const alg of KEY_ALGORITHMS.filter((a) => a !== 'rsa-4096')) {
    test(`${alg}: subject, key and every SAN kind come back as requested`, () => {
      const key = generatePrivateKey(alg);
      const der = createCsr({
        key,
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: 'system:node:n1' },
        ],
        sans: { dns: ['n1.example'], ip: ['10.1.2.3', '2001:db8::1'], email: ['a@example.com'], uri: ['spiffe://cluster/n1'] },
      });
      const csr = parseCsr(der);
      assert.deepEqual(csr.subject.attributes, [
        { type: 'O', value: 'system:nodes' },
        { type: 'CN', value: 'system:node:n1' },
      ]);
      assert.deepEqual(csr.sans, {
        dns: ['n1.example'],
        ip: ['10.1.2.3', '2001:db8::1'],
        email: ['a@example.com'],
        uri: ['spiffe://cluster/n1'],
      });
      assert.ok(Buffer.from(csr.spki).equals(spkiOf(key)));
      assert.ok(Buffer.from(csr.der).equals(der));
    });
  }

  test('a hand-built CSR with no defect parses, so the defect tests below test only their defect', () => {
    assert.equal(
      reasonOf(() => parseCsr(buildCsr({ attributes: [extensionRequest(ext(Oid.subjectAltName, sanDns))] }))),
      undefined,
    );
  });
});

describe('parseCsr refuses', () => {
  const cases: [string, () => Buffer, string][] = [
    ['a version other than 0', () => buildCsr({ version: 1 }), 'CSR_VERSION'],
    [
      'a multi-valued RDN',
      () =>
        buildCsr({
          subject: encodeSequence(
            encodeSetOf([
              encodeSequence(encodeOid(CN), encodeString(Tag.UTF8_STRING, 'a')),
              encodeSequence(encodeOid(O), encodeString(Tag.UTF8_STRING, 'b')),
            ]),
          ),
        }),
      'NAME_MULTI_VALUED_RDN',
    ],
    [
      'two CNs',
      () => buildCsr({ subject: encodeSequence(rdn(CN, encodeString(Tag.UTF8_STRING, 'a')), rdn(CN, encodeString(Tag.UTF8_STRING, 'b'))) }),
      'NAME_DUPLICATE_CN',
    ],
    [
      'a BMPString CN',
      () => buildCsr({ subject: encodeSequence(rdn(CN, encodeTlv(Tag.BMP_STRING, Buffer.from('\u0000x', 'latin1')))) }),
      'DER_STRING_TYPE',
    ],
    [
      'a NUL in the CN',
      () => buildCsr({ subject: encodeSequence(rdn(CN, encodeString(Tag.UTF8_STRING, 'a\u0000.example'))) }),
      'NAME_CONTROL_CHARACTER',
    ],
    [
      'a newline in the O',
      () => buildCsr({ subject: encodeSequence(rdn(O, encodeString(Tag.UTF8_STRING, 'a\nb'))) }),
      'NAME_CONTROL_CHARACTER',
    ],
    [
      'duplicate extensions',
      () => buildCsr({ attributes: [extensionRequest(ext(Oid.subjectAltName, sanDns), ext(Oid.subjectAltName, sanDns))] }),
      'EXTENSION_DUPLICATE',
    ],
    [
      'an unknown critical extension',
      () => buildCsr({ attributes: [extensionRequest(ext('1.2.3.4.5', encodeSequence(), 'true'))] }),
      'EXTENSION_UNSUPPORTED_CRITICAL',
    ],
    [
      'critical=FALSE encoded explicitly (not DER)',
      () => buildCsr({ attributes: [extensionRequest(ext(Oid.subjectAltName, sanDns, 'explicit-false'))] }),
      'EXTENSION_DEFAULT_ENCODED',
    ],
    [
      'an otherName SAN',
      () =>
        buildCsr({
          attributes: [extensionRequest(ext(Oid.subjectAltName, encodeSequence(encodeTlv(contextTag(0, true), [encodeOid('1.2.3')]))))],
        }),
      'EXTENSION_SAN_TYPE',
    ],
    [
      'an RSA-1024 key',
      () => {
        const key = generateKeyPairSync('rsa', { modulusLength: 1024 }).privateKey;
        return buildCsr({ key, hash: 'sha256', sigAlg: encodeSequence(encodeOid(Oid.rsaSha256), Buffer.from([Tag.NULL, 0])) });
      },
      'KEY_RSA_SIZE',
    ],
    [
      'an unsupported curve (secp256k1)',
      () => {
        const key = generateKeyPairSync('ec', { namedCurve: 'secp256k1' }).privateKey;
        return buildCsr({ key });
      },
      'KEY_EC_CURVE',
    ],
    ['a SHA-1 signature', () => buildCsr({ hash: 'sha1', sigAlg: encodeSequence(encodeOid(Oid.ecdsaSha1)) }), 'SIGNATURE_WEAK'],
    [
      'a signature that does not verify',
      () => {
        const der = buildCsr();
        der[der.length - 5] = (der[der.length - 5] as number) ^ 0x01;
        return der;
      },
      'CSR_SIGNATURE',
    ],
    [
      'an unknown attribute',
      () =>
        buildCsr({ attributes: [encodeSequence(encodeOid('1.2.840.113549.1.9.2'), encodeSetOf([encodeString(Tag.UTF8_STRING, 'x')]))] }),
      'CSR_ATTRIBUTE',
    ],
    ['trailing bytes after the request', () => Buffer.concat([buildCsr(), Buffer.from([0])]), 'DER_TRAILING_DATA'],
  ];
  for (const [what, make, expected] of cases) {
    test(`${what} (${expected})`, () =>
      assert.equal(
        reasonOf(() => parseCsr(make())),
        expected,
      ));
  }

  test('PEM with the wrong label, two blocks, or junk after the block', () => {
    const der = buildCsr();
    assert.equal(
      reasonOf(() => parseCsrPem(encodePem('CERTIFICATE', der))),
      'PEM_LABEL',
    );
    assert.equal(
      reasonOf(() => parseCsrPem(encodePem('CERTIFICATE REQUEST', der) + encodePem('CERTIFICATE REQUEST', der))),
      'PEM_MULTIPLE',
    );
    assert.equal(
      reasonOf(() => parseCsrPem(`${encodePem('CERTIFICATE REQUEST', der)}junk`)),
      'PEM_JUNK',
    );
  });

  test('a CSR over the size cap is TOO_LARGE, and 10,000 nested SEQUENCEs are refused quickly', () => {
    assert.throws(
      () => parseCsr(Buffer.alloc(70 * 1024, 0x30)),
      (e: unknown) => (e as { code?: string }).code === 'TOO_LARGE',
    );
    let nested: Buffer = Buffer.alloc(0);
    for (let i = 0; i < 10_000 && nested.length < 60_000; i++) nested = encodeSequence(nested);
    const started = performance.now();
    assert.throws(() => parseCsr(nested));
    assert.ok(performance.now() - started < 50, 'bounded work');
  });
});
