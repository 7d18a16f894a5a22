/**
 * The signer's lifetime rules (reference §4.4) and that issued certificates come from the template
 * only: CA:FALSE, the requested usages, the approved SANs, a 128-bit serial, verified by openssl.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { certificateToPem, generatePrivateKey, spkiOf } from '../pki/index.ts';
import { BACKDATE_MS, LocalSigner, MIN_TTL_MS, signingValidity } from './signer.ts';

const H = 3_600_000;
const now = new Date('2026-06-01T12:00:00Z');
const farCa = new Date('2036-06-01T12:00:00Z');

describe('signingValidity', () => {
  test('a long-lived certificate spans exactly its TTL from a backdated NotBefore', () => {
    const v = signingValidity({ now, requestedTtlMs: 24 * H, maxTtlMs: 8760 * H, caNotAfter: farCa });
    assert.equal(v.notBefore.getTime(), now.getTime() - BACKDATE_MS);
    assert.equal(v.notAfter.getTime() - v.notBefore.getTime(), 24 * H);
  });

  test('a short-lived certificate does not backdate its end', () => {
    const v = signingValidity({ now, requestedTtlMs: H, maxTtlMs: 8760 * H, caNotAfter: farCa });
    assert.equal(v.notAfter.getTime(), now.getTime() + H);
  });

  test('the TTL is clamped to [10 min, maximum]', () => {
    const tiny = signingValidity({ now, requestedTtlMs: 60_000, maxTtlMs: 8760 * H, caNotAfter: farCa });
    assert.equal(tiny.notAfter.getTime(), now.getTime() + MIN_TTL_MS);
    const huge = signingValidity({ now, requestedTtlMs: 100_000 * H, maxTtlMs: 48 * H, caNotAfter: farCa });
    assert.equal(huge.notAfter.getTime(), now.getTime() + 48 * H - BACKDATE_MS);
    const unset = signingValidity({ now, requestedTtlMs: undefined, maxTtlMs: 48 * H, caNotAfter: farCa });
    assert.equal(unset.notAfter.getTime(), huge.notAfter.getTime());
  });

  test('NotAfter never passes the CA, and an expired CA refuses to sign', () => {
    const soon = new Date(now.getTime() + 2 * H);
    assert.equal(signingValidity({ now, requestedTtlMs: 24 * H, maxTtlMs: 8760 * H, caNotAfter: soon }).notAfter.getTime(), soon.getTime());
    assert.throws(
      () => signingValidity({ now, requestedTtlMs: 24 * H, maxTtlMs: 8760 * H, caNotAfter: new Date(now.getTime() - 1) }),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'SIGNER_EXPIRED',
    );
  });
});

describe('LocalSigner', () => {
  test('issues a CA:FALSE leaf with exactly the given usages and SANs that openssl verifies', async () => {
    const { certificate: ca, key: caKey } = selfSignedCa();
    const signer = new LocalSigner({ caCertificate: ca, caKey, randomBytes });
    const leafKey = generatePrivateKey('ecdsa-p256');
    const { certificate, pem } = await signer.sign(
      {
        signerName: 'kubernetes.io/kubelet-serving',
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: 'system:node:n1' },
        ],
        publicKey: spkiOf(leafKey),
        sans: { dns: ['n1'], ip: ['10.0.0.7'], email: [], uri: [] },
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['serverAuth'],
        requestedTtlMs: 2 * H,
        csrDer: new Uint8Array(),
        usages: ['digital signature', 'server auth'],
        csrName: 'csr-x',
        csrUid: 'uid-x',
        requester: 'system:node:n1',
      },
      new Date(),
    );
    assert.equal(certificate.basicConstraints?.ca, false);
    assert.deepEqual(certificate.keyUsage, ['digitalSignature']);
    assert.deepEqual(certificate.extKeyUsage, ['serverAuth']);
    assert.deepEqual(certificate.sans.ip, ['10.0.0.7']);
    assert.ok(certificate.serialNumber.length >= 30, 'about 128 random bits');
    const dir = mkdtempSync(join(tmpdir(), 'signer-'));
    try {
      writeFileSync(join(dir, 'ca.crt'), certificateToPem(ca));
      writeFileSync(join(dir, 'leaf.crt'), pem);
      const out = execFileSync(
        'openssl',
        ['verify', '-x509_strict', '-purpose', 'sslserver', '-CAfile', join(dir, 'ca.crt'), join(dir, 'leaf.crt')],
        { encoding: 'utf8' },
      );
      assert.match(out, /leaf\.crt: OK/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
