/**
 * The remote signer and the cluster's remote backend, in one process with separate fake clocks
 * for the two machines: signing under a grant over mutual TLS, the signer's own policy check,
 * idempotent retries, and refusals for an expired, revoked, used-up, forged or too-narrow grant;
 * and the cluster refusing certificates from a (malicious) signer that are not what it approved.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request as httpsRequest, type Server } from 'node:https';
import { type AddressInfo, createServer as createNetServer, connect as netConnect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { outcomeOf } from '../../test/helpers/errors.ts';
import { selfSignedCa } from '../../test/helpers/pki.ts';
import { SIGNER_CONTROL_PLANE_SERVING } from '../api/certificates.ts';
import type { SignRequest } from '../api/signer.ts';
import { REAL_CLOCK } from '../base/clock.ts';
import { isTlsbootError } from '../base/errors.ts';
import { issueLeaf, issueSelfSignedCa } from '../kubeadm/control-plane-certs.ts';
import { readSignedCrl } from '../pki/crl.ts';
import {
  certificateToPem,
  createCsr,
  generatePrivateKey,
  issueCertificate,
  type KeyUsage,
  parseCsr,
  privateKeyToPem,
  spkiOf,
  verifyChain,
} from '../pki/index.ts';
import { MemoryAuditLog } from '../signer/audit.ts';
import { RemoteBackend } from '../signer/remote-backend.ts';
import { formatGrantCredential, parseGrantCredential } from '../signer/remote-protocol.ts';
import { SessionSigner } from '../signer/session-signer.ts';
import { adminRequest } from './remote-admin.ts';
import { type RemoteSignerServer, startRemoteSigner } from './remote-signer-server.ts';
import { testRemoteSignerOptions } from './testing.ts';

const MIN = 60_000;
const ca = selfSignedCa();
const KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';

function nodeRequest(n: number, cn = `system:node:n${n}`): SignRequest {
  const key = generatePrivateKey('ecdsa-p256');
  const subject = [
    { type: 'O', value: 'system:nodes' },
    { type: 'CN', value: cn },
  ] as const;
  const csr = parseCsr(createCsr({ key, subject: [...subject] }));
  return {
    signerName: KUBELET_CLIENT,
    subject: csr.subject.attributes,
    publicKey: csr.spki,
    sans: csr.sans,
    keyUsage: ['digitalSignature'],
    extKeyUsage: ['clientAuth'],
    csrDer: csr.der,
    usages: ['digital signature', 'client auth'],
    csrName: `csr-${n}`,
    csrUid: `uid-${n}-${cn}`,
    requester: 'system:bootstrap:abcdef',
  };
}

function customRequest(p: {
  n: number;
  signerName: string;
  subject: { type: string; value: string }[];
  dns?: string[];
  ip?: string[];
  usages: string[];
  extKeyUsage: ('clientAuth' | 'serverAuth')[];
}): SignRequest {
  const key = generatePrivateKey('ecdsa-p256');
  const csr = parseCsr(createCsr({ key, subject: p.subject, sans: { dns: p.dns ?? [], ip: p.ip ?? [], email: [], uri: [] } }));
  return {
    signerName: p.signerName,
    subject: csr.subject.attributes,
    publicKey: csr.spki,
    sans: csr.sans,
    keyUsage: ['digitalSignature'],
    extKeyUsage: p.extKeyUsage,
    csrDer: csr.der,
    usages: p.usages,
    csrName: `csr-${p.n}`,
    csrUid: `uid-custom-${p.n}`,
    requester: 'someone',
  };
}

const servingRequest = (n: number, dns: string[], ip: string[] = []) =>
  customRequest({
    n,
    signerName: 'kubernetes.io/kubelet-serving',
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:n${n}` },
    ],
    dns,
    ip,
    usages: ['digital signature', 'server auth'],
    extKeyUsage: ['serverAuth'],
  });

describe('remote signer', () => {
  const stateDir = mkdtempSync(join(tmpdir(), 'remote-signer-'));
  chmodSync(stateDir, 0o700);
  let remoteOffset = 0;
  let clusterOffset = 0;
  const remoteNow = () => new Date(Date.now() + remoteOffset);
  const clusterNow = () => new Date(Date.now() + clusterOffset);
  let remote: RemoteSignerServer;
  const audit = new MemoryAuditLog();
  let ids = 0;
  const cluster = new SessionSigner({
    backend: new RemoteBackend(ca.certificate, clusterNow, 2 * 60 * MIN),
    caCertificate: ca.certificate,
    audit,
    clock: { now: () => clusterNow().getTime(), setTimeout: (fn, ms, options) => REAL_CLOCK.setTimeout(fn, ms, options) },
    newId: () => `s${++ids}`,
  });
  const grant = async (body: Record<string, unknown>) =>
    String((await adminRequest(stateDir, 'POST', '/v1/grants', { ttlSeconds: 600, actor: 'ops', ...body })).credential);
  const open = (credential: string, ttlMs = 30 * MIN) => cluster.open({ secret: { credential }, ttlMs, actor: 'admin' });

  before(async () => {
    remote = await startRemoteSigner(
      testRemoteSignerOptions(ca, stateDir, { deniedSans: ['10.96.0.1', 'api.example.com'], now: remoteNow }),
    );
  });

  after(async () => {
    await cluster.close();
    await remote.close();
    rmSync(stateDir, { recursive: true, force: true });
  });

  test('signs under a grant; the certificate chains to the cluster CA; a retry returns the same one', async () => {
    const credential = await grant({ maxCertificates: 5 });
    const info = await open(credential);
    assert.ok(info.expiresAt <= parseGrantCredential(credential).expiresAt, 'the session ends with the grant at the latest');
    const request = nodeRequest(1);
    const first = await cluster.sign(request, clusterNow());
    verifyChain({ leaf: first.certificate, roots: [ca.certificate], now: new Date(), usage: 'clientAuth' });
    const again = await cluster.sign(request, clusterNow());
    assert.equal(again.certificate.serialNumber, first.certificate.serialNumber);
    const grants = await adminRequest(stateDir, 'GET', '/v1/grants');
    assert.equal((grants.grants as { signed: number }[])[0]?.signed, 1, 'a retry is not counted twice');
  });

  test('the signer applies its own policy: a kubelet CSR for another identity is refused (the CSR fails)', async () => {
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(2, 'system:admin'), clusterNow())), 'INVALID/REMOTE_REFUSED');
    const log = readFileSync(join(stateDir, 'audit.log'), 'utf8');
    assert.match(log, /"event":"certificate.refused".*"reason":"SIGNER_POLICY"/);
  });

  test('an expired grant stops issuance even when the cluster’s clock disagrees', async () => {
    remoteOffset = 11 * MIN;
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(3), clusterNow())), 'UNAVAILABLE/REMOTE_GRANT_REFUSED');
    remoteOffset = 0;
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(3), clusterNow())), 'ok');
    clusterOffset = 11 * MIN;
    assert.equal(
      await outcomeOf(cluster.sign(nodeRequest(4), clusterNow())),
      'UNAVAILABLE/SESSION_NONE',
      'the session ended with the grant',
    );
    assert.equal(cluster.status().last?.endReason, 'expired');
    clusterOffset = 0;
  });

  test('a revoked grant, a used-up grant, and a grant for other signers make CSRs wait', async () => {
    const narrow = await grant({ signerNames: ['kubernetes.io/kubelet-serving'] });
    await open(narrow);
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(5), clusterNow())), 'UNAVAILABLE/REMOTE_GRANT_REFUSED');
    await cluster.closeSession('admin');

    const one = await grant({ maxCertificates: 1 });
    await open(one);
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(6), clusterNow())), 'ok');
    // The cluster's session has no budget of its own here: the signer's grant is what runs out.
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(7), clusterNow())), 'UNAVAILABLE/REMOTE_GRANT_REFUSED');
    await cluster.closeSession('admin');

    const revoked = await grant({});
    await open(revoked);
    await adminRequest(stateDir, 'DELETE', `/v1/grants/${parseGrantCredential(revoked).id}`, undefined, 'ops');
    assert.equal(await outcomeOf(cluster.sign(nodeRequest(8), clusterNow())), 'UNAVAILABLE/REMOTE_GRANT_REFUSED');
    await cluster.closeSession('admin');
    const log = readFileSync(join(stateDir, 'audit.log'), 'utf8');
    for (const reason of ['GRANT_SIGNER', 'GRANT_EXHAUSTED', 'GRANT_REVOKED', 'GRANT_EXPIRED'])
      assert.match(log, new RegExp(`"reason":"${reason}"`));
    assert.match(log, /"event":"grant.revoked","actor":"ops"/);
  });

  test('the signer refuses admin identities, API-server and wildcard serving names; grants cover node signers unless told', async () => {
    const byDefault = parseGrantCredential(await grant({}));
    assert.deepEqual(byDefault.signerNames, ['kubernetes.io/kube-apiserver-client-kubelet', 'kubernetes.io/kubelet-serving']);
    await open(await grant({ signerNames: ['kubernetes.io/kube-apiserver-client', 'kubernetes.io/kubelet-serving'] }));
    const admin = (n: number, group: string) =>
      customRequest({
        n,
        signerName: 'kubernetes.io/kube-apiserver-client',
        subject: [
          { type: 'O', value: group },
          { type: 'CN', value: 'mallory' },
        ],
        usages: ['digital signature', 'client auth'],
        extKeyUsage: ['clientAuth'],
      });
    const results = {
      clusterAdmins: await outcomeOf(cluster.sign(admin(20, 'kubeadm:cluster-admins'), clusterNow())),
      masters: await outcomeOf(cluster.sign(admin(21, 'system:masters'), clusterNow())),
      ordinary: await outcomeOf(cluster.sign(admin(22, 'developers'), clusterNow())),
      wildcard: await outcomeOf(cluster.sign(servingRequest(23, ['*.example.com']), clusterNow())),
      apiName: await outcomeOf(cluster.sign(servingRequest(24, ['n24', 'kubernetes.default.svc']), clusterNow())),
      serviceIp: await outcomeOf(cluster.sign(servingRequest(25, ['n25'], ['10.96.0.1']), clusterNow())),
      deniedName: await outcomeOf(cluster.sign(servingRequest(26, ['api.example.com']), clusterNow())),
      deniedNameUpper: await outcomeOf(cluster.sign(servingRequest(28, ['API.Example.com.']), clusterNow())),
      apiNameUpper: await outcomeOf(cluster.sign(servingRequest(29, ['n29', 'Kubernetes.Default.svc']), clusterNow())),
      mappedIp: await outcomeOf(cluster.sign(servingRequest(30, ['n30'], ['::ffff:10.96.0.1']), clusterNow())),
      compatibleIp: await outcomeOf(cluster.sign(servingRequest(31, ['n31'], ['::10.96.0.1']), clusterNow())),
      node: await outcomeOf(cluster.sign(servingRequest(27, ['n27'], ['10.0.0.27']), clusterNow())),
    };
    assert.deepEqual(results, {
      clusterAdmins: 'INVALID/REMOTE_REFUSED',
      masters: 'INVALID/REMOTE_REFUSED',
      ordinary: 'ok',
      wildcard: 'INVALID/REMOTE_REFUSED',
      apiName: 'INVALID/REMOTE_REFUSED',
      serviceIp: 'INVALID/REMOTE_REFUSED',
      deniedName: 'INVALID/REMOTE_REFUSED',
      deniedNameUpper: 'INVALID/REMOTE_REFUSED',
      apiNameUpper: 'INVALID/REMOTE_REFUSED',
      mappedIp: 'INVALID/REMOTE_REFUSED',
      compatibleIp: 'INVALID/REMOTE_REFUSED',
      node: 'ok',
    });
    await cluster.closeSession('admin');
  });

  test("a joining control-plane node's API-server certificate: only under a grant that names its signer, reserved names and all", async () => {
    const apiserver = (n: number) =>
      customRequest({
        n,
        signerName: SIGNER_CONTROL_PLANE_SERVING,
        subject: [{ type: 'CN', value: 'kube-apiserver' }],
        dns: ['kubernetes.default.svc', 'api.example.com', 'cp2'],
        ip: ['10.96.0.1', '10.0.0.2'],
        usages: ['digital signature', 'server auth'],
        extKeyUsage: ['serverAuth'],
      });
    await open(await grant({}));
    assert.equal(
      await outcomeOf(cluster.sign(apiserver(40), clusterNow())),
      'UNAVAILABLE/REMOTE_GRANT_REFUSED',
      'not under the default grant',
    );
    await cluster.closeSession('admin');
    await open(await grant({ signerNames: [SIGNER_CONTROL_PLANE_SERVING], maxCertificates: 2 }));
    assert.equal(await outcomeOf(cluster.sign(apiserver(41), clusterNow())), 'ok');
    // Its policy still holds: a node subject under that signer is refused.
    const node = customRequest({
      n: 42,
      signerName: SIGNER_CONTROL_PLANE_SERVING,
      subject: [{ type: 'CN', value: 'system:node:n42' }],
      dns: ['n42'],
      usages: ['digital signature', 'server auth'],
      extKeyUsage: ['serverAuth'],
    });
    assert.equal(await outcomeOf(cluster.sign(node, clusterNow())), 'INVALID/REMOTE_REFUSED');
    await cluster.closeSession('admin');
  });

  test('CRLs are signed under any live grant, within bounds, and checked by the cluster against its CA', async () => {
    const content = (days: number) => {
      const thisUpdate = new Date(Math.floor(clusterNow().getTime() / 1000) * 1000);
      return {
        crlNumber: 7n,
        thisUpdate,
        nextUpdate: new Date(thisUpdate.getTime() + days * 86_400_000),
        entries: [{ serialNumber: '0a1b', revokedAt: thisUpdate, reasonCode: 1 }],
        distributionPoint: 'https://127.0.0.1:6443/crl/3.crl',
      };
    };
    await assert.rejects(cluster.signCrl(content(7), clusterNow()), (e: unknown) => isTlsbootError(e) && e.reason === 'SESSION_NONE');
    // A grant for one signer name and a budget of one: a CRL needs neither.
    await open(await grant({ signerNames: [SIGNER_CONTROL_PLANE_SERVING], maxCertificates: 1 }));
    const der = await cluster.signCrl(content(7), clusterNow());
    const times = readSignedCrl(der, ca.certificate);
    assert.equal(times?.nextUpdate.getTime(), content(7).nextUpdate.getTime());
    assert.equal(await outcomeOf(cluster.signCrl(content(30), clusterNow())), 'UNAVAILABLE/REMOTE_ERROR', 'past 10 days: refused');
    await cluster.closeSession('admin');
    assert.match(readFileSync(join(stateDir, 'audit.log'), 'utf8'), /"event":"crl.signed","actor":"grant:[^"]+".*"entries":1/);
  });

  test('the cluster’s lifetime limit travels with each request and bounds what comes back', async () => {
    await open(await grant({}));
    const signed = await cluster.sign(nodeRequest(30), clusterNow());
    assert.ok(signed.certificate.notAfter.getTime() <= clusterNow().getTime() + 2 * 60 * MIN, 'at most the cluster’s 2h');
    await cluster.closeSession('admin');
  });

  test('a retried CSR gets the same certificate under a new grant, after the budget ran out, and after a restart', async () => {
    const request = nodeRequest(40);
    await open(await grant({ maxCertificates: 1 }));
    const first = await cluster.sign(request, clusterNow());
    const again = await cluster.sign(request, clusterNow());
    assert.equal(again.certificate.serialNumber, first.certificate.serialNumber, 'the last certificate of a used-up grant is re-delivered');
    await cluster.closeSession('admin');
    const fresh = await grant({});
    await open(fresh);
    assert.equal((await cluster.sign(request, clusterNow())).certificate.serialNumber, first.certificate.serialNumber);
    await cluster.closeSession('admin');
    const port = Number(new URL(remote.url).port);
    await remote.close();
    remote = await startRemoteSigner(testRemoteSignerOptions(ca, stateDir, { port, now: remoteNow }));
    await open(fresh);
    assert.equal((await cluster.sign(request, clusterNow())).certificate.serialNumber, first.certificate.serialNumber, 'after a restart');
    const grants = (await adminRequest(stateDir, 'GET', '/v1/grants')).grants as { id: string; signed: number }[];
    assert.equal(grants.find((g) => g.id === parseGrantCredential(fresh).id)?.signed, 0, 'retries are not counted');
    await cluster.closeSession('admin');
  });

  test('closing a session while a signature is on the wire waits for it: the certificate is delivered, not lost', async () => {
    const remotePort = new URL(remote.url).port;
    // A slow link: the signer's answers arrive 400 ms late.
    const proxy = createNetServer((c) => {
      const upstream = netConnect(Number(remotePort), '127.0.0.1');
      c.pipe(upstream);
      upstream.on('data', (d: Buffer) => setTimeout(() => c.writable && c.write(d), 400));
      upstream.on('error', () => c.destroy());
      c.on('error', () => upstream.destroy());
      c.on('close', () => upstream.destroy());
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    try {
      const slow = (await grant({})).replace(`:${remotePort}`, `:${(proxy.address() as AddressInfo).port}`);
      await open(slow);
      const signing = outcomeOf(cluster.sign(nodeRequest(50), clusterNow()));
      await new Promise((r) => setTimeout(r, 150));
      await cluster.closeSession('admin');
      assert.equal(await signing, 'ok');
      assert.equal(cluster.status().last?.signed, 1, 'the closed session reports what it signed');
    } finally {
      await new Promise<void>((r) => proxy.close(() => r()));
    }
  });

  test('a peer without a grant certificate is refused before anything is read or logged', async () => {
    const before = readFileSync(join(stateDir, 'audit.log')).length;
    const status = await new Promise<number>((resolve, reject) => {
      const req = httpsRequest(`${remote.url}/v1/sign`, { method: 'POST', rejectUnauthorized: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      });
      req.on('error', reject);
      req.end(JSON.stringify({ signerName: 'x'.repeat(60_000) }));
    });
    assert.equal(status, 403);
    assert.equal(readFileSync(join(stateDir, 'audit.log')).length, before);
  });

  test('a forged grant (same id, certificate from another CA) opens nothing and is counted', async () => {
    const real = parseGrantCredential(await grant({}));
    const other = issueSelfSignedCa({
      commonName: 'mallory',
      dnsSans: [],
      keyAlgorithm: 'ecdsa-p256',
      validityMs: 60 * MIN,
      env: { now: new Date(), randomBytes },
    });
    const forgedCert = issueLeaf(
      {
        subject: [{ type: 'CN', value: `grant:${real.id}` }],
        sans: { dns: [], ip: [], email: [], uri: [] },
        extKeyUsage: ['clientAuth'],
        keyAlgorithm: 'ecdsa-p256',
        validityMs: 30 * MIN,
      },
      other,
      { now: new Date(), randomBytes },
    );
    const forged = formatGrantCredential({ ...real, clientCertificate: forgedCert.certificatePem, clientKey: forgedCert.keyPem });
    const before = cluster.status().failedUnlocks;
    assert.equal(await outcomeOf(open(forged)), 'FORBIDDEN/REMOTE_GRANT_REFUSED');
    assert.equal(cluster.status().current, undefined);
    assert.equal(cluster.status().failedUnlocks, before + 1);
  });

  test('grant credentials stay out of the signer’s state and audit files', async () => {
    const credential = parseGrantCredential(await grant({}));
    const body = credential.clientKey.split('\n')[1] ?? 'x';
    for (const f of ['grants.json', 'audit.log']) assert.ok(!readFileSync(join(stateDir, f), 'utf8').includes(body), f);
  });
});

describe('the remote signer trusts no grants file it cannot read as grants', () => {
  const grant = {
    id: 'g1',
    createdAt: '2026-12-01T10:00:00Z',
    createdBy: 'admin',
    expiresAt: '2026-12-01T11:00:00Z',
    signed: 0,
    clientCertificateSha256: 'ab'.repeat(32),
  };
  const { clientCertificateSha256: _, ...withoutHash } = grant;
  const cases: readonly (readonly [string, unknown, string])[] = [
    ['well-formed grants', { grants: [grant, { ...grant, id: 'g2', signerNames: [KUBELET_CLIENT], maxCertificates: 3 }] }, 'ok'],
    ['a grant without its client certificate hash', { grants: [grant, withoutHash] }, 'INVALID/GRANTS_FORMAT'],
    ['a signature count that is not a number', { grants: [{ ...grant, signed: '0' }] }, 'INVALID/GRANTS_FORMAT'],
    ['signer names that are not a list', { grants: [{ ...grant, signerNames: KUBELET_CLIENT }] }, 'INVALID/GRANTS_FORMAT'],
    ['no grants list', { grant }, 'INVALID/GRANTS_FORMAT'],
  ];
  for (const [what, file, outcome] of cases) {
    test(`${what}: ${outcome}`, async () => {
      const stateDir = mkdtempSync(join(tmpdir(), 'remote-signer-grants-'));
      chmodSync(stateDir, 0o700);
      writeFileSync(join(stateDir, 'grants.json'), JSON.stringify(file));
      const started = startRemoteSigner(
        testRemoteSignerOptions(ca, stateDir, { maxTtlMs: 60 * MIN, now: () => new Date('2026-12-01T10:30:00Z') }),
      );
      try {
        assert.equal(await outcomeOf(started), outcome);
      } finally {
        await started.then((s) => s.close()).catch(() => {});
        rmSync(stateDir, { recursive: true, force: true });
      }
    });
  }
});

describe('the cluster refuses what a malicious signer returns', () => {
  const transport = issueSelfSignedCa({
    commonName: 'transport',
    dnsSans: [],
    keyAlgorithm: 'ecdsa-p256',
    validityMs: 60 * MIN,
    env: { now: new Date(), randomBytes },
  });
  const env = { now: new Date(), randomBytes };
  const serving = issueLeaf(
    {
      subject: [{ type: 'CN', value: 'evil' }],
      sans: { dns: [], ip: ['127.0.0.1'], email: [], uri: [] },
      extKeyUsage: ['serverAuth'],
      keyAlgorithm: 'ecdsa-p256',
      validityMs: 60 * MIN,
    },
    transport,
    env,
  );
  const client = issueLeaf(
    {
      subject: [{ type: 'CN', value: 'grant:x' }],
      sans: { dns: [], ip: [], email: [], uri: [] },
      extKeyUsage: ['clientAuth'],
      keyAlgorithm: 'ecdsa-p256',
      validityMs: 60 * MIN,
    },
    transport,
    env,
  );
  let answer: (request: SignRequest) => string = () => '';
  let pending: SignRequest | undefined;
  let server: Server;
  let credential = '';

  before(async () => {
    server = createServer(
      { key: serving.keyPem, cert: serving.certificatePem, ca: transport.certificatePem, requestCert: true, rejectUnauthorized: true },
      (req, res) => {
        let body = '';
        req.on('data', (c: Buffer) => {
          body += c.toString();
        });
        req.on('end', () => {
          res.setHeader('content-type', 'application/json');
          if (req.url === '/v1/grant') return void res.end('{}');
          void body;
          res.end(JSON.stringify({ certificate: answer(pending as SignRequest) }));
        });
      },
    );
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    credential = formatGrantCredential({
      id: 'f'.repeat(32),
      server: `https://127.0.0.1:${(server.address() as AddressInfo).port}`,
      expiresAt: new Date(Date.now() + 60 * MIN),
      maxCertificates: undefined,
      signerNames: undefined,
      certificateAuthority: transport.certificatePem,
      clientCertificate: client.certificatePem,
      clientKey: privateKeyToPem(client.key),
    });
  });

  after(() => new Promise<void>((r) => server.close(() => r())));

  const issue = (r: SignRequest, p: { key?: Uint8Array; issuer?: typeof ca; dns?: string[]; isCa?: boolean; keyUsage?: KeyUsage[] }) =>
    certificateToPem(
      issueCertificate({
        subject: r.subject,
        publicKey: p.key ?? r.publicKey,
        sans: { ...r.sans, dns: p.dns ?? r.sans.dns },
        keyUsage: p.keyUsage ?? r.keyUsage,
        extKeyUsage: r.extKeyUsage,
        ...(p.isCa ? { ca: {} } : {}),
        notBefore: new Date(Date.now() - 5 * MIN),
        notAfter: new Date(Date.now() + 60 * MIN),
        issuer: { kind: 'ca', certificate: (p.issuer ?? ca).certificate, key: (p.issuer ?? ca).key },
        randomBytes,
      }),
    );

  test('wrong public key, wrong issuer, extra SANs, CA:TRUE: each refused as INVALID (the CSR fails)', async () => {
    const signer = new SessionSigner({
      backend: new RemoteBackend(ca.certificate, () => new Date()),
      caCertificate: ca.certificate,
      audit: new MemoryAuditLog(),
      clock: REAL_CLOCK,
      newId: () => 'evil-session',
    });
    await signer.open({ secret: { credential }, ttlMs: 10 * MIN, actor: 'admin' });
    const otherCa = selfSignedCa();
    const cases: [string, (r: SignRequest) => string][] = [
      ['honest', (r) => issue(r, {})],
      ['wrong key', (r) => issue(r, { key: spkiOf(generatePrivateKey('ecdsa-p256')) })],
      ['wrong issuer', (r) => issue(r, { issuer: otherCa })],
      ['extra SAN', (r) => issue(r, { dns: ['kubernetes.default'] })],
      ['CA:TRUE', (r) => issue(r, { isCa: true, keyUsage: ['digitalSignature', 'keyCertSign'] })],
      ['garbage', () => 'not a certificate'],
    ];
    const results: Record<string, string> = {};
    for (const [name, make] of cases) {
      const request = nodeRequest(100);
      pending = request;
      answer = make;
      results[name] = await outcomeOf(signer.sign(request, new Date()));
    }
    assert.deepEqual(results, {
      honest: 'ok',
      'wrong key': 'INVALID/REMOTE_CERT_MISMATCH',
      'wrong issuer': 'INVALID/REMOTE_CERT_MISMATCH',
      'extra SAN': 'INVALID/REMOTE_CERT_MISMATCH',
      'CA:TRUE': 'INVALID/REMOTE_CERT_MISMATCH',
      garbage: 'INVALID/REMOTE_CERT_MISMATCH',
    });
    await signer.close();
  });
});
