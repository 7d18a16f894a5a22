/**
 * Metrics after real work, in one process: a real `tlsboot server` (startControlPlane over a
 * directory `init` wrote) and a real `tlsboot join` over HTTPS. The scrape, over HTTPS as a
 * Prometheus in the group system:monitoring would (403 for a user outside it), reads one issued
 * certificate, one approval, one observation of the CSR-to-certificate histogram, a pending CSR
 * by signer and age, the API server certificate's expiry and the store's writes; promtool
 * accepts the output. The node's agent serves its certificate's expiry on a loopback address
 * only, and README's sample alert passes `promtool check rules`.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import pino from 'pino';
import { startAgent } from '../src/agent/agent.ts';
import { joinCluster } from '../src/agent/join.ts';
import { parseBootstrapToken } from '../src/api/index.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { type ControlPlane, startControlPlane } from '../src/control-plane/control-plane.ts';
import { runInit } from '../src/kubeadm/init.ts';
import { parseCertificateBundle, parseCertificatePem } from '../src/pki/index.ts';
import { putBootstrapToken } from '../src/server/testing.ts';
import { promtoolCheckMetrics, promtoolCheckRules, sample } from './helpers/metrics.ts';
import { clientCsrObject, testInitOptions } from './helpers/pki.ts';
import { freePort, toolSkip } from './helpers/processes.ts';

const TOKEN = 'metric.0123456789abcdef';
const PROMETHEUS = 'prometheus-token-0123456789';
const SOMEONE = 'someone-token-0123456789';
const ADMIN = 'admin-token-0123456789';
const KUBELET_CLIENT = 'kubernetes.io/kube-apiserver-client-kubelet';

function get(url: string, ca: string, token: string, method = 'GET', body?: unknown): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const payload = body === undefined ? undefined : JSON.stringify(body);
    const req = request(
      url,
      {
        method,
        ca,
        headers: { authorization: `Bearer ${token}`, ...(payload === undefined ? {} : { 'content-type': 'application/json' }) },
      },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => {
          text += c;
        });
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

describe('metrics after a real join', () => {
  const dir = mkdtempSync(join(tmpdir(), 'tlsboot-metrics-'));
  let plane: ControlPlane;
  let url: string;
  let caPem: string;

  before(async () => {
    const port = await freePort();
    runInit(dir, testInitOptions({ nodeName: 'cp1', advertiseAddress: '127.0.0.1', bindPort: port }), { now: new Date(), randomBytes });
    const tokens = join(dir, 'tokens.csv');
    writeFileSync(
      tokens,
      [`${PROMETHEUS},prometheus,100,"system:monitoring"`, `${SOMEONE},someone,101`, `${ADMIN},admin,102,"system:masters"`].join('\n'),
    );
    plane = await startControlPlane({
      dir,
      host: '127.0.0.1',
      port,
      tokenAuthFile: tokens,
      logger: pino({ level: 'silent' }),
      now: () => new Date(),
      randomBytes,
    });
    url = `https://127.0.0.1:${plane.address.port}`;
    caPem = readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8');
    await putBootstrapToken(plane.store, {
      token: parseBootstrapToken(TOKEN),
      usages: ['signing', 'authentication'],
      groups: ['system:bootstrappers:kubeadm:default-node-token'],
    });
    await joinCluster({
      endpoint: url,
      token: TOKEN,
      pins: [plane.caPin],
      unsafeSkipCaVerification: false,
      nodeName: 'metrics-node',
      nodeDir: join(dir, 'node'),
      discoveryTimeoutMs: 30_000,
      discoveryRetryMs: 200,
      tlsBootstrapTimeoutMs: 30_000,
      clock: REAL_CLOCK,
      log: () => {},
    });
  });

  after(async () => {
    await plane?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  test('/metrics is 403 outside system:monitoring and 200 inside it', async () => {
    assert.equal((await get(`${url}/metrics`, caPem, SOMEONE)).status, 403);
    assert.equal((await get(`${url}/metrics`, caPem, PROMETHEUS)).status, 200);
  });

  test('a joined node reads as one issued certificate, one approval and one issuance time', async () => {
    const text = (await get(`${url}/metrics`, caPem, PROMETHEUS)).body;
    assert.equal(sample(text, 'tlsboot_certificates_issued_total', { signer: KUBELET_CLIENT }), 1);
    assert.equal(sample(text, 'tlsboot_csr_issuance_duration_seconds_count', { signer: KUBELET_CLIENT }), 1);
    const seconds = sample(text, 'tlsboot_csr_issuance_duration_seconds_sum', { signer: KUBELET_CLIENT }) ?? -1;
    assert.ok(seconds >= 0 && seconds < 30, `issuance took ${seconds} s`);
    assert.equal(sample(text, 'tlsboot_csr_approvals_total', { controller: 'approver', reason: 'AutoApproved' }), 1);
    assert.equal(sample(text, 'tlsboot_csr_denials_total'), undefined);
    assert.equal(
      sample(text, 'tlsboot_apiserver_request_total', { verb: 'create', resource: 'certificatesigningrequests', code: '201' }),
      1,
    );
    assert.ok((sample(text, 'tlsboot_store_write_duration_seconds_count', { operation: 'create' }) ?? 0) >= 1);
    assert.ok((sample(text, 'tlsboot_store_write_duration_seconds_count', { operation: 'txn' }) ?? 0) >= 1, 'the issuance transaction');
    const apiserver = parseCertificatePem(readFileSync(join(dir, 'pki', 'apiserver.crt')), 'apiserver.crt');
    assert.equal(
      sample(text, 'tlsboot_certificate_expiry_timestamp_seconds', { certificate: 'apiserver' }),
      Math.floor(apiserver.notAfter.getTime() / 1000),
    );
    assert.ok(sample(text, 'tlsboot_certificate_expiry_timestamp_seconds', { certificate: 'ca' }));
    const crlAge = sample(text, 'tlsboot_crl_age_seconds', { shard: '31' }) ?? -1;
    assert.ok(crlAge >= 0 && crlAge < 60, `the CRLs were signed at start (${crlAge} s ago)`);
    assert.ok((sample(text, 'tlsboot_crl_next_update_timestamp_seconds', { shard: '0' }) ?? 0) * 1000 > Date.now());
    assert.equal(sample(text, 'tlsboot_csr_pending', { signer: KUBELET_CLIENT }), undefined, 'the joined node waits for nothing');
  });

  test('a CSR no controller decides is pending, by signer and age', async () => {
    const created = await get(
      `${url}/apis/certificates.k8s.io/v1/certificatesigningrequests`,
      caPem,
      ADMIN,
      'POST',
      clientCsrObject('waits-for-a-person'),
    );
    assert.equal(created.status, 201, created.body);
    const signer = 'kubernetes.io/kube-apiserver-client';
    let text = '';
    for (let i = 0; i < 100; i++) {
      text = (await get(`${url}/metrics`, caPem, PROMETHEUS)).body;
      if (sample(text, 'tlsboot_csr_pending', { signer, age: 'under_1m' }) !== undefined) break;
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(sample(text, 'tlsboot_csr_pending', { signer, age: 'under_1m' }), 1);
    const oldest = sample(text, 'tlsboot_csr_pending_oldest_age_seconds', { signer }) ?? -1;
    assert.ok(oldest >= 0 && oldest < 60, `oldest ${oldest}`);
  });

  test('promtool check metrics accepts the scrape', { skip: toolSkip('promtool') }, async () => {
    const r = promtoolCheckMetrics((await get(`${url}/metrics`, caPem, PROMETHEUS)).body);
    assert.equal(r.status, 0, r.output);
  });

  test("the agent serves its node's certificate expiry on loopback only", async () => {
    const nodeDir = join(dir, 'node');
    const params = {
      nodeDir,
      nodeName: 'metrics-node',
      rotateServerCertificates: false,
      nodeIps: [],
      servingHost: '127.0.0.1',
      servingPort: 0,
      clock: REAL_CLOCK,
      random: () => 0.5,
      log: () => {},
      warn: () => {},
    };
    for (const host of ['0.0.0.0', '10.0.0.1', 'localhost', '::'])
      assert.throws(
        () => startAgent({ ...params, metricsListen: { host, port: 0 } }),
        (e: unknown) => isTlsbootError(e) && e.reason === 'METRICS_LISTEN',
        host,
      );
    const agent = startAgent({ ...params, metricsListen: { host: '127.0.0.1', port: 0 } });
    try {
      const address = await agent.metrics?.address;
      assert.ok(address);
      const res = await fetch(`http://127.0.0.1:${address.port}/metrics`);
      assert.equal(res.status, 200);
      const text = await res.text();
      // The file holds the chain, then the key (kubelet's layout): the certificates are what precedes the key.
      const pem = readFileSync(join(nodeDir, 'pki', 'kubelet-client-current.pem'), 'utf8');
      const [leaf] = parseCertificateBundle(pem.slice(0, pem.indexOf('-----BEGIN EC PRIVATE KEY')), 'kubelet-client-current.pem');
      assert.ok(leaf);
      assert.equal(
        sample(text, 'tlsboot_certificate_expiry_timestamp_seconds', { certificate: 'kubelet-client', node: 'metrics-node' }),
        Math.floor(leaf.notAfter.getTime() / 1000),
      );
      if (!toolSkip('promtool')) assert.equal(promtoolCheckMetrics(text).status, 0, promtoolCheckMetrics(text).output);
    } finally {
      await agent.close();
    }
  });
});

test("README's sample alert passes promtool check rules", { skip: toolSkip('promtool') }, () => {
  const readme = readFileSync(new URL('../README.md', import.meta.url), 'utf8');
  const rules = /<!-- alert-rules -->\s*```yaml\n([\s\S]*?)```/.exec(readme)?.[1];
  assert.ok(rules, 'README has a yaml block after <!-- alert-rules -->');
  assert.match(rules, /tlsboot_certificate_expiry_timestamp_seconds/);
  const dir = mkdtempSync(join(tmpdir(), 'tlsboot-rules-'));
  try {
    const file = join(dir, 'rules.yaml');
    writeFileSync(file, rules);
    const r = promtoolCheckRules(file);
    assert.equal(r.status, 0, r.output);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
