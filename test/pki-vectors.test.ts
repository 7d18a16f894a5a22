/**
 * The CSR corpus of Debian's python3-cryptography-vectors (fetched by scripts/fetch-test-vectors.sh):
 * every malformed or refused request is rejected with a stable reason, and the good ones parse.
 * Several files are SHA-1 signed besides their named defect, so the weak signature is the reason
 * recorded for them; src/pki/csr.test.ts rebuilds each single defect with a test key instead.
 * Files with an openssl text dump around the PEM block are refused as PEM junk, and their DER is
 * checked separately.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../src/base/errors.ts';
import { decodePemBlocks, parseCsr, parseCsrPem } from '../src/pki/index.ts';

const dir = process.env.TLSBOOT_VECTORS ?? new URL('../.vectors/requests', import.meta.url).pathname;
const present = existsSync(dir);
if (!present && process.env.CI === 'true') throw new Error(`CSR vectors missing in ${dir}: run scripts/fetch-test-vectors.sh`);

/** File -> the reason the file is refused with (undefined: it parses). */
const FILES: Record<string, string | undefined> = {
  'bad-version.pem': 'CSR_VERSION',
  'basic_constraints.pem': 'PEM_JUNK',
  'challenge-invalid.der': 'CSR_SIGNATURE',
  'challenge-multi-valued.der': 'CSR_ATTRIBUTE',
  'challenge-unstructured.pem': 'CSR_ATTRIBUTE',
  'challenge.pem': undefined,
  'dsa_sha1.der': 'SIGNATURE_WEAK',
  'dsa_sha1.pem': 'SIGNATURE_WEAK',
  'ec_sha256.der': undefined,
  'ec_sha256.pem': undefined,
  'ec_sha256_old_header.pem': 'PEM_LABEL',
  'freeipa-bad-critical.pem': 'CSR_ATTRIBUTE',
  'invalid_signature.pem': 'KEY_RSA_SIZE',
  'long-form-attribute.pem': 'DER_TAG',
  'rsa_md4.der': 'SIGNATURE_WEAK',
  'rsa_md4.pem': 'SIGNATURE_WEAK',
  'rsa_sha1.der': 'SIGNATURE_WEAK',
  'rsa_sha1.pem': 'SIGNATURE_WEAK',
  'rsa_sha256.der': undefined,
  'rsa_sha256.pem': undefined,
  'san_rsa_sha1.der': 'SIGNATURE_WEAK',
  'san_rsa_sha1.pem': 'SIGNATURE_WEAK',
  'two_basic_constraints.pem': 'PEM_JUNK',
  'unsupported_extension.pem': 'PEM_JUNK',
  'unsupported_extension_critical.pem': 'PEM_JUNK',
};

/** The DER inside files that wrap their PEM block in an openssl text dump. */
const WRAPPED: Record<string, string> = {
  'basic_constraints.pem': 'SIGNATURE_WEAK',
  'two_basic_constraints.pem': 'SIGNATURE_WEAK',
  'unsupported_extension.pem': 'SIGNATURE_WEAK',
  'unsupported_extension_critical.pem': 'SIGNATURE_WEAK',
};

function reasonOf(fn: () => unknown): string | undefined {
  try {
    fn();
    return undefined;
  } catch (error) {
    assert.ok(isTlsbootError(error), `a TlsbootError, not ${String(error)}`);
    return error.reason;
  }
}

describe('python3-cryptography-vectors CSR corpus', {
  skip: present ? false : 'vectors not fetched: run scripts/fetch-test-vectors.sh',
}, () => {
  for (const [file, expected] of Object.entries(FILES)) {
    test(`${file} is ${expected === undefined ? 'accepted' : `refused with ${expected}`}`, () => {
      const data = readFileSync(join(dir, file));
      const reason = reasonOf(() => (file.endsWith('.der') ? parseCsr(data) : parseCsrPem(data)));
      assert.equal(reason, expected);
    });
  }

  for (const [file, expected] of Object.entries(WRAPPED)) {
    test(`the DER inside ${file} is refused with ${expected}`, () => {
      const text = readFileSync(join(dir, file), 'latin1');
      const block = /-----BEGIN [A-Z ]+-----[\s\S]*?-----END [A-Z ]+-----/.exec(text)?.[0] ?? '';
      const der = decodePemBlocks(block)[0]?.der ?? Buffer.alloc(0);
      assert.equal(
        reasonOf(() => parseCsr(der)),
        expected,
      );
    });
  }
});
