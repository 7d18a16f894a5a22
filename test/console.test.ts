/**
 * The console's guards in process (inject()), against the test API server with real RBAC: only
 * loopback, a one-time login, the session cookie's attributes, and that a request without the
 * cookie, with a forged or missing CSRF token, from another origin or another Host changes nothing.
 * Also the page's assets (strict CSP, no inline script), the queue's pagination over many CSRs, and
 * the metrics read as the user (a user without `get` on /metrics gets the API's 403).
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import { csrConditions } from '../src/api/index.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { KubeClient } from '../src/client/client.ts';
import { revocationAdmission } from '../src/control-plane/revocations.ts';
import { createCsrPem, generatePrivateKey } from '../src/pki/index.ts';
import { startTestApiWithRoles, type TestApi } from '../src/server/testing.ts';
import { MemoryAuditLog } from '../src/signer/audit.ts';
import { openSqliteStore } from '../src/store/index.ts';
import { createConsole, parseListen, type WebConsole } from '../src/web/console.ts';
import { LOGIN_TTL_MS, SESSION_COOKIE } from '../src/web/session.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
const KEY = generatePrivateKey('ecdsa-p256');

function csr(name: string) {
  const pem = createCsrPem({ key: KEY, subject: [{ type: 'CN', value: `user-${name}` }], sans: { dns: [], ip: [], email: [], uri: [] } });
  return {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name },
    spec: { request: Buffer.from(pem).toString('base64'), signerName: 'kubernetes.io/kube-apiserver-client', usages: ['client auth'] },
  };
}

describe('parseListen', () => {
  for (const ok of ['127.0.0.1:8080', '127.1.2.3:0', '[::1]:9000', 'localhost:1']) test(`accepts ${ok}`, () => assert.ok(parseListen(ok)));
  for (const bad of ['0.0.0.0:8080', '10.0.0.1:80', '[::]:80', 'example.com:80', '192.168.1.2:8080', '127.0.0.1', '127.0.0.1:99999'])
    test(`refuses ${bad}`, () =>
      assert.throws(
        () => parseListen(bad),
        (e: unknown) => isTlsbootError(e) && e.code === 'INVALID',
      ));
});

describe('console guards (inject)', () => {
  let api: TestApi;
  let client: KubeClient;
  let web: WebConsole;
  let host: string;
  const clock = { ms: Date.now() };
  before(async () => {
    api = await startTestApiWithRoles({
      viewer: [{ apiGroups: ['certificates.k8s.io'], resources: ['certificatesigningrequests'], verbs: ['get', 'list', 'watch'] }],
    });
    const { port } = await api.server.listen('127.0.0.1', 0);
    client = new KubeClient({ server: `https://127.0.0.1:${port}`, caPem: api.caPem, token: 'admin' });
    web = await createConsole({ client, listen: parseListen('127.0.0.1:0'), now: () => new Date(clock.ms), randomBytes });
    host = new URL(web.origin).host;
  });
  after(async () => {
    await web.close();
    client.close();
    await api.close();
  });

  const inject = (method: 'GET' | 'POST' | 'DELETE', url: string, headers: Record<string, string> = {}, payload?: unknown) =>
    web.app.inject({
      method,
      url,
      headers: { host, ...(payload === undefined ? {} : { 'content-type': 'application/json' }), ...headers },
      ...(payload === undefined ? {} : { payload: JSON.stringify(payload) }),
    });

  async function login(): Promise<{ cookie: string; csrf: string }> {
    const token = new URL(web.loginUrl()).searchParams.get('token') ?? '';
    const res = await inject('GET', `/login?token=${token}`);
    assert.equal(res.statusCode, 200);
    const set = String(res.headers['set-cookie']);
    const cookie = set.split(';')[0] ?? '';
    const session = await inject('GET', '/api/session', { cookie });
    assert.equal(session.statusCode, 200);
    // A token user, named as the API server authenticated it (SelfSubjectReview).
    assert.equal(session.json<{ user: string }>().user, 'admin');
    return { cookie, csrf: session.json<{ csrf: string }>().csrf };
  }

  async function conditionsOf(name: string): Promise<string[]> {
    const res = await api.request('admin', 'GET', `${CSRS}/${name}`);
    return csrConditions(res.json<{ status?: { conditions?: [] } }>()).map((c) => `${c.type}:${c.message ?? ''}`);
  }

  test('a login URL works once, within its expiry, and sets an HttpOnly, SameSite=Strict cookie', async () => {
    const token = new URL(web.loginUrl()).searchParams.get('token') ?? '';
    assert.ok(token.length >= 40, 'a long random token');
    const first = await inject('GET', `/login?token=${token}`);
    assert.equal(first.statusCode, 200);
    const set = String(first.headers['set-cookie']);
    assert.match(set, new RegExp(`^${SESSION_COOKIE}=[A-Za-z0-9_-]{40,}; HttpOnly; SameSite=Strict; Path=/$`));
    assert.equal((await inject('GET', `/login?token=${token}`)).statusCode, 401, 'a second use is refused');
    assert.equal((await inject('GET', '/login?token=guessed')).statusCode, 401);
    const stale = new URL(web.loginUrl()).searchParams.get('token') ?? '';
    clock.ms += LOGIN_TTL_MS + 1;
    try {
      assert.equal((await inject('GET', `/login?token=${stale}`)).statusCode, 401, 'an expired one is refused');
    } finally {
      clock.ms -= LOGIN_TTL_MS + 1;
    }
  });

  test('without the session cookie, /api answers 401 and a decision changes nothing', async () => {
    await api.request('admin', 'POST', CSRS, csr('nocookie'));
    const uid = (await api.request('admin', 'GET', `${CSRS}/nocookie`)).json<{ metadata: { uid: string } }>().metadata.uid;
    assert.equal((await inject('GET', '/api/csrs')).statusCode, 401);
    const res = await inject('POST', '/api/csrs/nocookie/approve', { 'x-csrf-token': 'anything' }, { uid });
    assert.equal(res.statusCode, 401);
    assert.equal((await inject('GET', '/')).statusCode, 401, 'the page itself asks for a login');
    assert.deepEqual(await conditionsOf('nocookie'), []);
  });

  test('a missing, forged or other session CSRF token, another Origin or another Host is refused and changes nothing', async () => {
    await api.request('admin', 'POST', CSRS, csr('forged'));
    const uid = (await api.request('admin', 'GET', `${CSRS}/forged`)).json<{ metadata: { uid: string } }>().metadata.uid;
    const me = await login();
    const other = await login();
    const attempts: [string, Record<string, string>, number][] = [
      ['no CSRF header', { cookie: me.cookie }, 403],
      ['a forged CSRF token', { cookie: me.cookie, 'x-csrf-token': 'forged-token-000000000000000000000000000' }, 403],
      ["another session's CSRF token", { cookie: me.cookie, 'x-csrf-token': other.csrf }, 403],
      ['another Origin', { cookie: me.cookie, 'x-csrf-token': me.csrf, origin: 'http://evil.example' }, 403],
      ['another Host (DNS rebinding)', { cookie: me.cookie, 'x-csrf-token': me.csrf, host: 'evil.example:8080' }, 421],
    ];
    for (const [what, headers, status] of attempts) {
      const approve = await inject('POST', '/api/csrs/forged/approve', headers, { uid });
      assert.equal(approve.statusCode, status, what);
      const token = await inject('POST', '/api/tokens', headers, { ttl: '1h' });
      assert.equal(token.statusCode, status, what);
    }
    assert.deepEqual(await conditionsOf('forged'), [], 'the CSR is still undecided');
    const tokens = await api.request('admin', 'GET', '/api/v1/namespaces/kube-system/secrets');
    assert.equal(tokens.json<{ items: unknown[] }>().items.length, 1, 'no token was created (only the fixture bootstrap token is there)');
  });

  test('with the cookie and its CSRF token: approve and deny (with a reason) as the user; a replaced CSR is refused', async () => {
    const me = await login();
    for (const name of ['approve-me', 'deny-me', 'replaced']) await api.request('admin', 'POST', CSRS, csr(name));
    const uidOf = async (name: string) =>
      (await api.request('admin', 'GET', `${CSRS}/${name}`)).json<{ metadata: { uid: string } }>().metadata.uid;
    const headers = { cookie: me.cookie, 'x-csrf-token': me.csrf, origin: web.origin };
    const approved = await inject('POST', '/api/csrs/approve-me/approve', headers, { uid: await uidOf('approve-me') });
    assert.equal(approved.statusCode, 200, approved.body);
    assert.match((await conditionsOf('approve-me'))[0] ?? '', /^Approved:Approved in tlsboot console by admin\.$/);
    const noReason = await inject('POST', '/api/csrs/deny-me/deny', headers, { uid: await uidOf('deny-me'), message: ' ' });
    assert.equal(noReason.statusCode, 400, 'a denial needs a reason');
    const denied = await inject('POST', '/api/csrs/deny-me/deny', headers, { uid: await uidOf('deny-me'), message: 'not one of ours' });
    assert.equal(denied.statusCode, 200);
    assert.deepEqual(await conditionsOf('deny-me'), ['Denied:not one of ours']);
    const replaced = await inject('POST', '/api/csrs/replaced/approve', headers, { uid: 'the-one-i-saw-before' });
    assert.equal(replaced.statusCode, 409);
    assert.deepEqual(await conditionsOf('replaced'), []);
  });

  test('a user without RBAC to approve gets the API server’s refusal and nothing changes', async () => {
    const viewer = new KubeClient({ server: client.config.server, caPem: api.caPem, token: 'viewer' });
    const limited = await createConsole({ client: viewer, listen: parseListen('127.0.0.1:0'), now: () => new Date(clock.ms), randomBytes });
    try {
      await api.request('admin', 'POST', CSRS, csr('not-yours'));
      const uid = (await api.request('admin', 'GET', `${CSRS}/not-yours`)).json<{ metadata: { uid: string } }>().metadata.uid;
      const h = new URL(limited.origin).host;
      const token = new URL(limited.loginUrl()).searchParams.get('token') ?? '';
      const cookie =
        String(
          (await limited.app.inject({ method: 'GET', url: `/login?token=${token}`, headers: { host: h } })).headers['set-cookie'],
        ).split(';')[0] ?? '';
      const csrf = (await limited.app.inject({ method: 'GET', url: '/api/session', headers: { host: h, cookie } })).json<{ csrf: string }>()
        .csrf;
      const res = await limited.app.inject({
        method: 'POST',
        url: '/api/csrs/not-yours/approve',
        headers: { host: h, cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
        payload: JSON.stringify({ uid }),
      });
      assert.equal(res.statusCode, 403);
      assert.match(res.json<{ error: string }>().error, /viewer/);
      assert.deepEqual(await conditionsOf('not-yours'), []);
    } finally {
      await limited.close();
      viewer.close();
    }
  });

  test('metrics: read from /metrics as the user and summarised; a user without get on /metrics sees the API’s 403 and nothing else breaks', async () => {
    assert.equal((await api.request('no-such-token', 'GET', '/api')).statusCode, 401);
    const { cookie } = await login();
    const res = await inject('GET', '/api/metrics', { cookie });
    assert.equal(res.statusCode, 200, res.body);
    const view = res.json<{ authenticationFailures: { labels: { method: string }; value: number }[]; skippedLines: number }>();
    assert.ok((view.authenticationFailures.find((c) => c.labels.method === 'token')?.value ?? 0) >= 1, res.body);
    assert.equal(view.skippedLines, 0);
    assert.equal((await inject('GET', '/api/metrics')).statusCode, 401);

    const viewer = new KubeClient({ server: client.config.server, caPem: api.caPem, token: 'viewer' });
    const limited = await createConsole({ client: viewer, listen: parseListen('127.0.0.1:0'), now: () => new Date(clock.ms), randomBytes });
    try {
      const h = new URL(limited.origin).host;
      const token = new URL(limited.loginUrl()).searchParams.get('token') ?? '';
      const viewerCookie =
        String(
          (await limited.app.inject({ method: 'GET', url: `/login?token=${token}`, headers: { host: h } })).headers['set-cookie'],
        ).split(';')[0] ?? '';
      const refused = await limited.app.inject({ method: 'GET', url: '/api/metrics', headers: { host: h, cookie: viewerCookie } });
      assert.equal(refused.statusCode, 403);
      assert.match(refused.json<{ error: string }>().error, /viewer.*\/metrics/);
      const queue = await limited.app.inject({ method: 'GET', url: '/api/csrs', headers: { host: h, cookie: viewerCookie } });
      assert.equal(queue.statusCode, 200);
    } finally {
      await limited.close();
      viewer.close();
    }
  });

  test('the page and its modules carry a strict CSP, and the page has no inline script', async () => {
    const me = await login();
    const page = await inject('GET', '/', { cookie: me.cookie });
    assert.equal(page.statusCode, 200);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'self'/);
    assert.match(csp, /script-src 'self'(;|$)/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|https?:/);
    for (const tag of page.body.match(/<script[^>]*>/g) ?? [])
      assert.match(tag, /src="\/assets\//, 'every script is a file of this origin');
    assert.doesNotMatch(page.body, /(src|href)="(https?:)?\/\//, 'nothing from elsewhere');
    const main = await inject('GET', '/assets/main.ts');
    assert.equal(main.statusCode, 200);
    assert.match(String(main.headers['content-type']), /^text\/javascript/);
    assert.match(String(main.headers['content-security-policy']), /default-src 'self'/);
    assert.doesNotMatch(main.body, /: (string|number)\b/, 'the types are stripped');
    assert.equal((await inject('GET', '/assets/..%2Fconsole.ts')).statusCode, 404);
  });

  test('the queue comes in pages (never one giant list): 1,200 pending CSRs in pages of at most 500', async () => {
    const me = await login();
    const names = Array.from({ length: 1200 }, (_, i) => `many-${String(i).padStart(4, '0')}`);
    for (let i = 0; i < names.length; i += 50)
      await Promise.all(names.slice(i, i + 50).map((n) => api.request('admin', 'POST', CSRS, csr(n))));
    const seen = new Set<string>();
    let next = '';
    let pages = 0;
    do {
      const res = await inject('GET', `/api/csrs${next === '' ? '' : `?continue=${encodeURIComponent(next)}`}`, { cookie: me.cookie });
      assert.equal(res.statusCode, 200);
      const page = res.json<{ items: { name: string; pending: boolean; why: string[] }[]; continue: string; scanned: number }>();
      assert.ok(page.scanned <= 500, `a page reads at most 500 (read ${page.scanned})`);
      for (const item of page.items) {
        assert.equal(item.pending, true);
        assert.ok(item.why.length > 0, 'each says why it waits');
        seen.add(item.name);
      }
      next = page.continue;
      pages++;
    } while (next !== '');
    assert.ok(pages >= 3, `${pages} pages`);
    for (const n of names) assert.ok(seen.has(n), n);
    const big = await inject('GET', '/api/csrs?limit=100000', { cookie: me.cookie });
    assert.equal(big.statusCode, 400, 'no page larger than the cap');
  });
});

describe('console revocations (inject)', () => {
  const REVOCATIONS = '/apis/tlsboot.io/v1alpha1/certificaterevocations';
  const store = openSqliteStore({ path: ':memory:' });
  let api: TestApi;
  let client: KubeClient;
  let web: WebConsole;
  let host: string;
  before(async () => {
    api = await startTestApiWithRoles(
      {
        viewer: [
          { apiGroups: ['tlsboot.io'], resources: ['certificaterevocations', 'issuedcertificates'], verbs: ['get', 'list', 'watch'] },
        ],
      },
      { store },
      revocationAdmission(store, () => new Date(), new MemoryAuditLog()),
    );
    const { port } = await api.server.listen('127.0.0.1', 0);
    client = new KubeClient({ server: `https://127.0.0.1:${port}`, caPem: api.caPem, token: 'admin' });
    web = await createConsole({ client, listen: parseListen('127.0.0.1:0'), now: () => new Date(), randomBytes });
    host = new URL(web.origin).host;
    for (let i = 0; i < 8; i++) {
      const res = await api.request('admin', 'POST', '/apis/tlsboot.io/v1alpha1/issuedcertificates', {
        apiVersion: 'tlsboot.io/v1alpha1',
        kind: 'IssuedCertificate',
        metadata: { name: `uid-${i}` },
        csrName: `csr-node-${i}`,
        signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
        commonName: `system:node:node-${i}`,
        serialNumber: (0x1000 + i).toString(16),
        notAfter: new Date(Date.now() + 86_400_000).toISOString().replace(/\.\d{3}Z$/, 'Z'),
      });
      assert.equal(res.statusCode, 201, res.body);
    }
  });
  after(async () => {
    await web.close();
    client.close();
    await api.close();
  });

  const stored = async () =>
    (await api.request('admin', 'GET', REVOCATIONS)).json<{ items: { metadata: { name: string }; reason: string; revokedBy: string }[] }>()
      .items;

  async function loginTo(console: WebConsole): Promise<{ cookie: string; csrf: string; h: string }> {
    const h = new URL(console.origin).host;
    const token = new URL(console.loginUrl()).searchParams.get('token') ?? '';
    const login = await console.app.inject({ method: 'GET', url: `/login?token=${token}`, headers: { host: h } });
    const cookie = String(login.headers['set-cookie']).split(';')[0] ?? '';
    const csrf = (await console.app.inject({ method: 'GET', url: '/api/session', headers: { host: h, cookie } })).json<{ csrf: string }>()
      .csrf;
    return { cookie, csrf, h };
  }
  const revoke = (console: WebConsole, headers: Record<string, string>, body: unknown) =>
    console.app.inject({
      method: 'POST',
      url: '/api/revocations',
      headers: { host, 'content-type': 'application/json', ...headers },
      payload: JSON.stringify(body),
    });

  test('revokes the one named serial with the chosen reason, as the user; a second time is the API’s 409', async () => {
    const me = await loginTo(web);
    const headers = { cookie: me.cookie, 'x-csrf-token': me.csrf, origin: web.origin };
    const res = await revoke(web, headers, { serial: '1001', reason: 'keyCompromise' });
    assert.equal(res.statusCode, 200, res.body);
    assert.deepEqual(
      { ...res.json<Record<string, string>>(), revokedAt: '' },
      {
        serialNumber: '1001',
        reason: 'keyCompromise',
        revokedBy: 'admin',
        commonName: 'system:node:node-1',
        notAfter: res.json<{ notAfter: string }>().notAfter,
        revokedAt: '',
      },
    );
    assert.deepEqual(
      (await stored()).map((r) => [r.metadata.name, r.reason, r.revokedBy]),
      [['1001', 'keyCompromise', 'admin']],
    );
    const again = await revoke(web, headers, { serial: '1001', reason: 'superseded' });
    assert.equal(again.statusCode, 409);
    const list = await web.app.inject({ method: 'GET', url: '/api/revocations', headers: { host, cookie: me.cookie } });
    assert.equal(list.statusCode, 200);
    const page = list.json<{ items: { serialNumber: string; reason: string }[]; reasons: string[] }>();
    assert.deepEqual(
      page.items.map((r) => [r.serialNumber, r.reason]),
      [['1001', 'keyCompromise']],
    );
    assert.deepEqual(page.reasons, [
      'unspecified',
      'keyCompromise',
      'affiliationChanged',
      'superseded',
      'cessationOfOperation',
      'privilegeWithdrawn',
    ]);
  });

  test('without the cookie, without or with a forged CSRF token, with a bad serial or reason: refused, nothing revoked', async () => {
    const me = await loginTo(web);
    const before = (await stored()).length;
    const attempts: [string, Record<string, string>, unknown, number][] = [
      ['no cookie', { 'x-csrf-token': me.csrf }, { serial: '1002', reason: 'unspecified' }, 401],
      ['no CSRF token', { cookie: me.cookie }, { serial: '1002', reason: 'unspecified' }, 403],
      ['a forged CSRF token', { cookie: me.cookie, 'x-csrf-token': 'forged-000000000000000000000000000000000' }, { serial: '1002' }, 403],
      [
        'another Origin',
        { cookie: me.cookie, 'x-csrf-token': me.csrf, origin: 'http://evil.example' },
        { serial: '1002', reason: 'unspecified' },
        403,
      ],
      ['no serial', { cookie: me.cookie, 'x-csrf-token': me.csrf }, { reason: 'unspecified' }, 400],
      ['a serial in another form', { cookie: me.cookie, 'x-csrf-token': me.csrf }, { serial: '10:02', reason: 'unspecified' }, 400],
      ['no reason', { cookie: me.cookie, 'x-csrf-token': me.csrf }, { serial: '1002' }, 400],
      ['certificateHold', { cookie: me.cookie, 'x-csrf-token': me.csrf }, { serial: '1002', reason: 'certificateHold' }, 400],
      ['a serial never issued', { cookie: me.cookie, 'x-csrf-token': me.csrf }, { serial: '7777', reason: 'unspecified' }, 422],
    ];
    for (const [what, headers, body, status] of attempts) assert.equal((await revoke(web, headers, body)).statusCode, status, what);
    assert.equal((await stored()).length, before);
  });

  test('a user without RBAC to revoke gets the API server’s refusal and nothing is revoked', async () => {
    const viewer = new KubeClient({ server: client.config.server, caPem: api.caPem, token: 'viewer' });
    const limited = await createConsole({ client: viewer, listen: parseListen('127.0.0.1:0'), now: () => new Date(), randomBytes });
    try {
      const me = await loginTo(limited);
      const res = await limited.app.inject({
        method: 'POST',
        url: '/api/revocations',
        headers: { host: me.h, cookie: me.cookie, 'x-csrf-token': me.csrf, 'content-type': 'application/json' },
        payload: JSON.stringify({ serial: '1003', reason: 'unspecified' }),
      });
      assert.equal(res.statusCode, 403);
      assert.match(res.json<{ error: string }>().error, /viewer/);
      assert.ok(!(await stored()).some((r) => r.metadata.name === '1003'));
    } finally {
      await limited.close();
      viewer.close();
    }
  });

  test('revocations come in pages', async () => {
    const me = await loginTo(web);
    for (const serial of ['1004', '1005', '1006', '1007'])
      assert.equal((await revoke(web, { cookie: me.cookie, 'x-csrf-token': me.csrf }, { serial, reason: 'superseded' })).statusCode, 200);
    const seen: string[] = [];
    let next = '';
    let pages = 0;
    do {
      const res = await web.app.inject({
        method: 'GET',
        url: `/api/revocations?limit=2${next === '' ? '' : `&continue=${encodeURIComponent(next)}`}`,
        headers: { host, cookie: me.cookie },
      });
      const page = res.json<{ items: { serialNumber: string }[]; continue: string }>();
      assert.ok(page.items.length <= 2);
      seen.push(...page.items.map((i) => i.serialNumber));
      next = page.continue;
      pages++;
    } while (next !== '');
    assert.ok(pages >= 3, `${pages} pages`);
    for (const s of ['1001', '1004', '1005', '1006', '1007']) assert.ok(seen.includes(s), s);
  });
});
