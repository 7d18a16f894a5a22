/**
 * Differential checks of the PKI core against implementations nobody here wrote: for every key
 * algorithm of the CA and the leaf and several SAN mixes, openssl (`verify -x509_strict`,
 * `req -verify`, `x509 -text`), GnuTLS certtool and @peculiar/x509 must accept what tlsboot
 * issues and agree on serial, subject, SANs, validity and usages; and CSRs made by openssl must
 * parse to the same SANs.
 */
import 'reflect-metadata';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import * as x509 from '@peculiar/x509';
import {
  certificateToPem,
  createCsrPem,
  generatePrivateKey,
  issueCertificate,
  KEY_ALGORITHMS,
  type KeyAlgorithm,
  parseCertificate,
  parseCsrPem,
  type SubjectAltNames,
  spkiOf,
} from '../src/pki/index.ts';
import { hasTool, openssl, tempDir, toolSkip } from './helpers/processes.ts';

x509.cryptoProvider.set(globalThis.crypto);

const dir = tempDir('differential');
after(() => dir.remove());
const H = 3_600_000;
const now = new Date();

const SAN_MIXES: readonly SubjectAltNames[] = [
  { dns: ['node-1', 'node-1.example.internal'], ip: ['10.0.0.11'], email: [], uri: [] },
  { dns: [], ip: ['2001:db8::11', '192.168.1.2'], email: [], uri: [] },
  { dns: ['svc.example'], ip: [], email: ['ops@example.com'], uri: ['spiffe://cluster/ns/a'] },
];

let n = 0;
function files(caPem: string, leafPem: string): { ca: string; leaf: string } {
  const id = n++;
  const ca = join(dir.path, `ca-${id}.crt`);
  const leaf = join(dir.path, `leaf-${id}.crt`);
  writeFileSync(ca, caPem);
  writeFileSync(leaf, leafPem);
  return { ca, leaf };
}

const caAlgorithms: KeyAlgorithm[] = ['ecdsa-p256', 'ecdsa-p384', 'rsa-2048'];
const leafAlgorithms = KEY_ALGORITHMS.filter((a) => a !== 'rsa-4096');

describe('certificates tlsboot issues, checked by openssl, certtool and @peculiar/x509', { skip: toolSkip('openssl') }, () => {
  for (const caAlg of caAlgorithms) {
    const caKey = generatePrivateKey(caAlg);
    const caDer = issueCertificate({
      subject: [{ type: 'CN', value: `ca-${caAlg}` }],
      publicKey: spkiOf(caKey),
      keyUsage: ['digitalSignature', 'keyCertSign', 'cRLSign'],
      ca: {},
      notBefore: new Date(now.getTime() - H),
      notAfter: new Date(now.getTime() + 100 * H),
      issuer: { kind: 'self', key: caKey },
      randomBytes,
    });
    const ca = parseCertificate(caDer);
    for (const leafAlg of leafAlgorithms) {
      for (const [i, sans] of SAN_MIXES.entries()) {
        test(`CA ${caAlg}, leaf ${leafAlg}, SAN mix ${i + 1}`, async () => {
          const leafKey = generatePrivateKey(leafAlg);
          const csrPem = createCsrPem({
            key: leafKey,
            subject: [
              { type: 'O', value: 'system:nodes' },
              { type: 'CN', value: 'system:node:node-1' },
            ],
            sans,
          });
          const csrFile = join(dir.path, `csr-${n}.pem`);
          writeFileSync(csrFile, csrPem);
          const reqCheck = openssl(['req', '-verify', '-noout', '-in', csrFile]);
          assert.equal(reqCheck.code, 0, `openssl req -verify: ${reqCheck.stderr}`);
          const csr = parseCsrPem(csrPem);
          const der = issueCertificate({
            subject: csr.subject.attributes,
            publicKey: csr.spki,
            sans: csr.sans,
            keyUsage: ['digitalSignature'],
            extKeyUsage: ['clientAuth', 'serverAuth'],
            notBefore: new Date(now.getTime() - 300_000),
            notAfter: new Date(now.getTime() + H),
            issuer: { kind: 'ca', certificate: ca, key: caKey },
            randomBytes,
          });
          const ours = parseCertificate(der);
          const f = files(certificateToPem(caDer), certificateToPem(der));
          const v = openssl(['verify', '-x509_strict', '-CAfile', f.ca, f.leaf]);
          assert.equal(v.code, 0, `openssl verify: ${v.stdout}${v.stderr}`);
          const text = openssl(['x509', '-in', f.leaf, '-noout', '-text']).stdout;
          assert.match(text, /Subject: O = system:nodes, CN = system:node:node-1/);
          assert.match(text, /CA:FALSE/);
          assert.match(text, /TLS Web Client Authentication, TLS Web Server Authentication/);
          for (const d of sans.dns) assert.ok(text.includes(`DNS:${d}`), `openssl sees DNS:${d}`);
          if (hasTool('certtool')) {
            const gnutls = spawnSync('certtool', ['--verify', '--load-ca-certificate', f.ca, '--infile', f.leaf], { encoding: 'utf8' });
            assert.equal(gnutls.status, 0, `certtool: ${gnutls.stdout}${gnutls.stderr}`);
          } else if (process.env.CI === 'true') {
            assert.fail('certtool (gnutls-bin) is required in CI');
          }
          const peculiar = new x509.X509Certificate(certificateToPem(der));
          const peculiarCa = new x509.X509Certificate(certificateToPem(caDer));
          assert.equal(await peculiar.verify({ publicKey: peculiarCa.publicKey, date: now }), true);
          assert.equal(peculiar.serialNumber.toLowerCase().replace(/^0+/, ''), ours.serialNumber.replace(/^0+/, ''));
          assert.equal(peculiar.subject, 'O=system:nodes, CN=system:node:node-1');
          assert.equal(peculiar.notAfter.getTime(), ours.notAfter.getTime());
          const names = peculiar.getExtension(x509.SubjectAlternativeNameExtension)?.names.toJSON() ?? [];
          assert.deepEqual(
            names.filter((x) => x.type === 'dns').map((x) => x.value),
            [...sans.dns],
          );
          assert.deepEqual(
            names.filter((x) => x.type === 'ip').map((x) => x.value),
            [...sans.ip],
          );
          const bc = peculiar.getExtension(x509.BasicConstraintsExtension);
          assert.equal(bc?.ca, false);
        });
      }
    }
  }
});

describe('CSRs made by openssl', { skip: toolSkip('openssl') }, () => {
  for (const [alg, args] of [
    ['EC P-256', ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:P-256']],
    ['RSA 2048', ['-newkey', 'rsa:2048']],
  ] as const) {
    test(`${alg} with DNS and IP SANs parses with the same SANs`, () => {
      const out = join(dir.path, `openssl-${n++}.csr`);
      const r = openssl([
        'req',
        '-new',
        ...args,
        '-nodes',
        '-keyout',
        join(dir.path, `k-${n}.pem`),
        '-subj',
        '/O=system:nodes/CN=system:node:n9',
        '-addext',
        'subjectAltName=DNS:n9.example,IP:10.9.9.9,IP:2001:db8::9',
        '-out',
        out,
      ]);
      assert.equal(r.code, 0, r.stderr);
      const csr = parseCsrPem(openssl(['req', '-in', out]).stdout.replace(/^[\s\S]*?(-----BEGIN)/, '$1'));
      assert.deepEqual(csr.sans.dns, ['n9.example']);
      assert.deepEqual(csr.sans.ip, ['10.9.9.9', '2001:db8::9']);
    });
  }
});
