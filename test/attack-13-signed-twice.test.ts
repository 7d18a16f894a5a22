/**
 * Attack (issue 13, idea 4 "does a CSR ever get signed twice?"): the signer controller signs first
 * and only then creates the IssuedCertificate record (src/controllers/signer.ts). Since issue 13
 * that create is an API request like any other, so it can fail after the CA has signed: here the
 * per-requester create rate limit (`--creates-per-second-per-user`, `--create-burst-per-user`,
 * which apply to system:tlsboot:controllers too: 3 creates per joining node) answers 429. The
 * reconcile is retried, finds no record, and signs again - every retry mints another certificate
 * (another serial, another audit line, another use of a sealed/remote session's quota). Safe
 * behaviour: one approved CSR is signed once, however its bookkeeping write fails.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, test } from 'node:test';
import { CSRS } from '../src/api/cluster-client.ts';
import { csrCertificatePem, reservedIdentities } from '../src/api/index.ts';
import type { Signer } from '../src/api/signer.ts';
import { HttpClusterClient } from '../src/client/cluster-client.ts';
import { inProcessKubeClient } from '../src/control-plane/in-process-client.ts';
import { ControllerManager } from '../src/controllers/manager.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../src/server/testing.ts';
import { LocalSigner } from '../src/signer/signer.ts';
import { storeApprovedClientCsr } from './helpers/in-process-cluster.ts';
import { selfSignedCa } from './helpers/pki.ts';
import { until } from './helpers/processes.ts';

const now = () => new Date();
let api: TestApi;
let manager: ControllerManager;
const signings = new Map<string, number>();

before(async () => {
  // The server's own per-requester create limit, set low so the test needs few requests.
  api = await startTestApi({ now, limits: { createsPerSecondPerUser: 1, createBurstPerUser: 1 } });
  const ca = selfSignedCa();
  const local = new LocalSigner({ caCertificate: ca.certificate, caKey: ca.key, randomBytes });
  const counting: Signer = {
    caCertificate: local.caCertificate,
    async sign(request, at) {
      signings.set(request.csrName, (signings.get(request.csrName) ?? 0) + 1);
      return local.sign(request, at);
    },
    close: () => local.close(),
  };
  manager = new ControllerManager({
    client: new HttpClusterClient(inProcessKubeClient(api.server.app, ADMIN_TOKEN)),
    signer: counting,
    now,
    logger: { warn: () => {}, info: () => {} },
    reserved: () => reservedIdentities([]),
    controllers: new Set(['signer']),
  });
  await manager.start();
});

after(async () => {
  await manager?.close();
  await api?.close();
});

const approvedClientCsr = (name: string) => storeApprovedClientCsr(api.store, name);

test('each approved CSR is signed exactly once, even when the bookkeeping write is refused', async () => {
  const names = ['one', 'two', 'three'];
  for (const n of names) await approvedClientCsr(n);
  const client = new HttpClusterClient(inProcessKubeClient(api.server.app, ADMIN_TOKEN));
  await until(
    'every CSR to get its certificate',
    async () => {
      for (const n of names) if (csrCertificatePem((await client.get(CSRS, '', n)) ?? {}) === undefined) return undefined;
      return true;
    },
    15_000,
  );
  assert.deepEqual(Object.fromEntries(signings), { one: 1, two: 1, three: 1 }, 'times the CA signed each CSR');
});
