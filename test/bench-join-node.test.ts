/**
 * The join storm's node (bench/join-node.ts) keeps one CSR whatever fails: a second CSR for a node
 * name is withheld by the approver, and a node waiting on it never got a certificate (the HA storm
 * of 300 failed on such a CSR, AutoApprovalWithheld NodeAlreadyRegistered, after its first one's
 * watch was answered 503 while the store was past its call deadline).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type CsrPort, createAndWait } from '../bench/join-node.ts';
import type { CertificateSigningRequest } from '../src/api/index.ts';
import { AlreadyExistsError, UnavailableError } from '../src/base/errors.ts';
import type { JsonObject } from '../src/base/json.ts';

const PEM = Buffer.from('-----BEGIN CERTIFICATE-----\nMA==\n-----END CERTIFICATE-----\n').toString('base64');

function body(name: string, request = 'cmVxdWVzdA=='): CertificateSigningRequest {
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request, signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['client auth'] },
  };
}

/** An API holding CSRs by name; `failures` says which calls fail with a 503 (after doing their work, for a create). */
class FakeApi implements CsrPort {
  readonly csrs = new Map<string, CertificateSigningRequest>();
  creates = 0;
  watches = 0;
  createLandsThen503 = 0;
  watch503 = 0;

  async create(b: CertificateSigningRequest): Promise<CertificateSigningRequest> {
    this.creates++;
    const name = b.metadata?.name ?? '';
    if (this.csrs.has(name)) throw new AlreadyExistsError('CSR_EXISTS', `${name} exists`);
    const stored = { ...b, metadata: { ...b.metadata, resourceVersion: String(this.creates) } };
    this.csrs.set(name, stored);
    if (this.createLandsThen503-- > 0) throw new UnavailableError('STORE_DEADLINE', 'the store did not answer in time');
    return stored;
  }

  async get(name: string): Promise<CertificateSigningRequest> {
    const csr = this.csrs.get(name);
    if (!csr) throw new Error(`no ${name}`);
    return csr;
  }

  async *watch(name: string): AsyncIterable<{ readonly type: string; readonly object: JsonObject }> {
    this.watches++;
    if (this.watch503-- > 0) throw new UnavailableError('BOOTSTRAP_TOKENS', 'bootstrap tokens cannot be checked now; try again later');
    const csr = await this.get(name);
    yield { type: 'MODIFIED', object: { ...csr, status: { certificate: PEM } } };
  }
}

test('a watch answered 503 is opened again on the same CSR, never a second CSR', async () => {
  const api = new FakeApi();
  api.watch503 = 1;
  const counts = { rateLimited: 0, unavailable: 0 };
  await createAndWait(api, body('node-csr-a'), 5_000, counts, 1);
  assert.equal(api.creates, 1, 'one create');
  assert.equal(api.watches, 2);
  assert.equal(counts.unavailable, 1);
});

test('a create answered 503 that had landed is found again by its name and waited on', async () => {
  const api = new FakeApi();
  api.createLandsThen503 = 1;
  const counts = { rateLimited: 0, unavailable: 0 };
  await createAndWait(api, body('node-csr-b'), 5_000, counts, 1);
  assert.equal(api.csrs.size, 1);
  assert.equal(counts.unavailable, 1);
});

test('a CSR of that name with another request is not taken for the node’s own', async () => {
  const api = new FakeApi();
  await api.create(body('node-csr-c', 'b3RoZXI='));
  await assert.rejects(createAndWait(api, body('node-csr-c'), 5_000, { rateLimited: 0, unavailable: 0 }, 1), { code: 'CONFLICT' });
});

test('a storm CSR without a name is refused before anything is sent', async () => {
  const api = new FakeApi();
  const nameless = { ...body('x'), metadata: { generateName: 'node-csr-' } };
  await assert.rejects(createAndWait(api, nameless, 5_000, { rateLimited: 0, unavailable: 0 }, 1), /needs a name/);
  assert.equal(api.creates, 0);
});
