/**
 * The controllers' counting client: a decision counts once, when its approval write lands (not
 * again when the certificate's status write carries it, even if the cache lags), a certificate
 * counts once with its seconds since creation, a failed write or transaction counts nothing, and
 * the pending list leaves out what is issued, denied or failed.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { sample } from '../../test/helpers/metrics.ts';
import type { ClusterWrite } from '../api/cluster-client.ts';
import { UnavailableError } from '../base/errors.ts';
import type { JsonObject } from '../base/json.ts';
import { CsrMetrics, MetricsRegistry } from '../base/metrics.ts';
import { CSRS, type KubeObject } from './cluster.ts';
import { meteredClient, pendingCsrs } from './metrics.ts';
import { MemoryCluster } from './testing.ts';

const CREATED = '2026-12-01T10:00:00Z';
const NOW = new Date('2026-12-01T10:00:02.5Z');

function csr(name: string, signerName: string, status: JsonObject = {}): KubeObject {
  const metadata = { name, creationTimestamp: CREATED };
  return { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata, spec: { signerName }, status };
}

const approved = (reason: string) => ({ conditions: [{ type: 'Approved', status: 'True', reason }] });
const denied = (reason: string) => ({ conditions: [{ type: 'Denied', status: 'True', reason }] });

class TransactingCluster extends MemoryCluster {
  failTransactions = false;
  async transaction(writes: readonly ClusterWrite[]): Promise<KubeObject[]> {
    if (this.failTransactions) throw new UnavailableError('TEST_OUTAGE', 'the store is away');
    return Promise.all(writes.map((w) => this.update(w.resource, w.object)));
  }
}

async function metricValue(m: MetricsRegistry, name: string, labels: Record<string, string>): Promise<number | undefined> {
  return sample(await m.text(), 'le' in labels ? `${name}_bucket` : name, labels);
}

function setup() {
  const base = new TransactingCluster();
  const registry = new MetricsRegistry();
  const metrics = new CsrMetrics(registry, () => NOW.getTime());
  // The informer's copy: what the cluster held before, lagging until the test moves it on.
  const cache = new Map<string, KubeObject>();
  const client = meteredClient(
    base,
    metrics,
    (n) => cache.get(n),
    () => NOW,
  );
  return { base, registry, client, cache };
}

describe('counting the CSR controllers as their writes land', () => {
  test('an approval counts once, the certificate once with its seconds, though the cache lags', async () => {
    const { registry, client, cache } = setup();
    const signer = 'kubernetes.io/kube-apiserver-client-kubelet';
    cache.set('a', csr('a', signer));
    await client.update(CSRS, csr('a', signer, approved('AutoApproved')), 'approval');
    await client.update(CSRS, csr('a', signer, { ...approved('AutoApproved'), certificate: 'Y2VydA==' }), 'status');
    assert.equal(await metricValue(registry, 'tlsboot_csr_approvals_total', { controller: 'approver', reason: 'AutoApproved' }), 1);
    assert.equal(await metricValue(registry, 'tlsboot_certificates_issued_total', { signer }), 1);
    assert.equal(await metricValue(registry, 'tlsboot_csr_issuance_duration_seconds', { signer, le: '+Inf' }), 1);
    assert.equal(await metricValue(registry, 'tlsboot_csr_issuance_duration_seconds', { signer, le: '2.5' }), 1);
    assert.equal(await metricValue(registry, 'tlsboot_csr_issuance_duration_seconds', { signer, le: '1' }), 0);
  });

  test('a serving denial counts for the serving approver with its reason', async () => {
    const { registry, client, cache } = setup();
    cache.set('s', csr('s', 'kubernetes.io/kubelet-serving'));
    await client.update(CSRS, csr('s', 'kubernetes.io/kubelet-serving', denied('UnprovenAddress')), 'approval');
    assert.equal(
      await metricValue(registry, 'tlsboot_csr_denials_total', { controller: 'serving-approver', reason: 'UnprovenAddress' }),
      1,
    );
    assert.equal(await metricValue(registry, 'tlsboot_csr_approvals_total', {}), undefined);
  });

  test('a transaction counts its approval and certificate once; a failed one counts nothing', async () => {
    const { base, registry, client, cache } = setup();
    const signer = 'kubernetes.io/kube-apiserver-client-kubelet';
    const writes = (name: string): ClusterWrite[] => [
      { verb: 'update', resource: CSRS, object: csr(name, signer, approved('AutoApproved')), subresource: 'approval' },
      {
        verb: 'update',
        resource: CSRS,
        object: csr(name, signer, { ...approved('AutoApproved'), certificate: 'Y2VydA==' }),
        subresource: 'status',
      },
    ];
    cache.set('t', csr('t', signer));
    cache.set('f', csr('f', signer));
    base.failTransactions = true;
    await assert.rejects(client.transaction?.(writes('f')) ?? Promise.reject(new Error('no transaction')));
    assert.equal(await metricValue(registry, 'tlsboot_csr_approvals_total', {}), undefined);
    assert.equal(await metricValue(registry, 'tlsboot_certificates_issued_total', {}), undefined);
    base.failTransactions = false;
    await client.transaction?.(writes('t'));
    assert.equal(await metricValue(registry, 'tlsboot_csr_approvals_total', { controller: 'approver', reason: 'AutoApproved' }), 1);
    assert.equal(await metricValue(registry, 'tlsboot_certificates_issued_total', { signer }), 1);
  });

  test('what the cache already shows issued or approved is not counted again', async () => {
    const { registry, client, cache } = setup();
    const signer = 'kubernetes.io/kube-apiserver-client';
    const issued = csr('i', signer, { ...approved('KubectlApprove'), certificate: 'Y2VydA==' });
    cache.set('i', issued);
    await client.update(CSRS, issued, 'approval');
    await client.update(CSRS, issued, 'status');
    assert.equal(await metricValue(registry, 'tlsboot_csr_approvals_total', {}), undefined);
    assert.equal(await metricValue(registry, 'tlsboot_certificates_issued_total', {}), undefined);
  });

  test('pending leaves out issued, denied and failed requests', () => {
    const signer = 'kubernetes.io/kube-apiserver-client';
    const pending = pendingCsrs([
      csr('waiting', signer),
      csr('approved-unsigned', signer, approved('AutoApproved')),
      csr('issued', signer, { ...approved('AutoApproved'), certificate: 'Y2VydA==' }),
      csr('denied', signer, denied('No')),
      csr('failed', signer, { conditions: [{ type: 'Failed', status: 'True', reason: 'SignerRefused' }] }),
    ]);
    assert.deepEqual(pending, [
      { signer, createdMs: Date.parse(CREATED) },
      { signer, createdMs: Date.parse(CREATED) },
    ]);
  });
});
