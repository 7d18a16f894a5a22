/**
 * The rest of the PKI core: DER strictness, IP text forms, the detached JWS test vectors of
 * reference §2.2, SPKI pins (against openssl's computation), certificate issuance details
 * (injected serial, NotAfter clamp, extensions from the template) and chain failures, plus a
 * bounded mutation run showing hostile CSR bytes only ever produce TlsbootErrors.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { reasonOf, selfSignedCa } from '../../test/helpers/pki.ts';
import { isTlsbootError } from '../base/errors.ts';
import { DerReader, decodeTime, encodeSequence, encodeTime } from './der.ts';
import {
  bytesToIp,
  canonicalIp,
  certificatePin,
  certificateToPem,
  createCsr,
  generatePrivateKey,
  ipToBytes,
  issueCertificate,
  parseCertificate,
  parseCsr,
  parsePin,
  signDetachedJws,
  spkiOf,
  verifyChain,
  verifyDetachedJws,
} from './index.ts';

describe('DER reader', () => {
  const read = (bytes: number[]) => () => {
    const r = DerReader.of(Uint8Array.from(bytes));
    const t = r.next();
    r.finish('top');
    return t;
  };
  test('refuses BER: indefinite length, non-minimal lengths, high tags, truncation, trailing data', () => {
    assert.equal(reasonOf(read([0x30, 0x80, 0, 0])), 'DER_INDEFINITE_LENGTH');
    assert.equal(reasonOf(read([0x04, 0x81, 0x01, 0x00])), 'DER_LENGTH');
    assert.equal(reasonOf(read([0x04, 0x82, 0x00, 0x01, 0x00])), 'DER_LENGTH');
    assert.equal(reasonOf(read([0x1f, 0x20, 0x00])), 'DER_TAG');
    assert.equal(reasonOf(read([0x04, 0x05, 0x00])), 'DER_TRUNCATED');
    assert.equal(reasonOf(read([0x05, 0x00, 0x00])), 'DER_TRAILING_DATA');
    assert.equal(reasonOf(read([0x04, 0x01, 0x00])), undefined);
  });

  test('times round-trip in both encodings and calendar nonsense is refused', () => {
    for (const iso of ['2026-11-23T04:05:06Z', '2049-12-31T23:59:59Z', '2050-01-01T00:00:00Z', '1999-02-28T00:00:00Z']) {
      const der = encodeTime(new Date(iso));
      const r = DerReader.of(der);
      const t = r.next();
      assert.equal(decodeTime(t.tag, r.content(t), 't').toISOString().replace('.000', ''), iso);
    }
    assert.throws(() => decodeTime(0x17, Buffer.from('260231000000Z'), 't'));
    assert.throws(() => decodeTime(0x17, Buffer.from('2602010000Z'), 't'));
  });

  test('nesting beyond the limit is TOO_LARGE', () => {
    let v: Buffer = encodeSequence();
    for (let i = 0; i < 40; i++) v = encodeSequence(v);
    let r = DerReader.of(v);
    assert.throws(
      () => {
        for (;;) r = r.enterNext(0x30, 'seq');
      },
      (e: unknown) => isTlsbootError(e) && e.reason === 'DER_TOO_DEEP',
    );
  });
});

describe('IP addresses', () => {
  test('IPv4 and IPv6 round-trip in RFC 5952 canonical form', () => {
    assert.equal(canonicalIp('2001:0db8:0000:0000:0000:0000:0000:0001'), '2001:db8::1');
    assert.equal(canonicalIp('::ffff:127.0.0.1'), '::ffff:7f00:1');
    assert.equal(canonicalIp('10.0.0.1'), '10.0.0.1');
    assert.equal(bytesToIp(ipToBytes('fe80::1:0:0:1')), 'fe80::1:0:0:1');
    assert.equal(
      reasonOf(() => ipToBytes('10.0.0.256')),
      'IP_ADDRESS',
    );
  });
});

describe('detached JWS (reference §2.2 vectors)', () => {
  const payload = 'Hello from the other side. I must have called a thousand times.';
  test('the three test vectors', () => {
    assert.equal(
      signDetachedJws(payload, 'joshua', 'my voice is my passcode'),
      'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..VShe2taLd-YTrmWuRkcL_8QTNDHYxQIEBsAYYiIj1_8',
    );
    assert.equal(
      signDetachedJws('', 'joshua', 'my voice is my passcode'),
      'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..7Ui1ALizW4jXphVUB7xUqC9vLYLL9RZeOFfVLoB7Tgk',
    );
    assert.equal(
      signDetachedJws(payload, 'joshua', ''),
      'eyJhbGciOiJIUzI1NiIsImtpZCI6Impvc2h1YSJ9..UfkqvDGiIFxrMnFseDj9LYJOLNrvjW8aHhF71mvvAs8',
    );
  });
  test('verification fails for a changed payload, kid, algorithm, or an attached payload', () => {
    const jws = signDetachedJws(payload, 'abcdef', '0123456789abcdef');
    assert.equal(verifyDetachedJws(jws, payload, 'abcdef', '0123456789abcdef'), true);
    assert.equal(verifyDetachedJws(jws, `${payload} `, 'abcdef', '0123456789abcdef'), false);
    assert.equal(verifyDetachedJws(jws, payload, 'abcdeg', '0123456789abcdef'), false);
    const [h, , s] = jws.split('.');
    const none = `${Buffer.from('{"alg":"none","kid":"abcdef"}').toString('base64url')}..${s}`;
    assert.equal(verifyDetachedJws(none, payload, 'abcdef', '0123456789abcdef'), false);
    assert.equal(
      verifyDetachedJws(`${h}.${Buffer.from(payload).toString('base64url')}.${s}`, payload, 'abcdef', '0123456789abcdef'),
      false,
    );
    assert.equal(verifyDetachedJws(`${jws}.x`, payload, 'abcdef', '0123456789abcdef'), false);
  });
});

const H = 3_600_000;
const now = new Date();
const { certificate: ca, key: caKey } = selfSignedCa({ hours: 48 });

function leaf(p: {
  notAfter?: Date;
  usage?: 'clientAuth' | 'serverAuth';
  issuer?: typeof ca;
  issuerKey?: typeof caKey;
  serial?: Uint8Array;
}) {
  const key = generatePrivateKey('ecdsa-p256');
  return parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: 'leaf' }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature'],
      extKeyUsage: [p.usage ?? 'clientAuth'],
      notBefore: new Date(now.getTime() - H),
      notAfter: p.notAfter ?? new Date(now.getTime() + H),
      issuer: { kind: 'ca', certificate: p.issuer ?? ca, key: p.issuerKey ?? caKey },
      randomBytes: p.serial ? () => p.serial as Uint8Array : randomBytes,
    }),
  );
}

describe('pins', () => {
  test('equal openssl’s SHA-256 over the DER SubjectPublicKeyInfo', () => {
    const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout'], { input: certificateToPem(ca) });
    const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
    const hex = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der, encoding: 'utf8' }).trim().split(' ').pop();
    assert.equal(certificatePin(ca), `sha256:${hex}`);
  });
  test('parsePin normalises case and refuses other hashes and lengths', () => {
    assert.equal(parsePin(`SHA256:${'AB'.repeat(32)}`), `sha256:${'ab'.repeat(32)}`);
    assert.equal(
      reasonOf(() => parsePin(`sha1:${'ab'.repeat(20)}`)),
      'PIN_FORMAT',
    );
    assert.equal(
      reasonOf(() => parsePin(`sha256:${'ab'.repeat(31)}`)),
      'PIN_FORMAT',
    );
    assert.equal(
      reasonOf(() => parsePin('ab'.repeat(32))),
      'PIN_FORMAT',
    );
  });
});

describe('issuance', () => {
  test('the serial is the injected 128 random bits, and NotAfter never passes the CA', () => {
    const serial = Uint8Array.from({ length: 16 }, (_, i) => 0x80 + i);
    const c = leaf({ serial, notAfter: new Date(now.getTime() + 1000 * H) });
    assert.equal(c.serialNumber, Buffer.from(serial).toString('hex'));
    assert.equal(c.notAfter.getTime(), ca.notAfter.getTime());
    assert.equal(c.basicConstraints?.ca, false);
    assert.ok(Buffer.from(c.authorityKeyId ?? []).equals(ca.subjectKeyId ?? new Uint8Array([1])));
  });
});

describe('issuer checks', () => {
  test('a key that does not match the CA is refused even after the CA signed with its own key', () => {
    leaf({});
    const wrongKey = generatePrivateKey('ecdsa-p256');
    assert.equal(
      reasonOf(() => leaf({ issuer: ca, issuerKey: wrongKey })),
      'CERT_ISSUER_KEY_MISMATCH',
    );
    assert.equal(
      reasonOf(() => leaf({})),
      undefined,
    );
  });
});

describe('verifyChain', () => {
  test('accepts a good leaf and refuses expired, unknown issuer, forged signature, non-CA issuer and wrong usage', () => {
    assert.equal(verifyChain({ leaf: leaf({}), roots: [ca], now }).length, 2);
    assert.equal(
      reasonOf(() => verifyChain({ leaf: leaf({ notAfter: new Date(now.getTime() - 1000) }), roots: [ca], now })),
      'CHAIN_EXPIRED',
    );
    const otherKey = generatePrivateKey('ecdsa-p256');
    const impostor = selfSignedCa({ key: otherKey, hours: 1 }).certificate;
    assert.equal(
      reasonOf(() => verifyChain({ leaf: leaf({ issuer: impostor, issuerKey: otherKey }), roots: [ca], now })),
      'CHAIN_BAD_SIGNATURE',
    );
    const stranger = selfSignedCa({ key: otherKey, cn: 'stranger', hours: 1 }).certificate;
    assert.equal(
      reasonOf(() => verifyChain({ leaf: leaf({ issuer: stranger, issuerKey: otherKey }), roots: [ca], now })),
      'CHAIN_UNKNOWN_ISSUER',
    );
    assert.equal(
      reasonOf(() => verifyChain({ leaf: leaf({ usage: 'serverAuth' }), roots: [ca], now, usage: 'clientAuth' })),
      'CHAIN_USAGE',
    );
  });
});

describe('mutated CSRs', () => {
  test('thousands of bit flips, truncations and length edits only ever raise TlsbootErrors, quickly', () => {
    const base = createCsr({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [{ type: 'CN', value: 'm' }],
      sans: { dns: ['m.example'], ip: ['10.0.0.1'], email: [], uri: [] },
    });
    let seed = 12345;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed;
    };
    const started = performance.now();
    let accepted = 0;
    for (let i = 0; i < 3000; i++) {
      const m = Buffer.from(base);
      const kind = rand() % 3;
      let input: Buffer = m;
      if (kind === 0) m[rand() % m.length] = (m[rand() % m.length] as number) ^ (1 << (rand() % 8));
      else if (kind === 1) input = m.subarray(0, rand() % m.length);
      else m[rand() % 8] = rand() % 256;
      try {
        const csr = parseCsr(input);
        assert.ok(Buffer.from(csr.der).equals(input));
        accepted++;
      } catch (error) {
        assert.ok(isTlsbootError(error), `not a TlsbootError: ${String(error)}`);
      }
    }
    assert.ok(accepted < 3000);
    assert.ok(performance.now() - started < 5000, 'bounded time');
  });
});
