/**
 * The remote signer's `/metrics`: behind its own bearer token (401 without it or with a wrong
 * one, each counted as a failure), the certificates it signed by signer, its live grants and
 * their budgets, a peer without a grant certificate counted; and on the cluster side the session
 * gauges of a remote session, bounded by the grant's count. promtool accepts the output.
 */
import assert from 'node:assert/strict';
import { chmodSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { promtoolCheckMetrics, sample } from '../../test/helpers/metrics.ts';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { toolSkip } from '../../test/helpers/processes.ts';
import { REAL_CLOCK } from '../base/clock.ts';
import { MetricsRegistry, SessionMetrics } from '../base/metrics.ts';
import { createCsr, generatePrivateKey, parseCsr } from '../pki/index.ts';
import { MemoryAuditLog } from '../signer/audit.ts';
import { RemoteBackend } from '../signer/remote-backend.ts';
import { parseGrantCredential } from '../signer/remote-protocol.ts';
import { SessionSigner, sessionView } from '../signer/session-signer.ts';
import { adminRequest } from './remote-admin.ts';
import { type RemoteSignerServer, startRemoteSigner } from './remote-signer-server.ts';
import { testRemoteSignerOptions } from './testing.ts';

const MIN = 60_000;
const TOKEN = 'scrape-token-0123456789abcdef';
const KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';
const ca = selfSignedCa();

function get(url: string, caPem: string, authorization?: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { ca: caPem, headers: authorization === undefined ? {} : { authorization } }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        body += c;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('error', reject);
    req.end();
  });
}

describe('remote signer metrics', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'remote-signer-metrics-'));
  chmodSync(stateDir, 0o700);
  let remote: RemoteSignerServer;
  let transportPem: string;
  const cluster = new SessionSigner({
    backend: new RemoteBackend(ca.certificate, () => new Date(), 60 * MIN),
    caCertificate: ca.certificate,
    audit: new MemoryAuditLog(),
    clock: REAL_CLOCK,
    newId: () => 's1',
  });

  before(async () => {
    remote = await startRemoteSigner(testRemoteSignerOptions(ca, stateDir, { metricsToken: TOKEN }));
    transportPem = readFileSync(join(stateDir, 'transport-ca.crt'), 'utf8');
  });

  after(async () => {
    await cluster.close();
    await remote.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('/metrics needs the metrics token (401 otherwise, counted)', async () => {
    assert.equal((await get(`${remote.url}/metrics`, transportPem)).status, 401);
    assert.equal((await get(`${remote.url}/metrics`, transportPem, 'Bearer wrong-token-0123456789')).status, 401);
    const ok = await get(`${remote.url}/metrics`, transportPem, `Bearer ${TOKEN}`);
    assert.equal(ok.status, 200);
    assert.equal(sample(ok.body, 'tlsboot_authentication_failures_total', { method: 'metrics_token' }), 2);
  });

  test('a signature, the grant budget and the session gauges read as they are', async () => {
    const credential = String(
      (await adminRequest(stateDir, 'POST', '/v1/grants', { ttlSeconds: 600, actor: 'ops', maxCertificates: 3 })).credential,
    );
    const grantId = parseGrantCredential(credential).id;
    await cluster.open({ secret: { credential }, ttlMs: 5 * MIN, actor: 'admin', maxCertificates: 10 });
    const key = generatePrivateKey('ecdsa-p256');
    const csr = parseCsr(
      createCsr({
        key,
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: 'system:node:n1' },
        ],
      }),
    );
    await cluster.sign(
      {
        signerName: KUBELET_CLIENT,
        subject: csr.subject.attributes,
        publicKey: csr.spki,
        sans: csr.sans,
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['clientAuth'],
        csrDer: csr.der,
        usages: ['digital signature', 'client auth'],
        csrName: 'csr-1',
        csrUid: 'uid-1',
        requester: 'system:bootstrap:abcdef',
      },
      new Date(),
    );
    // A peer without a grant certificate is refused and counted.
    assert.equal((await get(`${remote.url}/v1/grant`, transportPem)).status, 403);

    const text = (await get(`${remote.url}/metrics`, transportPem, `Bearer ${TOKEN}`)).body;
    assert.equal(sample(text, 'tlsboot_certificates_issued_total', { signer: KUBELET_CLIENT }), 1);
    assert.equal(sample(text, 'tlsboot_signer_live_grants'), 1);
    assert.equal(sample(text, 'tlsboot_signer_grant_remaining_certificates', { grant: grantId }), 2);
    const seconds = sample(text, 'tlsboot_signer_grant_remaining_seconds', { grant: grantId }) ?? 0;
    assert.ok(seconds > 590 && seconds <= 600, `${seconds}`);
    assert.equal(sample(text, 'tlsboot_authentication_failures_total', { method: 'grant_certificate' }), 1);
    assert.equal(
      sample(text, 'tlsboot_certificate_expiry_timestamp_seconds', { certificate: 'ca' }),
      Math.floor(ca.certificate.notAfter.getTime() / 1000),
    );

    // The cluster's side: its session is bounded by the grant's 3, not its own 10.
    const registry = new MetricsRegistry();
    new SessionMetrics(
      registry,
      'remote',
      () => sessionView(cluster.status()),
      () => Date.now(),
    );
    const session = await registry.text();
    assert.equal(sample(session, 'tlsboot_signing_session_open', { mode: 'remote' }), 1);
    assert.equal(sample(session, 'tlsboot_signing_session_remaining_certificates'), 2);
    assert.ok((sample(session, 'tlsboot_signing_session_remaining_seconds') ?? 0) > 0);
    await cluster.closeSession('admin');
    const closed = await registry.text();
    assert.equal(sample(closed, 'tlsboot_signing_session_open', { mode: 'remote' }), 0);
    assert.equal(sample(closed, 'tlsboot_signing_session_remaining_certificates'), undefined);
    registry.close();
  });

  test('promtool check metrics accepts the output', { skip: toolSkip('promtool') }, async () => {
    const r = promtoolCheckMetrics((await get(`${remote.url}/metrics`, transportPem, `Bearer ${TOKEN}`)).body);
    assert.equal(r.status, 0, r.output);
  });
});
