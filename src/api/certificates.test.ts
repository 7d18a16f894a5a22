import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { createCsrPem, generatePrivateKey } from '../pki/index.ts';
import { parseCsrRequestField, validateCsrSpec } from './certificates.ts';

const field = (cn: string, key = generatePrivateKey('ecdsa-p256')) =>
  Buffer.from(createCsrPem({ key, subject: [{ type: 'CN', value: cn }] })).toString('base64');

describe('parseCsrRequestField', () => {
  test('a request read again is not parsed or verified again', () => {
    const request = field('cached');
    assert.equal(parseCsrRequestField(request), parseCsrRequestField(request));
  });

  test('a cached success never excuses different bytes: a one-character change is checked on its own', () => {
    const request = field('tampered');
    parseCsrRequestField(request);
    const der = Buffer.from(
      Buffer.from(request, 'base64')
        .toString('utf8')
        .replace(/-----[^-]+-----|\s/g, ''),
      'base64',
    );
    der.writeUInt8((der.at(-5) ?? 0) ^ 0x01, der.length - 5);
    const pem = `-----BEGIN CERTIFICATE REQUEST-----\n${der.toString('base64')}\n-----END CERTIFICATE REQUEST-----\n`;
    assert.throws(
      () => parseCsrRequestField(Buffer.from(pem).toString('base64')),
      (e: unknown) => isTlsbootError(e) && e.code === 'INVALID',
    );
  });

  test('the cache is bounded: old entries are dropped and parsed afresh', () => {
    const key = generatePrivateKey('ecdsa-p256');
    const first = field('first', key);
    const parsed = parseCsrRequestField(first);
    for (let i = 0; i < 4100; i++) parseCsrRequestField(field(`filler-${i}`, key));
    const again = parseCsrRequestField(first);
    assert.notEqual(again, parsed);
    assert.deepEqual(again.der, parsed.der);
  });
});

describe('validateCsrSpec', () => {
  test('answers the request text and the usages exactly as sent, in their order', () => {
    const request = field('spec-order');
    const usages = ['key encipherment', 'client auth', 'digital signature'];
    const spec = validateCsrSpec({ request, signerName: 'example.com/signer', usages, expirationSeconds: 600 }, { create: true });
    assert.equal(spec.request, request);
    assert.deepEqual(spec.usages, usages);
    assert.equal(spec.expirationSeconds, 600);
  });
});
