/**
 * Controller instances behind leader election (`tlsboot server --leader-elect` beside `tlsboot
 * controllers --leader-elect`, both through startElectedControllers): of two on one cluster only
 * the leader acts, so every approved CSR is signed once between them. Without the election two
 * signers race and sign CSRs twice (the review's attack, kept as this test's first form).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { pino } from 'pino';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrCertificatePem, reservedIdentities } from '../src/api/index.ts';
import type { Signer } from '../src/api/signer.ts';
import { type ElectedControllers, startElectedControllers } from '../src/control-plane/elected-controllers.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { LocalSigner } from '../src/signer/signer.ts';
import { type InProcessCluster, startInProcessCluster, storeApprovedClientCsr } from './helpers/in-process-cluster.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { until } from './helpers/processes.ts';

const now = () => new Date();
let cluster: InProcessCluster;
const instances: ElectedControllers[] = [];
const signings = new Map<string, number>();

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
  const ca = selfSignedCa();
  for (let replica = 0; replica < 2; replica++) {
    const local = new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes });
    const counting: Signer = {
      caCertificate: local.caCertificate,
      async sign(request, at) {
        signings.set(request.csrName, (signings.get(request.csrName) ?? 0) + 1);
        return local.sign(request, at);
      },
      close: () => local.close(),
    };
    const newManager = () =>
      new ControllerManager({
        client: cluster.client,
        signer: counting,
        now,
        logger: { warn: () => {}, info: () => {} },
        reserved: () => reservedIdentities([]),
        controllers: new Set(['signer']),
      });
    instances.push(
      startElectedControllers(
        cluster.client,
        { identity: `replica-${replica}`, leaseDurationMs: 3_500, renewDeadlineMs: 2_000, retryPeriodMs: 1_000 },
        newManager,
        pino({ level: 'silent' }),
      ),
    );
  }
});

after(async () => {
  for (const i of instances) await i.close();
  await cluster?.close();
});

test('two elected controller instances on one cluster sign each approved CSR once between them, and one of them leads', async () => {
  await until('a leader', async () => (instances.some((i) => i.isLeader()) ? true : undefined), 10_000);
  const names = Array.from({ length: 20 }, (_, i) => `ha-${i}`);
  for (const name of names) await storeApprovedClientCsr(cluster.store, name);
  await until(
    'every CSR to get its certificate',
    async () => {
      for (const n of names) if (csrCertificatePem((await cluster.client.get(CSRS, '', n)) ?? {}) === undefined) return undefined;
      return true;
    },
    15_000,
  );
  const twice = [...signings].filter(([, n]) => n > 1).map(([name, n]) => `${name}: ${n}`);
  assert.deepEqual(twice, [], 'CSRs the CA signed more than once');
  assert.equal(instances.filter((i) => i.isLeader()).length, 1);
});
