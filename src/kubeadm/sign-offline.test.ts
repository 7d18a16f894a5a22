/**
 * The CA-machine side of external-CA mode in-process, one rule at a time: a request replaced by
 * one that breaks a single layout rule (SAN shape, subject, key) is refused with its own reason and
 * nothing is written; an expired CA signs nothing; a certificate never outlives its CA.
 */
import assert from 'node:assert/strict';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { snapshot } from '../../test/helpers/files.ts';
import { testInitOptions } from '../../test/helpers/pki.ts';
import { isTlsbootError } from '../base/errors.ts';
import { createCsrPem, generatePrivateKey, NO_SANS, parseCertificatePem, parsePrivateKeyPem, type SubjectAltNames } from '../pki/index.ts';
import { issueSelfSignedCa } from './control-plane-certs.ts';
import { runInit } from './init.ts';
import { DEFAULT_CA_VALIDITY_MS, DEFAULT_CERT_VALIDITY_MS } from './layout.ts';
import { signOffline } from './sign-offline.ts';

const root = mkdtempSync(join(tmpdir(), 'sign-offline-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;
const now = new Date('2030-01-01T00:00:00Z');
const env = { now, randomBytes: (size: number) => new Uint8Array(size).map(() => 1 + Math.floor(Math.random() * 255)) };
const options = testInitOptions();

/** A CA on "its machine" and a cluster directory with pending requests for it. */
function setup(caValidityMs = DEFAULT_CA_VALIDITY_MS): { dir: string; caCertPath: string; caKeyPath: string } {
  const base = join(root, `t${n++}`);
  const caDir = join(base, 'ca');
  const dir = join(base, 'cluster');
  mkdirSync(caDir, { recursive: true });
  mkdirSync(join(dir, 'pki'), { recursive: true });
  const ca = issueSelfSignedCa({
    commonName: 'kubernetes',
    dnsSans: ['kubernetes'],
    keyAlgorithm: 'ecdsa-p256',
    validityMs: caValidityMs,
    env,
  });
  writeFileSync(join(caDir, 'ca.crt'), ca.certificatePem);
  writeFileSync(join(caDir, 'ca.key'), ca.keyPem);
  cpSync(join(caDir, 'ca.crt'), join(dir, 'pki', 'ca.crt'));
  const report = runInit(dir, options, env, { externalCa: true });
  assert.equal(report.pending.length, 6);
  return { dir, caCertPath: join(caDir, 'ca.crt'), caKeyPath: join(caDir, 'ca.key') };
}

function refusedWith(s: ReturnType<typeof setup>, reason: string): void {
  const before = snapshot(s.dir);
  assert.throws(
    () => signOffline({ ...s, validityMs: DEFAULT_CERT_VALIDITY_MS, env }),
    (e: unknown) => isTlsbootError(e) && e.code === 'INVALID' && e.reason === reason,
  );
  assert.deepEqual(snapshot(s.dir), before);
}

/** Replaces pki/NAME.csr by one for the same key with another subject or SANs. */
function replaceCsr(dir: string, name: string, subject: { type: string; value: string }[], sans: SubjectAltNames): void {
  const key = parsePrivateKeyPem(readFileSync(join(dir, 'pki', `${name}.key`)));
  writeFileSync(join(dir, 'pki', `${name}.csr`), createCsrPem({ key, subject, sans }));
}

describe('signOffline', () => {
  test('signs all six, never past the CA, and init then accepts the directory', () => {
    const s = setup(300 * 86_400_000);
    const report = signOffline({ ...s, validityMs: DEFAULT_CERT_VALIDITY_MS, env });
    assert.deepEqual(
      report.signed.map((c) => c.name),
      ['apiserver', 'apiserver-kubelet-client', 'admin.conf', 'super-admin.conf', 'controller-manager.conf', 'scheduler.conf'],
    );
    const ca = parseCertificatePem(readFileSync(s.caCertPath));
    const api = parseCertificatePem(readFileSync(join(s.dir, 'pki', 'apiserver.crt')));
    assert.equal(api.notAfter.getTime(), ca.notAfter.getTime(), 'clamped to the CA');
    assert.equal(api.basicConstraints?.ca, false);
    assert.deepEqual(api.extKeyUsage, ['serverAuth']);
    assert.equal(runInit(s.dir, options, env).pending.length, 0);
  });

  test('a client certificate request with a SAN', () => {
    const s = setup();
    replaceCsr(
      s.dir,
      'apiserver-kubelet-client',
      [
        { type: 'CN', value: 'kube-apiserver-kubelet-client' },
        { type: 'O', value: 'kubeadm:cluster-admins' },
      ],
      {
        ...NO_SANS,
        dns: ['evil.example.com'],
      },
    );
    refusedWith(s, 'SIGN_OFFLINE_SANS');
  });

  test('an API server request without the kubernetes service names, or with an e-mail SAN', () => {
    const s = setup();
    replaceCsr(s.dir, 'apiserver', [{ type: 'CN', value: 'kube-apiserver' }], { ...NO_SANS, dns: ['cp-1'], ip: ['10.0.0.2'] });
    refusedWith(s, 'SIGN_OFFLINE_SANS');
    const t = setup();
    replaceCsr(t.dir, 'apiserver', [{ type: 'CN', value: 'kube-apiserver' }], {
      ...NO_SANS,
      dns: ['kubernetes', 'kubernetes.default', 'kubernetes.default.svc', 'kubernetes.default.svc.cluster.local'],
      ip: ['10.96.0.1'],
      email: ['a@example.com'],
    });
    refusedWith(t, 'SIGN_OFFLINE_SANS');
  });

  test('an extra subject attribute, and a request for another key than the one beside it', () => {
    const s = setup();
    replaceCsr(
      s.dir,
      'apiserver-kubelet-client',
      [
        { type: 'CN', value: 'kube-apiserver-kubelet-client' },
        { type: 'O', value: 'system:masters' },
      ],
      NO_SANS,
    );
    refusedWith(s, 'SIGN_OFFLINE_SUBJECT');
    const t = setup();
    const other = generatePrivateKey('ecdsa-p256');
    writeFileSync(
      join(t.dir, 'pki', 'apiserver-kubelet-client.csr'),
      createCsrPem({
        key: other,
        subject: [
          { type: 'CN', value: 'kube-apiserver-kubelet-client' },
          { type: 'O', value: 'kubeadm:cluster-admins' },
        ],
      }),
    );
    refusedWith(t, 'SIGN_OFFLINE_KEY_MISMATCH');
  });

  test('an expired CA signs nothing', () => {
    const s = setup();
    const before = snapshot(s.dir);
    const later = { ...env, now: new Date(now.getTime() + DEFAULT_CA_VALIDITY_MS + 86_400_000) };
    assert.throws(
      () => signOffline({ ...s, validityMs: DEFAULT_CERT_VALIDITY_MS, env: later }),
      (e: unknown) => isTlsbootError(e) && e.reason === 'SIGN_OFFLINE_CA_EXPIRED',
    );
    assert.deepEqual(snapshot(s.dir), before);
  });
});
