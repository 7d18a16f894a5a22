/**
 * CA public-key pins (pin.ts), as kubeadm's --discovery-token-ca-cert-hash computes them: SHA-256
 * of the DER SubjectPublicKeyInfo. Checked against kubeadm's own test vector (the certificate in
 * kubernetes cmd/kubeadm/app/util/pubkeypin/pubkeypin_test.go, CN kubeadm-keypins-test), against
 * openssl's `x509 -pubkey | pkey -pubin -outform der | dgst -sha256` for EC and RSA CAs tlsboot
 * issues, and for stability across re-issuing a CA with the same key. parsePin accepts upper case
 * and refuses other hashes, wrong lengths, missing prefixes and stray characters (PIN_FORMAT);
 * matchesAnyPin is kubeadm's CheckAny.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash, generateKeyPairSync, type KeyObject, X509Certificate } from 'node:crypto';
import { describe, test } from 'node:test';
import { rejects } from '../../test/helpers/errors.ts';
import { isTlsbootError } from '../base/errors.ts';
import { certificateToPem, issueCertificate, parseCertificate, parseCertificatePem } from './certificate.ts';
import { DerReader, Tag } from './der.ts';
import { spkiOf } from './keys.ts';
import { decodePem } from './pem.ts';
import { certificatePin, matchesAnyPin, parsePin, spkiPin } from './pin.ts';

// From kubernetes/kubernetes cmd/kubeadm/app/util/pubkeypin/pubkeypin_test.go (testCertPEM,
// Apache-2.0): a self-signed RSA-2048 certificate made with the openssl CLI, and its expected hash.
const KUBEADM_CERT = `-----BEGIN CERTIFICATE-----
MIIDRDCCAiygAwIBAgIJAJgVaCXvC6HkMA0GCSqGSIb3DQEBBQUAMB8xHTAbBgNV
BAMTFGt1YmVhZG0ta2V5cGlucy10ZXN0MCAXDTE3MDcwNTE3NDMxMFoYDzIxMTcw
NjExMTc0MzEwWjAfMR0wGwYDVQQDExRrdWJlYWRtLWtleXBpbnMtdGVzdDCCASIw
DQYJKoZIhvcNAQEBBQADggEPADCCAQoCggEBAK0ba8mHU9UtYlzM1Own2Fk/XGjR
J4uJQvSeGLtz1hID1IA0dLwruvgLCPadXEOw/f/IWIWcmT+ZmvIHZKa/woq2iHi5
+HLhXs7aG4tjKGLYhag1hLjBI7icqV7ovkjdGAt9pWkxEzhIYClFMXDjKpMSynu+
YX6nZ9tic1cOkHmx2yiZdMkuriRQnpTOa7bb03OC1VfGl7gHlOAIYaj4539WCOr8
+ACTUMJUFEHcRZ2o8a/v6F9GMK+7SC8SJUI+GuroXqlMAdhEv4lX5Co52enYaClN
+D9FJLRpBv2YfiCQdJRaiTvCBSxEFz6BN+PtP5l2Hs703ZWEkOqCByM6HV8CAwEA
AaOBgDB+MB0GA1UdDgQWBBRQgUX8MhK2rWBWQiPHWcKzoWDH5DBPBgNVHSMESDBG
gBRQgUX8MhK2rWBWQiPHWcKzoWDH5KEjpCEwHzEdMBsGA1UEAxMUa3ViZWFkbS1r
ZXlwaW5zLXRlc3SCCQCYFWgl7wuh5DAMBgNVHRMEBTADAQH/MA0GCSqGSIb3DQEB
BQUAA4IBAQCaAUif7Pfx3X0F08cxhx8/Hdx4jcJw6MCq6iq6rsXM32ge43t8OHKC
pJW08dk58a3O1YQSMMvD6GJDAiAfXzfwcwY6j258b1ZlI9Ag0VokvhMl/XfdCsdh
AWImnL1t4hvU5jLaImUUMlYxMcSfHBGAm7WJIZ2LdEfg6YWfZh+WGbg1W7uxLxk6
y4h5rWdNnzBHWAGf7zJ0oEDV6W6RSwNXtC0JNnLaeIUm/6xdSddJlQPwUv8YH4jX
c1vuFqTnJBPcb7W//R/GI2Paicm1cmns9NLnPR35exHxFTy+D1yxmGokpoPMdife
aH+sfuxT8xeTPb3kjzF9eJTlnEquUDLM
-----END CERTIFICATE-----
`;
const KUBEADM_PIN = 'sha256:345959acb2c3b2feb87d281961c893f62a314207ef02599f1cc4a5fb255480b3';

/** The SubjectPublicKeyInfo of a certificate, read field by field with the strict DER reader. */
function spkiOfCertificate(der: Uint8Array): Uint8Array {
  const top = DerReader.of(der);
  const tbs = top.enterNext(Tag.SEQUENCE, 'Certificate').enterNext(Tag.SEQUENCE, 'TBSCertificate');
  tbs.optional(0xa0);
  for (let i = 0; i < 5; i++) tbs.next(); // serialNumber, signature, issuer, validity, subject
  return tbs.bytes(tbs.expect(Tag.SEQUENCE, 'subjectPublicKeyInfo'));
}

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;

function opensslPin(pem: string): string {
  const pub = execFileSync('openssl', ['x509', '-pubkey', '-noout'], { input: pem });
  const der = execFileSync('openssl', ['pkey', '-pubin', '-outform', 'der'], { input: pub });
  const out = execFileSync('openssl', ['dgst', '-sha256', '-hex'], { input: der, encoding: 'utf8' });
  return `sha256:${out.trim().split(' ').at(-1)}`;
}

const NOW = new Date('2026-06-01T00:00:00Z');
let serial = 1;

function selfSigned(key: KeyObject, cn: string): ReturnType<typeof parseCertificate> {
  return parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: cn }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature', 'keyCertSign'],
      ca: {},
      notBefore: new Date(NOW.getTime() - 3_600_000),
      notAfter: new Date(NOW.getTime() + 365 * 86_400_000),
      issuer: { kind: 'self', key },
      randomBytes: () => Buffer.alloc(16, serial++),
    }),
  );
}

const ecKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
const rsaKey = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey;
const ecCa = selfSigned(ecKey, 'kubernetes');
const rsaCa = selfSigned(rsaKey, 'kubernetes');

describe('pins', () => {
  test('the kubeadm test vector hashes to its expected pin', () => {
    const spki = spkiOfCertificate(decodePem(KUBEADM_CERT, 'CERTIFICATE'));
    assert.equal(spkiPin(spki), KUBEADM_PIN);
    // Cross-check the SPKI extraction with node's own X.509 parser.
    const nodeSpki = new X509Certificate(KUBEADM_CERT).publicKey.export({ type: 'spki', format: 'der' });
    assert.ok(nodeSpki.equals(spki));
  });

  test('the kubeadm vector is SHA-1 signed, which parseCertificate refuses (SIGNATURE_WEAK)', () => {
    rejects(() => parseCertificatePem(KUBEADM_CERT), 'INVALID', 'SIGNATURE_WEAK');
  });

  test('openssl computes the same pin for the kubeadm vector and for EC and RSA CAs', {
    skip: !hasOpenssl && 'openssl not installed',
  }, () => {
    assert.equal(opensslPin(KUBEADM_CERT), KUBEADM_PIN);
    for (const ca of [ecCa, rsaCa]) assert.equal(certificatePin(ca), opensslPin(certificateToPem(ca)));
  });

  test('a pin is the SHA-256 of the DER SPKI, lower-case hex, and survives re-issuing the CA with its key', () => {
    assert.equal(certificatePin(ecCa), `sha256:${createHash('sha256').update(spkiOf(ecKey)).digest('hex')}`);
    assert.match(certificatePin(rsaCa), /^sha256:[0-9a-f]{64}$/);
    assert.equal(certificatePin(selfSigned(ecKey, 'renamed')), certificatePin(ecCa));
    assert.notEqual(certificatePin(rsaCa), certificatePin(ecCa));
  });
});

describe('parsePin', () => {
  const hex = KUBEADM_PIN.slice('sha256:'.length);

  test('accepts upper and mixed case and stores lower case', () => {
    assert.equal(parsePin(KUBEADM_PIN), KUBEADM_PIN);
    assert.equal(parsePin(KUBEADM_PIN.toUpperCase()), KUBEADM_PIN);
    assert.equal(parsePin(`Sha256:${hex.slice(0, 32).toUpperCase()}${hex.slice(32)}`), KUBEADM_PIN);
  });

  test('refuses other hashes, wrong lengths, no prefix and stray characters', () => {
    for (const bad of [
      `sha1:${'ab'.repeat(20)}`,
      `md5:${'ab'.repeat(16)}`,
      `sha512:${'ab'.repeat(64)}`,
      `sha256:${hex.slice(0, 62)}`,
      `sha256:${hex}00`,
      `${KUBEADM_PIN}${KUBEADM_PIN}`,
      hex,
      `:${hex}`,
      'sha256:',
      '',
      `sha256:${hex.slice(0, 63)}g`,
      ` ${KUBEADM_PIN}`,
      `${KUBEADM_PIN}\n`,
      `sha256: ${hex}`,
      `sha256:0x${hex.slice(2)}`,
    ]) {
      assert.throws(
        () => parsePin(bad),
        (e: unknown) =>
          isTlsbootError(e) && e.code === 'INVALID' && e.reason === 'PIN_FORMAT' && e.field === 'discovery-token-ca-cert-hash',
        JSON.stringify(bad),
      );
    }
  });
});

describe('matchesAnyPin', () => {
  test('any certificate matching any pin wins; none matching is false; a malformed pin throws', () => {
    const ecPin = certificatePin(ecCa);
    const rsaPin = certificatePin(rsaCa);
    assert.equal(matchesAnyPin([ecCa], [ecPin]), true);
    assert.equal(matchesAnyPin([ecCa], [rsaPin, ecPin.toUpperCase()]), true);
    assert.equal(matchesAnyPin([rsaCa, ecCa], [ecPin]), true);
    assert.equal(matchesAnyPin([ecCa], [rsaPin]), false);
    assert.equal(matchesAnyPin([ecCa], []), false);
    assert.equal(matchesAnyPin([], [ecPin]), false);
    rejects(() => matchesAnyPin([ecCa], [ecPin, 'sha256:xyz']), 'INVALID', 'PIN_FORMAT');
  });
});
