/**
 * The serving approver with Node evidence, in process through the controller manager's wiring: no
 * serving policy, a kubelet-serving CSR whose SANs are all among its Node's status.addresses is
 * approved; one sent before its Node exists is withheld, then approved when the Node appears; one
 * with a SAN the Node does not list stays withheld.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { csrConditions, prepareCsrCreate, reservedIdentities } from '../src/api/index.ts';
import { CSR_RESOURCE, StoreClusterClient } from '../src/controllers/cluster.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import { IdentityCaches, ObjectCache, openSqliteStore, type Store, type StoredObject } from '../src/store/index.ts';
import { until } from './helpers/processes.ts';

const RBAC = 'rbac.authorization.k8s.io';
const now = () => new Date();
const quiet = { warn: () => {}, info: () => {} };

let store: Store;
let client: StoreClusterClient;
let identity: IdentityCaches;
let manager: ControllerManager;
const caches: ObjectCache[] = [];

before(async () => {
  store = openSqliteStore({ path: ':memory:' });
  const cache = (r: string) => new ObjectCache({ store, resource: `${RBAC}/${r}` });
  const rbac = {
    clusterRoles: cache('clusterroles'),
    clusterRoleBindings: cache('clusterrolebindings'),
    roles: cache('roles'),
    roleBindings: cache('rolebindings'),
  };
  for (const c of Object.values(rbac)) {
    await c.start();
    caches.push(c);
  }
  client = new StoreClusterClient(store, rbac, now);
  identity = new IdentityCaches({ store, reserved: () => reservedIdentities([]), now, onError: () => {} });
  await identity.start();
  manager = new ControllerManager({ store, client, signer: undefined, now, logger: quiet, identity });
  await manager.start();
});

after(async () => {
  await manager?.close();
  await identity?.close();
  for (const c of caches) await c.close();
  await store?.close();
});

async function servingCsr(node: string, sans: { dns: string[]; ip: string[] }): Promise<string> {
  const name = `serving-${node}-${randomUUID().slice(0, 8)}`;
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:${node}` },
    ],
    sans: { ...sans, email: [], uri: [] },
  });
  const obj = prepareCsrCreate(
    {
      apiVersion: 'certificates.k8s.io/v1',
      kind: 'CertificateSigningRequest',
      metadata: { name, uid: randomUUID(), creationTimestamp: new Date().toISOString() },
      spec: {
        request: Buffer.from(pem).toString('base64'),
        signerName: 'kubernetes.io/kubelet-serving',
        usages: ['digital signature', 'server auth'],
      },
    },
    { name: `system:node:${node}`, groups: ['system:nodes', 'system:authenticated'] },
  );
  await store.create({ resource: CSR_RESOURCE, namespace: '', name }, obj as StoredObject);
  return name;
}

async function registerNode(node: string, addresses: { type: string; address: string }[]): Promise<void> {
  const obj = { apiVersion: 'v1', kind: 'Node', metadata: { name: node, uid: randomUUID() }, status: { addresses } };
  await store.create({ resource: 'core/nodes', namespace: '', name: node }, obj as StoredObject);
}

/** `Type/Reason` of each condition once one of `types` is there. */
async function settled(name: string, ...types: string[]): Promise<string[]> {
  return until(`a ${types.join(' or ')} condition on ${name}`, async () => {
    const conditions = csrConditions((await client.getCsr(name)) ?? {});
    return conditions.some((c) => types.includes(c.type)) ? conditions.map((c) => `${c.type}/${c.reason}`) : undefined;
  });
}

describe('serving approver with Node evidence, without a serving policy', () => {
  test('every SAN among the Node addresses: approved, with the Node as the reason', async () => {
    await registerNode('w1', [
      { type: 'Hostname', address: 'w1' },
      { type: 'InternalIP', address: '10.4.0.1' },
    ]);
    const name = await servingCsr('w1', { dns: ['w1'], ip: ['10.4.0.1'] });
    assert.deepEqual(await settled(name, 'Approved', 'Denied', 'AutoApprovalWithheld'), ['Approved/NodeAddressesApproved']);
  });

  test('sent before its Node exists: withheld, then approved once the Node appears', async () => {
    const name = await servingCsr('w2', { dns: ['w2'], ip: ['10.4.0.2'] });
    assert.deepEqual(await settled(name, 'Approved', 'Denied', 'AutoApprovalWithheld'), ['AutoApprovalWithheld/NoServingPolicy']);
    await registerNode('w2', [
      { type: 'Hostname', address: 'w2' },
      { type: 'InternalIP', address: '10.4.0.2' },
    ]);
    assert.deepEqual(await settled(name, 'Approved', 'Denied'), ['AutoApprovalWithheld/NoServingPolicy', 'Approved/NodeAddressesApproved']);
  });

  test('a SAN the Node does not list: withheld for a person, not approved', async () => {
    await registerNode('w3', [{ type: 'Hostname', address: 'w3' }]);
    const name = await servingCsr('w3', { dns: ['w3'], ip: ['10.4.0.3'] });
    assert.deepEqual(await settled(name, 'Approved', 'Denied', 'AutoApprovalWithheld'), ['AutoApprovalWithheld/NoServingPolicy']);
    const withheld = csrConditions((await client.getCsr(name)) ?? {}).find((c) => c.type === 'AutoApprovalWithheld');
    assert.match(withheld?.message ?? '', /IP 10\.4\.0\.3 is not among Node w3's status\.addresses/);
  });
});
