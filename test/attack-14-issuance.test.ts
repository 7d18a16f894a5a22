/**
 * Attack review of one-write issuance (issue 14): what the gathered signer run must not do when
 * something fails between gathering and landing, tested against the in-process cluster.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClusterClient, CSRS, ISSUED_CERTIFICATES, NODE_CLIENT_CERTIFICATES } from '../src/api/cluster-client.ts';
import { csrCertificatePem, csrConditions, reservedIdentities } from '../src/api/index.ts';
import type { Signer } from '../src/api/signer.ts';
import { ConflictError, UnavailableError } from '../src/base/errors.ts';
import { isObject } from '../src/base/json.ts';
import {
  countingSigner,
  hookedClient,
  type InProcessCluster,
  issuedCertificate,
  kubeletClientCsr,
  putNodeBootstrapToken,
  startControllers,
  startInProcessCluster,
} from './helpers/in-process-cluster.ts';

const now = () => new Date();
const TOKEN = 'atk014.0123456789abcdef';

/** A kubelet client CSR for `node`, created and approved by a person (the admin). */
async function approvedKubeletCsr(cluster: InProcessCluster, node: string): Promise<string> {
  const name = `csr-${node}`;
  const created = await cluster.admin.create(CSRS, kubeletClientCsr(name, node));
  await new Promise((resolve) => setTimeout(resolve, 50));
  await cluster.admin.update(
    CSRS,
    { ...created, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'ByHand', message: 'ok' }] } },
    'approval',
  );
  return name;
}

describe('attack 14: one-write issuance on failures', () => {
  let cluster: InProcessCluster;
  before(async () => {
    cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
    await putNodeBootstrapToken(cluster.store, TOKEN);
  });
  after(async () => {
    await cluster?.close();
  });

  const start = (client: ClusterClient, signer: Signer, controllers: readonly ('approver' | 'signer')[] = ['signer']) =>
    startControllers(client, signer, controllers, now);

  test('a gathered run that fails after signing hands out no certificate without its inventory record', async () => {
    // The node's registration says it holds a certificate valid longer than the one about to be
    // signed, so the signer re-reads it from the API after gathering the record; that read fails once.
    await cluster.admin.create(NODE_CLIENT_CERTIFICATES, {
      metadata: { name: 'phantom' },
      serialNumber: '01',
      notAfter: '2199-01-01T00:00:00.000Z',
      issuedAt: '2020-01-01T00:00:00.000Z',
      csrName: 'older',
    });
    let failed = 0;
    const client = hookedClient(cluster.client, {
      get: (resource, name) => {
        if (resource === NODE_CLIENT_CERTIFICATES.resource && name === 'phantom' && failed++ === 0)
          throw new UnavailableError('TEST', 'the API did not answer');
      },
    });
    const signer = countingSigner();
    const manager = await start(client, signer);
    try {
      const name = await approvedKubeletCsr(cluster, 'phantom');
      const pem = await issuedCertificate(cluster, name);
      assert.ok(failed >= 1, 'the read failed once');
      const csr = await cluster.admin.get(CSRS, '', name);
      const uid = isObject(csr?.metadata) ? String(csr.metadata.uid) : '';
      assert.equal((await cluster.admin.get(ISSUED_CERTIFICATES, '', uid))?.certificate, pem, 'the certificate handed out is recorded');
      assert.equal(signer.signed, 1, 'the CA signed once');
    } finally {
      await manager.close();
    }
  });

  test('a transaction lost to a conflict does not make the CA sign the CSR again', async () => {
    let attempts = 0;
    const client = hookedClient(cluster.client, {
      transaction: () => {
        if (attempts++ === 0) throw new ConflictError('TEST', 'the object has been modified');
      },
    });
    const signer = countingSigner();
    const manager = await start(client, signer);
    try {
      const name = await approvedKubeletCsr(cluster, 'conflicted');
      const pem = await issuedCertificate(cluster, name);
      assert.equal(attempts, 2);
      const csr = await cluster.admin.get(CSRS, '', name);
      const uid = isObject(csr?.metadata) ? String(csr.metadata.uid) : '';
      assert.equal((await cluster.admin.get(ISSUED_CERTIFICATES, '', uid))?.certificate, pem);
      assert.equal(signer.signed, 1, 'the CA signed once');
    } finally {
      await manager.close();
    }
  });

  test('two first requests for one node name: the CA signs only the one that gets the name', async () => {
    // The CA answers only once both requests asked it (or after a second), so a loser that got as
    // far as signing is always seen.
    const ca = countingSigner();
    const release = Promise.withResolvers<void>();
    const timer = setTimeout(() => release.resolve(), 1000);
    const signer: Signer = {
      caCertificate: ca.caCertificate,
      async sign(request, at) {
        const signed = await ca.sign(request, at);
        if (ca.signed >= 2) release.resolve();
        await release.promise;
        return signed;
      },
      close: () => ca.close(),
    };
    const manager = await start(cluster.client, signer, ['approver', 'signer']);
    try {
      const csr = (name: string) =>
        cluster.api.server.app.inject({
          method: 'POST',
          url: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
          headers: { authorization: `Bearer ${TOKEN}` },
          payload: kubeletClientCsr(name, 'contested'),
        });
      const created = await Promise.all([csr('contested-a'), csr('contested-b')]);
      for (const r of created) assert.equal(r.statusCode, 201, r.body);
      const decided = async () => {
        const deadline = Date.now() + 10_000;
        for (;;) {
          const both = await Promise.all(['contested-a', 'contested-b'].map((n) => cluster.admin.get(CSRS, '', n)));
          const issuedOne = both.filter((c) => c !== undefined && csrCertificatePem(c) !== undefined).length;
          const withheld = both.filter((c) => csrConditions(c ?? {}).some((x) => x.type === 'AutoApprovalWithheld')).length;
          if (issuedOne === 1 && withheld === 1) return;
          assert.ok(Date.now() < deadline, `undecided: ${JSON.stringify(both.map((c) => c?.status))}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      await decided();
      assert.equal(ca.signed, 1, 'the CA signed only the request that got the name');
    } finally {
      clearTimeout(timer);
      release.resolve();
      await manager.close();
    }
  });
});
