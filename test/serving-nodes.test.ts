/**
 * The serving approver with Node evidence, through the controller manager and the server's API path: no
 * serving policy, a kubelet-serving CSR whose SANs are all among its Node's status.addresses is
 * approved; one sent before its Node exists is withheld, then approved when the Node appears; one
 * with a SAN the Node does not list stays withheld.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { CSRS, storeKeyOf } from '../src/api/cluster-client.ts';
import { csrConditions, prepareCsrCreate, reservedIdentities } from '../src/api/index.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import type { Store, StoredObject } from '../src/store/index.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';
import { until } from './helpers/processes.ts';

const CSR_RESOURCE = storeKeyOf(CSRS);
const now = () => new Date();
const quiet = { warn: () => {}, info: () => {} };

let cluster: InProcessCluster;
let store: Store;
let manager: ControllerManager;

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
  store = cluster.store;
  manager = new ControllerManager({
    client: cluster.client,
    signer: undefined,
    now,
    logger: quiet,
    reserved: () => reservedIdentities([]),
    controllers: new Set(['serving-approver']),
  });
  await manager.start();
});

after(async () => {
  await manager?.close();
  await cluster?.close();
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
    const conditions = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {});
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
    const withheld = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {}).find((c) => c.type === 'AutoApprovalWithheld');
    assert.match(withheld?.message ?? '', /IP 10\.4\.0\.3 is not among Node w3's status\.addresses/);
  });
});
