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
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import pino from 'pino';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrConditions, reservedIdentities } from '../src/api/index.ts';
import { startStandaloneControllers } from '../src/control-plane/standalone-controllers.ts';
import { ADMIN_TOKEN } from '../src/server/testing.ts';
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
  const created = await cluster.registerNode(node, [ip]);
  assert.equal(created.status, 201, JSON.stringify(created.body));
  return cluster.servingCsr(node, { dns: [node], ip: [ip] });
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
