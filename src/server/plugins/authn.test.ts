/**
 * Bearer authentication in process: bootstrap tokens (valid; right id with a wrong secret and an
 * unknown id answered alike; expired; without usage-bootstrap-authentication; secret compared
 * with timingSafeEqual; a store that cannot answer is 503, not 401) and the static token file
 * (`--token-auth-file` CSV with its groups column, bad lines refused at start with their line
 * number, an unknown token 401). Who a request was authenticated as is read back through
 * SelfSubjectReview.
 */
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import { syncBuiltinESMExports } from 'node:module';
import { after, before, describe, mock, test } from 'node:test';
import { parseBootstrapToken } from '../../api/index.ts';
import { isTlsbootError, UnavailableError } from '../../base/errors.ts';
import { openSqliteStore } from '../../store/index.ts';
import { accessReviewHandlers } from '../admission.ts';
import { StaticTokens } from '../authn.ts';
import type { Authorizer } from '../authz.ts';
import { putBootstrapToken, startTestApi, type TestApi } from '../testing.ts';

const everyone: Authorizer = { authorize: () => ({ allowed: true, reason: 'test' }) };
const REVIEW = '/apis/authentication.k8s.io/v1/selfsubjectreviews';
const DAY = 86_400_000;

function whoAmI(api: TestApi, token: string) {
  return api.server.app.inject({
    method: 'POST',
    url: REVIEW,
    headers: { authorization: `Bearer ${token}` },
    payload: { apiVersion: 'authentication.k8s.io/v1', kind: 'SelfSubjectReview' },
  });
}

describe('bootstrap tokens', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi({ authorizer: everyone, virtualResources: accessReviewHandlers(everyone) });
    const now = api.clock.ms;
    await putBootstrapToken(api.store, {
      token: parseBootstrapToken('good01.0123456789abcdef'),
      usages: ['authentication', 'signing'],
      groups: ['system:bootstrappers:kubeadm:default-node-token'],
      expiration: new Date(now + DAY),
    });
    await putBootstrapToken(api.store, {
      token: parseBootstrapToken('old001.0123456789abcdef'),
      usages: ['authentication'],
      groups: [],
      expiration: new Date(now - 1000),
    });
    await putBootstrapToken(api.store, { token: parseBootstrapToken('sign01.0123456789abcdef'), usages: ['signing'], groups: [] });
  });
  after(async () => {
    await api?.close();
  });

  test('a valid token authenticates as system:bootstrap:<id> with its extra groups', async () => {
    const r = await whoAmI(api, 'good01.0123456789abcdef');
    assert.equal(r.statusCode, 201, r.body);
    assert.deepEqual(r.json<{ status: unknown }>().status, {
      userInfo: {
        username: 'system:bootstrap:good01',
        groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'],
      },
    });
  });

  test('the right id with a wrong secret is a 401 that looks exactly like an unknown id', async () => {
    const wrong = await whoAmI(api, 'good01.0123456789abcdee');
    const unknown = await whoAmI(api, 'nope01.0123456789abcdef');
    assert.equal(wrong.statusCode, 401);
    assert.equal(unknown.statusCode, 401);
    assert.equal(wrong.body, unknown.body, 'nothing in the answer says the id exists');
    assert.equal(wrong.headers['www-authenticate'], unknown.headers['www-authenticate']);
  });

  test('an expired token is a 401, and so is a valid one once the clock passes its expiration', async () => {
    assert.equal((await whoAmI(api, 'old001.0123456789abcdef')).statusCode, 401);
    const saved = api.clock.ms;
    try {
      api.clock.ms += DAY + 1000;
      assert.equal((await whoAmI(api, 'good01.0123456789abcdef')).statusCode, 401);
    } finally {
      api.clock.ms = saved;
    }
  });

  test('a token without usage-bootstrap-authentication is a 401', async () => {
    assert.equal((await whoAmI(api, 'sign01.0123456789abcdef')).statusCode, 401);
  });

  test('the secret is compared with timingSafeEqual', async (t) => {
    const spy = mock.method(crypto, 'timingSafeEqual');
    syncBuiltinESMExports();
    t.after(() => {
      spy.mock.restore();
      syncBuiltinESMExports();
    });
    assert.equal((await whoAmI(api, 'good01.0123456789abcdee')).statusCode, 401);
    const compared = spy.mock.calls.map((c) => c.arguments.map((b) => Buffer.from(b as Uint8Array).toString()).sort());
    assert.ok(
      compared.some((pair) => pair[0] === '0123456789abcdee' && pair[1] === '0123456789abcdef'),
      'the presented and stored secrets went through timingSafeEqual',
    );
  });

  test('a store that cannot answer makes the token check UNAVAILABLE (503), never a 401', async (t) => {
    const store = openSqliteStore({ path: ':memory:' });
    const failing = new Proxy(store, {
      get(target, prop) {
        if (prop === 'get')
          return async () => {
            throw new UnavailableError('STORE', 'database is locked');
          };
        const value: unknown = Reflect.get(target, prop);
        return typeof value === 'function' ? value.bind(target) : value;
      },
    });
    const broken = await startTestApi({ store: failing, authorizer: everyone, virtualResources: accessReviewHandlers(everyone) });
    t.after(async () => {
      await broken.close();
      await store.close();
    });
    const r = await whoAmI(broken, 'good01.0123456789abcdef');
    assert.equal(r.statusCode, 503, r.body);
    assert.equal(r.json<{ reason: string }>().reason, 'ServiceUnavailable');
    // A token that is no bootstrap token never reaches the store, and stays a plain 401.
    assert.equal((await whoAmI(broken, 'not-a-bootstrap-token')).statusCode, 401);
  });
});

describe('the static token file (--token-auth-file)', () => {
  const csv = ['# token,user,uid,"group1,group2"', 't-alice,alice,1001,"devs,ops"', '', 't-bob,bob,1002', 't-carol,carol'].join('\n');
  let api: TestApi;
  before(async () => {
    api = await startTestApi({
      staticTokens: StaticTokens.parse(csv, 'tokens.csv'),
      authorizer: everyone,
      virtualResources: accessReviewHandlers(everyone),
    });
  });
  after(async () => {
    await api?.close();
  });

  test('each line is TOKEN,USER,UID,"GROUPS": the user, uid and every group of the quoted column', async () => {
    const status = async (token: string) => (await whoAmI(api, token)).json<{ status: unknown }>().status;
    assert.deepEqual(await status('t-alice'), {
      userInfo: { username: 'alice', uid: '1001', groups: ['devs', 'ops', 'system:authenticated'] },
    });
    assert.deepEqual(await status('t-bob'), { userInfo: { username: 'bob', uid: '1002', groups: ['system:authenticated'] } });
    assert.deepEqual(await status('t-carol'), { userInfo: { username: 'carol', groups: ['system:authenticated'] } });
  });

  test('an unknown token is a 401', async () => {
    const r = await whoAmI(api, 't-mallory');
    assert.equal(r.statusCode, 401);
    assert.equal(r.json<{ reason: string }>().reason, 'Unauthorized');
  });

  test('a bad line is refused at start, naming the file and its line number', () => {
    for (const [text, line] of [
      ['t-alice,alice,1\nt-bob\n', 2],
      ['# comment\n\n,nobody,3\n', 3],
      ['t-x,\n', 1],
    ] as const) {
      assert.throws(
        () => StaticTokens.parse(text, 'tokens.csv'),
        (e) => isTlsbootError(e) && e.code === 'INVALID' && e.reason === 'TOKEN_FILE' && e.message.startsWith(`tokens.csv:${line}:`),
        JSON.stringify(text),
      );
    }
  });
});
