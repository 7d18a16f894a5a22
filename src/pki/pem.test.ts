/**
 * Strict PEM (pem.ts): encoding round-trips for every length, CRLF and surrounding white space are
 * tolerated, and everything else is refused with its own reason: the wrong label or mismatched
 * BEGIN/END labels (PEM_LABEL), two blocks where one is expected (PEM_MULTIPLE), text before,
 * between or after blocks (PEM_JUNK), encapsulated headers (PEM_HEADERS), bad or non-canonical
 * base64 (PEM_BASE64), an empty block (PEM_EMPTY) and no block at all (PEM_MISSING). The CSR and
 * certificate PEM entry points inherit these rules.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { parseCertificateBundle, parseCertificatePem } from './certificate.ts';
import { parseCsrPem } from './csr.ts';
import { decodePem, decodePemBlocks, decodePemBundle, encodePem } from './pem.ts';

function rejects(fn: () => unknown, reason: string, field?: string): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(isTlsbootError(e), `expected a TlsbootError, got ${String(e)}`);
    assert.deepEqual({ code: e.code, reason: e.reason }, { code: 'INVALID', reason });
    if (field !== undefined) assert.equal(e.field, field);
    return true;
  });
}

const LABEL = 'CERTIFICATE REQUEST';
const der = Buffer.from(Array.from({ length: 150 }, (_, i) => (i * 37) & 0xff));
const pem = encodePem(LABEL, der);

describe('PEM encoding', () => {
  test('round-trips every length from 1 to 200 octets, with 64-character lines', () => {
    for (let n = 1; n <= 200; n++) {
      const data = Buffer.from(Array.from({ length: n }, (_, i) => (i * 91 + n) & 0xff));
      const text = encodePem(LABEL, data);
      const lines = text.trimEnd().split('\n');
      assert.equal(lines[0], `-----BEGIN ${LABEL}-----`);
      assert.equal(lines.at(-1), `-----END ${LABEL}-----`);
      for (const line of lines.slice(1, -2)) assert.equal(line.length, 64);
      assert.ok(decodePem(text, LABEL).equals(data), `length ${n}`);
      assert.ok(decodePem(Buffer.from(text), LABEL).equals(data), `length ${n} as bytes`);
    }
  });

  test('CRLF line ends, indentation-free white space around the block and other line widths are accepted', () => {
    assert.ok(decodePem(pem.replaceAll('\n', '\r\n'), LABEL).equals(der));
    assert.ok(decodePem(`\n\n  ${pem}\n\t\n`, LABEL).equals(der));
    const b64 = der.toString('base64');
    const narrow = `-----BEGIN ${LABEL}-----\n${b64.match(/.{1,16}/g)?.join('\n')}\n-----END ${LABEL}-----\n`;
    assert.ok(decodePem(narrow, LABEL).equals(der));
  });

  test('a bundle returns every block in order', () => {
    const other = Buffer.from([1, 2, 3]);
    const blocks = decodePemBundle(`${pem}${encodePem(LABEL, other)}`, LABEL);
    assert.equal(blocks.length, 2);
    assert.ok(blocks[0]?.equals(der) && blocks[1]?.equals(other));
    assert.deepEqual(
      decodePemBlocks(`${pem}\n${encodePem('CERTIFICATE', other)}`).map((b) => b.label),
      [LABEL, 'CERTIFICATE'],
    );
  });
});

describe('PEM refusals', () => {
  test('the wrong label, and BEGIN/END labels that differ', () => {
    rejects(() => decodePem(encodePem('CERTIFICATE', der), LABEL), 'PEM_LABEL');
    rejects(() => decodePem(encodePem('NEW CERTIFICATE REQUEST', der), LABEL), 'PEM_LABEL');
    rejects(() => decodePem(pem.replace(`-----END ${LABEL}-----`, '-----END CERTIFICATE-----'), LABEL), 'PEM_LABEL');
    rejects(() => decodePemBundle(`${pem}${encodePem('CERTIFICATE', der)}`, LABEL), 'PEM_LABEL');
  });

  test('two blocks where one is expected, even with the same label', () => {
    rejects(() => decodePem(`${pem}${pem}`, LABEL), 'PEM_MULTIPLE');
    rejects(() => decodePem(`${pem}${encodePem('CERTIFICATE', der)}`, LABEL), 'PEM_MULTIPLE');
  });

  test('junk before, between or after the blocks', () => {
    rejects(() => decodePem(`Certificate Request:\n${pem}`, LABEL), 'PEM_JUNK');
    rejects(() => decodePem(`${pem}junk`, LABEL), 'PEM_JUNK');
    rejects(() => decodePem(`${pem}-----BEGIN ${LABEL}-----\n`, LABEL), 'PEM_JUNK');
    rejects(() => decodePemBundle(`${pem}x\n${pem}`, LABEL), 'PEM_JUNK');
  });

  test('encapsulated headers (RFC 1421 style)', () => {
    const withHeaders = pem.replace(`-----\n`, `-----\nProc-Type: 4,ENCRYPTED\nDEK-Info: AES-128-CBC,00\n\n`);
    rejects(() => decodePem(withHeaders, LABEL), 'PEM_HEADERS');
  });

  test('bad base64: foreign characters, base64url, wrong padding, inner padding, non-canonical bits', () => {
    const wrap = (body: string) => `-----BEGIN ${LABEL}-----\n${body}\n-----END ${LABEL}-----\n`;
    assert.ok(decodePem(wrap('AA=='), LABEL).equals(Buffer.from([0])));
    for (const body of ['AA*A', 'A-_A', 'AAA', 'AA=', 'AA==AA==', 'AB==', 'AAB=', 'AA A', 'AA\u00e9A']) {
      rejects(() => decodePem(wrap(body), LABEL), 'PEM_BASE64');
    }
  });

  test('an empty block, no block, and an unterminated block', () => {
    rejects(() => decodePem(`-----BEGIN ${LABEL}-----\n-----END ${LABEL}-----\n`, LABEL), 'PEM_EMPTY');
    rejects(() => decodePem('', LABEL), 'PEM_MISSING');
    rejects(() => decodePem(der.toString('base64'), LABEL), 'PEM_JUNK');
    rejects(() => decodePem(pem.slice(0, pem.indexOf('-----END')), LABEL), 'PEM_JUNK');
  });

  test('the caller’s field name is carried on the error', () => {
    rejects(() => decodePem(`${pem}junk`, LABEL, 'spec.request'), 'PEM_JUNK', 'spec.request');
    rejects(() => decodePem(encodePem('CERTIFICATE', der), LABEL, 'spec.request'), 'PEM_LABEL', 'spec.request');
  });

  test('CSR and certificate entry points apply the same rules before parsing any DER', () => {
    rejects(() => parseCsrPem(encodePem('CERTIFICATE', der)), 'PEM_LABEL');
    rejects(() => parseCsrPem(`${pem}${pem}`), 'PEM_MULTIPLE');
    rejects(() => parseCertificatePem(pem), 'PEM_LABEL');
    rejects(() => parseCertificateBundle(`${encodePem('CERTIFICATE', der)}${pem}`), 'PEM_LABEL');
  });
});
