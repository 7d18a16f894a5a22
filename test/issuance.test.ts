/**
 * Deciding and signing in one write (issue 14): on tlsboot's server, an auto-approved kubelet
 * certificate costs two durable writes, the CSR's create and one transaction holding the name
 * claim, the approval, the certificate, the inventory record and the node's registration; a
 * transaction that fails lands none of it, and the retry records the certificate already signed
 * instead of having the CA sign another. Runs the controllers as `tlsboot server` does, against
 * the server's real request path, RBAC and admission.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type ClusterClient, CSRS, ISSUED_CERTIFICATES, NODE_CLIENT_CERTIFICATES, NODE_NAME_CLAIMS } from '../src/api/cluster-client.ts';
import { csrConditions, reservedIdentities } from '../src/api/index.ts';
import type { Signer } from '../src/api/signer.ts';
import { UnavailableError } from '../src/base/errors.ts';
import { isObject } from '../src/base/json.ts';
import { GatheringClient } from '../src/controllers/issuance.ts';
import { parseCertificateBundle } from '../src/pki/index.ts';
import type { Store, TxnOp } from '../src/store/index.ts';
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
import { clientCsrObject } from './helpers/pki.ts';

const TOKEN = 'iss123.0123456789abcdef';
const now = () => new Date();

/** Every store write that touches a CSR or the controllers' bookkeeping, as `verb resource...`. */
function recordWrites(store: Store): string[] {
  const seen: string[] = [];
  const relevant = (resource: string) => resource.startsWith('certificates.k8s.io/') || resource.startsWith('tlsboot.io/');
  const short = (resource: string) => resource.slice(resource.indexOf('/') + 1);
  const { create, update, txn } = store;
  Object.assign(store, {
    create: (key: Parameters<Store['create']>[0], object: Parameters<Store['create']>[1]) => {
      if (relevant(key.resource)) seen.push(`create ${short(key.resource)}`);
      return create.call(store, key, object);
    },
    update: (key: Parameters<Store['update']>[0], object: Parameters<Store['update']>[1], o: Parameters<Store['update']>[2]) => {
      if (relevant(key.resource)) seen.push(`update ${short(key.resource)}`);
      return update.call(store, key, object, o);
    },
    txn: (ops: readonly TxnOp[]) => {
      seen.push(`txn ${ops.map((op) => `${op.op} ${short(op.key.resource)}`).join(', ')}`);
      return txn.call(store, ops);
    },
  });
  return seen;
}

/** A kubelet's first client CSR, sent with the bootstrap token; returns its name. */
async function bootstrapCsr(cluster: InProcessCluster, node: string): Promise<string> {
  const res = await cluster.api.server.app.inject({
    method: 'POST',
    url: '/apis/certificates.k8s.io/v1/certificatesigningrequests',
    headers: { authorization: `Bearer ${TOKEN}` },
    payload: kubeletClientCsr(`node-csr-${node}`, node),
  });
  assert.equal(res.statusCode, 201, res.body);
  return `node-csr-${node}`;
}

/** The in-process controllers' client with its first `failures` transactions failing before they reach the server. */
function flaky(base: ClusterClient, failures: number): { client: ClusterClient; counter: { attempts: number } } {
  const counter = { attempts: 0 };
  const client = hookedClient(base, {
    transaction: () => {
      counter.attempts++;
      if (counter.attempts <= failures) throw new UnavailableError('TEST', 'the API did not answer');
    },
  });
  return { client, counter };
}

describe('issuance in one write', () => {
  let cluster: InProcessCluster;
  before(async () => {
    cluster = await startInProcessCluster({ reserved: () => reservedIdentities([]), now });
    await putNodeBootstrapToken(cluster.store, TOKEN);
  });
  after(async () => {
    await cluster?.close();
  });

  const start = (client: ClusterClient, signer: Signer) => startControllers(client, signer, ['approver', 'signer'], now);

  test('a new node certificate costs two store writes: the CSR, then one transaction with everything else', async () => {
    const signer = countingSigner();
    const manager = await start(cluster.client, signer);
    try {
      const writes = recordWrites(cluster.store);
      const name = await bootstrapCsr(cluster, 'one-write');
      const pem = await issuedCertificate(cluster, name);
      assert.deepEqual(writes, [
        'create certificatesigningrequests',
        'txn create nodenameclaims, update certificatesigningrequests, create issuedcertificates, create nodeclientcertificates',
      ]);
      const csr = await cluster.admin.get(CSRS, '', name);
      assert.deepEqual(
        csrConditions(csr ?? {}).map((c) => [c.type, c.reason]),
        [['Approved', 'AutoApproved']],
      );
      const uid = isObject(csr?.metadata) ? String(csr.metadata.uid) : '';
      const record = await cluster.admin.get(ISSUED_CERTIFICATES, '', uid);
      assert.equal(record?.certificate, pem);
      const serial = parseCertificateBundle(pem, 'issued')[0]?.serialNumber;
      assert.equal((await cluster.admin.get(NODE_CLIENT_CERTIFICATES, '', 'one-write'))?.serialNumber, serial);
      assert.equal((await cluster.admin.get(NODE_NAME_CLAIMS, '', 'one-write'))?.csrName, name);
      assert.equal(signer.signed, 1);
    } finally {
      await manager.close();
    }
  });

  test('a CSR a person approved is signed in one write: its record and its certificate', async () => {
    const signer = countingSigner();
    const manager = await start(cluster.client, signer);
    try {
      const writes = recordWrites(cluster.store);
      const created = await cluster.admin.create(CSRS, clientCsrObject('by-hand'));
      await cluster.admin.update(
        CSRS,
        { ...created, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'ByHand', message: 'ok' }] } },
        'approval',
      );
      await issuedCertificate(cluster, 'by-hand');
      assert.deepEqual(writes, [
        'create certificatesigningrequests',
        'update certificatesigningrequests',
        'txn create issuedcertificates, update certificatesigningrequests',
      ]);
      assert.equal(signer.signed, 1);
    } finally {
      await manager.close();
    }
  });

  test('a transaction that fails lands nothing, and its retry records the certificate already signed', async () => {
    const signer = countingSigner();
    const { client, counter } = flaky(cluster.client, 2);
    const manager = await start(client, signer);
    try {
      const name = await bootstrapCsr(cluster, 'retried');
      const pem = await issuedCertificate(cluster, name);
      assert.equal(counter.attempts, 3);
      assert.equal(signer.signed, 1, 'the CA signed once');
      const csr = await cluster.admin.get(CSRS, '', name);
      const uid = isObject(csr?.metadata) ? String(csr.metadata.uid) : '';
      assert.equal((await cluster.admin.get(ISSUED_CERTIFICATES, '', uid))?.certificate, pem);
    } finally {
      await manager.close();
    }
  });
});

describe('GatheringClient', () => {
  const csr = { metadata: { name: 'c', resourceVersion: '7' }, status: { conditions: [] } };
  const base: ClusterClient = {
    get: async () => undefined,
    list: async () => [],
    create: async () => assert.fail('no write reaches the API'),
    update: async () => assert.fail('no write reaches the API'),
    delete: async () => assert.fail('no write reaches the API'),
    listWatch: () => assert.fail('not used'),
    allowed: async () => true,
  };

  test('reads see the writes gathered; one object and subresource fold into one write at the first resourceVersion', async () => {
    const g = new GatheringClient(base);
    await g.create(NODE_NAME_CLAIMS, { metadata: { name: 'n' }, csrName: 'a' });
    await g.update(NODE_NAME_CLAIMS, { metadata: { name: 'n', resourceVersion: '9' }, csrName: 'b' });
    await g.update(CSRS, csr, 'approval');
    await g.update(CSRS, { ...csr, metadata: { name: 'c', resourceVersion: '8' }, status: { certificate: 'x' } }, 'status');
    await g.update(CSRS, { ...csr, status: { certificate: 'y' } }, 'status');
    assert.deepEqual(
      g.writes.map((w) => [w.verb, w.resource.resource, w.subresource ?? '', w.object]),
      [
        ['create', 'nodenameclaims', '', { metadata: { name: 'n' }, csrName: 'b' }],
        ['update', 'certificatesigningrequests', 'approval', csr],
        [
          'update',
          'certificatesigningrequests',
          'status',
          { ...csr, metadata: { name: 'c', resourceVersion: '8' }, status: { certificate: 'y' } },
        ],
      ],
    );
    assert.equal((await g.get(NODE_NAME_CLAIMS, '', 'n'))?.csrName, 'b');
    assert.deepEqual((await g.get(CSRS, '', 'c'))?.status, { certificate: 'y' });
    assert.equal(await g.get(CSRS, '', 'other'), undefined);
    // The object itself is another write than its status: never folded into it.
    await g.update(CSRS, { ...csr, metadata: { name: 'c', resourceVersion: '7', labels: { a: 'b' } } });
    assert.deepEqual(
      g.writes.map((w) => w.subresource ?? ''),
      ['', 'approval', 'status', ''],
    );
    await assert.rejects(g.delete(), /does not delete/);
  });
});
