/** The console's Prometheus text parser and summary: strict on what it reads, never throwing on what it cannot. */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { histogramQuantile, metricsView, parsePrometheusText } from './metrics.ts';

const EXPOSITION = `# HELP tlsboot_certificates_issued_total Certificates issued.
# TYPE tlsboot_certificates_issued_total counter
tlsboot_certificates_issued_total{signer="kubernetes.io/kubelet-serving"} 7
tlsboot_certificates_issued_total{signer="kubernetes.io/kube-apiserver-client"} 2
tlsboot_csr_pending{signer="a",age="under_1m"} 1
tlsboot_csr_pending{signer="b",age="under_1m"} 2
tlsboot_csr_pending{signer="a",age="over_1d"} 1
tlsboot_csr_issuance_duration_seconds_bucket{le="0.1",signer="s"} 0
tlsboot_csr_issuance_duration_seconds_bucket{le="1",signer="s"} 50
tlsboot_csr_issuance_duration_seconds_bucket{le="10",signer="s"} 100
tlsboot_csr_issuance_duration_seconds_bucket{le="+Inf",signer="s"} 100
tlsboot_csr_issuance_duration_seconds_sum{signer="s"} 150
tlsboot_csr_issuance_duration_seconds_count{signer="s"} 100
tlsboot_authentication_failures_total{method="token"} 3
tlsboot_csr_denials_total{controller="approver",reason="NotAllowed"} 4
tlsboot_certificates_revoked_total{reason="keyCompromise"} 1
tlsboot_crl_age_seconds{shard="0"} 42.5
a line that is not a sample
tlsboot_bad_value 12abc
tlsboot_bad_labels{signer="unterminated} 1
tlsboot_dup{a="1",a="2"} 1
`;

test('parses sample lines with escaped label values, skips comments, counts bad lines instead of throwing', () => {
  const { samples, skipped } = parsePrometheusText('# c\nm{a="x\\"y\\\\z\\n",b=""} -1.5e3 1700000000\nn +Inf\nbroken{ 1\n');
  assert.deepEqual(samples[0], { name: 'm', labels: { a: 'x"y\\z\n', b: '' }, value: -1500 });
  assert.equal(samples[1]?.value, Number.POSITIVE_INFINITY);
  assert.equal(skipped, 1);
});

test('summarises issued, pending by age, latency, decisions, failures and revocations; bad lines skipped', () => {
  const m = metricsView(EXPOSITION);
  assert.deepEqual(
    m.issued.map((c) => [c.labels.signer, c.value]),
    [
      ['kubernetes.io/kubelet-serving', 7],
      ['kubernetes.io/kube-apiserver-client', 2],
    ],
  );
  assert.deepEqual(
    m.pending.map((c) => [c.labels.age, c.value]),
    [
      ['under_1m', 3],
      ['over_1d', 1],
    ],
  );
  assert.deepEqual(m.issuance, [{ signer: 's', count: 100, meanSeconds: 1.5, p50Seconds: 1, p99Seconds: 9.82 }]);
  assert.deepEqual(m.denials, [{ labels: { controller: 'approver', reason: 'NotAllowed' }, value: 4 }]);
  assert.deepEqual(m.approvals, []);
  assert.deepEqual(m.authenticationFailures, [{ labels: { method: 'token' }, value: 3 }]);
  assert.deepEqual(m.revocations, [{ labels: { reason: 'keyCompromise' }, value: 1 }]);
  assert.deepEqual(m.crlAgeSeconds, [{ labels: { shard: '0' }, value: 42.5 }]);
  assert.equal(m.skippedLines, 4);
});

test('histogram quantiles interpolate within the bucket, stop at the highest finite bound, and are null when empty', () => {
  const inf = Number.POSITIVE_INFINITY;
  assert.equal(
    histogramQuantile(0.25, [
      { le: 2, count: 10 },
      { le: 4, count: 20 },
      { le: inf, count: 20 },
    ]),
    1,
  );
  assert.equal(
    histogramQuantile(0.99, [
      { le: 1, count: 1 },
      { le: inf, count: 10 },
    ]),
    1,
  );
  assert.equal(histogramQuantile(0.5, [{ le: inf, count: 0 }]), null);
  assert.equal(histogramQuantile(0.5, []), null);
});
