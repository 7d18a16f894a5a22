/**
 * Attack (issue 13, idea 2, consequence): after node "thief" is auto-approved a serving
 * certificate for node "victim"'s InternalIP (its own Node listing that IP is all the evidence the
 * serving approver asks for without a policy; see attack-13-node-address-hijack), the signer signs
 * it and claims the address for the thief for the certificate's lifetime. The victim's own serving
 * CSR for its own address is then denied. Safe behaviour: an address two Nodes list vouches for
 * neither (addressesOwnedBy): the thief gets no certificate for it, so it cannot lock the victim
 * out, and the victim's request waits for a person.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrCertificatePem, csrConditions, reservedIdentities } from '../src/api/index.ts';
import type { ControllerManager } from '../src/controllers/manager.ts';
import { type InProcessCluster, startInProcessCluster, startSigningManager } from './helpers/in-process-cluster.ts';
import { until } from './helpers/processes.ts';

const now = () => new Date();
let cluster: InProcessCluster;
let manager: ControllerManager;

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
  manager = await startSigningManager(cluster, { controllers: ['serving-approver', 'signer'], now });
});

after(async () => {
  await manager?.close();
  await cluster?.close();
});

async function outcome(name: string): Promise<string> {
  return until(`an outcome for ${name}`, async () => {
    const csr = (await cluster.client.get(CSRS, '', name)) ?? {};
    if (csrCertificatePem(csr) !== undefined) return 'signed';
    const end = csrConditions(csr).find((c) => c.type === 'Denied' || c.type === 'Failed' || c.type === 'AutoApprovalWithheld');
    return end ? `${end.type}: ${end.message}` : undefined;
  });
}

const registerNode = (node: string, ip: string) => cluster.registerNode(node, [ip]);
const servingCsr = (node: string, ip: string) => cluster.servingCsr(node, { dns: [node], ip: [ip] });

test('an address two Nodes list is evidence for neither: the thief gets no certificate for it and the real node waits for a person', async () => {
  await registerNode('victim', '10.6.0.9');
  await registerNode('thief', '10.6.0.9');
  const thiefs = await outcome(await servingCsr('thief', '10.6.0.9'));
  const victims = await outcome(await servingCsr('victim', '10.6.0.9'));
  // Self-reported addresses cannot say which of two nodes lies: neither is approved automatically,
  // and the real node is not locked out by a certificate the thief holds.
  assert.deepEqual(
    {
      thief: thiefs.startsWith('signed') ? 'signed' : 'refused',
      victim: victims.startsWith('AutoApprovalWithheld') ? 'withheld' : victims,
    },
    { thief: 'refused', victim: 'withheld' },
  );
});
