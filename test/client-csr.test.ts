/**
 * The typed CSR client (src/client/csr.ts) against the in-process API server over HTTPS: what it
 * creates, reads, decides and watches comes back as a checked CertificateSigningRequest, and an
 * answer that is not one is refused naming the field rather than handed on.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { asStatus, csrConditions, csrIsApproved, csrIsPending } from '../src/api/index.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { KubeClient, type RequestOptions } from '../src/client/client.ts';
import { createCsr, decideCsr, getCsr, watchCsr } from '../src/client/csr.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from '../src/server/testing.ts';
import { clientCsrObject } from './helpers/pki.ts';

describe('typed CSR client', () => {
  let api: TestApi;
  let client: KubeClient;
  before(async () => {
    api = await startTestApi();
    const { port } = await api.server.listen('127.0.0.1', 0);
    client = new KubeClient({ server: `https://127.0.0.1:${port}`, caPem: api.caPem, token: ADMIN_TOKEN });
  });
  after(async () => {
    client.close();
    await api.close();
  });

  test('create, get, approve and watch answer typed CSRs', async () => {
    const created = await createCsr(client, clientCsrObject('typed-1'));
    assert.equal(created.spec.username, 'admin', 'the server set the requester');
    assert.equal(csrIsPending(created), true);
    const got = await getCsr(client, 'typed-1');
    assert.equal(got.metadata?.uid, created.metadata?.uid);

    const events = watchCsr(client, 'typed-1', got.metadata?.resourceVersion ?? '', AbortSignal.timeout(10_000));
    const approved = await decideCsr(client, 'typed-1', 'Approved', 'ByTest', 'approved by the test', () => new Date(api.clock.ms));
    assert.equal(csrIsApproved(approved), true);
    const first = await events.next();
    assert.equal(first.done, false);
    assert.equal(first.value?.type, 'MODIFIED');
    assert.deepEqual(first.value?.type === 'MODIFIED' ? csrConditions(first.value.object).map((c) => [c.type, c.reason]) : [], [
      ['Approved', 'ByTest'],
    ]);
    await events.return(undefined);

    await assert.rejects(
      decideCsr(client, 'typed-1', 'Denied', 'ByTest', 'too late', () => new Date(api.clock.ms)),
      (e: unknown) => isTlsbootError(e) && e.code === 'CONFLICT' && e.reason === 'CSR_ALREADY_DECIDED',
    );
  });
});

/** A client whose server answers every request with `body` (HTTP 200), to feed the guards what a real server would not send. */
class CannedClient extends KubeClient {
  readonly body: string;
  constructor(body: unknown, raw = false) {
    super({ server: 'https://127.0.0.1:1' });
    this.body = raw && typeof body === 'string' ? body : JSON.stringify(body);
  }
  override async raw(_path: string, _options?: RequestOptions): Promise<{ status: number; body: Buffer }> {
    return { status: 200, body: Buffer.from(this.body) };
  }
}

describe('KubeClient.request answers JSON objects only', () => {
  for (const [what, body] of [
    ['a JSON list', '[{"kind":"CertificateSigningRequest"}]'],
    ['a JSON string', '"ok"'],
    ['JSON null', 'null'],
    ['text that is not JSON', 'ok'],
  ] as const) {
    test(`${what} is INTERNAL/CLIENT_BODY`, async () => {
      const client = new CannedClient(body, true);
      try {
        await assert.rejects(
          client.request('/x'),
          (e: unknown) => isTlsbootError(e) && e.code === 'INTERNAL' && e.reason === 'CLIENT_BODY',
        );
      } finally {
        client.close();
      }
    });
  }

  test('an object comes back as is, or through the decoder given', async () => {
    const client = new CannedClient({ kind: 'Status', code: 409 });
    try {
      assert.deepEqual(await client.request('/x'), { kind: 'Status', code: 409 });
      assert.equal((await client.request('/x', {}, asStatus)).code, 409);
    } finally {
      client.close();
    }
  });
});

describe('typed CSR client refuses what is not a CSR', () => {
  const cases: readonly (readonly [string, unknown, string])[] = [
    ['a signerName that is not a string', { spec: { request: 'UkVR', signerName: 7 } }, 'spec.signerName'],
    ['a Status where a CSR belongs', { kind: 'Status', status: 'Success' }, 'spec'],
    ['conditions that are not a list', { spec: { request: 'UkVR', signerName: 'a.b/c' }, status: { conditions: {} } }, 'status.conditions'],
  ];
  for (const [what, body, field] of cases) {
    test(`${what}: INVALID naming ${field}`, async () => {
      const client = new CannedClient(body);
      try {
        await assert.rejects(getCsr(client, 'x'), (e: unknown) => {
          assert.ok(isTlsbootError(e));
          assert.deepEqual({ code: e.code, reason: e.reason, field: e.field }, { code: 'INVALID', reason: 'OBJECT_FIELD', field });
          return true;
        });
      } finally {
        client.close();
      }
    });
  }
});
