/**
 * The transactions API through the server (inject, real RBAC evaluation and the control plane's
 * admission): a CSR's approval, its certificate and the inventory record in one store write; each
 * write authorised and admitted as its own request would be; any refusal (RBAC, admission, a stale
 * resourceVersion, a malformed write) answers its error and changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject, selfSignedCa } from '../../test/helpers/pki.ts';
import type { PolicyRule } from '../api/index.ts';
import { certificateToPem } from '../pki/index.ts';
import { startTestApiWithRoles, type TestApi } from './testing.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const TRANSACTIONS = '/apis/tlsboot.io/v1alpha1/transactions';
const ISSUED = '/apis/tlsboot.io/v1alpha1/issuedcertificates';
const SIGNER = 'kubernetes.io/kube-apiserver-client';

const rule = (apiGroup: string, resources: string[], verbs: string[], resourceNames?: string[]): PolicyRule => ({
  apiGroups: [apiGroup],
  resources,
  verbs,
  ...(resourceNames ? { resourceNames } : {}),
});
const approve = rule('certificates.k8s.io', ['signers'], ['approve'], [SIGNER]);
const sign = rule('certificates.k8s.io', ['signers'], ['sign'], [SIGNER]);
const approval = rule('certificates.k8s.io', ['certificatesigningrequests/approval'], ['update']);
const status = rule('certificates.k8s.io', ['certificatesigningrequests/status'], ['update']);
const records = rule('tlsboot.io', ['issuedcertificates'], ['create']);
const transactions = rule('tlsboot.io', ['transactions'], ['create']);
const roles: Record<string, PolicyRule[]> = {
  issuer: [approve, sign, approval, status, records, transactions],
  'no-sign': [approve, approval, status, records, transactions],
  'no-records': [approve, sign, approval, status, transactions],
  'no-transactions': [approve, sign, approval, status, records],
};

type Condition = { type: string; status: string; reason?: string };
type Csr = {
  metadata: { name: string; uid: string; resourceVersion: string };
  status?: { conditions?: Condition[]; certificate?: string };
};

const CERT = Buffer.from(certificateToPem(selfSignedCa({ cn: 'issued' }).certificate.der)).toString('base64');

describe('transactions.tlsboot.io', () => {
  let api: TestApi;
  let n = 0;
  before(async () => {
    api = await startTestApiWithRoles(roles);
  });
  after(async () => {
    await api?.close();
  });

  const request: TestApi['request'] = (...args) => api.request(...args);
  const get = async (name: string) => (await request('admin', 'GET', `${CSRS}/${name}`)).json<Csr>();
  const fresh = async (): Promise<Csr> => {
    const r = await request('admin', 'POST', CSRS, clientCsrObject(`csr-${++n}`));
    assert.equal(r.statusCode, 201, r.body);
    return r.json<Csr>();
  };
  const approvalWrite = (csr: Csr) => ({
    verb: 'update',
    apiVersion: 'certificates.k8s.io/v1',
    resource: 'certificatesigningrequests',
    subresource: 'approval',
    name: csr.metadata.name,
    object: { ...csr, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved' }] } },
  });
  const statusWrite = (csr: Csr) => ({
    verb: 'update',
    apiVersion: 'certificates.k8s.io/v1',
    resource: 'certificatesigningrequests',
    subresource: 'status',
    name: csr.metadata.name,
    object: { ...csr, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'AutoApproved' }], certificate: CERT } },
  });
  const recordWrite = (csr: Csr) => ({
    verb: 'create',
    apiVersion: 'tlsboot.io/v1alpha1',
    resource: 'issuedcertificates',
    object: { metadata: { name: csr.metadata.uid }, csrName: csr.metadata.name, certificate: 'pem' },
  });
  const transaction = (token: string, writes: unknown[]) =>
    request(token, 'POST', TRANSACTIONS, { apiVersion: 'tlsboot.io/v1alpha1', kind: 'Transaction', spec: { writes } });
  const revision = () => api.store.revision();
  const unchanged = async (csr: Csr, rev: number) => {
    assert.equal(await revision(), rev, 'nothing was written');
    assert.deepEqual(await get(csr.metadata.name), await get(csr.metadata.name));
    assert.equal((await get(csr.metadata.name)).metadata.resourceVersion, csr.metadata.resourceVersion);
    assert.equal((await request('admin', 'GET', `${ISSUED}/${csr.metadata.uid}`)).statusCode, 404);
  };

  test('approval, certificate and record in one transaction: one store write each for the CSR and the record', async () => {
    const csr = await fresh();
    const before = await revision();
    const r = await transaction('issuer', [approvalWrite(csr), statusWrite(csr), recordWrite(csr)]);
    assert.equal(r.statusCode, 201, r.body);
    const body = r.json<{ kind: string; status: { objects: Csr[] } }>();
    assert.equal(body.kind, 'Transaction');
    assert.equal(body.status.objects.length, 3);
    assert.equal(await revision(), before + 2, 'the two updates of the CSR are one write');
    const stored = await get(csr.metadata.name);
    assert.deepEqual(
      (stored.status?.conditions ?? []).map((c) => c.type),
      ['Approved'],
    );
    assert.equal(stored.status?.certificate, CERT);
    assert.deepEqual(body.status.objects[1], stored);
    assert.equal((await request('admin', 'GET', `${ISSUED}/${csr.metadata.uid}`)).statusCode, 200);
  });

  test('a write admission refuses (a certificate without sign on the signer) fails the whole transaction', async () => {
    const csr = await fresh();
    const before = await revision();
    const r = await transaction('no-sign', [approvalWrite(csr), statusWrite(csr), recordWrite(csr)]);
    assert.equal(r.statusCode, 403, r.body);
    assert.match(r.json<{ message: string }>().message, /not permitted to sign/);
    await unchanged(csr, before);
  });

  test('RBAC applies to every write and to the transaction itself', async () => {
    const csr = await fresh();
    const before = await revision();
    const noRecords = await transaction('no-records', [approvalWrite(csr), statusWrite(csr), recordWrite(csr)]);
    assert.equal(noRecords.statusCode, 403, noRecords.body);
    assert.match(noRecords.json<{ message: string }>().message, /issuedcertificates/);
    const noTransactions = await transaction('no-transactions', [approvalWrite(csr)]);
    assert.equal(noTransactions.statusCode, 403, noTransactions.body);
    await unchanged(csr, before);
  });

  test('a stale resourceVersion is a conflict and changes nothing', async () => {
    const csr = await fresh();
    const stale = { ...csr, metadata: { ...csr.metadata, resourceVersion: '1' } };
    const before = await revision();
    const r = await transaction('issuer', [recordWrite(csr), approvalWrite(stale), statusWrite(stale)]);
    assert.equal(r.statusCode, 409, r.body);
    await unchanged(csr, before);
  });

  test('a record that exists already fails the transaction after the CSR writes were staged', async () => {
    const csr = await fresh();
    assert.equal(
      (await request('admin', 'POST', ISSUED, { ...recordWrite(csr).object, apiVersion: 'tlsboot.io/v1alpha1', kind: 'IssuedCertificate' }))
        .statusCode,
      201,
    );
    const before = await revision();
    const r = await transaction('issuer', [approvalWrite(csr), statusWrite(csr), recordWrite(csr)]);
    assert.equal(r.statusCode, 409, r.body);
    assert.equal(await revision(), before);
    assert.equal((await get(csr.metadata.name)).metadata.resourceVersion, csr.metadata.resourceVersion);
  });

  test('a dry run is refused rather than written for real', async () => {
    const csr = await fresh();
    const before = await revision();
    const r = await request('issuer', 'POST', `${TRANSACTIONS}?dryRun=All`, {
      apiVersion: 'tlsboot.io/v1alpha1',
      kind: 'Transaction',
      spec: { writes: [approvalWrite(csr), statusWrite(csr), recordWrite(csr)] },
    });
    assert.equal(r.statusCode, 400, r.body);
    assert.match(r.json<{ message: string }>().message, /dry run/);
    await unchanged(csr, before);
  });

  test('malformed transactions are 422 naming the write, and change nothing', async () => {
    const csr = await fresh();
    const before = await revision();
    const cases: [unknown[], RegExp][] = [
      [[], /spec\.writes/],
      [[{ ...approvalWrite(csr), verb: 'delete' }], /spec\.writes\[0\]\.verb/],
      [[approvalWrite(csr), { ...recordWrite(csr), resource: 'widgets' }], /spec\.writes\[1\]/],
      [
        [{ verb: 'create', apiVersion: 'authorization.k8s.io/v1', resource: 'subjectaccessreviews', object: { metadata: { name: 'x' } } }],
        /not a write this server stores/,
      ],
      [[{ ...recordWrite(csr), object: { metadata: { generateName: 'x-' } } }], /names its object/],
      [[{ ...recordWrite(csr), subresource: 'status' }], /subresource/],
      [[recordWrite(csr), recordWrite(csr)], /twice/],
      [[approvalWrite(csr), { ...approvalWrite(csr), name: undefined }], /spec\.writes\[1\]\.name/],
      [Array.from({ length: 17 }, () => approvalWrite(csr)), /1 to 16/],
    ];
    for (const [writes, message] of cases) {
      const r = await transaction('admin', writes);
      assert.equal(r.statusCode, 422, `${JSON.stringify(writes).slice(0, 200)}: ${r.body}`);
      assert.match(r.json<{ message: string }>().message, message);
    }
    await unchanged(csr, before);
  });
});

describe('transactions.tlsboot.io under the per-requester create rate', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApiWithRoles(roles, { limits: { createBurstPerUser: 2, createsPerSecondPerUser: 0.001 } });
  });
  after(async () => {
    await api?.close();
  });

  test('each create of a transaction counts against the requester, and a refused one writes nothing', async () => {
    const record = (name: string) => ({
      verb: 'create',
      apiVersion: 'tlsboot.io/v1alpha1',
      resource: 'issuedcertificates',
      object: { metadata: { name }, csrName: name, certificate: 'pem' },
    });
    const before = await api.store.revision();
    const r = await api.request('issuer', 'POST', TRANSACTIONS, {
      apiVersion: 'tlsboot.io/v1alpha1',
      kind: 'Transaction',
      spec: { writes: [record('r1'), record('r2'), record('r3')] },
    });
    assert.equal(r.statusCode, 429, r.body);
    assert.equal(await api.store.revision(), before, 'nothing was written');
  });
});
