/**
 * Attack (issue 13, idea 4), end to end through `startStandaloneControllers` with leader election
 * over HTTPS: the instance becomes leader and starts its ControllerManager; the API is slow to
 * answer the first list of CSRs, and the Lease renewals hang, so leadership is lost (renew
 * deadline) while start() is still waiting. onStoppedLeading closes the half-started manager and
 * clears `running`; start() then completes and its controllers run with no lease held - here the
 * serving approver approves a CSR created afterwards, while nobody holds the Lease. Safe behaviour:
 * an instance that is not the leader writes nothing.
 */
import assert from 'node:assert/strict';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { CSRS, storeKeyOf } from '../src/api/cluster-client.ts';
import { csrConditions, prepareCsrCreate, reservedIdentities } from '../src/api/index.ts';
import { startStandaloneControllers } from '../src/control-plane/standalone-controllers.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import { ADMIN_TOKEN } from '../src/server/testing.ts';
import type { StoredObject } from '../src/store/index.ts';
import { type InProcessCluster, startInProcessCluster } from './helpers/in-process-cluster.ts';
import { tempDir, until } from './helpers/processes.ts';

const now = () => new Date();
let cluster: InProcessCluster;
const dir = tempDir('attack13-le');
let port = 0;
const csrGate = Promise.withResolvers<void>();
const csrListArrived = Promise.withResolvers<void>();
let holdCsrList = true;
let hangLeases = false;
const leaseGate = Promise.withResolvers<void>();

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
  cluster.api.server.app.addHook('onRequest', async (req) => {
    const [path, query = ''] = req.url.split('?');
    if (
      holdCsrList &&
      req.method === 'GET' &&
      path === '/apis/certificates.k8s.io/v1/certificatesigningrequests' &&
      !/watch=(1|true)/.test(query)
    ) {
      csrListArrived.resolve();
      await csrGate.promise;
    }
    if (hangLeases && req.method === 'PUT' && path?.includes('/leases/')) await leaseGate.promise;
  });
  ({ port } = await cluster.api.server.listen('127.0.0.1', 0));
});

after(async () => {
  leaseGate.resolve();
  await cluster?.close();
  dir.remove();
  // The zombie manager cannot be reached to close it (that is the finding); its informers retry
  // forever and would keep this test process alive.
  setTimeout(() => process.exit(), 1000).unref();
});

async function servingCsrWithNode(node: string, ip: string): Promise<string> {
  await cluster.store.create({ resource: 'core/nodes', namespace: '', name: node }, {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: { name: node, uid: randomUUID() },
    status: {
      addresses: [
        { type: 'Hostname', address: node },
        { type: 'InternalIP', address: ip },
      ],
    },
  } as unknown as StoredObject);
  const name = `serving-${node}`;
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: `system:node:${node}` },
    ],
    sans: { dns: [node], ip: [ip], email: [], uri: [] },
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
  await cluster.store.create({ resource: storeKeyOf(CSRS), namespace: '', name }, obj as unknown as StoredObject);
  return name;
}

test('an instance that lost the lease while starting writes nothing afterwards', async () => {
  const kubeconfig = join(dir.path, 'c.conf');
  writeFileSync(
    kubeconfig,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: c, cluster: {server: "https://127.0.0.1:${port}", certificate-authority-data: ${Buffer.from(cluster.api.caPem).toString('base64')}}}]`,
      `users: [{name: u, user: {token: ${ADMIN_TOKEN}}}]`,
      'contexts: [{name: x, context: {cluster: c, user: u}}]',
      'current-context: x',
      '',
    ].join('\n'),
  );
  const logs: string[] = [];
  const running = await startStandaloneControllers({
    kubeconfig,
    dir: dir.path,
    controllers: new Set(['serving-approver']),
    reserved: () => reservedIdentities([]),
    leaderElection: { identity: 'zombie', leaseDurationMs: 3500, renewDeadlineMs: 2000, retryPeriodMs: 1000 },
    logger: pino({ level: 'info' }, { write: (s: string) => void logs.push(s) }),
    now,
    randomBytes: (n) => randomBytes(n),
  });
  await csrListArrived.promise; // leading, and start() waits for its first list of CSRs
  hangLeases = true; // the renewals hang: leadership ends at the renew deadline
  await until('leadership lost', async () => (logs.some((l) => l.includes('no longer the leader')) ? true : undefined), 10_000);
  holdCsrList = false;
  csrGate.resolve(); // the slow list answers; start() carries on
  await new Promise((resolve) => setTimeout(resolve, 1000));
  const name = await servingCsrWithNode('after-loss', '10.7.0.1');
  await new Promise((resolve) => setTimeout(resolve, 2500));
  const conditions = csrConditions((await cluster.client.get(CSRS, '', name)) ?? {}).map((c) => `${c.type}/${c.reason}`);
  const leaderLines = logs.filter((l) => /leader/.test(l)).map((l) => JSON.parse(l).msg as string);
  await running.close();
  assert.deepEqual(conditions, [], `the instance, no longer leader (${leaderLines.join(' -> ')}), still acted`);
});
