/**
 * The approver and signer controllers against an in-memory store with the API's strategies
 * (security.md §5 items 23-27 and 29): what is and is not auto-approved, signer policy failures,
 * requested extensions never reaching the certificate, lifetime clamping, one certificate per CSR.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID, sign } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  type ClusterClient,
  CONFIGMAPS,
  CSRS,
  ISSUED_CERTIFICATES,
  type KubeObject,
  NODE_CLIENT_CERTIFICATES,
  SECRETS,
  storeKeyOf,
} from '../src/api/cluster-client.ts';
import {
  csrCertificatePem,
  csrConditions,
  nodeNameProblem,
  prepareCsrCreate,
  reservedIdentities,
  type UserInfo,
} from '../src/api/index.ts';
import { parseServingPolicy } from '../src/api/serving-policy.ts';
import { InvalidError, isTlsbootError, UnavailableError } from '../src/base/errors.ts';
import { reconcileApproval } from '../src/controllers/approver.ts';
import type { CsrLister } from '../src/controllers/cluster.ts';
import { sweepIdentities } from '../src/controllers/identity-cleaner.ts';
import { IN_PROCESS_CONTROLLERS_USER } from '../src/controllers/manifests.ts';
import { reconcileServing } from '../src/controllers/serving-approver.ts';
import { reconcileSigning } from '../src/controllers/signer.ts';
import {
  contextTag,
  encodeBitString,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInt,
  encodeString,
  encodeTlv,
  encodeTrue,
  Tag,
} from '../src/pki/der.ts';
import { certificateToPem, createCsrPem, generatePrivateKey, parseCertificateBundle, spkiOf } from '../src/pki/index.ts';
import { Oid } from '../src/pki/oids.ts';
import { encodePem } from '../src/pki/pem.ts';
import type { IdentityCaches } from '../src/runtime/identity-caches.ts';
import { LocalSigner, type Signer } from '../src/signer/signer.ts';
import type { Store, StoredObject } from '../src/store/index.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { until } from './helpers/processes.ts';

const RBAC = 'rbac.authorization.k8s.io';
const bootstrapUser: UserInfo = {
  name: 'system:bootstrap:abc123',
  groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'],
};
const node = (n: string): UserInfo => ({ name: `system:node:${n}`, groups: ['system:nodes', 'system:authenticated'] });
const H = 3_600_000;

let store: Store;
let client: ClusterClient;
/** A person with cluster-admin, for what the controllers may not do (approve other signers). */
let admin: ClusterClient;
let cluster: InProcessCluster;
const CSR_RESOURCE = storeKeyOf(CSRS);
const NODE_CLIENT_RESOURCE = storeKeyOf(NODE_CLIENT_CERTIFICATES);
const ISSUED_STORE_KEY = storeKeyOf(ISSUED_CERTIFICATES);
async function mustGet(name: string): Promise<KubeObject> {
  const csr = await client.get(CSRS, '', name);
  assert.ok(csr, `CSR ${name} exists`);
  return csr;
}
/** The CSRs as the reconcilers' informer would hold them: read fresh before each reconcile (at()). */
const snapshot = new Map<string, KubeObject>();
const csrs: CsrLister = (name) => snapshot.get(name);
async function at(name: string): Promise<string> {
  const csr = await client.get(CSRS, '', name);
  if (csr) snapshot.set(name, csr);
  else snapshot.delete(name);
  return name;
}
let signer: LocalSigner;
let identity: IdentityCaches;
const now = () => new Date();
/** What the cluster's own servers present in these tests: never certified to a node. */
const RESERVED = reservedIdentities([
  {
    source: 'API server certificate (pki/apiserver.crt)',
    dns: ['api.example', 'cp-1', 'kubernetes', 'kubernetes.default', '*.apps.example'],
    ip: ['10.96.0.1', '192.168.0.10'],
  },
]);
const nodeNames = () => identity.nodeNames();
const claims = {
  claimAlone: <T>(name: string, fn: () => Promise<T>) => identity.claimAlone(name, fn),
  noteClaimed: (n: string) => identity.noteClaimed(n),
};
const context = () => identity.serving();

async function seedRbac(): Promise<void> {
  const role = (name: string, sub: string) => ({
    metadata: { name },
    rules: [{ apiGroups: ['certificates.k8s.io'], resources: [`certificatesigningrequests/${sub}`], verbs: ['create'] }],
  });
  const binding = (name: string, role: string, group: string) => ({
    metadata: { name },
    roleRef: { kind: 'ClusterRole', name: role },
    subjects: [{ kind: 'Group', name: group }],
  });
  await store.create({ resource: `${RBAC}/clusterroles`, namespace: '', name: 'nodeclient' }, role('nodeclient', 'nodeclient'));
  await store.create({ resource: `${RBAC}/clusterroles`, namespace: '', name: 'selfnodeclient' }, role('selfnodeclient', 'selfnodeclient'));
  await store.create(
    { resource: `${RBAC}/clusterrolebindings`, namespace: '', name: 'b1' },
    binding('b1', 'nodeclient', 'system:bootstrappers:kubeadm:default-node-token'),
  );
  await store.create(
    { resource: `${RBAC}/clusterrolebindings`, namespace: '', name: 'b2' },
    binding('b2', 'selfnodeclient', 'system:nodes'),
  );
}

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => RESERVED, dnsSuffixes: ['.nodes.example', '.example'], now });
  ({ store, client, admin, identity } = cluster);
  await seedRbac();
  const { certificate: ca, key: caKey } = selfSignedCa();
  signer = new LocalSigner({ caCertificate: ca, caKey, randomBytes, maxTtlMs: 24 * H });
});

after(async () => {
  await cluster.close();
});

let seq = 0;
async function submit(p: {
  user: UserInfo;
  cn: string;
  o?: string[];
  dns?: string[];
  ip?: string[];
  usages?: string[];
  signer?: string;
  expirationSeconds?: number;
  pem?: string;
}): Promise<string> {
  const name = `csr-${seq++}`;
  const pem =
    p.pem ??
    createCsrPem({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [...(p.o ?? ['system:nodes']).map((value) => ({ type: 'O', value })), { type: 'CN', value: p.cn }],
      sans: { dns: p.dns ?? [], ip: p.ip ?? [], email: [], uri: [] },
    });
  const obj = prepareCsrCreate(
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
      spec: {
        request: Buffer.from(pem).toString('base64'),
        signerName: p.signer ?? 'kubernetes.io/kube-apiserver-client-kubelet',
        usages: p.usages ?? ['digital signature', 'client auth'],
        ...(p.expirationSeconds === undefined ? {} : { expirationSeconds: p.expirationSeconds }),
      },
    },
    p.user,
  );
  await store.create({ resource: CSR_RESOURCE, namespace: '', name }, obj as StoredObject);
  return name;
}

async function conditionTypes(name: string): Promise<string[]> {
  return csrConditions(await mustGet(name)).map((c) => c.type);
}

async function approveByHand(name: string): Promise<void> {
  const csr = await mustGet(name);
  await admin.update(
    CSRS,
    { ...csr, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test', message: 'by hand' }] } },
    'approval',
  );
}

describe('approver', () => {
  test('approves a bootstrap node-client request and a node renewing its own name', async () => {
    const fresh = await submit({ user: bootstrapUser, cn: 'system:node:n1' });
    await reconcileApproval(await at(fresh), { client, csrs, now, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(fresh), ['Approved']);
    const renewal = await submit({ user: node('n2'), cn: 'system:node:n2' });
    await reconcileApproval(await at(renewal), { client, csrs, now, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(renewal), ['Approved']);
  });

  test('does not approve O=[system:nodes, system:masters], any SAN, or a renewal for another name', async () => {
    const masters = await submit({ user: bootstrapUser, cn: 'system:node:n3', o: ['system:nodes', 'system:masters'] });
    const withSan = await submit({ user: bootstrapUser, cn: 'system:node:n4', dns: ['n4.example'] });
    const otherName = await submit({ user: node('n5'), cn: 'system:node:n6' });
    for (const name of [masters, withSan, otherName]) {
      await reconcileApproval(await at(name), { client, csrs, now, nodeNames, ...claims });
      assert.deepEqual(await conditionTypes(name), [], name);
    }
  });
});

describe('re-registration guard', () => {
  test('a second bootstrap CSR for a registered node is withheld, even after a crash between the signer’s two writes', async () => {
    const first = await submit({ user: bootstrapUser, cn: 'system:node:r1' });
    await reconcileApproval(await at(first), { client, csrs, now, nodeNames, ...claims });
    // A crash after the inventory write and before the index write: the record exists, no index.
    const csr = await mustGet(first);
    const uid = String((csr.metadata as { uid: string }).uid);
    await client.create(ISSUED_CERTIFICATES, {
      metadata: { name: uid },
      csrName: first,
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      commonName: 'system:node:r1',
      serialNumber: 'abc123',
      notAfter: new Date(now().getTime() + 3_600_000).toISOString(),
      certificate: certificateToPem(signer.caCertificate.der),
    });
    await reconcileSigning(await at(first), { client, csrs, signer, now, nodeNames });
    const rebuilt = await store.get({ resource: NODE_CLIENT_RESOURCE, namespace: '', name: 'r1' });
    assert.equal(rebuilt.serialNumber, 'abc123', 'the retry restores the index from the inventory');

    const second = await submit({ user: bootstrapUser, cn: 'system:node:r1' });
    await reconcileApproval(await at(second), { client, csrs, now, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(second), ['AutoApprovalWithheld']);
    const other = await submit({ user: bootstrapUser, cn: 'system:node:r2' });
    await reconcileApproval(await at(other), { client, csrs, now, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(other), ['Approved']);
  });
});

describe('serving approver in dry-run mode', () => {
  test('records what it would do once, and neither approves nor denies', async () => {
    const name = await submit({
      user: node('n9'),
      cn: 'system:node:n9',
      dns: ['n9'],
      signer: 'kubernetes.io/kubelet-serving',
      usages: ['digital signature', 'server auth'],
    });
    const policy = parseServingPolicy({ dryRun: true, nodes: { n9: { ips: [] } } });
    await reconcileServing(await at(name), { client, csrs, policy, now, context });
    await reconcileServing(await at(name), { client, csrs, policy, now, context });
    const conditions = csrConditions(await mustGet(name));
    assert.deepEqual(
      conditions.map((c) => `${c.type}/${c.reason}`),
      ['ServingApprovalDryRun/WouldApprove'],
    );
  });
});

describe('serving approver with DNS resolution', () => {
  test('a transient DNS failure retries (no decision), and the next attempt approves', async () => {
    const name = await submit({
      user: node('n10'),
      cn: 'system:node:n10',
      dns: ['web.example'],
      signer: 'kubernetes.io/kubelet-serving',
      usages: ['digital signature', 'server auth'],
    });
    const policy = parseServingPolicy({ resolveDns: true, nodes: { n10: { ips: ['10.0.0.10'] } } });
    let attempts = 0;
    const resolve = async () => {
      attempts++;
      if (attempts === 1) throw Object.assign(new Error('try again'), { code: 'EAI_AGAIN' });
      return ['10.0.0.10'];
    };
    await assert.rejects(reconcileServing(await at(name), { client, csrs, policy, now, resolve, context }));
    assert.deepEqual(await conditionTypes(name), []);
    await reconcileServing(await at(name), { client, csrs, policy, now, resolve, context });
    assert.deepEqual(await conditionTypes(name), ['Approved']);
  });
});

describe('signer', () => {
  test('marks Failed, with the policy in the message, usages outside the signer’s set', async () => {
    const name = await submit({ user: bootstrapUser, cn: 'system:node:n7', usages: ['digital signature', 'client auth', 'server auth'] });
    await approveByHand(name);
    await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
    const csr = await mustGet(name);
    const failed = csrConditions(csr).find((c) => c.type === 'Failed');
    assert.equal(failed?.reason, 'SignerValidationFailure');
    assert.match(failed?.message ?? '', /usages must be exactly/);
    assert.equal(csrCertificatePem(csr), undefined);
  });

  test('requested CA:TRUE, keyCertSign and an unknown extension never reach the certificate', async () => {
    const key = generatePrivateKey('ecdsa-p256');
    const ext = (oid: string, value: Buffer, critical = false) =>
      critical
        ? encodeSequence(encodeOid(oid), encodeTrue(), encodeOctetString(value))
        : encodeSequence(encodeOid(oid), encodeOctetString(value));
    const attrs = encodeSequence(
      encodeOid(Oid.extensionRequest),
      encodeSetOf([
        encodeSequence(
          ext(Oid.basicConstraints, encodeSequence(encodeTrue()), true),
          ext(Oid.keyUsage, Buffer.from([3, 2, 1, 6]), true),
          ext('1.2.3.4', encodeSequence()),
        ),
      ]),
    );
    const subject = encodeSequence(encodeSetOf([encodeSequence(encodeOid('2.5.4.3'), encodeString(Tag.UTF8_STRING, 'mallory'))]));
    const cri = encodeSequence(encodeSmallInt(0), subject, spkiOf(key), encodeTlv(contextTag(0, true), [attrs]));
    const der = encodeSequence(
      cri,
      encodeSequence(encodeOid(Oid.ecdsaSha256)),
      encodeBitString(sign('sha256', cri, { key, dsaEncoding: 'der' })),
    );
    const name = await submit({
      user: node('x'),
      cn: 'mallory',
      signer: 'kubernetes.io/kube-apiserver-client',
      pem: encodePem('CERTIFICATE REQUEST', der),
    });
    await approveByHand(name);
    await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
    const [cert] = parseCertificateBundle(csrCertificatePem(await mustGet(name)) ?? '');
    assert.equal(cert?.basicConstraints?.ca, false);
    assert.deepEqual(cert?.keyUsage, ['digitalSignature']);
    assert.deepEqual(cert?.extKeyUsage, ['clientAuth']);
    assert.ok(!cert?.extensions.some((e) => e.oid === '1.2.3.4'));
  });

  test('a backend that cannot sign now leaves the CSR waiting; one that refuses (INVALID) fails it', async () => {
    const waitingName = await submit({ user: bootstrapUser, cn: 'system:node:n9' });
    await approveByHand(waitingName);
    const away: Signer = {
      caCertificate: signer.caCertificate,
      sign: async () => {
        throw new UnavailableError('SESSION_NONE', 'waiting for a signing session');
      },
      close: async () => {},
    };
    const result = await reconcileSigning(await at(waitingName), { client, csrs, signer: away, now, retryUnavailableMs: 1234, nodeNames });
    assert.deepEqual(result, { requeueAfterMs: 1234 });
    const waiting = await mustGet(waitingName);
    assert.equal(csrConditions(waiting).find((c) => c.type === 'SigningPending')?.message, 'waiting for a signing session');
    assert.equal(csrCertificatePem(waiting), undefined);
    await reconcileSigning(await at(waitingName), { client, csrs, signer, now, nodeNames });
    const signed = await mustGet(waitingName);
    assert.ok(csrCertificatePem(signed), 'signed once a signer is available');
    assert.deepEqual(
      csrConditions(signed).map((c) => c.type),
      ['Approved'],
      'the waiting condition is gone',
    );

    const refusedName = await submit({ user: bootstrapUser, cn: 'system:node:n10' });
    await approveByHand(refusedName);
    const refusing: Signer = {
      caCertificate: signer.caCertificate,
      sign: async () => {
        throw new InvalidError('REMOTE_CERT_MISMATCH', 'the remote signer returned a certificate with CA:TRUE; refused');
      },
      close: async () => {},
    };
    await reconcileSigning(await at(refusedName), { client, csrs, signer: refusing, now, nodeNames });
    const failed = await mustGet(refusedName);
    assert.equal(
      csrConditions(failed).find((c) => c.type === 'Failed')?.message,
      'the remote signer returned a certificate with CA:TRUE; refused',
    );
    assert.equal((await store.list(ISSUED_STORE_KEY)).items.filter((r) => r.csrName === refusedName).length, 0);
  });

  test('clamps a requested lifetime above the maximum, and signs each CSR once', async () => {
    const name = await submit({ user: bootstrapUser, cn: 'system:node:n8', expirationSeconds: 48 * 3600 });
    await approveByHand(name);
    await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
    await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
    const csr = await mustGet(name);
    const [cert] = parseCertificateBundle(csrCertificatePem(csr) ?? '');
    assert.ok(cert);
    assert.equal(cert.notAfter.getTime() - cert.notBefore.getTime(), 24 * H);
    const issued = (await store.list(ISSUED_STORE_KEY)).items.filter((r) => r.csrName === name);
    assert.equal(issued.length, 1);
  });
});

describe('identity rules in the controllers', () => {
  const serving = (n: string, sans: { dns?: string[]; ip?: string[] }) =>
    submit({
      user: node(n),
      cn: `system:node:${n}`,
      signer: 'kubernetes.io/kubelet-serving',
      usages: ['digital signature', 'server auth'],
      ...sans,
    });
  const reasonOf = async (name: string, type: string) => csrConditions(await mustGet(name)).find((c) => c.type === type)?.reason;
  const issued = async (name: string) => csrCertificatePem(await mustGet(name)) !== undefined;

  test('24 concurrent first requests for one new node name yield exactly one certificate; the others say why', async () => {
    const names = await Promise.all(Array.from({ length: 24 }, () => submit({ user: bootstrapUser, cn: 'system:node:storm-1' })));
    await Promise.all(names.map(async (n) => reconcileApproval(await at(n), { client, csrs, now, nodeNames, ...claims })));
    await Promise.all(names.map(async (n) => reconcileSigning(await at(n), { client, csrs, signer, now, nodeNames })));
    const withCertificate = (await Promise.all(names.map(issued))).filter(Boolean).length;
    assert.equal(withCertificate, 1);
    const withheld = await Promise.all(names.map((n) => reasonOf(n, 'AutoApprovalWithheld')));
    assert.equal(withheld.filter((r) => r === 'NodeNameClaimed').length, 23, JSON.stringify(withheld));
  });

  test('concurrent first requests for overlapping names (web and web.example) never both get approved', async () => {
    for (let round = 0; round < 5; round++) {
      const parent = `web${round}`;
      const names = await Promise.all([
        submit({ user: bootstrapUser, cn: `system:node:${parent}` }),
        submit({ user: bootstrapUser, cn: `system:node:${parent}.example` }),
        submit({ user: bootstrapUser, cn: `system:node:${parent}.rack.example` }),
      ]);
      await Promise.all(names.map(async (n) => reconcileApproval(await at(n), { client, csrs, now, nodeNames, ...claims })));
      const approved = (await Promise.all(names.map(conditionTypes))).filter((t) => t.includes('Approved'));
      assert.equal(approved.length, 1, `round ${round}`);
    }
  });

  test('a node renewing before half its certificate’s lifetime is withheld, not auto-approved; later it is approved', async () => {
    const first = await submit({ user: bootstrapUser, cn: 'system:node:renew-1' });
    await reconcileApproval(await at(first), { client, csrs, now, nodeNames, ...claims });
    await reconcileSigning(await at(first), { client, csrs, signer, now, nodeNames });
    const early = await submit({ user: node('renew-1'), cn: 'system:node:renew-1' });
    await reconcileApproval(await at(early), { client, csrs, now, nodeNames, ...claims });
    assert.equal(await reasonOf(early, 'AutoApprovalWithheld'), 'RenewalTooEarly');
    const onTime = await submit({ user: node('renew-1'), cn: 'system:node:renew-1' });
    await reconcileApproval(await at(onTime), { client, csrs, now: () => new Date(Date.now() + 18 * H), nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(onTime), ['Approved']);
  });

  test('the identity sweep deletes a dead claim, an expired registration and an expired address, and keeps live ones', async () => {
    const dead = await submit({ user: bootstrapUser, cn: 'system:node:squat-1' });
    await reconcileApproval(await at(dead), { client, csrs, now, nodeNames, ...claims });
    const csr = await mustGet(dead);
    await client.delete(CSRS, '', dead, String((csr.metadata as { resourceVersion: string }).resourceVersion));
    const live = await submit({ user: bootstrapUser, cn: 'system:node:live-1' });
    await reconcileApproval(await at(live), { client, csrs, now, nodeNames, ...claims });
    await reconcileSigning(await at(live), { client, csrs, signer, now, nodeNames });
    const deleted = await sweepIdentities(client, now());
    assert.ok(deleted.includes('tlsboot.io/nodenameclaims/squat-1'), JSON.stringify(deleted));
    assert.ok(!deleted.some((d) => d.endsWith('/live-1') || d.endsWith(':live-1')), JSON.stringify(deleted));
    // The index forgets the dead name: a node beneath it may join.
    await until('the index forgets squat-1', async () => (identity.nodes.has('squat-1') ? undefined : true), 5000);
    assert.equal(nodeNameProblem('squat-1.ec2.internal', identity.nodeNames(), true), undefined);
    const later = new Date(Date.now() + 25 * H);
    const expiredOnes = await sweepIdentities(client, later);
    assert.ok(expiredOnes.includes('tlsboot.io/nodeclientcertificates/live-1'), JSON.stringify(expiredOnes));
    assert.ok(expiredOnes.includes('tlsboot.io/nodenameclaims/live-1'), 'a claim whose certificate and registration expired');
  });

  test('a claim whose request is gone without a certificate is taken over by the next request', async () => {
    const first = await submit({ user: bootstrapUser, cn: 'system:node:claim-1' });
    await reconcileApproval(await at(first), { client, csrs, now, nodeNames, ...claims });
    const csr = await mustGet(first);
    await client.delete(CSRS, '', first, String((csr.metadata as { resourceVersion: string }).resourceVersion));
    const second = await submit({ user: bootstrapUser, cn: 'system:node:claim-1' });
    await reconcileApproval(await at(second), { client, csrs, now, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(second), ['Approved']);
  });

  test('a claim whose certificate expired no longer keeps the name, as an expired registration does not', async () => {
    const first = await submit({ user: bootstrapUser, cn: 'system:node:claim-2' });
    await reconcileApproval(await at(first), { client, csrs, now, nodeNames, ...claims });
    await reconcileSigning(await at(first), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(first), true);
    const second = await submit({ user: bootstrapUser, cn: 'system:node:claim-2' });
    const later = () => new Date(Date.now() + 25 * H);
    await reconcileApproval(await at(second), { client, csrs, now: later, nodeNames, ...claims });
    assert.deepEqual(await conditionTypes(second), ['Approved']);
    const holder = await store.get({ resource: 'tlsboot.io/nodenameclaims', namespace: '', name: 'claim-2' });
    assert.equal(holder.csrName, second);
  });

  test('the signer refuses reserved node names and reserved SANs whoever approved them', async () => {
    for (const cn of ['system:node:', 'system:node:Node-9', 'system:node:n\u0131', 'system:node:a_b']) {
      const name = await submit({ user: bootstrapUser, cn });
      await approveByHand(name);
      await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
      assert.equal(await reasonOf(name, 'Failed'), 'SignerValidationFailure', cn);
      assert.match(csrConditions(await mustGet(name)).find((c) => c.type === 'Failed')?.message ?? '', /node name/);
    }
    const cases = [
      await submit({ user: bootstrapUser, cn: 'system:node:cp-1' }),
      await serving('n20', { dns: ['API.example.'] }),
      await serving('n21', { ip: ['::ffff:10.96.0.1'] }),
      await serving('n22', { dns: ['n22', 'x.apps.example'] }),
      await serving('n23', { dns: ['n23', '*.example'] }),
      await serving('n24', { ip: ['64:ff9b::c0a8:a'] }),
      await serving('api', { dns: ['api.nodes.example'] }),
    ];
    for (const name of cases) {
      await approveByHand(name);
      await reconcileSigning(await at(name), { client, csrs, signer, now, nodeNames });
      assert.equal(await reasonOf(name, 'Failed'), 'IdentityRuleViolation', name);
      assert.equal(await issued(name), false, name);
    }
  });

  test('two nodes never hold serving certificates for one IP at once; the first holder keeps it until it expires', async () => {
    const a = await serving('addr-a', { ip: ['10.2.0.5'] });
    await approveByHand(a);
    await reconcileSigning(await at(a), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(a), true);
    const b = await serving('addr-b', { ip: ['::ffff:10.2.0.5'] });
    await approveByHand(b);
    await reconcileSigning(await at(b), { client, csrs, signer, now, nodeNames });
    assert.equal(await reasonOf(b, 'Failed'), 'AddressHeldByAnotherNode');
    const renewal = await serving('addr-a', { ip: ['10.2.0.5'] });
    await approveByHand(renewal);
    await reconcileSigning(await at(renewal), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(renewal), true, 'the holder renews its own address');
    const later = () => new Date(Date.now() + 25 * H);
    const c = await serving('addr-c', { ip: ['10.2.0.5'] });
    await approveByHand(c);
    await reconcileSigning(await at(c), { client, csrs, signer, now: later, nodeNames });
    assert.equal(await issued(c), true, 'once every certificate of the holder has expired, the address is free');

    const racers = await Promise.all(['race-1', 'race-2', 'race-3'].map((n) => serving(n, { ip: ['10.2.0.6'] })));
    for (const r of racers) await approveByHand(r);
    await Promise.all(racers.map(async (r) => reconcileSigning(await at(r), { client, csrs, signer, now, nodeNames })));
    assert.equal((await Promise.all(racers.map(issued))).filter(Boolean).length, 1);
  });

  test('one node holds at most 16 addresses in live serving certificates; renewing the ones it holds is fine', async () => {
    const ips = (from: number) => Array.from({ length: 10 }, (_, i) => `10.4.0.${from + i}`);
    const first = await serving('hoard', { ip: ips(1) });
    await approveByHand(first);
    await reconcileSigning(await at(first), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(first), true);
    const more = await serving('hoard', { ip: ips(11) });
    await approveByHand(more);
    await reconcileSigning(await at(more), { client, csrs, signer, now, nodeNames });
    assert.equal(await reasonOf(more, 'Failed'), 'TooManyAddresses');
    const again = await serving('hoard', { ip: ips(1).slice(0, 6) });
    await approveByHand(again);
    await reconcileSigning(await at(again), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(again), true, 'addresses it already holds do not count twice');
    const other = await serving('not-hoard', { ip: ['10.4.0.15'] });
    await approveByHand(other);
    await reconcileSigning(await at(other), { client, csrs, signer, now, nodeNames });
    assert.equal(await issued(other), true, 'the refused addresses were not claimed');
  });

  test('without a policy the serving approver denies what no policy could allow and withholds the rest', async () => {
    const reserved = await serving('n30', { dns: ['n30', 'kubernetes'] });
    const unknown = await serving('n31', { dns: ['n31'], ip: ['10.3.0.31'] });
    for (const name of [reserved, unknown]) await reconcileServing(await at(name), { client, csrs, policy: undefined, now, context });
    assert.equal(await reasonOf(reserved, 'Denied'), 'ReservedIdentity');
    assert.deepEqual(await conditionTypes(unknown), ['AutoApprovalWithheld']);
    assert.equal(await reasonOf(unknown, 'AutoApprovalWithheld'), 'NoServingPolicy');
  });
});

describe("the in-process controllers' identity", () => {
  test('holds only the printed RBAC: no Secrets outside kube-system, no ConfigMaps to write, no RBAC to change', async () => {
    const refused = async (what: string, op: () => Promise<unknown>) =>
      assert.equal(
        await op().then(
          () => 'allowed',
          (e: unknown) => (isTlsbootError(e) ? e.code : String(e)),
        ),
        'FORBIDDEN',
        what,
      );
    await refused('secrets in default', () => client.list(SECRETS, 'default'));
    await refused('a ConfigMap in kube-system', () =>
      client.create(CONFIGMAPS, { metadata: { name: 'x', namespace: 'kube-system' }, data: {} }),
    );
    await refused('cluster-info in kube-public deleted', () => client.delete(CONFIGMAPS, 'kube-public', 'cluster-info', '1'));
    assert.equal(
      await client.allowed({
        user: { name: IN_PROCESS_CONTROLLERS_USER, groups: [] },
        verb: 'create',
        apiGroup: 'rbac.authorization.k8s.io',
        resource: 'clusterrolebindings',
      }),
      false,
    );
  });
});
