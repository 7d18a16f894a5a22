import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { isTlsbootError } from '../base/errors.ts';
import { type CertificateRequest, createCsrPem, generatePrivateKey, parseCsr, parseCsrPem } from '../pki/index.ts';
import {
  parseCsrRequestField,
  SIGNER_CONTROL_PLANE_SERVING,
  signerPolicyProblem,
  validateCsrSpec,
  warmCsrRequestField,
} from './certificates.ts';

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

describe('warmCsrRequestField (a crypto worker parsing ahead of validation)', () => {
  const field = (cn: string) =>
    Buffer.from(createCsrPem({ key: generatePrivateKey('ecdsa-p256'), subject: [{ type: 'CN', value: cn }] })).toString('base64');

  test("validation reads the worker's parse instead of parsing again", async () => {
    const request = field('warm-1');
    let calls = 0;
    let fromWorker: CertificateRequest | undefined;
    await warmCsrRequestField(request, async (der) => {
      calls++;
      fromWorker = parseCsr(der);
      return fromWorker;
    });
    assert.equal(calls, 1);
    assert.equal(parseCsrRequestField(request), fromWorker, 'the very object the worker returned');
    await warmCsrRequestField(request, async () => assert.fail('already parsed'));
  });

  test('a worker failure is not kept: validation parses and reports as without a worker', async () => {
    const good = field('warm-2');
    await warmCsrRequestField(good, async () => {
      throw new Error('worker died');
    });
    assert.equal(parseCsrRequestField(good).subject.attributes[0]?.value, 'warm-2');
    const bad = Buffer.from('-----BEGIN CERTIFICATE REQUEST-----\nMAA=\n-----END CERTIFICATE REQUEST-----\n').toString('base64');
    await warmCsrRequestField(bad, async (der) => parseCsr(der));
    assert.throws(
      () => parseCsrRequestField(bad),
      (e: unknown) => isTlsbootError(e) && e.code === 'INVALID' && e.message.startsWith('spec.request: Invalid value: '),
    );
    // Nothing that is not base64 PEM reaches the worker.
    for (const junk of [undefined, '', 'not base64!', Buffer.from('no pem').toString('base64')])
      await warmCsrRequestField(junk, async () => assert.fail('not for a worker'));
  });
});

describe('the control-plane serving signer (tlsboot.io/kube-apiserver-serving)', () => {
  const key = generatePrivateKey('ecdsa-p256');
  const csr = (subject: { type: string; value: string }[], sans: { dns?: string[]; ip?: string[]; email?: string[] }) =>
    parseCsrPem(createCsrPem({ key, subject, sans: { dns: sans.dns ?? [], ip: sans.ip ?? [], email: sans.email ?? [], uri: [] } }));
  const SERVING = ['digital signature', 'server auth'];
  const apiserver = [{ type: 'CN', value: 'kube-apiserver' }];
  const lb = { dns: ['kubernetes', 'cp.example.test'], ip: ['10.96.0.1', '10.0.0.2'] };

  test("takes kubeadm's API server certificate: CN kube-apiserver, names, server usages", () => {
    assert.equal(signerPolicyProblem(SIGNER_CONTROL_PLANE_SERVING, csr(apiserver, lb), SERVING), undefined);
    assert.equal(
      signerPolicyProblem(SIGNER_CONTROL_PLANE_SERVING, csr(apiserver, lb), ['digital signature', 'key encipherment', 'server auth']),
      undefined,
    );
  });

  test('refuses any other subject, no names, email names, wildcards and client usages', () => {
    const refused: [CertificateRequest, string[], RegExp][] = [
      [csr([{ type: 'CN', value: 'system:node:cp2' }], lb), SERVING, /CN=kube-apiserver/],
      [csr([...apiserver, { type: 'O', value: 'system:masters' }], lb), SERVING, /CN=kube-apiserver/],
      [csr(apiserver, {}), SERVING, /at least one DNS or IP/],
      [csr(apiserver, { ...lb, email: ['a@example.test'] }), SERVING, /email or URI/],
      [csr(apiserver, { dns: ['*.example.test'] }), SERVING, /wildcard/],
      [csr(apiserver, lb), ['digital signature', 'server auth', 'client auth'], /usages must be exactly/],
    ];
    for (const [request, usages, why] of refused)
      assert.match(signerPolicyProblem(SIGNER_CONTROL_PLANE_SERVING, request, usages) ?? '', why);
  });
});
