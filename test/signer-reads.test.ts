/**
 * The signer's and approver's reads that no longer go to the API (issue 14): a CSR the signer saw
 * undecided has no IssuedCertificate record but the ones this process wrote, so it is not asked
 * for; any other CSR, or one whose record create failed in an unknown way, is asked for, so a
 * record committed by an earlier attempt is found and the CA does not sign twice. Informer copies
 * of NodeClientCertificate and NodeNameClaim records are first guesses for a compare-and-swap
 * only: a stale copy costs a lost write and a read, never a wrong record or a skipped write.
 */
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, test } from 'node:test';
import type { ApiResource, ClusterClient, KubeObject } from '../src/api/cluster-client.ts';
import { CSRS, ISSUED_CERTIFICATES, NODE_CLIENT_CERTIFICATES, NODE_NAME_CLAIMS } from '../src/api/cluster-client.ts';
import { NodeNameIndex, reservedIdentities } from '../src/api/index.ts';
import type { Signer } from '../src/api/signer.ts';
import { isObject, type JsonObject } from '../src/base/json.ts';
import { reconcileApproval } from '../src/controllers/approver.ts';
import { reconcileSigning, recordNodeClient, SigningMemory } from '../src/controllers/signer.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import { countingSigner } from './helpers/in-process-cluster.ts';
import { clientCsrObject } from './helpers/pki.ts';

const lost = (code: string) => Object.assign(new Error(code), { code });

/** The cluster port over a map, with create-if-absent and compare-and-swap, counting every call. */
class CasCluster implements ClusterClient {
  readonly objects = new Map<string, KubeObject>();
  readonly calls: string[] = [];
  private rv = 1;
  /** The next create of this resource commits but answers with an error, as a timed-out request. */
  failAfterCommit: string | undefined;

  put(r: ApiResource, obj: JsonObject): KubeObject {
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    const kube = { ...obj, metadata: { ...meta, name: String(meta.name), resourceVersion: String(this.rv++) } } as KubeObject;
    this.objects.set(`${r.resource}/${kube.metadata.name}`, kube);
    return kube;
  }
  async get(r: ApiResource, _ns: string, name: string): Promise<KubeObject | undefined> {
    this.calls.push(`get ${r.resource}`);
    return this.objects.get(`${r.resource}/${name}`);
  }
  async create(r: ApiResource, obj: JsonObject): Promise<KubeObject> {
    this.calls.push(`create ${r.resource}`);
    const name = isObject(obj.metadata) ? String(obj.metadata.name) : '';
    if (this.objects.has(`${r.resource}/${name}`)) throw lost('ALREADY_EXISTS');
    const made = this.put(r, obj);
    if (this.failAfterCommit === r.resource) {
      this.failAfterCommit = undefined;
      throw lost('UNAVAILABLE');
    }
    return made;
  }
  async update(r: ApiResource, obj: JsonObject): Promise<KubeObject> {
    this.calls.push(`update ${r.resource}`);
    const meta = isObject(obj.metadata) ? obj.metadata : {};
    const current = this.objects.get(`${r.resource}/${String(meta.name)}`);
    if (!current) throw lost('NOT_FOUND');
    if (current.metadata.resourceVersion !== meta.resourceVersion) throw lost('CONFLICT');
    return this.put(r, obj);
  }
  async list(): Promise<KubeObject[]> {
    return [];
  }
  delete(): never {
    throw new Error('not used');
  }
  listWatch(): never {
    throw new Error('not used');
  }
  async allowed(): Promise<boolean> {
    return true;
  }
}

const approved = { type: 'Approved', status: 'True', reason: 'Test', message: 'ok', lastUpdateTime: new Date().toISOString() };

function clientCsr(name: string): KubeObject {
  const obj = clientCsrObject(name);
  return { ...obj, metadata: { name, uid: randomUUID(), resourceVersion: '1' }, spec: { ...obj.spec, username: 'someone' } };
}

function signing(cluster: CasCluster, csr: KubeObject, signer: Signer, memory: SigningMemory) {
  return reconcileSigning(csr.metadata.name, {
    client: cluster,
    csrs: (n) => cluster.objects.get(`${CSRS.resource}/${n}`),
    signer,
    now: () => new Date(),
    nodeNames: () => ({ reserved: reservedIdentities([]), dnsSuffixes: [], nodes: new NodeNameIndex() }),
    unrecorded: new Map(),
    memory,
  });
}

describe('SigningMemory', () => {
  test('knows there is no record only for a CSR it saw undecided, until it is signed, gone or forgotten', () => {
    const memory = new SigningMemory();
    const csr = clientCsr('a');
    const uid = String(csr.metadata.uid);
    memory.observe('a', { ...csr, status: { conditions: [approved] } });
    assert.equal(memory.recordOf('a', uid), undefined, 'approved before this process saw it: only the API knows');
    memory.observe('a', csr);
    assert.equal(memory.recordOf('a', uid), null, 'seen undecided: no record can exist');
    memory.observe('a', { ...csr, status: { conditions: [approved] } });
    assert.equal(memory.recordOf('a', uid), null, 'approved since: still none but ours');
    assert.equal(memory.recordOf('a', 'another-uid'), undefined, 'a CSR of the same name recreated');
    memory.noteRecorded('a', uid, { metadata: { name: uid } });
    assert.deepEqual(memory.recordOf('a', uid), { metadata: { name: uid } });
    memory.forget('a');
    assert.equal(memory.recordOf('a', uid), undefined, 'forgotten after an unknown outcome');
    memory.observe('b', clientCsr('b'));
    memory.observe('b', { ...clientCsr('b'), status: { certificate: 'eA==' } });
    memory.observe('c', clientCsr('c'));
    memory.observe('c', undefined);
    assert.equal(memory.size, 0, 'signed and deleted CSRs are not remembered');
  });
});

describe('reconcileSigning reads', () => {
  test('a CSR seen undecided is signed without asking for its record', async () => {
    const cluster = new CasCluster();
    const memory = new SigningMemory();
    const csr = cluster.put(CSRS, clientCsr('fresh'));
    memory.observe('fresh', csr);
    cluster.put(CSRS, { ...csr, status: { conditions: [approved] } });
    const signer = countingSigner();
    await signing(cluster, csr, signer, memory);
    assert.equal(signer.signed, 1);
    assert.deepEqual(cluster.calls, [`create ${ISSUED_CERTIFICATES.resource}`, `update ${CSRS.resource}`]);
  });

  test('a CSR approved before it was seen is looked up, and a record found is handed out without signing', async () => {
    const cluster = new CasCluster();
    const memory = new SigningMemory();
    const first = countingSigner();
    const csr = cluster.put(CSRS, { ...clientCsr('old'), status: { conditions: [approved] } });
    // An earlier process recorded a certificate and stopped before the status write.
    cluster.failAfterCommit = undefined;
    const earlier = new SigningMemory();
    earlier.observe('old', { ...csr, status: {} });
    const writeStatus = cluster.update.bind(cluster);
    cluster.update = async () => {
      throw lost('UNAVAILABLE');
    };
    await assert.rejects(signing(cluster, csr, first, earlier));
    cluster.update = writeStatus;
    const second = countingSigner();
    memory.observe('old', cluster.objects.get(`${CSRS.resource}/old`));
    cluster.calls.length = 0;
    await signing(cluster, csr, second, memory);
    assert.equal(second.signed, 0, 'the recorded certificate is handed out, not a new one');
    assert.equal(cluster.calls[0], `get ${ISSUED_CERTIFICATES.resource}`);
  });

  test('a record create that committed but failed is found on the retry: signed once', async () => {
    const cluster = new CasCluster();
    const memory = new SigningMemory();
    const csr = cluster.put(CSRS, clientCsr('flaky'));
    memory.observe('flaky', csr);
    cluster.put(CSRS, { ...csr, status: { conditions: [approved] } });
    const signer = countingSigner();
    cluster.failAfterCommit = ISSUED_CERTIFICATES.resource;
    await assert.rejects(signing(cluster, csr, signer, memory));
    await signing(cluster, csr, signer, memory);
    assert.equal(signer.signed, 1, 'times the CA signed');
    const stored = cluster.objects.get(`${CSRS.resource}/flaky`);
    assert.ok(isObject(stored?.status) && typeof stored.status.certificate === 'string');
  });
});

describe('informer copies as first guesses', () => {
  const issued = (notAfter: string) => ({
    commonName: 'system:node:n1',
    serialNumber: '0a',
    notAfter,
    csrName: 'c',
    issuedAt: '2026-01-01T00:00:00.000Z',
  });

  test('a stale copy of a node client record ends in a read and the right write', async () => {
    const cluster = new CasCluster();
    cluster.put(NODE_CLIENT_CERTIFICATES, { metadata: { name: 'n1' }, notAfter: '2027-01-01T00:00:00.000Z' });
    // The informer has not seen the record yet.
    await recordNodeClient(cluster, issued('2028-01-01T00:00:00.000Z'), () => undefined);
    assert.equal(cluster.objects.get(`${NODE_CLIENT_CERTIFICATES.resource}/n1`)?.notAfter, '2028-01-01T00:00:00.000Z');
    // The informer's copy claims a later certificate than the store holds: no write is skipped on its word.
    const stale = { metadata: { name: 'n1', resourceVersion: '0' }, notAfter: '2030-01-01T00:00:00.000Z' };
    await recordNodeClient(cluster, issued('2029-01-01T00:00:00.000Z'), () => stale);
    assert.equal(cluster.objects.get(`${NODE_CLIENT_CERTIFICATES.resource}/n1`)?.notAfter, '2029-01-01T00:00:00.000Z');
    // A copy of a record deleted meanwhile: the update's NOT_FOUND leads to a read and a create.
    cluster.objects.delete(`${NODE_CLIENT_CERTIFICATES.resource}/n1`);
    const gone = { metadata: { name: 'n1', resourceVersion: '9' }, notAfter: '2020-01-01T00:00:00.000Z' };
    await recordNodeClient(cluster, issued('2031-01-01T00:00:00.000Z'), () => gone);
    assert.equal(cluster.objects.get(`${NODE_CLIENT_CERTIFICATES.resource}/n1`)?.notAfter, '2031-01-01T00:00:00.000Z');
  });

  test('a node name claimed by a live request is not claimed again though the copy has no claim yet', async () => {
    const cluster = new CasCluster();
    const pem = (cn: string) =>
      Buffer.from(
        createCsrPem({
          key: generatePrivateKey('ecdsa-p256'),
          subject: [
            { type: 'O', value: 'system:nodes' },
            { type: 'CN', value: cn },
          ],
        }),
      ).toString('base64');
    const kubeletCsr = (name: string) =>
      cluster.put(CSRS, {
        metadata: { name, uid: randomUUID() },
        spec: {
          request: pem('system:node:n1'),
          signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
          usages: ['digital signature', 'client auth'],
          username: 'system:bootstrap:abcdef',
          groups: ['system:bootstrappers'],
        },
      });
    const holder = kubeletCsr('first');
    cluster.put(NODE_NAME_CLAIMS, { metadata: { name: 'n1' }, csrName: 'first', csrUid: holder.metadata.uid });
    kubeletCsr('second');
    await reconcileApproval('second', {
      client: cluster,
      csrs: (n) => cluster.objects.get(`${CSRS.resource}/${n}`),
      now: () => new Date(),
      nodeNames: () => ({ reserved: reservedIdentities([]), dnsSuffixes: [], nodes: new NodeNameIndex() }),
      claimAlone: (_n, fn) => fn(),
      noteClaimed: () => {},
      cachedClaim: () => undefined,
    });
    const second = cluster.objects.get(`${CSRS.resource}/second`);
    const conditions = isObject(second?.status) && Array.isArray(second.status.conditions) ? second.status.conditions : [];
    assert.deepEqual(
      conditions.map((c) => (isObject(c) ? [c.type, c.reason] : [])),
      [['AutoApprovalWithheld', 'NodeNameClaimed']],
    );
    assert.equal(cluster.objects.get(`${NODE_NAME_CLAIMS.resource}/n1`)?.csrName, 'first');
  });
});
