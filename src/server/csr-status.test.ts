/**
 * The CSR status rules through the server (inject, real RBAC evaluation and the control plane's
 * admission): approval only through /approval and with `approve` on the signer; a certificate only
 * through /status and with `sign` on the signer; Approved and Denied exclusive; an approval
 * condition never removed; the certificate written once. A refused update changes nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject, selfSignedCa } from '../../test/helpers/pki.ts';
import type { PolicyRule } from '../api/index.ts';
import { certificateToPem } from '../pki/index.ts';
import { startTestApiWithRoles, type TestApi } from './testing.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const SIGNER = 'kubernetes.io/kube-apiserver-client';

const csrRule = (resources: string[], verbs: string[]): PolicyRule => ({ apiGroups: ['certificates.k8s.io'], resources, verbs });
const signerRule = (verb: string): PolicyRule => ({
  apiGroups: ['certificates.k8s.io'],
  resources: ['signers'],
  resourceNames: [SIGNER],
  verbs: [verb],
});
const roles: Record<string, PolicyRule[]> = {
  approver: [csrRule(['certificatesigningrequests/approval'], ['update']), signerRule('approve')],
  'approval-writer': [csrRule(['certificatesigningrequests/approval'], ['update'])],
  signer: [csrRule(['certificatesigningrequests/status'], ['update']), signerRule('sign')],
  'status-writer': [csrRule(['certificatesigningrequests/status'], ['update'])],
  writer: [csrRule(['certificatesigningrequests'], ['update'])],
};

type Condition = { type: string; status: string; reason?: string };
type Csr = { metadata: { name: string; resourceVersion: string }; status?: { conditions?: Condition[]; certificate?: string } };

const CERT = Buffer.from(certificateToPem(selfSignedCa({ cn: 'issued' }).certificate.der)).toString('base64');
const OTHER_CERT = Buffer.from(certificateToPem(selfSignedCa({ cn: 'other' }).certificate.der)).toString('base64');
const approved: Condition = { type: 'Approved', status: 'True', reason: 'Test' };
const denied: Condition = { type: 'Denied', status: 'True', reason: 'Test' };

describe('CSR status rules through /approval and /status', () => {
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
  /** PUTs `csr` with `status` to `sub` ('' for the object itself) as `token`. */
  const put = (token: string, csr: Csr, sub: '' | 'approval' | 'status', status: Csr['status']) =>
    request(token, 'PUT', `${CSRS}/${csr.metadata.name}${sub ? `/${sub}` : ''}`, { ...clientCsrObject(csr.metadata.name), ...csr, status });
  const types = (csr: Csr) => (csr.status?.conditions ?? []).map((c) => c.type);
  const reasonOf = (r: { json: <T>() => T }) => r.json<{ reason: string }>().reason;

  test('approval goes through /approval with approve on the signer; without it 403 and nothing changes', async () => {
    const csr = await fresh();
    const refused = await put('approval-writer', csr, 'approval', { conditions: [approved] });
    assert.equal(refused.statusCode, 403, refused.body);
    assert.deepEqual(types(await get(csr.metadata.name)), []);
    const r = await put('approver', csr, 'approval', { conditions: [approved] });
    assert.equal(r.statusCode, 200, r.body);
    assert.deepEqual(types(await get(csr.metadata.name)), ['Approved']);
  });

  test('an Approved condition sent to the object itself or to /status is not stored', async () => {
    const csr = await fresh();
    const main = await put('writer', csr, '', { conditions: [approved] });
    assert.equal(main.statusCode, 200, main.body);
    assert.deepEqual(types(await get(csr.metadata.name)), []);
    const status = await put('signer', await get(csr.metadata.name), 'status', { conditions: [approved] });
    assert.equal(status.statusCode, 200, status.body);
    assert.deepEqual(types(await get(csr.metadata.name)), []);
  });

  test('Approved and Denied are exclusive: together, or one added to the other, is 422 and changes nothing', async () => {
    const csr = await fresh();
    const both = await put('admin', csr, 'approval', { conditions: [approved, denied] });
    assert.equal(both.statusCode, 422, both.body);
    assert.equal(reasonOf(both), 'Invalid');
    assert.deepEqual(types(await get(csr.metadata.name)), []);
    assert.equal((await put('admin', csr, 'approval', { conditions: [denied] })).statusCode, 200);
    const late = await put('admin', await get(csr.metadata.name), 'approval', { conditions: [denied, approved] });
    assert.equal(late.statusCode, 422, late.body);
    assert.deepEqual(types(await get(csr.metadata.name)), ['Denied']);
  });

  test('an approval condition cannot be removed', async () => {
    const csr = await fresh();
    assert.equal((await put('admin', csr, 'approval', { conditions: [approved] })).statusCode, 200);
    const removed = await put('admin', await get(csr.metadata.name), 'approval', { conditions: [] });
    assert.equal(removed.statusCode, 422, removed.body);
    assert.deepEqual(types(await get(csr.metadata.name)), ['Approved']);
  });

  test('the certificate is set only through /status with sign on the signer, and only once', async () => {
    const csr = await fresh();
    assert.equal((await put('approver', csr, 'approval', { conditions: [approved] })).statusCode, 200);
    const viaMain = await put('writer', await get(csr.metadata.name), '', { conditions: [approved], certificate: CERT });
    assert.equal(viaMain.statusCode, 200, viaMain.body);
    const viaApproval = await put('approver', await get(csr.metadata.name), 'approval', { conditions: [approved], certificate: CERT });
    assert.equal(viaApproval.statusCode, 200, viaApproval.body);
    assert.equal((await get(csr.metadata.name)).status?.certificate, undefined, 'neither the object nor /approval sets it');
    const unsigned = await put('status-writer', await get(csr.metadata.name), 'status', { conditions: [approved], certificate: CERT });
    assert.equal(unsigned.statusCode, 403, unsigned.body);
    assert.equal((await get(csr.metadata.name)).status?.certificate, undefined);
    const signed = await put('signer', await get(csr.metadata.name), 'status', { conditions: [approved], certificate: CERT });
    assert.equal(signed.statusCode, 200, signed.body);
    assert.equal((await get(csr.metadata.name)).status?.certificate, CERT);
    const again = await put('signer', await get(csr.metadata.name), 'status', { conditions: [approved], certificate: OTHER_CERT });
    assert.equal(again.statusCode, 422, again.body);
    const cleared = await put('signer', await get(csr.metadata.name), 'status', { conditions: [approved] });
    assert.equal(cleared.statusCode, 422, cleared.body);
    assert.equal((await get(csr.metadata.name)).status?.certificate, CERT, 'the certificate is written once');
  });
});
