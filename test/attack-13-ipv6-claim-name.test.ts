/**
 * Attack (issue 13, bookkeeping as objects): address claims are now API objects named
 * `ip-<address with ':' replaced by '-'>` (src/api/identity.ts addressClaimName), and object names
 * must be RFC 1123 subdomains (end with an alphanumeric). An IPv6 address whose canonical form ends
 * in "::" (e.g. 2001:db8::) gives "ip-2001-db8--": the AddressClaim create is refused with 422 on
 * every attempt, so an approved kubelet-serving CSR carrying that IP is neither signed nor failed;
 * the signer retries it forever (and re-extends the node's address reservation each time).
 * Safe behaviour: the CSR ends, signed or Failed with a reason.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, test } from 'node:test';
import { CSRS, storeKeyOf } from '../src/api/cluster-client.ts';
import { csrCertificatePem, csrConditions, prepareCsrCreate, reservedIdentities } from '../src/api/index.ts';
import type { ControllerManager } from '../src/controllers/manager.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import type { StoredObject } from '../src/store/index.ts';
import { type InProcessCluster, startInProcessCluster, startSigningManager } from './helpers/in-process-cluster.ts';

const now = () => new Date();
let cluster: InProcessCluster;
let manager: ControllerManager;
const warnings: string[] = [];

before(async () => {
  cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
  manager = await startSigningManager(cluster, {
    controllers: ['signer'],
    now,
    warn: (o: Record<string, unknown>, m: string) => warnings.push(`${m} ${JSON.stringify(o)}`),
  });
});

after(async () => {
  await manager?.close();
  await cluster?.close();
});

test('an approved serving CSR for an IPv6 address ending in "::" is signed or failed, not retried forever', async () => {
  const name = 'serving-v6';
  const pem = createCsrPem({
    key: generatePrivateKey('ecdsa-p256'),
    subject: [
      { type: 'O', value: 'system:nodes' },
      { type: 'CN', value: 'system:node:v6' },
    ],
    sans: { dns: ['v6'], ip: ['2001:db8::'], email: [], uri: [] },
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
    { name: 'system:node:v6', groups: ['system:nodes', 'system:authenticated'] },
  );
  const approved = {
    ...obj,
    status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Test', message: 'ok', lastUpdateTime: new Date().toISOString() }] },
  };
  await cluster.store.create({ resource: storeKeyOf(CSRS), namespace: '', name }, approved as unknown as StoredObject);
  await new Promise((resolve) => setTimeout(resolve, 3000));
  const csr = (await cluster.client.get(CSRS, '', name)) ?? {};
  const outcome =
    csrCertificatePem(csr) !== undefined ? 'signed' : csrConditions(csr).some((c) => c.type === 'Failed') ? 'failed' : 'pending';
  assert.notEqual(outcome, 'pending', `still pending after 3 s; the controller logged: ${warnings.slice(0, 2).join(' | ')}`);
});
