import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { isTlsbootError } from '../base/errors.ts';
import { generatePrivateKey, issueCertificate, parseCertificate, type SubjectAltNames, spkiOf } from '../pki/index.ts';
import { checkNames } from './control-plane-serving.ts';

const ca = selfSignedCa();
const names = (dns: string[], ip: string[]): SubjectAltNames => ({ dns, ip, email: [], uri: [] });
const issued = (sans: SubjectAltNames) =>
  parseCertificate(
    issueCertificate({
      subject: [{ type: 'CN', value: 'kube-apiserver' }],
      publicKey: spkiOf(generatePrivateKey('ecdsa-p256')),
      sans,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['serverAuth'],
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 3_600_000),
      issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
      randomBytes,
    }),
  );

test('a joining node takes an API-server certificate only with exactly the names it asked for', () => {
  const asked = names(['kubernetes', 'cp2'], ['10.96.0.1', '10.0.0.2']);
  checkNames(issued(names(['cp2', 'kubernetes'], ['10.0.0.2', '10.96.0.1'])), asked);
  const refused = (e: unknown) => isTlsbootError(e) && e.reason === 'ISSUED_CERTIFICATE';
  assert.throws(
    () => checkNames(issued(names(['kubernetes', 'cp2', 'extra'], ['10.96.0.1', '10.0.0.2'])), asked),
    refused,
    'one name more',
  );
  assert.throws(() => checkNames(issued(names(['kubernetes', 'cp2'], ['10.96.0.1'])), asked), refused, 'one address less');
});
