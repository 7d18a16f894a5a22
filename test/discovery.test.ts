/**
 * Token discovery against a fake, hostile control plane on loopback (security.md §5 items 10-15):
 * a malformed pin fails before any network I/O, several pins succeed if one matches, a changed
 * payload fails the JWS check, and an oversized or trickling cluster-info is cut off.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:https';
import { after, before, describe, test } from 'node:test';
import { discoverWithToken } from '../src/agent/discovery.ts';
import { REAL_CLOCK } from '../src/base/clock.ts';
import { clusterInfoKubeconfig } from '../src/control-plane/control-plane.ts';
import { certificatePin, certificateToPem, privateKeyToPem, signDetachedJws } from '../src/pki/index.ts';
import { selfSignedCa } from './helpers/pki.ts';

const { certificate: cert, key } = selfSignedCa({
  hours: 1,
  extKeyUsage: ['serverAuth'],
  sans: { dns: ['localhost'], ip: ['127.0.0.1'], email: [], uri: [] },
});
const caPem = certificateToPem(cert);
const tokenId = 'abcdef';
const tokenSecret = '0123456789abcdef';

type Mode = 'good' | 'tampered' | 'huge' | 'trickle' | 'unsigned';
let mode: Mode = 'good';
let server: Server;
let url = '';

before(async () => {
  server = createServer({ key: privateKeyToPem(key), cert: caPem }, (_req, res) => {
    const kubeconfig = clusterInfoKubeconfig(url, caPem);
    const jws = signDetachedJws(kubeconfig, tokenId, tokenSecret);
    if (mode === 'huge') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ data: { kubeconfig: 'x'.repeat(3 * 1024 * 1024) } }));
      return;
    }
    if (mode === 'trickle') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      const timer = setInterval(() => res.write(' '), 500);
      res.on('close', () => clearInterval(timer));
      return;
    }
    if (mode === 'unsigned') {
      res.writeHead(200, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ kind: 'ConfigMap', data: { kubeconfig } }));
      return;
    }
    const served = mode === 'tampered' ? kubeconfig.replace('server:', 'server: ') : kubeconfig;
    res.writeHead(200, { 'Content-Type': 'application/json' });
    res.end(JSON.stringify({ kind: 'ConfigMap', data: { kubeconfig: served, [`jws-kubeconfig-${tokenId}`]: jws } }));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const addr = server.address();
  url = `https://127.0.0.1:${typeof addr === 'object' && addr ? addr.port : 0}`;
});

after(() => {
  server.closeAllConnections();
  server.close();
});

const discover = (
  pins: string[],
  extra: { endpoint?: string; timeoutMs?: number; onRetry?: (attempt: number, problem: string) => void } = {},
) =>
  discoverWithToken({
    ...(extra.onRetry ? { onRetry: extra.onRetry } : {}),
    endpoint: extra.endpoint ?? url,
    tokenId,
    tokenSecret,
    pins,
    unsafeSkipCaVerification: false,
    timeoutMs: extra.timeoutMs ?? 2000,
    retryIntervalMs: 200,
    clock: REAL_CLOCK,
  });

const reasonOf = async (p: Promise<unknown>) => {
  try {
    await p;
    return 'ok';
  } catch (e) {
    return String((e as { reason?: string }).reason);
  }
};

describe('token discovery', () => {
  test('a malformed pin is a configuration error before any network I/O', async () => {
    assert.equal(await reasonOf(discover(['sha1:abcd'], { endpoint: 'https://127.0.0.1:1' })), 'PIN_FORMAT');
    assert.equal(await reasonOf(discover([`sha256:${'a'.repeat(63)}`], { endpoint: 'https://127.0.0.1:1' })), 'PIN_FORMAT');
  });

  test('several pins succeed when one of them matches', async () => {
    mode = 'good';
    const found = await discover([`sha256:${'0'.repeat(64)}`, certificatePin(cert)]);
    assert.equal(found.server, url);
    assert.equal(found.caPem, caPem);
  });

  test('a payload changed after signing fails the JWS check', async () => {
    mode = 'tampered';
    assert.equal(await reasonOf(discover([certificatePin(cert)])), 'DISCOVERY_JWS_MISMATCH');
  });

  test('an oversized cluster-info is cut off, and a trickling one times out', async () => {
    mode = 'huge';
    assert.equal(await reasonOf(discover([certificatePin(cert)])), 'CLIENT_RESPONSE_TOO_LARGE');
    mode = 'trickle';
    const started = Date.now();
    const r = await reasonOf(discover([certificatePin(cert)], { timeoutMs: 1500 }));
    assert.notEqual(r, 'ok');
    assert.ok(Date.now() - started < 15_000, 'bounded time');
  });

  test('a token unknown to cluster-info fails after a short retry, saying so; an unreachable server is retried, each attempt reported', async () => {
    mode = 'unsigned';
    const tries: string[] = [];
    const started = Date.now();
    const unknown = discover([certificatePin(cert)], { timeoutMs: 60_000, onRetry: (n, problem) => tries.push(`${n}: ${problem}`) });
    await assert.rejects(unknown, (e: unknown) => {
      assert.equal((e as { reason?: string }).reason, 'DISCOVERY_TOKEN_UNKNOWN');
      assert.match(String((e as Error).message), /after 3 attempts: there is no JWS signature in cluster-info for token id "abcdef"/);
      return true;
    });
    assert.equal(tries.length, 2);
    assert.ok(Date.now() - started < 10_000, 'not the whole discovery timeout');
    const down: string[] = [];
    await assert.rejects(
      discover([certificatePin(cert)], {
        endpoint: 'https://127.0.0.1:1',
        timeoutMs: 1000,
        onRetry: (n, problem) => down.push(`${n}: ${problem}`),
      }),
      /discovery timed out after \d+ attempts/,
    );
    assert.ok(down.length >= 2, JSON.stringify(down));
    assert.match(down[0] ?? '', /^1: /);
  });
});
