/**
 * Attack (issue 13, idea 2): Node.status.addresses is self-reported by the node, and the serving
 * approver takes it as sufficient evidence without a policy. Nothing stops node "thief" from listing
 * node "victim"'s InternalIP in its own Node (node restriction only checks the name), so as long as
 * the victim holds no live serving certificate yet, the thief is auto-approved a serving certificate
 * for the victim's IP. The safe behaviour: an address another Node already lists is not evidence
 * for a second node (refused at admission or at least not auto-approved).
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrConditions, reservedIdentities } from '../src/api/index.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
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

const asNode = (node: string, method: 'POST' | 'PUT' | 'GET', url: string, body?: unknown) => cluster.asNode(node, method, url, body);
const registerNode = (node: string, ip: string) => cluster.registerNode(node, [ip]);
const servingCsr = (node: string, ip: string) => cluster.servingCsr(node, { dns: [node], ip: [ip] });

test('a node cannot get a serving certificate approved for an IP that another Node lists as its own', async () => {
  // The victim registers first, with its InternalIP (it has no serving certificate yet).
  const victim = await registerNode('victim', '10.9.0.7');
  assert.equal(victim.status, 201, JSON.stringify(victim.body));
  // The thief registers its own Node claiming the victim's address: node restriction lets it.
  const thief = await registerNode('thief', '10.9.0.7');
  const name = await servingCsr('thief', '10.9.0.7');
  const conditions = await until(`a decision on ${name}`, async () => {
    const c = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {});
    return c.some((x) => ['Approved', 'Denied', 'AutoApprovalWithheld'].includes(x.type)) ? c : undefined;
  });
  const approved = conditions.find((c) => c.type === 'Approved');
  assert.equal(
    approved,
    undefined,
    `thief's Node create answered ${thief.status}; its CSR for victim's IP 10.9.0.7 was approved: ${JSON.stringify(approved)}`,
  );
});

test("a node cannot get a serving certificate approved for another Node's name (a Node with no tlsboot registration, e.g. one that predates the controllers on a stock cluster)", async () => {
  const victim = await asNode('old-node', 'POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'old-node' },
    status: { addresses: [{ type: 'Hostname', address: 'old-node' }] },
  });
  assert.equal(victim.status, 201, JSON.stringify(victim.body));
  await asNode('thief2', 'POST', '/api/v1/nodes', {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: 'thief2' },
    status: { addresses: [{ type: 'Hostname', address: 'old-node' }] },
  });
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: 'system:node:thief2' },
    ],
    sans: { dns: ['old-node'], ip: [], email: [], uri: [] },
  });
  const res = await asNode('thief2', 'POST', '/apis/certificates.k8s.io/v1/certificatesigningrequests', {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name: 'serving-thief2' },
    spec: {
      request: Buffer.from(pem).toString('base64'),
      signerName: 'kubernetes.io/kubelet-serving',
      usages: ['digital signature', 'server auth'],
    },
  });
  assert.equal(res.status, 201, JSON.stringify(res.body));
  const conditions = await until('a decision on serving-thief2', async () => {
    const c = csrConditions((await cluster.client.get(CSRS, '', 'serving-thief2')) ?? {});
    return c.some((x) => ['Approved', 'Denied', 'AutoApprovalWithheld'].includes(x.type)) ? c : undefined;
  });
  assert.equal(
    conditions.find((c) => c.type === 'Approved'),
    undefined,
    `thief2 was approved for old-node: ${JSON.stringify(conditions)}`,
  );
});
