/**
 * Cancellation is not a failure: a node waiting for its certificate whose shutdown signal fires
 * ends with CANCELLED (which `tlsboot` exits on quietly), not UNAVAILABLE as if the server were
 * away, whether the signal cuts a request short (the client's rule) or ends the watch (the
 * waiter's). A server hook holds each request until the test has aborted at that point.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';
import { kubeletClientSpec } from '../src/agent/join.ts';
import { csrBody, waitForCertificate } from '../src/agent/request.ts';
import { asCertificateSigningRequest } from '../src/api/index.ts';
import { buildKubeconfig } from '../src/api/kubeconfig.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import { isCancelled, isTlsbootError } from '../src/base/errors.ts';
import type { CliEnv } from '../src/cli/io.ts';
import { runCli } from '../src/cli/program.ts';
import { KubeClient } from '../src/client/client.ts';
import { generatePrivateKey } from '../src/pki/index.ts';
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN, startTestApi } from '../src/server/testing.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

async function waitCancelledAt(point: 'get' | 'watch', timeoutMs = 600_000, abort = true): Promise<unknown> {
  const api = await startTestApi();
  const stop = new AbortController();
  let reached: () => void = () => {};
  const arrived = new Promise<void>((r) => {
    reached = r;
  });
  api.server.app.addHook('onRequest', async (req) => {
    const isWatch = (req.url ?? '').includes('watch=');
    const isGet = req.method === 'GET' && (req.url ?? '').startsWith(`${CSRS}/c1`);
    if ((point === 'watch' && isWatch) || (point === 'get' && isGet)) {
      reached();
      // Answer only after the client gave up.
      await new Promise<void>((r) => {
        if (stop.signal.aborted) return r();
        stop.signal.addEventListener('abort', () => r(), { once: true });
        req.raw.once('close', () => r());
      });
    }
  });
  const { port } = await api.server.listen('127.0.0.1', 0);
  const client = new KubeClient({ server: `https://127.0.0.1:${port}`, caPem: api.caPem, token: ADMIN_TOKEN });
  try {
    const created = await client.request(
      CSRS,
      { method: 'POST', body: csrBody(generatePrivateKey('ecdsa-p256'), kubeletClientSpec('n1'), { name: 'c1' }) },
      asCertificateSigningRequest,
    );
    const waiting = waitForCertificate(client, created, timeoutMs, stop.signal);
    await arrived;
    if (abort) stop.abort();
    return await waiting.then(
      () => 'resolved',
      (e: unknown) => e,
    );
  } finally {
    client.close();
    await api.close();
  }
}

for (const point of ['get', 'watch'] as const) {
  test(`waitForCertificate ends with CANCELLED when its signal aborts during the ${point}`, async () => {
    const outcome = await waitCancelledAt(point);
    assert.ok(isCancelled(outcome) && isTlsbootError(outcome) && outcome.code === 'CANCELLED', String(outcome));
  });
}

test('a deadline is not a cancellation: the wait timing out mid-request is UNAVAILABLE', async () => {
  const outcome = await waitCancelledAt('get', 300, false);
  assert.ok(isTlsbootError(outcome) && outcome.code === 'UNAVAILABLE', String(outcome));
});

test('tlsboot join cancelled by the shutdown signal exits 130 with no error line', async () => {
  const api = await startTestApi({ authorizer: { authorize: () => ({ allowed: true, reason: 'test' }) } });
  const shutdown = new AbortController();
  api.server.app.addHook('onRequest', async (req) => {
    // Shut down once the join is waiting on its CSR's watch.
    if ((req.url ?? '').includes('watch=')) shutdown.abort();
  });
  const { port } = await api.server.listen('127.0.0.1', 0);
  const dir = mkdtempSync(join(tmpdir(), 'tlsboot-cancel-'));
  const out: string[] = [];
  const err: string[] = [];
  try {
    const discovery = join(dir, 'discovery.conf');
    writeFileSync(
      discovery,
      buildKubeconfig({ server: `https://127.0.0.1:${port}`, caPem: api.caPem, clusterName: 'c', userName: 'u', token: BOOTSTRAP_TOKEN }),
    );
    const env: CliEnv = {
      stdout: { write: (s) => void out.push(s) },
      stderr: { write: (s) => void err.push(s) },
      clock: REAL_CLOCK,
      now: () => new Date(),
      randomBytes: (n) => randomBytes(n),
      hostname: 'n1',
      shutdown: shutdown.signal,
      vars: {},
      readStdin: async () => Buffer.alloc(0),
      promptSecret: async () => Buffer.alloc(0),
    };
    const code = await runCli(['join', '--discovery-file', discovery, '--dir', join(dir, 'node'), '--node-name', 'n1'], env);
    assert.equal(code, 130, err.join(''));
    assert.equal(err.join(''), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
    await api.close();
  }
});
