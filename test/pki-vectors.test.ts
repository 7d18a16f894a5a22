/**
 * The CSR corpus of Debian's python3-cryptography-vectors (x509/requests/, fetched by
 * scripts/fetch-test-vectors.sh into $TLSBOOT_VECTORS or .vectors/requests). The table below records,
 * for every file in that folder, the stable reason parseCsr refuses it with (or that it parses), and
 * why. Several files carry more than one defect (most are SHA-1 signed besides their named defect,
 * some wrap the PEM in an openssl text dump), so the table also records how the request inside the
 * PEM block fares, and how it fares re-signed with a test key and SHA-256 so that the named defect
 * is the only one left. A file in the folder that the table does not know fails the run. Without the
 * folder the suite is skipped, except in CI (CI=true), where that is a failure.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../src/base/errors.ts';
import { DerReader, decodeOid, encodeBitString, encodeOid, encodeSequence, encodeTlv, Tag } from '../src/pki/der.ts';
import { type CertificateRequest, decodePemBlocks, parseCsr, parseCsrPem, spkiOf } from '../src/pki/index.ts';
import { Oid } from '../src/pki/oids.ts';

const dir = process.env.TLSBOOT_VECTORS ?? new URL('../.vectors/requests', import.meta.url).pathname;
const present = existsSync(dir);
const FETCH_HINT = `CSR vectors not found in ${dir}: run scripts/fetch-test-vectors.sh`;

/** Parsed without error. */
const PARSES = 'parses';

interface Vector {
  /** The file as shipped: parseCsr for .der, parseCsrPem for .pem. */
  readonly asShipped: string;
  /** The DER inside the PEM block, for files whose PEM wrapping is itself refused. */
  readonly inner?: string;
  /** Re-signed with a test key and SHA-256, so that only the named defect remains. */
  readonly isolated?: { readonly expect: string; readonly keepKey?: true; readonly onlyExtensionRequest?: true };
  readonly check?: (csr: CertificateRequest) => void;
  readonly why: string;
}

const PYCA_TEXAS = ['C=US', 'ST=Texas', 'L=Austin', 'O=PyCA', 'CN=cryptography.io'];
const subjectOf = (csr: CertificateRequest) => csr.subject.attributes.map((a) => `${a.type}=${a.value}`);

const VECTORS: Record<string, Vector> = {
  'bad-version.pem': {
    asShipped: 'CSR_VERSION',
    isolated: { expect: 'CSR_VERSION' },
    why: 'version 1 (v2), which PKCS#10 does not define',
  },
  'basic_constraints.pem': {
    asShipped: 'PEM_JUNK',
    inner: 'SIGNATURE_WEAK',
    isolated: { expect: PARSES },
    check: (csr) =>
      assert.deepEqual(
        csr.extensions.map((e) => [e.oid, e.critical]),
        [[Oid.basicConstraints, true]],
      ),
    why: 'openssl text dump around the PEM; SHA-1 signed; asks for CA:TRUE, which is reported and never copied into a certificate',
  },
  'challenge-invalid.der': {
    asShipped: 'CSR_ATTRIBUTE',
    isolated: { expect: 'CSR_ATTRIBUTE' },
    why: 'challengePassword is an INTEGER, not a string (the self-signature is also invalid)',
  },
  'challenge-multi-valued.der': {
    asShipped: 'CSR_ATTRIBUTE',
    isolated: { expect: 'CSR_ATTRIBUTE' },
    why: 'challengePassword with two values',
  },
  'challenge-unstructured.pem': {
    asShipped: 'CSR_ATTRIBUTE',
    isolated: { expect: 'CSR_ATTRIBUTE' },
    why: 'valid, but carries an unstructuredName attribute; only extensionRequest and challengePassword are accepted',
  },
  'challenge.pem': {
    asShipped: PARSES,
    isolated: { expect: PARSES },
    check: (csr) => assert.deepEqual(subjectOf(csr), ['C=US']),
    why: 'a valid request with a challengePassword',
  },
  'dsa_sha1.der': {
    asShipped: 'SIGNATURE_WEAK',
    isolated: { expect: 'KEY_ALGORITHM', keepKey: true },
    why: 'DSA-1024 key, dsa-with-SHA1 signature',
  },
  'dsa_sha1.pem': {
    asShipped: 'SIGNATURE_WEAK',
    isolated: { expect: 'KEY_ALGORITHM', keepKey: true },
    why: 'DSA-1024 key, dsa-with-SHA1 signature',
  },
  'ec_sha256.der': {
    asShipped: PARSES,
    check: (csr) => {
      assert.deepEqual(csr.publicKeyInfo, { kind: 'ec', curve: 'P-384' });
      assert.equal(csr.signatureAlgorithm.oid, Oid.ecdsaSha256);
      assert.deepEqual(subjectOf(csr), ['CN=cryptography.io', 'O=PyCA', 'C=US', 'ST=Texas', 'L=Austin']);
    },
    why: 'a valid P-384 request signed with ECDSA-SHA256',
  },
  'ec_sha256.pem': {
    asShipped: PARSES,
    check: (csr) => assert.deepEqual(csr.publicKeyInfo, { kind: 'ec', curve: 'P-384' }),
    why: 'a valid P-384 request signed with ECDSA-SHA256',
  },
  'ec_sha256_old_header.pem': {
    asShipped: 'PEM_LABEL',
    inner: PARSES,
    why: 'the legacy label NEW CERTIFICATE REQUEST; Kubernetes also requires exactly CERTIFICATE REQUEST',
  },
  'freeipa-bad-critical.pem': {
    asShipped: 'CSR_ATTRIBUTE',
    isolated: { expect: 'EXTENSION_DEFAULT_ENCODED', onlyExtensionRequest: true },
    why: 'a friendlyName attribute, and extensions that encode critical=FALSE explicitly (not DER)',
  },
  'invalid_signature.pem': {
    asShipped: 'KEY_RSA_SIZE',
    isolated: { expect: PARSES },
    why: 'RSA-1024 key (checked before the signature) and a self-signature that does not verify; flipped signatures are CSR_SIGNATURE in csr.test.ts',
  },
  'long-form-attribute.pem': {
    asShipped: 'DER_TAG',
    isolated: { expect: 'DER_TAG' },
    why: 'an attribute value with a high (long-form) tag number',
  },
  'rsa_md4.der': { asShipped: 'SIGNATURE_WEAK', isolated: { expect: PARSES }, why: 'md4WithRSAEncryption' },
  'rsa_md4.pem': { asShipped: 'SIGNATURE_WEAK', isolated: { expect: PARSES }, why: 'md4WithRSAEncryption' },
  'rsa_sha1.der': { asShipped: 'SIGNATURE_WEAK', isolated: { expect: PARSES }, why: 'sha1WithRSAEncryption' },
  'rsa_sha1.pem': { asShipped: 'SIGNATURE_WEAK', isolated: { expect: PARSES }, why: 'sha1WithRSAEncryption' },
  'rsa_sha256.der': {
    asShipped: PARSES,
    check: (csr) => {
      assert.deepEqual(csr.publicKeyInfo, { kind: 'rsa', bits: 2048 });
      assert.deepEqual(subjectOf(csr), PYCA_TEXAS);
    },
    why: 'a valid RSA-2048 request signed with SHA-256',
  },
  'rsa_sha256.pem': {
    asShipped: PARSES,
    check: (csr) => assert.deepEqual(subjectOf(csr), PYCA_TEXAS),
    why: 'a valid RSA-2048 request signed with SHA-256',
  },
  'san_rsa_sha1.der': {
    asShipped: 'SIGNATURE_WEAK',
    isolated: { expect: PARSES },
    check: (csr) => assert.deepEqual(csr.sans, { dns: ['cryptography.io', 'sub.cryptography.io'], ip: [], email: [], uri: [] }),
    why: 'sha1WithRSAEncryption; two DNS SANs',
  },
  'san_rsa_sha1.pem': {
    asShipped: 'SIGNATURE_WEAK',
    isolated: { expect: PARSES },
    check: (csr) => assert.deepEqual(csr.sans.dns, ['cryptography.io', 'sub.cryptography.io']),
    why: 'sha1WithRSAEncryption; two DNS SANs',
  },
  'two_basic_constraints.pem': {
    asShipped: 'PEM_JUNK',
    inner: 'SIGNATURE_WEAK',
    isolated: { expect: 'EXTENSION_DUPLICATE' },
    why: 'openssl text dump; SHA-1 signed with an invalid signature; basicConstraints twice',
  },
  'unsupported_extension.pem': {
    asShipped: 'PEM_JUNK',
    inner: 'SIGNATURE_WEAK',
    isolated: { expect: PARSES },
    check: (csr) =>
      assert.deepEqual(
        csr.extensions.map((e) => [e.oid, e.critical]),
        [['1.2.3.4', false]],
      ),
    why: 'openssl text dump; SHA-1 signed; an unknown non-critical extension, which is reported and ignored',
  },
  'unsupported_extension_critical.pem': {
    asShipped: 'PEM_JUNK',
    inner: 'SIGNATURE_WEAK',
    isolated: { expect: 'EXTENSION_UNSUPPORTED_CRITICAL' },
    why: 'openssl text dump; SHA-1 signed; an unknown critical extension',
  },
};

function outcome(fn: () => CertificateRequest, check?: (csr: CertificateRequest) => void): string {
  let csr: CertificateRequest;
  try {
    csr = fn();
  } catch (e) {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    return e.reason;
  }
  check?.(csr);
  return PARSES;
}

/** The DER of a file: as is for .der, the first PEM block (whatever its label or surroundings) for .pem. */
function derOf(name: string, data: Buffer): Uint8Array {
  if (name.endsWith('.der')) return data;
  const block = /-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/.exec(data.toString('latin1'))?.[0];
  assert.ok(block, `${name} has a PEM block`);
  return (decodePemBlocks(block)[0] as { der: Uint8Array }).der;
}

const testKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;

/**
 * The request with its CertificationRequestInfo kept element for element, but its public key
 * swapped for the test key (unless `keepKey`) and re-signed with ECDSA-SHA256 by the test key.
 */
function resign(der: Uint8Array, o: { keepKey?: true; onlyExtensionRequest?: true }): Buffer {
  const cri = DerReader.of(der).enterNext(Tag.SEQUENCE, 'CertificationRequest').enterNext(Tag.SEQUENCE, 'CertificationRequestInfo');
  const version = cri.bytes(cri.next());
  const subject = cri.bytes(cri.next());
  const spki = cri.bytes(cri.next());
  const attributesTlv = cri.next();
  let attributes = cri.bytes(attributesTlv);
  if (o.onlyExtensionRequest) {
    const list = cri.enter(attributesTlv, 'attributes');
    const kept: Uint8Array[] = [];
    while (!list.done) {
      const attribute = list.next();
      const body = list.enter(attribute, 'attribute');
      if (decodeOid(body.content(body.expect(Tag.OID, 'type')), 'type') === Oid.extensionRequest) kept.push(list.bytes(attribute));
    }
    attributes = encodeTlv(attributesTlv.tag, kept);
  }
  const info = encodeSequence(version, subject, o.keepKey ? spki : spkiOf(testKey), attributes);
  return encodeSequence(
    info,
    encodeSequence(encodeOid(Oid.ecdsaSha256)),
    encodeBitString(sign('sha256', info, { key: testKey, dsaEncoding: 'der' })),
  );
}

if (!present && process.env.CI === 'true') {
  test('the CSR vector corpus is present', () => assert.fail(FETCH_HINT));
}

// A skipped test, not a skipped suite: node's summary counts only tests, so an absent corpus shows as "skipped 1".
if (!present) test('python3-cryptography-vectors CSR corpus', { skip: FETCH_HINT }, () => {});

describe('python3-cryptography-vectors CSR corpus', { skip: !present }, () => {
  test('every file in the folder is in the table, and every table entry is in the folder', () => {
    assert.deepEqual(readdirSync(dir).sort(), Object.keys(VECTORS).sort());
  });

  for (const [name, v] of Object.entries(VECTORS)) {
    describe(`${name}: ${v.why}`, () => {
      test(`as shipped: ${v.asShipped}`, () => {
        const data = readFileSync(join(dir, name));
        assert.equal(
          outcome(() => (name.endsWith('.der') ? parseCsr(data) : parseCsrPem(data)), v.check),
          v.asShipped,
        );
      });

      if (v.inner !== undefined) {
        const inner = v.inner;
        test(`the request inside the PEM block: ${inner}`, () => {
          assert.equal(
            outcome(() => parseCsr(derOf(name, readFileSync(join(dir, name)))), v.check),
            inner,
          );
        });
      }

      if (v.isolated !== undefined) {
        const isolated = v.isolated;
        const how = isolated.keepKey ? 'its own key' : 'the test key';
        test(`re-signed with SHA-256 by the test key, with ${how}${isolated.onlyExtensionRequest ? ', extensionRequest only' : ''}: ${isolated.expect}`, () => {
          const der = resign(derOf(name, readFileSync(join(dir, name))), isolated);
          assert.equal(
            outcome(() => parseCsr(der), v.check),
            isolated.expect,
          );
        });
      }
    });
  }
});
