/**
 * Nodes in process, through the real chain a request passes in `tlsboot server`: RBAC over the
 * seeded bootstrap policy, node restriction around it, and the control plane's admission. A node
 * writes and reads only its own Node, never deletes one, never touches `node-restriction.kubernetes.io/`
 * labels and sets taints only on create; other users are not affected. Also the Node strategy
 * (addresses checked, status only through /status) and kubectl's columns.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { EMPTY_SERVING_CONTEXT } from '../api/serving-policy.ts';
import { createCsrPem, generatePrivateKey } from '../pki/index.ts';
import { ControlPlaneAdmission } from './admission.ts';
import { StaticTokens } from './authn.ts';
import { type Authorizer, RbacAuthorizer, startRbacInformers } from './authz.ts';
import { BOOTSTRAP_CLUSTER_ROLE_BINDINGS, BOOTSTRAP_CLUSTER_ROLES } from './bootstrap-policy.ts';
import { NodeRestrictingAuthorizer } from './node-restriction.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const NODE_A = 'node-a-token-0123456789';
const NODE_B = 'node-b-token-0123456789';
/** Named like a node but not in system:nodes: not a node, so RBAC alone decides. */
const IMPOSTOR = 'impostor-token-0123456789';
const TOKENS = [
  `${ADMIN_TOKEN},admin,1,"system:masters"`,
  `${NODE_A},system:node:a,2,"system:nodes"`,
  `${NODE_B},system:node:b,3,"system:nodes"`,
  `${IMPOSTOR},system:node:c,4,"ops"`,
].join('\n');

const NODES = '/api/v1/nodes';

function node(name: string, extra: { labels?: Record<string, string>; taints?: unknown[]; addresses?: unknown[] } = {}) {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name, ...(extra.labels ? { labels: extra.labels } : {}) },
    spec: extra.taints ? { taints: extra.taints } : {},
    status: {
      addresses: extra.addresses ?? [
        { type: 'InternalIP', address: '10.0.0.5' },
        { type: 'Hostname', address: name },
      ],
    },
  };
}

describe('Nodes and node restriction', () => {
  let api: TestApi;
  const closers: (() => Promise<void>)[] = [];
  before(async () => {
    let rbac: Authorizer | undefined;
    // Masters pass outright so the test can seed the policy through the API before RBAC has it.
    const inner: Authorizer = {
      authorize: (a) =>
        a.user.groups.includes('system:masters')
          ? { allowed: true, reason: 'masters' }
          : (rbac?.authorize(a) ?? { allowed: false, reason: 'not seeded' }),
    };
    const authorizer = new NodeRestrictingAuthorizer(inner);
    api = await startTestApi({
      authorizer,
      admission: new ControlPlaneAdmission(authorizer, () => ({ ...EMPTY_SERVING_CONTEXT, dnsSuffixes: [] })),
      staticTokens: StaticTokens.parse(TOKENS, 'tokens.csv'),
    });
    for (const [resource, objs] of [
      ['clusterroles', BOOTSTRAP_CLUSTER_ROLES],
      ['clusterrolebindings', BOOTSTRAP_CLUSTER_ROLE_BINDINGS],
    ] as const) {
      for (const obj of objs) {
        const r = await send(ADMIN_TOKEN, 'POST', `/apis/rbac.authorization.k8s.io/v1/${resource}`, obj);
        assert.equal(r.statusCode, 201, r.body);
      }
    }
    const rbacCaches = await startRbacInformers(api.store);
    closers.push(() => rbacCaches.close());
    rbac = new RbacAuthorizer(rbacCaches);
  });
  after(async () => {
    for (const c of closers) await c();
    await api?.close();
  });

  const send = (token: string, method: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE', url: string, body?: unknown) =>
    api.server.app.inject({
      method,
      url,
      headers: {
        authorization: `Bearer ${token}`,
        ...(body === undefined ? {} : { 'content-type': method === 'PATCH' ? 'application/merge-patch+json' : 'application/json' }),
      },
      ...(body === undefined ? {} : { payload: JSON.stringify(body) }),
    });

  const forbidden = (r: { statusCode: number; body: string; json: <T>() => T }, what: string) => {
    assert.equal(r.statusCode, 403, `${what}: ${r.body}`);
    assert.equal(r.json<{ reason: string }>().reason, 'Forbidden', what);
  };

  test('a node creates, reads, patches and updates the status of its own Node (bootstrap RBAC allows it)', async () => {
    const created = await send(NODE_A, 'POST', NODES, node('a', { taints: [{ key: 'new', effect: 'NoSchedule' }] }));
    assert.equal(created.statusCode, 201, created.body);
    const got = await send(NODE_A, 'GET', `${NODES}/a`);
    assert.equal(got.statusCode, 200, got.body);
    assert.deepEqual(got.json<{ status: { addresses: unknown } }>().status.addresses, [
      { type: 'InternalIP', address: '10.0.0.5' },
      { type: 'Hostname', address: 'a' },
    ]);
    const labelled = await send(NODE_A, 'PATCH', `${NODES}/a`, { metadata: { labels: { 'topology.kubernetes.io/zone': 'z1' } } });
    assert.equal(labelled.statusCode, 200, labelled.body);
    const status = await send(NODE_A, 'PATCH', `${NODES}/a/status`, {
      status: { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] },
    });
    assert.equal(status.statusCode, 200, status.body);
    const current = await send(NODE_A, 'GET', `${NODES}/a/status`);
    const body = current.json<{ metadata: { resourceVersion: string }; status: unknown }>();
    assert.deepEqual(body.status, { addresses: [{ type: 'InternalIP', address: '10.0.0.6' }] });
    const put = await send(NODE_A, 'PUT', `${NODES}/a/status`, {
      ...node('a', { addresses: [{ type: 'ExternalIP', address: '192.0.2.1' }] }),
      metadata: { name: 'a', resourceVersion: body.metadata.resourceVersion },
    });
    assert.equal(put.statusCode, 200, put.body);
  });

  test("a node may not read or write another node's Node, by any verb", async () => {
    assert.equal((await send(ADMIN_TOKEN, 'POST', NODES, node('b'))).statusCode, 201);
    forbidden(await send(NODE_A, 'GET', `${NODES}/b`), 'get');
    forbidden(await send(NODE_A, 'GET', `${NODES}/b/status`), 'get status');
    forbidden(await send(NODE_A, 'PATCH', `${NODES}/b`, { metadata: { labels: { x: 'y' } } }), 'patch');
    forbidden(await send(NODE_A, 'PATCH', `${NODES}/b/status`, { status: { addresses: [] } }), 'patch status');
    forbidden(await send(NODE_A, 'PUT', `${NODES}/b`, node('b')), 'update');
    forbidden(await send(NODE_A, 'POST', NODES, node('c')), 'create another');
    // Reading all Nodes would show every node's addresses: refused, as the name is not in the URL.
    forbidden(await send(NODE_A, 'GET', NODES), 'list');
    forbidden(await send(NODE_A, 'GET', `${NODES}?watch=true`), 'watch');
    assert.equal((await send(ADMIN_TOKEN, 'GET', `${NODES}/c`)).statusCode, 404);
  });

  test('a node may not delete Nodes, not even its own', async () => {
    forbidden(await send(NODE_B, 'DELETE', `${NODES}/b`), 'delete own');
    forbidden(await send(NODE_B, 'DELETE', `${NODES}/a`), 'delete other');
    assert.equal((await send(ADMIN_TOKEN, 'GET', `${NODES}/b`)).statusCode, 200);
  });

  test('a node may not set or change node-restriction.kubernetes.io/ labels, nor change taints after create', async () => {
    forbidden(
      await send(NODE_B, 'PATCH', `${NODES}/b`, { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } } }),
      'add restricted label',
    );
    const withLabel = await send(ADMIN_TOKEN, 'PATCH', `${NODES}/b`, {
      metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'secure' } },
    });
    assert.equal(withLabel.statusCode, 200, withLabel.body);
    forbidden(
      await send(NODE_B, 'PATCH', `${NODES}/b`, { metadata: { labels: { 'node-restriction.kubernetes.io/pool': null } } }),
      'remove',
    );
    forbidden(
      await send(NODE_B, 'PATCH', `${NODES}/b`, { metadata: { labels: { 'node-restriction.kubernetes.io/pool': 'open' } } }),
      'change',
    );
    forbidden(await send(NODE_B, 'PATCH', `${NODES}/b`, { spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } }), 'taint on update');
    const other = await send(NODE_B, 'PATCH', `${NODES}/b`, { metadata: { labels: { 'example.com/x': 'y' } } });
    assert.equal(other.statusCode, 200, `unrestricted labels stay the node's own: ${other.body}`);
    const fresh = await send(NODE_B, 'POST', NODES, node('b'));
    assert.equal(fresh.statusCode, 409, 'b exists');
    await send(ADMIN_TOKEN, 'DELETE', `${NODES}/b`);
    forbidden(await send(NODE_B, 'POST', NODES, node('b', { labels: { 'node-restriction.kubernetes.io/pool': 'x' } })), 'on create');
  });

  test('other users are not restricted: an operator with rights labels, taints and deletes any Node', async () => {
    const created = await send(ADMIN_TOKEN, 'POST', NODES, node('d', { labels: { 'node-restriction.kubernetes.io/pool': 'x' } }));
    assert.equal(created.statusCode, 201, created.body);
    const tainted = await send(ADMIN_TOKEN, 'PATCH', `${NODES}/d`, { spec: { taints: [{ key: 'k', effect: 'NoSchedule' }] } });
    assert.equal(tainted.statusCode, 200, tainted.body);
    assert.equal((await send(ADMIN_TOKEN, 'GET', NODES)).statusCode, 200);
    assert.equal((await send(ADMIN_TOKEN, 'DELETE', `${NODES}/d`)).statusCode, 200);
    // Named like a node but not in system:nodes: plain RBAC, which gives it nothing on Nodes.
    forbidden(await send(IMPOSTOR, 'GET', `${NODES}/c`), 'impostor');
  });

  test('a node asks for kubelet certificates only in its own name (CSR NodeRestriction)', async () => {
    const csr = (cn: string) => ({
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { generateName: 'csr-' },
      spec: {
        request: Buffer.from(
          createCsrPem({
            key: generatePrivateKey('ecdsa-p256'),
            subject: [
              { type: 'O', value: 'system:nodes' },
              { type: 'CN', value: cn },
            ],
            sans: { dns: [cn.slice('system:node:'.length)], ip: [], email: [], uri: [] },
          }),
        ).toString('base64'),
        signerName: 'kubernetes.io/kubelet-serving',
        usages: ['digital signature', 'server auth'],
      },
    });
    const url = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    const own = await send(NODE_A, 'POST', url, csr('system:node:a'));
    assert.equal(own.statusCode, 201, own.body);
    forbidden(await send(NODE_A, 'POST', url, csr('system:node:b')), 'a CSR in another node name');
    // Not in system:nodes: not a node, so this rule does not apply (RBAC refuses it here anyway).
    forbidden(await send(IMPOSTOR, 'POST', url, csr('system:node:a')), 'impostor');
  });

  test('addresses are checked: an unknown type or a bad IP is refused and nothing is stored', async () => {
    const badType = await send(ADMIN_TOKEN, 'POST', NODES, node('e', { addresses: [{ type: 'LoopbackIP', address: '127.0.0.1' }] }));
    assert.equal(badType.statusCode, 422, badType.body);
    assert.equal(badType.json<{ details: { causes: { field: string }[] } }>().details.causes[0]?.field, 'status.addresses[0].type');
    const badIp = await send(ADMIN_TOKEN, 'POST', NODES, node('e', { addresses: [{ type: 'InternalIP', address: 'e.example' }] }));
    assert.equal(badIp.statusCode, 422, badIp.body);
    assert.equal((await send(ADMIN_TOKEN, 'GET', `${NODES}/e`)).statusCode, 404);
  });

  test('the main resource keeps the status and /status keeps the spec', async () => {
    assert.equal((await send(ADMIN_TOKEN, 'POST', NODES, node('f'))).statusCode, 201);
    const viaMain = await send(ADMIN_TOKEN, 'PATCH', `${NODES}/f`, { status: { addresses: [] }, spec: { unschedulable: true } });
    assert.equal(viaMain.statusCode, 200, viaMain.body);
    const main = viaMain.json<{ spec: { unschedulable?: boolean }; status: { addresses: unknown[] } }>();
    assert.equal(main.status.addresses.length, 2);
    assert.equal(main.spec.unschedulable, true);
    const viaStatus = await send(ADMIN_TOKEN, 'PATCH', `${NODES}/f/status`, { spec: { unschedulable: false }, status: { addresses: [] } });
    const status = viaStatus.json<{ spec: { unschedulable?: boolean }; status: { addresses: unknown[] } }>();
    assert.equal(status.spec.unschedulable, true);
    assert.deepEqual(status.status.addresses, []);
  });

  test('kubectl get nodes prints NAME STATUS ROLES AGE VERSION, and -o wide the addresses and node info', async () => {
    await send(ADMIN_TOKEN, 'PATCH', `${NODES}/f`, { metadata: { labels: { 'node-role.kubernetes.io/control-plane': '' } } });
    await send(ADMIN_TOKEN, 'PATCH', `${NODES}/f/status`, {
      status: {
        conditions: [{ type: 'Ready', status: 'True' }],
        nodeInfo: { kubeletVersion: 'v1.33.0' },
        addresses: [{ type: 'InternalIP', address: '10.0.0.5' }],
      },
    });
    const r = await api.server.app.inject({
      method: 'GET',
      url: `${NODES}/f`,
      headers: { authorization: `Bearer ${ADMIN_TOKEN}`, accept: 'application/json;as=Table;v=v1;g=meta.k8s.io' },
    });
    assert.equal(r.statusCode, 200, r.body);
    const table = r.json<{ columnDefinitions: { name: string; priority: number }[]; rows: { cells: unknown[] }[] }>();
    assert.deepEqual(
      table.columnDefinitions.map((c) => `${c.name}/${c.priority}`),
      [
        'Name/0',
        'Status/0',
        'Roles/0',
        'Age/0',
        'Version/0',
        'Internal-IP/1',
        'External-IP/1',
        'OS-Image/1',
        'Kernel-Version/1',
        'Container-Runtime/1',
      ],
    );
    const cells = table.rows[0]?.cells ?? [];
    assert.deepEqual(
      [cells[0], cells[1], cells[2], cells[4], cells[5], cells[6], cells[7]],
      ['f', 'Ready,SchedulingDisabled', 'control-plane', 'v1.33.0', '10.0.0.5', '<none>', '<unknown>'],
    );
  });
});

describe('node restriction narrows even an RBAC that gives nodes everything', () => {
  const everything: Authorizer = { authorize: () => ({ allowed: true, reason: 'all' }) };
  const authorizer = new NodeRestrictingAuthorizer(everything);
  const a = { name: 'system:node:a', groups: ['system:nodes', 'system:authenticated'] };
  const ask = (verb: string, name: string, user = a, subresource = '') =>
    authorizer.authorize({ user, verb, apiGroup: '', resource: 'nodes', subresource, name, namespace: '' }).allowed;

  test('own Node: get, update, patch and status; never delete, deletecollection, list or watch', () => {
    for (const verb of ['get', 'update', 'patch']) {
      assert.equal(ask(verb, 'a'), true, verb);
      assert.equal(ask(verb, 'a', a, 'status'), true, `${verb} status`);
      assert.equal(ask(verb, 'b'), false, `${verb} other`);
    }
    for (const verb of ['delete', 'deletecollection', 'list', 'watch']) assert.equal(ask(verb, verb === 'delete' ? 'a' : ''), false, verb);
  });

  test('not a node (no system:nodes group), or not a Node: RBAC decides alone', () => {
    assert.equal(ask('delete', 'b', { name: 'system:node:a', groups: ['ops'] }), true);
    assert.equal(
      authorizer.authorize({ user: a, verb: 'delete', apiGroup: '', resource: 'secrets', name: 'x', namespace: 'ns' }).allowed,
      true,
    );
  });
});
