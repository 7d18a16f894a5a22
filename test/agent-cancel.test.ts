/**
 * Cancellation is not a failure: a node waiting for its certificate whose shutdown signal fires
 * ends with CANCELLED (which `tlsboot` exits on quietly), not UNAVAILABLE as if the server were
 * away, whether the signal cuts a request short (the client's rule) or ends the watch (the
 * waiter's). A server hook holds each request until the test has aborted at that point.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { kubeletClientSpec } from '../src/agent/join.ts';
import { csrBody, waitForCertificate } from '../src/agent/request.ts';
import { isCancelled, isTlsbootError } from '../src/base/errors.ts';
import { KubeClient } from '../src/client/client.ts';
import { generatePrivateKey } from '../src/pki/index.ts';
import { ADMIN_TOKEN, startTestApi } from '../src/server/testing.ts';

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
    const created = await client.request(CSRS, {
      method: 'POST',
      body: csrBody(generatePrivateKey('ecdsa-p256'), kubeletClientSpec('n1'), { name: 'c1' }),
    });
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
