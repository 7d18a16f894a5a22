/**
 * CRLs against openssl: a shard CRL verifies under its CA (`openssl crl -verify`), names its
 * number, reason codes, AKI and a critical IDP equal to the CDP of the certificates in its shard,
 * and `openssl verify -crl_check` refuses a revoked certificate and passes a live one. Also the
 * size bound: at 100k revocations no shard of 32 grows past 256 KiB.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { type Certificate, certificateToPem, issueCertificate, parseCertificate } from './certificate.ts';
import { crlTbs, issueCrl } from './crl.ts';
import { crlShardOf, crlShardUri } from './extensions.ts';
import { generatePrivateKey, spkiOf } from './keys.ts';
import { encodePem } from './pem.ts';

const hasOpenssl = spawnSync('openssl', ['version']).status === 0;
const HOUR = 3_600_000;
const now = new Date();
const caKey = generatePrivateKey('ecdsa-p256');
const ca = parseCertificate(
  issueCertificate({
    subject: [{ type: 'CN', value: 'crl-test-ca' }],
    publicKey: spkiOf(caKey),
    keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
    ca: {},
    notBefore: new Date(now.getTime() - HOUR),
    notAfter: new Date(now.getTime() + 100 * HOUR),
    issuer: { kind: 'self', key: caKey },
    randomBytes,
  }),
);
const distribution = { baseUrl: 'http://127.0.0.1:6443/', shards: 4 };

function leaf(shard: number): Certificate {
  for (;;) {
    const key = generatePrivateKey('ecdsa-p256');
    const cert = parseCertificate(
      issueCertificate({
        subject: [{ type: 'CN', value: 'system:node:n1' }],
        publicKey: spkiOf(key),
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['clientAuth'],
        notBefore: new Date(now.getTime() - HOUR),
        notAfter: new Date(now.getTime() + HOUR),
        issuer: { kind: 'ca', certificate: ca, key: caKey },
        randomBytes,
        crl: distribution,
      }),
    );
    if (crlShardOf(cert.serialNumber, distribution.shards) === shard) return cert;
  }
}

describe('CRLs', { skip: !hasOpenssl && 'openssl is not installed' }, () => {
  test('a shard CRL verifies under its CA, lists its revoked serial with the reason, and openssl refuses that certificate and passes a live one', () => {
    const dir = mkdtempSync(join(tmpdir(), 'tlsboot-crl-'));
    try {
      const revoked = leaf(2);
      const live = leaf(2);
      const otherShard = leaf(3);
      const uri = crlShardUri(distribution, 2);
      assert.equal(uri, 'http://127.0.0.1:6443/crl/2.crl');
      const crl = issueCrl(
        {
          crlNumber: 1_764_000_000_000n,
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + 24 * HOUR),
          entries: [{ serialNumber: revoked.serialNumber, revokedAt: now, reasonCode: 1 }],
          distributionPoint: uri,
        },
        { certificate: ca, key: caKey },
      );
      const file = (name: string, text: string | Uint8Array) => {
        writeFileSync(join(dir, name), text);
        return join(dir, name);
      };
      const caFile = file('ca.pem', certificateToPem(ca.der));
      const crlDer = file('crl.der', crl);
      const crlPem = file('crl.pem', encodePem('X509 CRL', crl));
      const verified = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlDer, '-CAfile', caFile, '-noout', '-verify'], {
        encoding: 'utf8',
      });
      assert.match(verified.stdout + verified.stderr, /verify OK/);
      const text = execFileSync('openssl', ['crl', '-inform', 'DER', '-in', crlDer, '-noout', '-text'], { encoding: 'utf8' });
      assert.match(text, /Version 2/);
      assert.match(text, /X509v3 CRL Number:\s+1764000000000/);
      assert.match(text, /X509v3 Authority Key Identifier:/);
      assert.match(
        text,
        /X509v3 Issuing Distribution Point: critical\s+Full Name:\s+URI:http:\/\/127\.0\.0\.1:6443\/crl\/2\.crl\s+Only User Certificates/,
      );
      assert.match(text, new RegExp(`Serial Number: ${revoked.serialNumber.toUpperCase()}`));
      assert.match(text, /Key Compromise/);
      const cdp = execFileSync('openssl', ['x509', '-noout', '-ext', 'crlDistributionPoints'], {
        input: certificateToPem(revoked.der),
        encoding: 'utf8',
      });
      assert.match(cdp, /URI:http:\/\/127\.0\.0\.1:6443\/crl\/2\.crl/, 'the CDP names the same URI as the IDP');
      const check = (cert: Certificate) =>
        spawnSync(
          'openssl',
          ['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlPem, file('leaf.pem', certificateToPem(cert.der))],
          {
            encoding: 'utf8',
          },
        );
      const refused = check(revoked);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stdout + refused.stderr, /certificate revoked/);
      const passed = check(live);
      assert.equal(passed.status, 0, passed.stdout + passed.stderr);
      const outOfScope = check(otherShard);
      assert.notEqual(outOfScope.status, 0, 'a shard CRL does not answer for another shard (IDP != CDP)');
      assert.match(outOfScope.stdout + outOfScope.stderr, /different CRL scope/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

test('at 100k revocations, no CRL of 32 shards grows past 256 KiB', () => {
  const shards = 32;
  const entries: { serialNumber: string; revokedAt: Date; reasonCode: number }[][] = Array.from({ length: shards }, () => []);
  for (let i = 0; i < 100_000; i++) {
    const serial = randomBytes(16);
    serial[0] = (serial[0] as number) | 0x01;
    const hex = serial.toString('hex');
    entries[crlShardOf(hex, shards)]?.push({ serialNumber: hex, revokedAt: now, reasonCode: 1 });
  }
  const sizes = entries.map(
    (e, shard) =>
      crlTbs(
        {
          crlNumber: 1n,
          thisUpdate: now,
          nextUpdate: new Date(now.getTime() + 24 * HOUR),
          entries: e,
          distributionPoint: crlShardUri({ baseUrl: 'https://10.0.0.1:6443', shards }, shard),
        },
        ca,
      ).length + 80,
  );
  const largest = Math.max(...sizes);
  assert.ok(largest < 256 * 1024, `largest shard ${largest} bytes`);
  assert.ok(sizes.reduce((a, b) => a + b, 0) > 100_000 * 45, 'every entry is in some shard');
});
