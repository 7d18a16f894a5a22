/**
 * The serving approver with Node evidence, through the controller manager and the server's API path: no
 * serving policy, a kubelet-serving CSR whose SANs are all among its Node's status.addresses is
 * approved; one sent before its Node exists is withheld, then approved when the Node appears; one
 * with a SAN the Node does not list stays withheld.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrConditions, reservedIdentities } from '../src/api/index.ts';
import { publishReserved } from '../src/control-plane/reserved-publisher.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';
import { until } from './helpers/processes.ts';

const now = () => new Date();
const quiet = { warn: () => {}, info: () => {} };

let cluster: InProcessCluster;
let manager: ControllerManager;

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
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

const servingCsr = (node: string, sans: { dns: string[]; ip: string[] }) => cluster.servingCsr(node, sans);

async function registerNode(node: string, addresses: { type: string; address: string }[]): Promise<void> {
  const created = await cluster.registerNode(
    node,
    [],
    addresses.filter((x) => x.type !== 'Hostname' || x.address !== node),
  );
  if (created.status !== 201) throw new Error(`Node ${node}: ${created.status} ${JSON.stringify(created.body)}`);
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

// From the attack review (issue 13): Node addresses are self-reported, so a node could list
// another's address or name in its own Node. Such evidence is contested and approves nothing.
describe('Node evidence another Node contests', () => {
  const decided = (name: string) => settled(name, 'Approved', 'Denied', 'AutoApprovalWithheld');

  test('a node gets no serving certificate approved for an IP another Node lists as its own', async () => {
    assert.equal((await cluster.registerNode('victim', ['10.9.0.7'])).status, 201);
    assert.equal((await cluster.registerNode('thief', ['10.9.0.7'])).status, 201, 'node restriction checks only the name');
    const name = await cluster.servingCsr('thief', { dns: ['thief'], ip: ['10.9.0.7'] });
    assert.ok(!(await decided(name)).some((c) => c.startsWith('Approved/')));
  });

  test("a node gets no serving certificate approved for another Node's name, registered with tlsboot or not", async () => {
    assert.equal((await cluster.registerNode('old-node', [])).status, 201);
    await cluster.registerNode('thief2', [], [{ type: 'Hostname', address: 'old-node' }]);
    const name = await cluster.servingCsr('thief2', { dns: ['old-node'], ip: [] });
    assert.ok(!(await decided(name)).some((c) => c.startsWith('Approved/')));
  });
});

// Issue 15: with several control-plane servers, the one whose controllers lead must refuse the
// names and addresses the others published, not only its own.
describe('names another control-plane server published', () => {
  test("a serving certificate for an address another server's certificate presents is denied, naming that server", async () => {
    await registerNode('w9', [
      { type: 'Hostname', address: 'w9' },
      { type: 'InternalIP', address: '10.7.7.7' },
    ]);
    await publishReserved(
      cluster.store,
      'cp-3',
      [{ source: 'API server certificate (pki/apiserver.crt)', dns: [], ip: ['10.7.7.7'] }],
      now(),
    );
    const name = await servingCsr('w9', { dns: ['w9'], ip: ['10.7.7.7'] });
    assert.deepEqual(await settled(name, 'Approved', 'Denied', 'AutoApprovalWithheld'), ['Denied/ReservedIdentity']);
    const denied = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {}).find((c) => c.type === 'Denied');
    assert.match(denied?.message ?? '', /10\.7\.7\.7.*of server cp-3/);
  });
});
