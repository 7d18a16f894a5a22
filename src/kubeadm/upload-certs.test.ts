/**
 * The certificate key and the kubeadm-certs Secret: kubeadm's sealed format (nonce, ciphertext,
 * tag) opened independently with node:crypto, a wrong or malformed key refused without the key
 * in any message, the Secret's entries and owner, and the joined PKI written whole or not at all.
 */
import assert from 'node:assert/strict';
import { createDecipheriv, randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { testInitOptions } from '../../test/helpers/pki.ts';
import { isTlsbootError } from '../base/errors.ts';
import { parseCertificatePem } from '../pki/index.ts';
import { decryptWithCertificateKey, encryptWithCertificateKey, newCertificateKey, parseCertificateKey } from './certificate-key.ts';
import { runInit } from './init.ts';
import { writeJoinedControlPlane, writeKeylessControlPlane } from './join-control-plane.ts';
import { controlPlaneNodeName } from './reserved-identities.ts';
import { certsOwnerToken, certsSecret, openCertsSecret, readSharedFiles, SHARED_FILES } from './upload-certs.ts';

const env = { now: new Date(), randomBytes };
const options = (nodeName: string, advertiseAddress: string) =>
  testInitOptions({ nodeName, advertiseAddress, controlPlaneEndpoint: 'cp.example.test:6443' });

function code(reason: string) {
  return (error: unknown) => isTlsbootError(error) && error.reason === reason;
}

describe('the certificate key', () => {
  test('is 32 random bytes in hex; what it seals is the nonce, the ciphertext and the GCM tag', () => {
    const text = newCertificateKey(randomBytes);
    assert.match(text, /^[0-9a-f]{64}$/);
    const key = parseCertificateKey(text);
    const data = Buffer.from('-----BEGIN PRIVATE KEY-----\nsecret\n-----END PRIVATE KEY-----\n');
    const sealed = encryptWithCertificateKey(data, key, randomBytes);
    assert.equal(sealed.length, 12 + data.length + 16);
    // Opened as kubeadm's DecryptBytes does: nonce first, tag last, no additional data.
    const decipher = createDecipheriv('aes-256-gcm', key, sealed.subarray(0, 12));
    decipher.setAuthTag(sealed.subarray(sealed.length - 16));
    assert.deepEqual(Buffer.concat([decipher.update(sealed.subarray(12, sealed.length - 16)), decipher.final()]), data);
    assert.deepEqual(decryptWithCertificateKey(sealed, key, 'x'), data);
  });

  test('a wrong key or damaged data is refused clearly', () => {
    const sealed = encryptWithCertificateKey(Buffer.from('data'), parseCertificateKey(newCertificateKey(randomBytes)), randomBytes);
    const other = parseCertificateKey(newCertificateKey(randomBytes));
    assert.throws(() => decryptWithCertificateKey(sealed, other, 'the "ca.key" entry'), code('CERTIFICATE_KEY_WRONG'));
    assert.throws(() => decryptWithCertificateKey(sealed.subarray(0, 20), other, 'x'), code('CERTIFICATE_KEY_WRONG'));
  });

  test('a malformed key is refused naming the flag, never echoing it', () => {
    for (const bad of ['', 'abc', 'g'.repeat(64), 'a'.repeat(63), 'a'.repeat(66), `${'a'.repeat(62)} x`]) {
      assert.throws(
        () => parseCertificateKey(bad),
        (error: unknown) =>
          isTlsbootError(error) &&
          error.reason === 'CERTIFICATE_KEY' &&
          error.message.includes('--certificate-key') &&
          (bad === '' || !error.message.includes(bad)),
      );
    }
  });
});

describe('kubeadm-certs', () => {
  const root = mkdtempSync(join(tmpdir(), 'upload-certs-'));
  after(() => rmSync(root, { recursive: true, force: true }));
  const dir1 = join(root, 'cp1');
  runInit(dir1, options('cp1', '10.0.0.1'), env);
  const key = parseCertificateKey(newCertificateKey(randomBytes));
  const owner = certsOwnerToken(env.now, randomBytes);
  const ownerName = (owner.metadata as { name: string }).name;

  test('holds every shared file under kubeadm names, sealed, owned by a 2-hour token without usages', () => {
    const secret = certsSecret(readSharedFiles(dir1).files, key, { name: ownerName, uid: 'u-1' }, randomBytes);
    const data = secret.data as Record<string, string>;
    assert.deepEqual(
      Object.keys(data),
      SHARED_FILES.map((f) => f.entry),
    );
    assert.deepEqual(Object.keys(data).slice(0, 8), [
      'ca.crt',
      'ca.key',
      'sa.key',
      'sa.pub',
      'front-proxy-ca.crt',
      'front-proxy-ca.key',
      'etcd-ca.crt',
      'etcd-ca.key',
    ]);
    assert.ok(
      !Buffer.from(data['ca.key'] ?? '', 'base64')
        .toString('latin1')
        .includes('PRIVATE KEY'),
      'sealed, not in clear',
    );
    assert.deepEqual((secret.metadata as { ownerReferences: unknown }).ownerReferences, [
      { apiVersion: 'v1', kind: 'Secret', name: ownerName, uid: 'u-1', controller: true, blockOwnerDeletion: true },
    ]);
    const ownerData = owner.data as Record<string, string>;
    assert.equal(Object.keys(ownerData).filter((k) => k.startsWith('usage-')).length, 0);
    const expiration = Date.parse(Buffer.from(ownerData.expiration ?? '', 'base64').toString());
    assert.ok(Math.abs(expiration - (env.now.getTime() + 2 * 3_600_000)) < 1000);
    const opened = openCertsSecret(secret, key);
    assert.equal(opened.mode, 'local');
    for (const f of SHARED_FILES) assert.deepEqual(opened.files.get(f.entry), readFileSync(f.path(dir1)), f.entry);
    assert.throws(() => openCertsSecret(secret, parseCertificateKey(newCertificateKey(randomBytes))), code('CERTIFICATE_KEY_WRONG'));
    // Without its ca.key the Secret reads as keyless, which needs the etcd client entries it lacks.
    const { 'ca.key': _dropped, ...withoutCaKey } = data;
    assert.throws(() => openCertsSecret({ ...secret, data: withoutCaKey }, key), code('UPLOAD_ENTRY_MISSING'));
  });

  const CA_KEYS = ['ca.key', 'front-proxy-ca.key', 'etcd-ca.key'];
  const ETCD_CLIENT = ['apiserver-etcd-client.crt', 'apiserver-etcd-client.key'];

  test('with the CA key sealed, no CA key travels but the sealed one, with the etcd client credential', () => {
    const sealedDir = join(root, 'sealed');
    runInit(sealedDir, options('sealed', '10.0.0.5'), env, { externalCa: false, passphrase: Buffer.from('upload-certs test passphrase') });
    const shared = readSharedFiles(sealedDir);
    assert.equal(shared.mode, 'sealed');
    const entries = [...shared.files.keys()];
    for (const k of CA_KEYS) assert.ok(!entries.includes(k), `${k} is not sent`);
    for (const k of ['ca.key.sealed', ...ETCD_CLIENT, 'ca.crt', 'sa.key', 'secrets-encryption.key'])
      assert.ok(entries.includes(k), `${k} is sent`);
    const opened = openCertsSecret(certsSecret(shared.files, key, { name: ownerName, uid: 'u-1' }, randomBytes), key);
    assert.equal(opened.mode, 'sealed');
    assert.deepEqual(opened.files, shared.files);
  });

  test('with the CA key elsewhere (remote signer), neither a CA key nor a sealed one travels', () => {
    const remoteDir = join(root, 'remote');
    runInit(remoteDir, options('remote', '10.0.0.6'), env);
    for (const k of ['ca', 'front-proxy-ca', 'etcd/ca']) rmSync(join(remoteDir, 'pki', `${k}.key`));
    const shared = readSharedFiles(remoteDir);
    assert.equal(shared.mode, 'remote');
    const entries = [...shared.files.keys()];
    for (const k of [...CA_KEYS, 'ca.key.sealed']) assert.ok(!entries.includes(k), `${k} is not sent`);
    for (const k of ETCD_CLIENT) assert.ok(entries.includes(k), `${k} is sent`);
    const opened = openCertsSecret(certsSecret(shared.files, key, { name: ownerName, uid: 'u-1' }, randomBytes), key);
    assert.equal(opened.mode, 'remote');
    rmSync(join(remoteDir, 'pki', 'apiserver-etcd-client.key'));
    assert.throws(() => readSharedFiles(remoteDir), code('UPLOAD_FILE_MISSING'));
  });

  test('a node joining without the CA keys gets the shared files, the certificate signed for it and its name, or no directory', () => {
    const remoteDir = join(root, 'remote-2');
    runInit(remoteDir, options('remote-2', '10.0.0.7'), env);
    const own = {
      nodeName: 'cp3',
      certificatePem: readFileSync(join(remoteDir, 'pki', 'apiserver.crt'), 'utf8'),
      keyPem: readFileSync(join(remoteDir, 'pki', 'apiserver.key'), 'utf8'),
    };
    for (const k of ['ca', 'front-proxy-ca', 'etcd/ca']) rmSync(join(remoteDir, 'pki', `${k}.key`));
    const { files } = readSharedFiles(remoteDir);
    const caPem = readFileSync(join(remoteDir, 'pki', 'ca.crt'), 'utf8');
    const dir3 = join(root, 'cp3');
    assert.throws(
      () => writeKeylessControlPlane(dir3, files, readFileSync(join(dir1, 'pki', 'ca.crt'), 'utf8'), own, randomBytes),
      code('JOIN_CA_MISMATCH'),
    );
    assert.equal(existsSync(dir3), false);
    writeKeylessControlPlane(dir3, files, caPem, own, randomBytes);
    for (const [entry] of files) assert.ok(entry !== 'ca.key');
    assert.equal(existsSync(join(dir3, 'pki', 'ca.key')), false, 'no CA key on the joined node');
    assert.equal(readFileSync(join(dir3, 'pki', 'apiserver.crt'), 'utf8'), own.certificatePem);
    assert.deepEqual(
      readFileSync(join(dir3, 'pki', 'apiserver-etcd-client.key')),
      readFileSync(join(remoteDir, 'pki', 'apiserver-etcd-client.key')),
    );
    assert.equal(controlPlaneNodeName(dir3), 'cp3', 'the publisher names this server by the node name it wrote');
    assert.throws(() => writeKeylessControlPlane(dir3, files, caPem, own, randomBytes), code('JOIN_DIR_IN_USE'));
  });

  test('a joining node gets the shared files and its own certificates, or, on any failure, no directory at all', () => {
    const { files } = openCertsSecret(certsSecret(readSharedFiles(dir1).files, key, { name: ownerName, uid: 'u-1' }, randomBytes), key);
    const caPem = readFileSync(join(dir1, 'pki', 'ca.crt'), 'utf8');
    const dir2 = join(root, 'cp2');
    // A CA other than the one discovery pinned: refused, nothing written.
    const otherDir = join(root, 'other');
    runInit(otherDir, options('other', '10.0.0.9'), env);
    assert.throws(
      () => writeJoinedControlPlane(dir2, files, readFileSync(join(otherDir, 'pki', 'ca.crt'), 'utf8'), options('cp2', '10.0.0.2'), env),
      code('JOIN_CA_MISMATCH'),
    );
    // A failure in the middle (a service-account public key that does not match its key): nothing left.
    const broken = new Map(files);
    broken.set('sa.pub', readFileSync(join(otherDir, 'pki', 'sa.pub')));
    assert.throws(() => writeJoinedControlPlane(dir2, broken, caPem, options('cp2', '10.0.0.2'), env), code('PKI_KEY_MISMATCH'));
    assert.equal(existsSync(dir2), false);
    assert.deepEqual(
      readdirSync(root).filter((n) => n.includes('joining')),
      [],
      'no staging directory is left',
    );

    writeJoinedControlPlane(dir2, files, caPem, options('cp2', '10.0.0.2'), env);
    for (const f of SHARED_FILES) assert.deepEqual(readFileSync(f.path(dir2)), readFileSync(f.path(dir1)), f.entry);
    const cert = parseCertificatePem(readFileSync(join(dir2, 'pki', 'apiserver.crt'), 'utf8'), 'apiserver.crt');
    assert.ok(cert.sans.ip.includes('10.0.0.2') && !cert.sans.ip.includes('10.0.0.1'));
    assert.ok(cert.sans.dns.includes('cp.example.test') && cert.sans.dns.includes('cp2'));
    // An existing, non-empty directory is never written into.
    assert.throws(() => writeJoinedControlPlane(dir2, files, caPem, options('cp2', '10.0.0.2'), env), code('JOIN_DIR_IN_USE'));
  });
});
