/**
 * Wire fidelity in process (Fastify inject): impersonation headers as lists, nullable fields,
 * kubectl's CSR table and kube-apiserver's Invalid Status bodies.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { clientCsrObject } from '../../test/helpers/pki.ts';
import { type AuthorizationAttributes, csrConditionSummary } from '../api/index.ts';
import { impersonate, impersonationHeaders } from './impersonation.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

const csr = (name: string): Record<string, unknown> => clientCsrObject(name);

describe('impersonation headers', () => {
  test('each header line is one group or extra value; extra keys are lower-cased and unescaped', () => {
    const h = impersonationHeaders([
      'Impersonate-User',
      'u',
      'Impersonate-Group',
      'g1',
      'Impersonate-Group',
      'a, b',
      'Impersonate-Extra-Scopes',
      'view',
      'impersonate-extra-scopes',
      'edit',
      'Impersonate-Extra-Example.com%2Fteam',
      'x',
      'Impersonate-Extra-Bad%zz',
      'y',
    ]);
    assert.deepEqual(h.groups, ['g1', 'a, b']);
    assert.deepEqual(Object.fromEntries(h.extra), { scopes: ['view', 'edit'], 'example.com/team': ['x'], 'bad%zz': ['y'] });
  });

  test('every group, the uid and every extra value is authorised with the impersonate verb', () => {
    const asked: AuthorizationAttributes[] = [];
    const user = impersonate(
      { name: 'admin', groups: ['system:masters'] },
      [
        'Impersonate-User',
        'u',
        'Impersonate-Group',
        'g1',
        'Impersonate-Group',
        'g2',
        'Impersonate-Uid',
        '42',
        'Impersonate-Extra-Scopes',
        'view',
      ],
      {
        authorize: (a) => {
          asked.push(a);
          return { allowed: true, reason: '' };
        },
      },
    );
    assert.deepEqual(user, { name: 'u', groups: ['g1', 'g2', 'system:authenticated'], uid: '42', extra: { scopes: ['view'] } });
    assert.deepEqual(
      asked.map((a) => ('resource' in a ? `${a.verb} ${a.apiGroup}/${a.resource}/${a.subresource ?? ''} ${a.name}` : '')),
      [
        'impersonate /users/ u',
        'impersonate /groups/ g1',
        'impersonate /groups/ g2',
        'impersonate authentication.k8s.io/uids/ 42',
        'impersonate authentication.k8s.io/userextras/scopes view',
      ],
    );
  });

  test('a service account is checked as serviceaccounts in its namespace and gets its groups; asked-for system:unauthenticated is kept alone', () => {
    const asked: AuthorizationAttributes[] = [];
    const yes = {
      authorize: (a: AuthorizationAttributes) => {
        asked.push(a);
        return { allowed: true, reason: '' };
      },
    };
    const base = { name: 'admin', groups: [] };
    const sa = impersonate(base, ['Impersonate-User', 'system:serviceaccount:kube-system:bot'], yes);
    assert.deepEqual(sa.groups, ['system:serviceaccounts', 'system:serviceaccounts:kube-system', 'system:authenticated']);
    assert.deepEqual(asked[0], {
      user: base,
      verb: 'impersonate',
      apiGroup: '',
      resource: 'serviceaccounts',
      namespace: 'kube-system',
      name: 'bot',
    });
    const unauth = impersonate(base, ['Impersonate-User', 'u', 'Impersonate-Group', 'system:unauthenticated'], yes);
    assert.deepEqual(unauth.groups, ['system:unauthenticated']);
    assert.equal(impersonate(base, ['Impersonate-User', ''], yes), base, 'an empty Impersonate-User is none');
  });

  test('an extra value that may not be impersonated is 403; two uids are 400', () => {
    const deny = {
      authorize: (a: AuthorizationAttributes) => ({ allowed: !('resource' in a && a.resource === 'userextras'), reason: '' }),
    };
    const base = { name: 'admin', groups: [] };
    assert.throws(() => impersonate(base, ['Impersonate-User', 'u', 'Impersonate-Extra-Scopes', 'view'], deny), { code: 'FORBIDDEN' });
    assert.throws(() => impersonate(base, ['Impersonate-User', 'u', 'Impersonate-Uid', '1', 'Impersonate-Uid', '2'], deny), {
      code: 'BAD_REQUEST',
    });
  });
});

describe("kubectl's CSR condition summary (printers.go extractCSRStatus)", () => {
  const withConditions = (types: string[], certificate = '') => ({
    status: { conditions: types.map((type) => ({ type, status: 'True' })), ...(certificate ? { certificate } : {}) },
  });
  const cert = Buffer.from('-----BEGIN CERTIFICATE-----\n').toString('base64');
  test('only Approved, Denied, Failed and a certificate count; Denied wins over Approved', () => {
    assert.equal(csrConditionSummary({}), 'Pending');
    assert.equal(csrConditionSummary(withConditions(['AutoApprovalWithheld'])), 'Pending');
    assert.equal(csrConditionSummary(withConditions(['Approved'])), 'Approved');
    assert.equal(csrConditionSummary(withConditions(['AutoApprovalWithheld', 'Approved'], cert)), 'Approved,Issued');
    assert.equal(csrConditionSummary(withConditions(['Denied'])), 'Denied');
    assert.equal(csrConditionSummary(withConditions(['Approved', 'Denied'])), 'Denied');
    assert.equal(csrConditionSummary(withConditions(['Approved', 'Failed'])), 'Approved,Failed');
    assert.equal(csrConditionSummary(withConditions(['Failed'])), 'Pending,Failed');
  });
});

describe('wire fidelity over HTTP', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
    await api.server.app.ready();
  });
  after(async () => {
    await api?.close();
  });

  test('two Impersonate-Group header lines are two groups (one of them system:masters, so the create is allowed)', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: CSRS,
      headers: { ...admin, 'impersonate-user': 'u', 'impersonate-group': ['system:masters', 'g2'] },
      payload: csr('two-groups'),
    });
    assert.equal(res.statusCode, 201, res.body);
    assert.deepEqual(res.json<{ spec: { groups: string[] } }>().spec.groups, ['system:masters', 'g2', 'system:authenticated']);
  });

  test('a JSON null is an absent field: approval with lastTransitionTime null (kubectl 1.20) and null metadata fields', async () => {
    const created = await api.server.app.inject({ method: 'POST', url: CSRS, headers: admin, payload: { ...csr('nulls'), status: null } });
    assert.equal(created.statusCode, 201, created.body);
    const obj = created.json<Record<string, unknown> & { metadata: Record<string, unknown> }>();
    const approved = await api.server.app.inject({
      method: 'PUT',
      url: `${CSRS}/nulls/approval`,
      headers: admin,
      payload: {
        ...obj,
        metadata: { ...obj.metadata, labels: null, annotations: null, deletionTimestamp: null },
        status: {
          conditions: [
            { type: 'Approved', status: 'True', reason: 'KubectlApprove', message: 'm', lastUpdateTime: null, lastTransitionTime: null },
          ],
          certificate: null,
        },
      },
    });
    assert.equal(approved.statusCode, 200, approved.body);
    const condition = approved.json<{ status: { conditions: Record<string, unknown>[] } }>().status.conditions[0];
    assert.equal(condition?.lastTransitionTime, '2026-06-01T00:00:00Z');
    assert.equal(condition?.lastUpdateTime, '2026-06-01T00:00:00Z');
  });

  test("the CSR Table has kubectl's columns, and a withheld CSR's CONDITION is Pending", async () => {
    assert.equal((await api.server.app.inject({ method: 'POST', url: CSRS, headers: admin, payload: csr('withheld') })).statusCode, 201);
    const current = (await api.server.app.inject({ method: 'GET', url: `${CSRS}/withheld`, headers: admin })).json<
      Record<string, unknown>
    >();
    const withheld = await api.server.app.inject({
      method: 'PUT',
      url: `${CSRS}/withheld/status`,
      headers: admin,
      payload: { ...current, status: { conditions: [{ type: 'AutoApprovalWithheld', status: 'True', reason: 'Policy', message: 'm' }] } },
    });
    assert.equal(withheld.statusCode, 200, withheld.body);
    const table = await api.server.app.inject({
      method: 'GET',
      url: CSRS,
      headers: { ...admin, accept: 'application/json;as=Table;g=meta.k8s.io;v=v1' },
    });
    const body = table.json<{ columnDefinitions: { name: string; type: string }[]; rows: { cells: unknown[] }[] }>();
    assert.deepEqual(
      body.columnDefinitions.map((c) => `${c.name}:${c.type}`),
      ['Name:string', 'Age:string', 'SignerName:string', 'Requestor:string', 'RequestedDuration:string', 'Condition:string'],
    );
    const row = body.rows.find((r) => r.cells[0] === 'withheld');
    assert.deepEqual(row?.cells.slice(2), ['kubernetes.io/kube-apiserver-client', 'admin', '<none>', 'Pending']);
  });

  test("an invalid object's Status is NewInvalid's: Kind, group, the body's name on create, causes without the field path", async () => {
    const bad = csr('bad-signer');
    const res = await api.server.app.inject({
      method: 'POST',
      url: CSRS,
      headers: admin,
      payload: { ...bad, spec: { ...(bad.spec as Record<string, unknown>), signerName: 'nodomain' } },
    });
    assert.equal(res.statusCode, 422, res.body);
    const status = res.json<{ message: string; reason: string; details: Record<string, unknown> }>();
    assert.equal(status.reason, 'Invalid');
    const detail = `Invalid value: "nodomain": must be a fully qualified domain and path of the form 'example.com/signer-name'`;
    assert.equal(status.message, `CertificateSigningRequest.certificates.k8s.io "bad-signer" is invalid: spec.signerName: ${detail}`);
    assert.deepEqual(status.details, {
      name: 'bad-signer',
      group: 'certificates.k8s.io',
      kind: 'CertificateSigningRequest',
      causes: [{ reason: 'FieldValueInvalid', message: detail, field: 'spec.signerName' }],
    });
  });

  test('a core-group Invalid names the bare Kind; NotFound keeps the resource', async () => {
    const res = await api.server.app.inject({
      method: 'POST',
      url: '/api/v1/namespaces/kube-system/secrets',
      headers: admin,
      payload: { apiVersion: 'v1', kind: 'Secret', metadata: { name: 'bad-key' }, data: { 'a/b': '' } },
    });
    assert.equal(res.statusCode, 422, res.body);
    const status = res.json<{
      message: string;
      details: { kind: string; group: string; name: string; causes: { reason: string; message: string; field: string }[] };
    }>();
    assert.match(status.message, /^Secret "bad-key" is invalid: data\[a\/b\]: Invalid value: /);
    assert.equal(status.details.kind, 'Secret');
    assert.equal('group' in status.details, false, "the core group's '' is omitted, as omitempty does");
    const cause = status.details.causes[0];
    assert.ok(cause && !cause.message.startsWith(`${cause.field}:`), JSON.stringify(cause));
    const missing = await api.server.app.inject({ method: 'GET', url: `${CSRS}/absent`, headers: admin });
    assert.equal(missing.json<{ details: { kind: string } }>().details.kind, 'certificatesigningrequests');
  });

  test('dryRun=All on update, patch and delete answers as a write would and changes nothing; dryRun=true is a 400', async () => {
    const CMS = '/api/v1/namespaces/default/configmaps';
    const inject = (method: 'POST' | 'PUT' | 'PATCH' | 'DELETE' | 'GET', url: string, payload?: Record<string, unknown>) =>
      api.server.app.inject({
        method,
        url,
        headers: { ...admin, ...(method === 'PATCH' ? { 'content-type': 'application/merge-patch+json' } : {}) },
        ...(payload ? { payload } : {}),
      });
    const created = await inject('POST', CMS, { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'dry' }, data: { a: '1' } });
    assert.equal(created.statusCode, 201, created.body);
    const rv = created.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
    const put = await inject('PUT', `${CMS}/dry?dryRun=All`, { ...created.json(), data: { a: '2' } });
    assert.equal(put.statusCode, 200, put.body);
    assert.deepEqual(put.json<{ data: unknown }>().data, { a: '2' });
    const patched = await inject('PATCH', `${CMS}/dry?dryRun=All`, { data: { a: '3' } });
    assert.deepEqual(patched.json<{ data: unknown }>().data, { a: '3' });
    assert.equal((await inject('DELETE', `${CMS}/dry?dryRun=All`)).statusCode, 200);
    const after = await inject('GET', `${CMS}/dry`);
    assert.equal(after.statusCode, 200, 'still there after a dry-run delete');
    assert.deepEqual(after.json<{ data: unknown; metadata: { resourceVersion: string } }>().data, { a: '1' });
    assert.equal(after.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion, rv);
    assert.equal((await inject('PATCH', `${CMS}/dry?dryRun=true`, { data: { a: '4' } })).statusCode, 400);
  });
});
