/**
 * Approvals and denials through the API are audited with the requester of the update as the
 * actor, once stored; a refused update, a status update and the self-auditing controllers' own
 * updates record nothing.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject } from '../../test/helpers/pki.ts';
import type { AuditEvent } from '../api/audit.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
type Csr = { metadata: { name: string; uid: string; resourceVersion: string }; status?: unknown };

describe('the audit of approvals and denials through the API', () => {
  let api: TestApi;
  const events: AuditEvent[] = [];
  const log = { record: (e: AuditEvent) => void events.push(e), close() {} };
  before(async () => {
    api = await startTestApi({ audit: { log, selfAuditing: ['self-auditing'] } });
  });
  after(async () => {
    await api?.close();
  });

  const fresh = async (name: string): Promise<Csr> => {
    const r = await api.request(ADMIN_TOKEN, 'POST', CSRS, clientCsrObject(name));
    assert.equal(r.statusCode, 201, r.body);
    return r.json<Csr>();
  };
  const decide = (csr: Csr, type: 'Approved' | 'Denied', sub = 'approval') =>
    api.request(ADMIN_TOKEN, 'PUT', `${CSRS}/${csr.metadata.name}/${sub}`, {
      ...clientCsrObject(csr.metadata.name),
      ...csr,
      status: { conditions: [{ type, status: 'True', reason: 'ByHand', message: `${type} by the operator` }] },
    });

  test('an approval and a denial name the user, the CSR and why', async () => {
    const a = await fresh('audit-approved');
    const d = await fresh('audit-denied');
    assert.equal((await decide(a, 'Approved')).statusCode, 200);
    assert.equal((await decide(d, 'Denied')).statusCode, 200);
    assert.deepEqual(events, [
      {
        event: 'csr.approved',
        actor: 'admin',
        csr: 'audit-approved',
        csrUid: a.metadata.uid,
        signer: 'kubernetes.io/kube-apiserver-client',
        requester: 'admin',
        reason: 'ByHand',
        message: 'Approved by the operator',
      },
      {
        event: 'csr.denied',
        actor: 'admin',
        csr: 'audit-denied',
        csrUid: d.metadata.uid,
        signer: 'kubernetes.io/kube-apiserver-client',
        requester: 'admin',
        reason: 'ByHand',
        message: 'Denied by the operator',
      },
    ]);
  });

  test('a write that fails records nothing', async () => {
    const before = events.length;
    const c = await fresh('audit-conflict');
    assert.equal((await decide({ ...c, metadata: { ...c.metadata, resourceVersion: '1' } }, 'Approved')).statusCode, 409);
    assert.equal(events.length, before);
  });
});
