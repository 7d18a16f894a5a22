/**
 * The node certificate directory: installs swap the current link atomically, a crash between
 * steps recovers to a complete old or new pair, the pending key survives restarts, and unsafe
 * directories are refused.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { generatePrivateKey, issueCertificate, parseCertificate, spkiOf } from '../pki/index.ts';
import { CertStore } from './cert-store.ts';

const root = mkdtempSync(join(tmpdir(), 'certstore-'));
after(() => rmSync(root, { recursive: true, force: true }));

const { certificate: ca, key: caKey } = selfSignedCa({ cn: 'ca', hours: 24 });

function leafFor(key: ReturnType<typeof generatePrivateKey>) {
  return parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: 'system:node:n1' }],
      publicKey: spkiOf(key),
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['clientAuth'],
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      issuer: { kind: 'ca', certificate: ca, key: caKey },
      randomBytes,
    }),
  );
}

let n = 0;
const fresh = () => join(root, `d${n++}`);

describe('CertStore', () => {
  test('the pending key persists until a certificate for it is installed', () => {
    const store = CertStore.open(fresh());
    const k1 = store.pendingKey('kubelet-client');
    const k2 = CertStore.open(store.dir).pendingKey('kubelet-client');
    assert.ok(spkiOf(k1).equals(spkiOf(k2)), 'a restart reuses the pending key');
    store.install('kubelet-client', [leafFor(k1)], k1, new Date('2026-01-02T03:04:05Z'));
    assert.equal(existsSync(store.pendingKeyPath('kubelet-client')), false);
    const current = store.loadCurrent('kubelet-client');
    assert.ok(current && spkiOf(current.key).equals(spkiOf(k1)));
    assert.match(readlinkSync(store.currentPath('kubelet-client')), /kubelet-client-2026-01-02-03-04-05\.pem$/);
  });

  test('a second install swaps the link to the new pair', () => {
    const store = CertStore.open(fresh());
    const k1 = generatePrivateKey('ecdsa-p256');
    const k2 = generatePrivateKey('ecdsa-p256');
    store.install('kubelet-client', [leafFor(k1)], k1, new Date('2026-01-01T00:00:00Z'));
    store.install('kubelet-client', [leafFor(k2)], k2, new Date('2026-01-01T00:00:01Z'));
    assert.ok(spkiOf(store.loadCurrent('kubelet-client')?.key ?? k1).equals(spkiOf(k2)));
  });

  test('recover() completes a swap whose -updated link names a complete pair, and drops a broken one', () => {
    const store = CertStore.open(fresh());
    const k1 = generatePrivateKey('ecdsa-p256');
    const first = store.install('kubelet-client', [leafFor(k1)], k1, new Date('2026-01-01T00:00:00Z'));
    // Crash after the new file and the -updated link were written, before the rename.
    const k2 = generatePrivateKey('ecdsa-p256');
    const second = store.install('kubelet-server', [leafFor(k2)], k2, new Date('2026-01-01T00:00:01Z'));
    symlinkSync(second, join(store.dir, 'kubelet-client-updated.pem'));
    store.recover('kubelet-client');
    assert.equal(readlinkSync(store.currentPath('kubelet-client')), second);
    // A dangling -updated link (crash while writing the file) is removed; current stays.
    writeFileSync(join(store.dir, 'half.pem'), '-----BEGIN CERTIFICATE-----\nAAAA\n');
    symlinkSync(join(store.dir, 'half.pem'), join(store.dir, 'kubelet-client-updated.pem'));
    store.recover('kubelet-client');
    assert.equal(existsSync(join(store.dir, 'kubelet-client-updated.pem')), false);
    assert.equal(readlinkSync(store.currentPath('kubelet-client')), second);
    assert.notEqual(first, second);
  });

  test('installing a certificate that does not match the key is refused and changes nothing', () => {
    const store = CertStore.open(fresh());
    const k1 = generatePrivateKey('ecdsa-p256');
    assert.throws(
      () => store.install('kubelet-client', [leafFor(k1)], generatePrivateKey('ecdsa-p256'), new Date()),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'CERT_STORE_MISMATCH',
    );
    assert.equal(store.loadCurrent('kubelet-client'), undefined);
  });

  test('a group-writable directory or a symlinked one is refused', () => {
    const loose = fresh();
    mkdirSync(loose);
    chmodSync(loose, 0o775);
    assert.throws(
      () => CertStore.open(loose),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'CERT_STORE_PERMISSIONS',
    );
    const real = fresh();
    mkdirSync(real, { mode: 0o755 });
    const link = fresh();
    symlinkSync(real, link);
    assert.throws(
      () => CertStore.open(link),
      (e: unknown) => e instanceof Error && 'reason' in e && e.reason === 'CERT_STORE_SYMLINK',
    );
  });
});
