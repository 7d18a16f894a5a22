/**
 * Revocation in one process, over the real request path: the CertificateRevocation create
 * (admission against the issued-certificates inventory, the server's who and when, RBAC, the
 * audit record), bad input refused with nothing stored, and the effect on a client certificate
 * over real TLS: its open watch is closed when the revocation arrives, its next request is 401,
 * and the agent's rotation with it fails saying so.
 */
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { CertStore } from '../src/agent/cert-store.ts';
import { CertificateRotator } from '../src/agent/rotation.ts';
import { CERTIFICATE_REVOCATIONS, ISSUED_CERTIFICATES, resourcePath, storeKeyOf } from '../src/api/cluster-client.ts';
import type { AuthorizationAttributes, Decision } from '../src/api/index.ts';
import { FakeClock, REAL_CLOCK } from '../src/base/clock.ts';
import { InternalError, isTlsbootError } from '../src/base/errors.ts';
import { MetricsRegistry, RevocationMetrics } from '../src/base/metrics.ts';
import { CrlPublisher } from '../src/control-plane/crl-publisher.ts';
import { RevokedSerialsCache, revocationAdmission } from '../src/control-plane/revocations.ts';
import { certificateToPem, generatePrivateKey, issueCertificate, parseCertificate, privateKeyToPem, spkiOf } from '../src/pki/index.ts';
import { ControlPlaneAdmission } from '../src/server/admission.ts';
import { StaticTokens } from '../src/server/authn.ts';
import { startTestApi, type TestApi } from '../src/server/testing.ts';
import { MemoryAuditLog } from '../src/signer/audit.ts';
import { LocalSigner } from '../src/signer/signer.ts';
import { openSqliteStore } from '../src/store/index.ts';
import { promtoolCheckMetrics, sample } from './helpers/metrics.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { toolSkip } from './helpers/processes.ts';

const REVOCATIONS = resourcePath(CERTIFICATE_REVOCATIONS);
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const HOUR = 3_600_000;

/** Masters may do anything; nodes may read CSRs; `viewer` may only read revocations. */
function authorize(a: AuthorizationAttributes): Decision {
  if (a.user.groups.includes('system:masters')) return { allowed: true, reason: 'masters' };
  if ('nonResourceURL' in a) return { allowed: a.nonResourceURL.startsWith('/crl/'), reason: 'crl-reader' };
  if (a.user.groups.includes('system:nodes'))
    return { allowed: a.resource === 'certificatesigningrequests' && a.verb !== 'create', reason: 'node' };
  return { allowed: a.user.name === 'viewer' && a.resource === CERTIFICATE_REVOCATIONS.resource && a.verb === 'list', reason: 'viewer' };
}

describe('certificate revocation', () => {
  const ca = selfSignedCa({ crlSign: true });
  const audit = new MemoryAuditLog();
  const store = openSqliteStore({ path: ':memory:' });
  const revoked = new RevokedSerialsCache({ store, onError: () => {} });
  let api: TestApi;
  let port = 0;
  const clock = new FakeClock(Date.now());
  const distribution = { baseUrl: 'https://127.0.0.1:6443', shards: 4 };
  const crls = new CrlPublisher({
    signer: new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes }),
    revocations: revoked,
    distribution,
    clock,
    onError: (e) => {
      throw e;
    },
  });

  const metrics = new MetricsRegistry();
  const revocationMetrics = new RevocationMetrics(
    metrics,
    () => crls.served(),
    () => clock.now(),
  );
  const revokedCount = async (reason: string) => sample(await metrics.text(), 'tlsboot_certificates_revoked_total', { reason }) ?? 0;

  /** A node client certificate from `ca`, recorded in the inventory as the signer records it (unless `unrecorded`). */
  async function nodeCertificate(node: string, o: { hours?: number; unrecorded?: boolean } = {}) {
    const key = generatePrivateKey('ecdsa-p256');
    const now = Date.now();
    const cert = parseCertificate(
      issueCertificate({
        subject: [
          { type: 'O', value: 'system:nodes' },
          { type: 'CN', value: `system:node:${node}` },
        ],
        publicKey: spkiOf(key),
        keyUsage: ['digitalSignature'],
        extKeyUsage: ['clientAuth'],
        notBefore: new Date(now - 2 * HOUR),
        notAfter: new Date(now + (o.hours ?? 1) * HOUR),
        issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
        randomBytes,
        crl: distribution,
      }),
    );
    if (o.unrecorded !== true) {
      const uid = randomBytes(8).toString('hex');
      await store.create(
        { resource: storeKeyOf(ISSUED_CERTIFICATES), namespace: '', name: uid },
        {
          metadata: { name: uid },
          csrName: `csr-${node}`,
          signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
          commonName: `system:node:${node}`,
          serialNumber: cert.serialNumber,
          notAfter: cert.notAfter.toISOString(),
        },
      );
    }
    return { serial: cert.serialNumber, cert, key, certPem: certificateToPem(cert.der), keyPem: privateKeyToPem(key) };
  }

  /** A serving certificate for 127.0.0.1 from `ca`, which also verifies client certificates. */
  function servingTls() {
    const key = generatePrivateKey('ecdsa-p256');
    const cert = issueCertificate({
      subject: [{ type: 'CN', value: 'kube-apiserver' }],
      publicKey: spkiOf(key),
      sans: { dns: ['localhost'], ip: ['127.0.0.1'], email: [], uri: [] },
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['serverAuth'],
      notBefore: new Date(Date.now() - HOUR),
      notAfter: new Date(Date.now() + HOUR),
      issuer: { kind: 'ca', certificate: ca.certificate, key: ca.key },
      randomBytes,
    });
    return { certPem: certificateToPem(cert), keyPem: privateKeyToPem(key), clientCaPem: certificateToPem(ca.certificate.der) };
  }

  type Credential = { certPem: string; keyPem: string };
  /** A GET over a fresh TLS connection with this client certificate. */
  function get(cred: Credential, path: string): Promise<{ status: number; body: string }> {
    return new Promise((resolve, reject) => {
      const req = request(
        { host: '127.0.0.1', port, path, cert: cred.certPem, key: cred.keyPem, rejectUnauthorized: false, agent: false },
        (res) => {
          let body = '';
          res.on('data', (c: Buffer) => (body += c.toString()));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
        },
      );
      req.on('error', reject);
      req.end();
    });
  }

  const revoke = (token: string, name: unknown, reason?: unknown) =>
    api.request(token, 'POST', REVOCATIONS, {
      apiVersion: 'tlsboot.io/v1alpha1',
      kind: 'CertificateRevocation',
      metadata: { name },
      ...(reason === undefined ? {} : { reason }),
    });
  const stored = async () => (await store.list(storeKeyOf(CERTIFICATE_REVOCATIONS))).items.map((i) => i.metadata.name);

  before(async () => {
    await revoked.start();
    await crls.start();
    const authorizer = { authorize };
    api = await startTestApi({
      store,
      clientCas: [ca.certificate],
      tls: servingTls(),
      staticTokens: StaticTokens.parse('admin,admin,0,"system:masters"\nviewer,viewer,1', 'tokens.csv'),
      authorizer,
      admission: new ControlPlaneAdmission(
        authorizer,
        () => {
          throw new InternalError('TEST', 'no node names here');
        },
        undefined,
        revocationAdmission(store, () => new Date(clock.now()), audit, revocationMetrics),
      ),
      revoked,
      crls: { get: (shard) => crls.get(shard), shards: distribution.shards },
      now: () => new Date(),
    });
    port = (await api.server.listen('127.0.0.1', 0)).port;
  });
  after(async () => {
    await crls.close();
    await api?.close();
    await revoked.close();
  });

  test('a revoked client certificate loses its open watch at once, is refused (401) on its next request, and cannot rotate', async () => {
    const node = await nodeCertificate('node-1');
    assert.equal((await get(node, CSRS)).status, 200);
    const watch = await new Promise<{ closed: Promise<void> }>((resolve, reject) => {
      const req = request(
        {
          host: '127.0.0.1',
          port,
          path: `${CSRS}?watch=true`,
          cert: node.certPem,
          key: node.keyPem,
          rejectUnauthorized: false,
          agent: false,
        },
        (res) => {
          assert.equal(res.statusCode, 200);
          res.resume();
          resolve({ closed: new Promise<void>((done) => res.on('close', () => done())) });
        },
      );
      req.on('error', reject);
      req.end();
    });
    const r = await revoke('admin', node.serial, 'keyCompromise');
    assert.equal(r.statusCode, 201, r.body);
    const obj = r.json<Record<string, unknown>>();
    assert.equal(obj.reason, 'keyCompromise');
    assert.equal(obj.revokedBy, 'admin');
    assert.equal(obj.commonName, 'system:node:node-1');
    assert.equal(obj.csrName, 'csr-node-1');
    assert.equal(typeof obj.notAfter, 'string');
    const closed = await Promise.race([watch.closed.then(() => true), delay(5000).then(() => false)]);
    assert.equal(closed, true, 'the watch the revoked certificate held was closed');
    const again = await get(node, CSRS);
    assert.equal(again.status, 401);
    assert.match(again.body, /revoked/);
    const other = await nodeCertificate('node-2');
    assert.equal((await get(other, CSRS)).status, 200, 'another certificate still works');
    const dir = mkdtempSync(join(tmpdir(), 'tlsboot-revoked-'));
    chmodSync(dir, 0o700);
    const rotator = new CertificateRotator({
      store: CertStore.open(dir),
      prefix: 'kubelet-client',
      spec: {
        signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
        commonName: 'system:node:node-1',
        organizations: ['system:nodes'],
        usages: ['digital signature', 'client auth'],
      },
      server: `https://127.0.0.1:${port}`,
      caPem: certificateToPem(ca.certificate.der),
      clientCredential: () => ({ certificates: [node.cert], key: node.key, path: join(dir, 'current.pem') }),
      clock: REAL_CLOCK,
      random: () => 0.5,
      log: () => {},
      warn: () => {},
    });
    await assert.rejects(
      rotator.rotateOnce(AbortSignal.timeout(10_000)),
      (e: unknown) =>
        isTlsbootError(e) &&
        e.code === 'UNAUTHENTICATED' &&
        e.reason === 'CLIENT_CERTIFICATE_REFUSED' &&
        /has been revoked/.test(e.message),
    );
    rmSync(dir, { recursive: true, force: true });
    const event = audit.events.find((e) => e.event === 'certificate.revoked' && e.serial === node.serial);
    assert.deepEqual(
      { actor: event?.actor, reason: event?.reason, commonName: event?.commonName },
      { actor: 'admin', reason: 'keyCompromise', commonName: 'system:node:node-1' },
    );
  });

  test('revoking twice is 409 AlreadyExists; a revocation cannot be changed', async () => {
    const node = await nodeCertificate('node-3');
    const [unspecified, superseded] = [await revokedCount('unspecified'), await revokedCount('superseded')];
    assert.equal((await revoke('admin', node.serial)).statusCode, 201);
    const twice = await revoke('admin', node.serial, 'superseded');
    assert.equal(twice.statusCode, 409, twice.body);
    assert.equal(await revokedCount('unspecified'), unspecified + 1, 'counted once, by reason');
    assert.equal(await revokedCount('superseded'), superseded, 'a refused revocation counts nothing');
    assert.match(twice.body, /already exists/);
    const current = await api.request('admin', 'GET', `${REVOCATIONS}/${node.serial}`);
    assert.equal(current.json<{ reason: string }>().reason, 'unspecified', 'the default reason, unchanged by the second try');
    const put = await api.request('admin', 'PUT', `${REVOCATIONS}/${node.serial}`, { ...current.json<object>(), reason: 'superseded' });
    assert.equal(put.statusCode, 405, put.body);
    assert.equal(audit.events.filter((e) => e.event === 'certificate.revoked' && e.serial === node.serial).length, 1);
  });

  test('bad input gets a clear error and stores nothing', async () => {
    const before = await stored();
    const live = await nodeCertificate('node-4');
    const expired = await nodeCertificate('node-5', { hours: -1 });
    const foreign = await nodeCertificate('node-6', { unrecorded: true });
    const cases: [unknown, unknown, number, RegExp][] = [
      [foreign.serial, undefined, 422, /issued no certificate with serial/],
      [expired.serial, undefined, 422, /expired/],
      ['XYZ', undefined, 422, /RFC 1123 subdomain/],
      ['xyz', undefined, 422, /not a certificate serial number/],
      [`00${live.serial}`, undefined, 422, /not a certificate serial number/],
      [live.serial, 'certificateHold', 422, /reason: Unsupported value "certificateHold"/],
      [live.serial, 7, 422, /reason: Unsupported value 7/],
    ];
    for (const [name, reason, status, message] of cases) {
      const r = await revoke('admin', name, reason);
      assert.equal(r.statusCode, status, `${String(name)} ${String(reason)}: ${r.body}`);
      assert.match(r.json<{ message: string }>().message, message);
    }
    const forbidden = await revoke('viewer', live.serial);
    assert.equal(forbidden.statusCode, 403, forbidden.body);
    assert.deepEqual(await stored(), before, 'nothing was stored');
    assert.equal((await get(live, CSRS)).status, 200, 'the certificate still works');
  });

  /** The shard CRL as served, anonymously, once the publisher has seen every revocation stored. */
  async function servedCrl(shard: number): Promise<Buffer> {
    const r = await api.server.app.inject({ method: 'GET', url: `/crl/${shard}.crl` });
    assert.equal(r.statusCode, 200, r.body);
    assert.equal(r.headers['content-type'], 'application/pkix-crl');
    return r.rawPayload;
  }
  const crlText = (der: Buffer) => execFileSync('openssl', ['crl', '-inform', 'DER', '-noout', '-text'], { input: der, encoding: 'utf8' });
  const crlNumber = (der: Buffer) => /CRL Number:\s+(\d+)/.exec(crlText(der))?.[1] ?? '';

  test('CRLs are served without authentication, rebuilt on revocation and refreshed before nextUpdate; openssl refuses the revoked certificate and passes a live one', async () => {
    const node = await nodeCertificate('node-7', { hours: 48 });
    const short = await nodeCertificate('node-9', { hours: 1 });
    const shard = Number.parseInt(node.serial.slice(-2), 16) % distribution.shards;
    let live = await nodeCertificate('node-8');
    while (Number.parseInt(live.serial.slice(-2), 16) % distribution.shards !== shard)
      live = await nodeCertificate('node-8', { hours: 48 });
    for (const bad of ['4.crl', 'x.crl', '01.crl'])
      assert.equal((await api.server.app.inject({ method: 'GET', url: `/crl/${bad}` })).statusCode, 404);
    const before = await servedCrl(shard);
    assert.doesNotMatch(crlText(before), new RegExp(node.serial.toUpperCase()));
    assert.equal((await revoke('admin', node.serial, 'cessationOfOperation')).statusCode, 201);
    assert.equal((await revoke('admin', short.serial, 'superseded')).statusCode, 201);
    const shortShard = Number.parseInt(short.serial.slice(-2), 16) % distribution.shards;
    for (let i = 0; i < 100 && !(revoked.has(node.serial) && revoked.has(short.serial)); i++) await delay(20);
    clock.advance(1000);
    await crls.rebuild();
    const after = await servedCrl(shard);
    assert.match(crlText(await servedCrl(shortShard)), new RegExp(short.serial.toUpperCase()), 'listed while it is live');
    assert.match(crlText(after), new RegExp(`Serial Number: ${node.serial.toUpperCase()}[\\s\\S]*Cessation Of Operation`));
    assert.ok(BigInt(crlNumber(after)) > BigInt(crlNumber(before)), 'the CRL number grew');
    const dir = mkdtempSync(join(tmpdir(), 'tlsboot-crl-'));
    try {
      const caFile = join(dir, 'ca.pem');
      writeFileSync(caFile, certificateToPem(ca.certificate.der));
      const crlFile = join(dir, 'crl.der');
      writeFileSync(crlFile, after);
      const verified = spawnSync('openssl', ['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caFile, '-noout', '-verify'], {
        encoding: 'utf8',
      });
      assert.match(verified.stdout + verified.stderr, /verify OK/);
      const crlPem = join(dir, 'crl.pem');
      writeFileSync(crlPem, execFileSync('openssl', ['crl', '-inform', 'DER', '-in', crlFile], { encoding: 'utf8' }));
      const check = (certPem: string) => {
        writeFileSync(join(dir, 'leaf.pem'), certPem);
        return spawnSync('openssl', ['verify', '-crl_check', '-CAfile', caFile, '-CRLfile', crlPem, join(dir, 'leaf.pem')], {
          encoding: 'utf8',
        });
      };
      const refused = check(node.certPem);
      assert.notEqual(refused.status, 0);
      assert.match(refused.stdout + refused.stderr, /certificate revoked/);
      const passed = check(live.certPem);
      assert.equal(passed.status, 0, passed.stdout + passed.stderr);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
    // Nothing changes for half a day: the CRL is signed again before its nextUpdate all the same.
    const nextUpdate = (der: Buffer) => Date.parse(/Next Update: (.+)/.exec(crlText(der))?.[1] ?? '');
    clock.advance(12 * HOUR + 1000);
    let refreshed = await servedCrl(shard);
    for (let i = 0; i < 100 && crlNumber(refreshed) === crlNumber(after); i++) {
      await delay(20);
      refreshed = await servedCrl(shard);
    }
    assert.ok(BigInt(crlNumber(refreshed)) > BigInt(crlNumber(after)));
    assert.ok(
      nextUpdate(refreshed) > nextUpdate(after) && nextUpdate(after) > clock.now(),
      'refreshed while the last one was still current',
    );
    assert.match(crlText(refreshed), new RegExp(node.serial.toUpperCase()));
    // The gauges read the served shard: its age on the injected clock and its nextUpdate.
    clock.advance(5000);
    const exposition = await metrics.text();
    const age = sample(exposition, 'tlsboot_crl_age_seconds', { shard: String(shard) }) ?? -1;
    // The refresh fired 12 h after the last build, up to the second of the advance above.
    assert.ok(age >= 5 && age <= 7, `age ${age}`);
    assert.equal(sample(exposition, 'tlsboot_crl_next_update_timestamp_seconds', { shard: String(shard) }), nextUpdate(refreshed) / 1000);
    if (!toolSkip('promtool')) assert.equal(promtoolCheckMetrics(exposition).status, 0, promtoolCheckMetrics(exposition).output);
    assert.doesNotMatch(
      crlText(await servedCrl(shortShard)),
      new RegExp(short.serial.toUpperCase()),
      'an expired certificate left the CRL',
    );
  });

  test('a revocation is permanent: nobody deletes it while its certificate is valid; once it expired, it may go', async () => {
    // The CRL test above moved the fake clock 12 h ahead of the certificates' real time.
    const node = await nodeCertificate('node-permanent', { hours: 13 });
    assert.equal((await revoke('admin', node.serial)).statusCode, 201);
    const del = () =>
      api.server.app.inject({ method: 'DELETE', url: `${REVOCATIONS}/${node.serial}`, headers: { authorization: 'Bearer admin' } });
    const refused = await del();
    assert.equal(refused.statusCode, 403, refused.body);
    assert.match(refused.body, /a revocation is permanent; it is removed after its certificate expires/);
    assert.equal((await api.request('admin', 'GET', `${REVOCATIONS}/${node.serial}`)).statusCode, 200, 'still revoked');
    clock.advance(2 * HOUR);
    assert.equal((await del()).statusCode, 200);
  });
});
