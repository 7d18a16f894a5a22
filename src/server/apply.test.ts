/**
 * Server-side apply in process: ownership recorded in managedFields, conflicts answered as
 * kube-apiserver answers them, force, release of fields an applier stops sending, create by apply,
 * Update entries for ordinary writes, the CSR subresource rules, and YAML that is not JSON refused.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { createCsrPem, generatePrivateKey } from '../pki/index.ts';
import { StaticTokens } from './authn.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const PATCHER_TOKEN = 'patcher-token-0123456789';
const CM = '/api/v1/namespaces/default/configmaps';
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

interface Entry {
  manager: string;
  operation: string;
  apiVersion: string;
  time?: string;
  fieldsType: string;
  fieldsV1: Record<string, unknown>;
}
interface Obj {
  metadata: { managedFields?: Entry[]; labels?: Record<string, string> };
  data?: Record<string, string>;
  status?: { conditions?: { type: string }[] };
}
interface Status {
  code: number;
  reason: string;
  message: string;
  details?: { group?: string; kind?: string; causes?: { reason: string; message: string; field: string }[] };
}

describe('server-side apply', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({
      staticTokens: StaticTokens.parse(`${ADMIN_TOKEN},admin,1,"system:masters"\n${PATCHER_TOKEN},patcher,2,"patchers"`, 'tokens.csv'),
      authorizer: {
        authorize: (a) => ({
          allowed: a.user.groups.includes('system:masters') || ('resource' in a && a.verb === 'patch' && a.resource === 'configmaps'),
          reason: 'test',
        }),
      },
    });
  });
  after(async () => {
    await api?.close();
  });

  const apply = (url: string, manager: string | undefined, body: string, extra = '') =>
    api.server.app.inject({
      method: 'PATCH',
      url: `${url}?${manager === undefined ? '' : `fieldManager=${manager}`}${extra}`,
      headers: { ...admin, 'content-type': 'application/apply-patch+yaml' },
      payload: body,
    });
  const cm = (name: string, data: Record<string, string>, labels: Record<string, string> = {}) =>
    JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, labels }, data });
  const entries = (o: Obj) => o.metadata.managedFields ?? [];
  const byManager = (o: Obj, m: string) => entries(o).find((e) => e.manager === m);

  test('apply to a missing object creates it (201) and records an Apply entry of its leaves', async () => {
    const res = await apply(
      `${CM}/created`,
      'alice',
      'apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: created\n  labels: {app: x}\ndata:\n  a: "1"\n',
    );
    assert.equal(res.statusCode, 201, res.body);
    const obj = res.json<Obj>();
    assert.deepEqual(obj.data, { a: '1' });
    assert.deepEqual(entries(obj), [
      {
        manager: 'alice',
        operation: 'Apply',
        apiVersion: 'v1',
        time: '2026-06-01T00:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { 'f:a': {} }, 'f:metadata': { 'f:labels': { 'f:app': {} } } },
      },
    ]);
    const got = await api.server.app.inject({ method: 'GET', url: `${CM}/created`, headers: admin });
    assert.deepEqual(entries(got.json<Obj>()), entries(obj), 'a GET shows the managedFields');
    const again = await apply(`${CM}/created`, 'alice', cm('created', { a: '2' }, { app: 'x' }));
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json<Obj>().data?.a, '2');
  });

  test('an apply that creates needs the create verb; one that updates needs only patch', async () => {
    const asPatcher = (name: string) =>
      api.server.app.inject({
        method: 'PATCH',
        url: `${CM}/${name}?fieldManager=patcher`,
        headers: { authorization: `Bearer ${PATCHER_TOKEN}`, 'content-type': 'application/apply-patch+yaml' },
        payload: cm(name, { a: 'patcher' }),
      });
    const refused = await asPatcher('not-yet');
    assert.equal(refused.statusCode, 403, refused.body);
    assert.match(refused.json<Status>().message, /cannot create resource "configmaps"/);
    assert.equal((await api.server.app.inject({ method: 'GET', url: `${CM}/not-yet`, headers: admin })).statusCode, 404);
    assert.equal((await apply(`${CM}/exists`, 'alice', cm('exists', { b: '1' }))).statusCode, 201);
    const updated = await asPatcher('exists');
    assert.equal(updated.statusCode, 200, updated.body);
    assert.deepEqual(updated.json<Obj>().data, { a: 'patcher', b: '1' });
  });

  test('a field another applier owns with another value is a 409 naming manager and field; the same value is shared', async () => {
    assert.equal((await apply(`${CM}/shared`, 'alice', cm('shared', { a: '1', b: '1' }))).statusCode, 201);
    const res = await apply(`${CM}/shared`, 'bob', cm('shared', { a: '2' }));
    assert.equal(res.statusCode, 409, res.body);
    const status = res.json<Status>();
    assert.equal(status.reason, 'Conflict');
    assert.equal(status.message, 'Apply failed with 1 conflict: conflict with "alice": .data.a');
    assert.deepEqual(status.details, { causes: [{ reason: 'FieldManagerConflict', message: 'conflict with "alice"', field: '.data.a' }] });
    const two = await apply(`${CM}/shared`, 'bob', cm('shared', { a: '2', b: '2' }));
    assert.equal(two.statusCode, 409);
    assert.equal(two.json<Status>().message, 'Apply failed with 2 conflicts: conflicts with "alice":\n- .data.a\n- .data.b');
    const same = await apply(`${CM}/shared`, 'bob', cm('shared', { a: '1' }));
    assert.equal(same.statusCode, 200, same.body);
    assert.deepEqual(byManager(same.json<Obj>(), 'alice')?.fieldsV1, { 'f:data': { 'f:a': {}, 'f:b': {} } });
    assert.deepEqual(byManager(same.json<Obj>(), 'bob')?.fieldsV1, { 'f:data': { 'f:a': {} } });
  });

  test('force=true takes the field from its owner', async () => {
    assert.equal((await apply(`${CM}/forced`, 'alice', cm('forced', { a: '1', b: '1' }))).statusCode, 201);
    const res = await apply(`${CM}/forced`, 'bob', cm('forced', { a: '2' }), '&force=true');
    assert.equal(res.statusCode, 200, res.body);
    const obj = res.json<Obj>();
    assert.deepEqual(obj.data, { a: '2', b: '1' });
    assert.deepEqual(byManager(obj, 'alice')?.fieldsV1, { 'f:data': { 'f:b': {} } });
    assert.deepEqual(byManager(obj, 'bob')?.fieldsV1, { 'f:data': { 'f:a': {} } });
  });

  test('a field the applier stops sending is removed, unless another manager owns it too', async () => {
    assert.equal(
      (await apply(`${CM}/released`, 'alice', cm('released', { a: '1', b: '1', c: '1' }, { keep: 'y', drop: 'y' }))).statusCode,
      201,
    );
    assert.equal((await apply(`${CM}/released`, 'bob', cm('released', { c: '1' }))).statusCode, 200);
    const res = await apply(`${CM}/released`, 'alice', cm('released', { a: '1' }, { keep: 'y' }));
    assert.equal(res.statusCode, 200, res.body);
    const obj = res.json<Obj>();
    assert.deepEqual(obj.data, { a: '1', c: '1' }, 'b is gone, c stays: bob owns it');
    assert.deepEqual(obj.metadata.labels, { keep: 'y' });
  });

  test('keyed lists (ownerReferences by uid, finalizers as a set) merge item by item; other lists are replaced whole', async () => {
    const owner = (uid: string) => ({ apiVersion: 'v1', kind: 'Secret', name: `s-${uid}`, uid });
    const body = (refs: string[], finalizers: string[], data: Record<string, string>) =>
      JSON.stringify({
        apiVersion: 'v1',
        kind: 'ConfigMap',
        metadata: { name: 'keyed', ownerReferences: refs.map(owner), finalizers },
        data,
      });
    assert.equal((await apply(`${CM}/keyed`, 'alice', body(['u1'], ['example.com/a'], { a: '1' }))).statusCode, 201);
    const res = await apply(`${CM}/keyed`, 'bob', body(['u2'], ['example.com/b'], { b: '1' }));
    assert.equal(res.statusCode, 200, res.body);
    const obj = res.json<{ metadata: { ownerReferences: { uid: string }[]; finalizers: string[]; managedFields: Entry[] } }>();
    assert.deepEqual(
      obj.metadata.ownerReferences.map((r) => r.uid),
      ['u1', 'u2'],
    );
    assert.deepEqual(obj.metadata.finalizers, ['example.com/a', 'example.com/b']);
    const bob = obj.metadata.managedFields.find((e) => e.manager === 'bob');
    assert.deepEqual(bob?.fieldsV1, {
      'f:data': { 'f:b': {} },
      'f:metadata': {
        'f:finalizers': { 'v:"example.com/b"': {} },
        'f:ownerReferences': {
          'k:{"uid":"u2"}': { '.': {}, 'f:apiVersion': {}, 'f:kind': {}, 'f:name': {}, 'f:uid': {} },
        },
      },
    });
    const dropped = await apply(`${CM}/keyed`, 'alice', body([], [], { a: '1' }));
    assert.equal(dropped.statusCode, 200, dropped.body);
    const after = dropped.json<{ metadata: { ownerReferences: { uid: string }[]; finalizers: string[] } }>();
    assert.deepEqual(
      after.metadata.ownerReferences.map((r) => r.uid),
      ['u2'],
      'alice released her item only',
    );
    assert.deepEqual(after.metadata.finalizers, ['example.com/b']);
    const ROLES = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles';
    const role = (verbs: string[]) =>
      JSON.stringify({
        apiVersion: 'rbac.authorization.k8s.io/v1',
        kind: 'Role',
        metadata: { name: 'atomic' },
        rules: [{ apiGroups: [''], resources: ['configmaps'], verbs }],
      });
    const first = await apply(`${ROLES}/atomic`, 'alice', role(['get']));
    assert.equal(first.statusCode, 201, first.body);
    assert.deepEqual(first.json<Obj>().metadata.managedFields?.[0]?.fieldsV1, { 'f:rules': {} }, 'RBAC rules are one atomic field');
    const other = await apply(`${ROLES}/atomic`, 'bob', role(['list']));
    assert.equal(other.statusCode, 409, other.body);
    assert.equal(other.json<Status>().message, 'Apply failed with 1 conflict: conflict with "alice": .rules');
    const forced = await apply(`${ROLES}/atomic`, 'bob', role(['list']), '&force=true');
    assert.deepEqual(forced.json<{ rules: { verbs: string[] }[] }>().rules, [
      { apiGroups: [''], resources: ['configmaps'], verbs: ['list'] },
    ]);
  });

  test('ordinary writes record Update entries; applying over them conflicts with "mgr" using v1', async () => {
    const created = await api.server.app.inject({
      method: 'POST',
      url: `${CM}?fieldManager=kubectl-create`,
      headers: admin,
      payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'updated' }, data: { a: '1' } },
    });
    assert.equal(created.statusCode, 201, created.body);
    assert.deepEqual(entries(created.json<Obj>()), [
      {
        manager: 'kubectl-create',
        operation: 'Update',
        apiVersion: 'v1',
        time: '2026-06-01T00:00:00Z',
        fieldsType: 'FieldsV1',
        fieldsV1: { 'f:data': { '.': {}, 'f:a': {} } },
      },
    ]);
    const patched = await api.server.app.inject({
      method: 'PATCH',
      url: `${CM}/updated`,
      headers: { ...admin, 'content-type': 'application/merge-patch+json', 'user-agent': 'kubectl/v1.33.0 (linux/amd64) kubernetes/abc' },
      payload: { data: { a: '2', b: '1' } },
    });
    assert.equal(patched.statusCode, 200, patched.body);
    assert.deepEqual(
      byManager(patched.json<Obj>(), 'kubectl')?.fieldsV1,
      { 'f:data': { 'f:a': {}, 'f:b': {} } },
      'named by the user agent',
    );
    assert.deepEqual(byManager(patched.json<Obj>(), 'kubectl-create')?.fieldsV1, { 'f:data': {} }, 'a now owns only the map');
    const res = await apply(`${CM}/updated`, 'gitops', cm('updated', { a: '3' }));
    assert.equal(res.statusCode, 409);
    assert.equal(res.json<Status>().message, 'Apply failed with 1 conflict: conflict with "kubectl" using v1: .data.a');
  });

  test("fieldManager is required for apply and force only for apply, with kube's PatchOptions Status", async () => {
    const res = await apply(`${CM}/nomanager`, undefined, cm('nomanager', { a: '1' }));
    assert.equal(res.statusCode, 422, res.body);
    const status = res.json<Status>();
    assert.equal(status.message, 'PatchOptions.meta.k8s.io "" is invalid: fieldManager: Required value: is required for apply patch');
    assert.deepEqual(status.details, {
      group: 'meta.k8s.io',
      kind: 'PatchOptions',
      causes: [{ reason: 'FieldValueRequired', message: 'Required value: is required for apply patch', field: 'fieldManager' }],
    });
    await apply(`${CM}/forceonly`, 'alice', cm('forceonly', { a: '1' }));
    const merge = await api.server.app.inject({
      method: 'PATCH',
      url: `${CM}/forceonly?force=true`,
      headers: { ...admin, 'content-type': 'application/merge-patch+json' },
      payload: { data: { a: '2' } },
    });
    assert.equal(merge.statusCode, 422, merge.body);
    assert.match(merge.json<Status>().message, /force: Forbidden: may not be specified for non-apply patch/);
  });

  test('a resourceVersion in the configuration is a precondition; managedFields in it are refused', async () => {
    const created = await apply(`${CM}/pinned`, 'alice', cm('pinned', { a: '1' }));
    assert.equal(created.statusCode, 201, created.body);
    const rv = created.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion;
    const body = (resourceVersion: string) =>
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pinned', resourceVersion }, data: { a: '2' } });
    assert.equal((await apply(`${CM}/pinned`, 'alice', body(rv))).statusCode, 200);
    const stale = await apply(`${CM}/pinned`, 'alice', body(rv));
    assert.equal(stale.statusCode, 409, stale.body);
    assert.match(stale.json<Status>().message, /the object has been modified/);
    const owned = await apply(
      `${CM}/pinned`,
      'alice',
      JSON.stringify({ apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'pinned', managedFields: [] } }),
    );
    assert.equal(owned.statusCode, 400, owned.body);
    assert.equal(owned.json<Status>().message, 'metadata.managedFields must be nil');
  });

  test('dryRun=All applies without storing, on create and on update', async () => {
    const created = await apply(`${CM}/dry`, 'alice', cm('dry', { a: '1' }), '&dryRun=All');
    assert.equal(created.statusCode, 201, created.body);
    assert.equal((await api.server.app.inject({ method: 'GET', url: `${CM}/dry`, headers: admin })).statusCode, 404);
    assert.equal((await apply(`${CM}/dry`, 'alice', cm('dry', { a: '1' }))).statusCode, 201);
    const updated = await apply(`${CM}/dry`, 'alice', cm('dry', { a: '2' }), '&dryRun=All');
    assert.equal(updated.statusCode, 200, updated.body);
    assert.equal(updated.json<Obj>().data?.a, '2');
    const got = await api.server.app.inject({ method: 'GET', url: `${CM}/dry`, headers: admin });
    assert.equal(got.json<Obj>().data?.a, '1');
  });

  test('YAML that is not JSON is a 400 and creates nothing', async () => {
    const bomb = `apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\na: &a ["x","x"]\nb: &b [*a,*a]\nc: [*b,*b]\n`;
    for (const [what, body] of [
      ['aliases', bomb],
      ['a non-finite number', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx: .inf\n'],
      ['two documents', 'apiVersion: v1\nkind: ConfigMap\n---\nkind: ConfigMap\n'],
      ['a custom tag', 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: bomb}\nx: !foo bar\n'],
      ['a list', '- 1\n'],
    ]) {
      const res = await apply(`${CM}/bomb`, 'alice', body as string);
      assert.equal(res.statusCode, 400, `${what}: ${res.body}`);
    }
    const got = await api.server.app.inject({ method: 'GET', url: `${CM}/bomb`, headers: admin });
    assert.equal(got.statusCode, 404);
  });

  test('managedFields stay out of Table rows', async () => {
    const res = await api.server.app.inject({
      method: 'GET',
      url: `${CM}/created`,
      headers: { ...admin, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    assert.equal(res.statusCode, 200, res.body);
    const row = res.json<{ rows: { object: Obj }[] }>().rows[0];
    assert.equal(row?.object.metadata.managedFields, undefined);
  });

  test('a CSR applied through the main resource cannot approve itself; through /approval it can', async () => {
    const pem = createCsrPem({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [{ type: 'CN', value: 'applied' }],
      sans: { dns: [], ip: [], email: [], uri: [] },
    });
    const csr = {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name: 'applied' },
      spec: { request: Buffer.from(pem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'] },
    };
    const approved = { type: 'Approved', status: 'True', reason: 'Applied', message: 'by apply' };
    const created = await apply(`${CSRS}/applied`, 'alice', JSON.stringify({ ...csr, status: { conditions: [approved] } }));
    assert.equal(created.statusCode, 201, created.body);
    assert.equal(created.json<Obj>().status?.conditions, undefined, 'status is not set through the main resource');
    assert.equal(byManager(created.json<Obj>(), 'alice')?.fieldsV1['f:status'], undefined, 'nor owned');
    const again = await apply(`${CSRS}/applied`, 'alice', JSON.stringify({ ...csr, status: { conditions: [approved] } }));
    assert.equal(again.statusCode, 200, again.body);
    assert.equal(again.json<Obj>().status?.conditions, undefined);
    const bad = await apply(`${CSRS}/applied`, 'alice', JSON.stringify({ ...csr, spec: { ...csr.spec, request: 'bm90IGEgQ1NS' } }));
    assert.equal(bad.statusCode, 200, bad.body);
    assert.equal(bad.json<{ spec: { request: string } }>().spec.request, csr.spec.request, 'spec is immutable through apply too');
    const viaApproval = await apply(
      `${CSRS}/applied/approval`,
      'approver',
      JSON.stringify({ apiVersion: csr.apiVersion, kind: csr.kind, metadata: { name: 'applied' }, status: { conditions: [approved] } }),
      '&force=true',
    );
    assert.equal(viaApproval.statusCode, 200, viaApproval.body);
    assert.deepEqual(
      viaApproval.json<Obj>().status?.conditions?.map((c) => c.type),
      ['Approved'],
    );
    const failed = { type: 'Failed', status: 'True', reason: 'SignerFailed', message: 'by apply' };
    const viaStatus = await apply(
      `${CSRS}/applied/status`,
      'signer',
      JSON.stringify({ apiVersion: csr.apiVersion, kind: csr.kind, metadata: { name: 'applied' }, status: { conditions: [failed] } }),
    );
    assert.equal(
      viaStatus.statusCode,
      200,
      `conditions are keyed by type: the signer's does not conflict with the approver's: ${viaStatus.body}`,
    );
    assert.deepEqual(
      viaStatus
        .json<Obj>()
        .status?.conditions?.map((c) => c.type)
        .sort(),
      ['Approved', 'Failed'],
    );
    const denied = { type: 'Denied', status: 'True', reason: 'Applied', message: 'by apply' };
    const both = await apply(
      `${CSRS}/applied/approval`,
      'approver',
      JSON.stringify({ apiVersion: csr.apiVersion, kind: csr.kind, metadata: { name: 'applied' }, status: { conditions: [denied] } }),
    );
    assert.equal(both.statusCode, 422, `the sticky Approved may not be dropped nor joined by Denied: ${both.body}`);
  });
});
