/**
 * Attack (issue 13, idea 6): `tlsboot controllers` holds the cluster CA key (DIR/pki/ca.key) and
 * signs whatever the API server at --kubeconfig shows as approved. It accepts a kubeconfig with
 * `insecure-skip-tls-verify: true` (and does not check that the server is the cluster of DIR's
 * CA), so anyone who can answer for the server address - a man in the middle, a wrong or stale
 * kubeconfig - can have the cluster CA sign client certificates for any non-privileged name, e.g.
 * `system:tlsboot:controllers` itself, or `system:kube-controller-manager` on a stock cluster.
 * Safe behaviour: the standalone controllers refuse a kubeconfig that does not verify the server
 * (and so never sign for a server they cannot authenticate).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import pino from 'pino';
import { reservedIdentities } from '../src/api/index.ts';
import { startStandaloneControllers } from '../src/control-plane/standalone-controllers.ts';
import {
  certificateToPem,
  commonName,
  createCsrPem,
  generatePrivateKey,
  parseCertificateBundle,
  privateKeyToPem,
} from '../src/pki/index.ts';
import { ADMIN_TOKEN, startTestApi } from '../src/server/testing.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { tempDir, until } from './helpers/processes.ts';

test('tlsboot controllers refuses to sign for an API server it does not verify (insecure-skip-tls-verify)', async () => {
  const dir = tempDir('attack13-insecure');
  // The real cluster's CA, whose key the controllers hold.
  const clusterCa = selfSignedCa({ cn: 'kubernetes' });
  mkdirSync(join(dir.path, 'pki'), { recursive: true });
  writeFileSync(join(dir.path, 'pki', 'ca.crt'), certificateToPem(clusterCa.certificate.der));
  writeFileSync(join(dir.path, 'pki', 'ca.key'), privateKeyToPem(clusterCa.key));
  // An impostor API server with its own, unrelated serving certificate.
  const impostor = await startTestApi({ now: () => new Date() });
  const { port } = await impostor.server.listen('127.0.0.1', 0);
  const kubeconfig = join(dir.path, 'controllers.conf');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", insecure-skip-tls-verify: true}}]`,
      `users: [{name: u, user: {token: ${ADMIN_TOKEN}}}]`,
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  // The impostor shows an approved client CSR for the controllers' own identity.
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [{ type: 'CN', value: 'system:tlsboot:controllers' }],
    sans: { dns: [], ip: [], email: [], uri: [] },
  });
  const headers = { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' };
  const created = await impostor.server.app.inject({
    method: 'POST',
    url: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    headers,
    payload: JSON.stringify({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name: 'forged' },
      spec: { request: Buffer.from(pem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'] },
    }),
  });
  assert.equal(created.statusCode, 201, created.body);
  const csr = created.json() as Record<string, unknown>;
  const approved = await impostor.server.app.inject({
    method: 'PUT',
    url: '/apis/certificates.k8s.io/v1/certificatesigningrequests/forged/approval',
    headers,
    payload: JSON.stringify({ ...csr, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Forged', message: 'mitm' }] } }),
  });
  assert.equal(approved.statusCode, 200, approved.body);

  let started: Awaited<ReturnType<typeof startStandaloneControllers>> | undefined;
  let refusal: unknown;
  try {
    started = await startStandaloneControllers({
      kubeconfig,
      dir: dir.path,
      controllers: new Set(['signer']),
      reserved: () => reservedIdentities([]),
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      randomBytes: (n) => randomBytes(n),
    });
  } catch (error) {
    refusal = error;
  }
  try {
    if (started === undefined) {
      assert.match(String(refusal), /insecure|verif/i);
      return;
    }
    const issued = await until(
      'the signer to answer the impostor',
      async () => {
        const res = await impostor.server.app.inject({
          method: 'GET',
          url: '/apis/certificates.k8s.io/v1/certificatesigningrequests/forged',
          headers,
        });
        const status = (res.json() as { status?: { certificate?: string } }).status;
        return status?.certificate;
      },
      10_000,
    ).catch(() => undefined);
    const cert = issued === undefined ? undefined : parseCertificateBundle(Buffer.from(issued, 'base64').toString('utf8'), 'issued')[0];
    assert.fail(
      `tlsboot controllers started against an unverified server${cert ? ` and signed a cluster-CA certificate for CN=${commonName(cert.subject)} (issuer ${commonName(cert.issuer)})` : ''}`,
    );
  } finally {
    await started?.close();
    await impostor.close();
    rmSync(dir.path, { recursive: true, force: true });
  }
});
