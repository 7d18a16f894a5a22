/**
 * The API server in process (Fastify inject): bad input is a 4xx Status and changes nothing;
 * authentication and authorisation happen before a body is read; failed logins are throttled
 * without ever refusing a valid credential.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { MAX_JSON_DEPTH } from '../base/json.ts';
import { applyMergePatch } from './merge-patch.ts';
import { ADMIN_TOKEN, BOOTSTRAP_TOKEN, startTestApi, type TestApi } from './testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const LEASES = '/apis/coordination.k8s.io/v1/namespaces/default/leases';
const CONFIGMAPS = '/api/v1/namespaces/default/configmaps';
const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/** Protobuf encoding, just enough for the k8s envelope around a Lease. */
function varint(n: bigint): Buffer {
  const out: number[] = [];
  let v = BigInt.asUintN(64, n);
  do {
    const b = Number(v & 0x7fn);
    v >>= 7n;
    out.push(v === 0n ? b : b | 0x80);
  } while (v !== 0n);
  return Buffer.from(out);
}
const lengthDelimited = (no: number, body: Buffer) => Buffer.concat([varint(BigInt((no << 3) | 2)), varint(BigInt(body.length)), body]);
const varintField = (no: number, v: bigint) => Buffer.concat([varint(BigInt(no << 3)), varint(v)]);
const text = (no: number, s: string) => lengthDelimited(no, Buffer.from(s));

function leaseProtobuf(renewSeconds: bigint): Buffer {
  const meta = text(1, 'held');
  const spec = Buffer.concat([text(1, 'me'), lengthDelimited(4, varintField(1, renewSeconds))]);
  const lease = Buffer.concat([lengthDelimited(1, meta), lengthDelimited(2, spec)]);
  const typeMeta = Buffer.concat([text(1, 'coordination.k8s.io/v1'), text(2, 'Lease')]);
  return Buffer.concat([Buffer.from('k8s\0', 'latin1'), lengthDelimited(1, typeMeta), lengthDelimited(2, lease)]);
}

function nested(depth: number): string {
  return `${'{"a":'.repeat(depth)}1${'}'.repeat(depth)}`;
}

describe('bad input is 4xx, never 500', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  test('a protobuf timestamp of 2^62 seconds is a 400 naming the field; one in range is accepted', async () => {
    const post = (body: Buffer) =>
      api.server.app.inject({
        method: 'POST',
        url: LEASES,
        headers: { ...admin, 'content-type': 'application/vnd.kubernetes.protobuf' },
        payload: body,
      });
    const bad = await post(leaseProtobuf(2n ** 62n));
    assert.equal(bad.statusCode, 400, bad.body);
    const status = bad.json<{ reason: string; details: { causes: { field: string }[] } }>();
    assert.equal(status.reason, 'BadRequest');
    assert.equal(status.details.causes[0]?.field, 'spec.renewTime');
    assert.equal((await post(leaseProtobuf(-62_135_596_801n))).statusCode, 400, 'one second before year 1');
    const good = await post(leaseProtobuf(253_402_300_799n));
    assert.equal(good.statusCode, 201, good.body);
    assert.equal(good.json<{ spec: { renewTime: string } }>().spec.renewTime, '9999-12-31T23:59:59Z');
  });

  test('a merge patch nested 35,000 deep is a 400 and the object is unchanged', async () => {
    const created = await api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: admin,
      payload: { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'deep' }, data: { a: '1' } },
    });
    assert.equal(created.statusCode, 201, created.body);
    for (const type of ['application/merge-patch+json', 'application/strategic-merge-patch+json']) {
      const patched = await api.server.app.inject({
        method: 'PATCH',
        url: `${CONFIGMAPS}/deep`,
        headers: { ...admin, 'content-type': type },
        payload: `{"data":{"a":"2"},"x":${nested(35_000)}}`,
      });
      assert.equal(patched.statusCode, 400, patched.body);
      assert.match(patched.json<{ message: string }>().message, /deeper than 100 levels/);
    }
    const now = await api.server.app.inject({ method: 'GET', url: `${CONFIGMAPS}/deep`, headers: admin });
    assert.deepEqual(now.json<{ data: unknown }>().data, { a: '1' });
    assert.equal(
      now.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion,
      created.json<{ metadata: { resourceVersion: string } }>().metadata.resourceVersion,
    );
  });

  test('a create or update body nested too deep is a 400 and stores nothing', async () => {
    const body = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep2"},"x":${nested(MAX_JSON_DEPTH)}}`;
    const created = await api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: { ...admin, 'content-type': 'application/json' },
      payload: body,
    });
    assert.equal(created.statusCode, 400, created.body);
    const missing = await api.server.app.inject({ method: 'GET', url: `${CONFIGMAPS}/deep2`, headers: admin });
    assert.equal(missing.statusCode, 404);
    const shallow = `{"apiVersion":"v1","kind":"ConfigMap","metadata":{"name":"deep2"},"x":${nested(MAX_JSON_DEPTH - 1)}}`;
    const ok = await api.server.app.inject({
      method: 'POST',
      url: CONFIGMAPS,
      headers: { ...admin, 'content-type': 'application/json' },
      payload: shallow,
    });
    assert.equal(ok.statusCode, 201, 'the documented limit itself is accepted');
  });

  test('applyMergePatch refuses a deep patch with BAD_REQUEST instead of overflowing the stack', () => {
    const patch: unknown = JSON.parse(nested(35_000));
    assert.throws(
      () => applyMergePatch({ a: 1 }, patch),
      (e: unknown) => typeof e === 'object' && e !== null && 'code' in e && e.code === 'BAD_REQUEST',
    );
    assert.deepEqual(applyMergePatch({ a: 1, b: 2 }, { b: null, c: { d: 1 } }), { a: 1, c: { d: 1 } });
  });
});

describe('authentication and authorisation come before the body', () => {
  let api: TestApi;
  const parsed: string[] = [];
  before(async () => {
    api = await startTestApi();
    // preParsing is the first step that reads a body: record every request that reaches it.
    api.server.app.addHook('preParsing', async (req) => {
      parsed.push(`${req.method} ${req.headers.authorization ?? 'anonymous'}`);
    });
  });
  after(async () => {
    await api?.close();
  });

  const csr = { apiVersion: 'certificates.k8s.io/v1', kind: 'CertificateSigningRequest', metadata: { name: 'x' }, spec: {} };
  const post = (headers: Record<string, string>, url = CSRS) =>
    api.server.app.inject({ method: 'POST', url, headers: { 'content-type': 'application/json', ...headers }, payload: csr });

  test('a bad token gets 401 and an anonymous or unauthorised writer 403, with the body unread and the connection closed', async () => {
    parsed.length = 0;
    const cases: [Record<string, string>, string, number][] = [
      [{ authorization: 'Bearer zzzzzz.zzzzzzzzzzzzzzzz' }, CSRS, 401],
      [{ authorization: 'Basic Zm9vOmJhcg==' }, CSRS, 401],
      [{}, CSRS, 403],
      [{ authorization: `Bearer ${BOOTSTRAP_TOKEN}` }, CONFIGMAPS, 403],
    ];
    for (const [headers, url, status] of cases) {
      const res = await post(headers, url);
      assert.equal(res.statusCode, status, res.body);
      assert.equal(res.headers.connection, 'close', 'a refused request with a body loses its connection');
    }
    assert.deepEqual(parsed, [], 'no refused request reached body parsing');
  });

  test('an admitted request has its body read and served; a refused one without a body keeps its connection', async () => {
    parsed.length = 0;
    const res = await post({ authorization: `Bearer ${BOOTSTRAP_TOKEN}` });
    assert.notEqual(res.statusCode, 401);
    assert.notEqual(res.statusCode, 403);
    assert.deepEqual(parsed, [`POST Bearer ${BOOTSTRAP_TOKEN}`]);
    const get = await api.server.app.inject({ method: 'GET', url: CSRS });
    assert.equal(get.statusCode, 403);
    assert.notEqual(get.headers.connection, 'close');
  });

  test('an unknown resource is a 404 before the body too', async () => {
    parsed.length = 0;
    const res = await post({ authorization: `Bearer ${ADMIN_TOKEN}` }, '/apis/certificates.k8s.io/v1/nosuchthings');
    assert.equal(res.statusCode, 404);
    assert.deepEqual(parsed, []);
  });
});

describe('failed logins are slowed, valid ones never refused', () => {
  let api: TestApi;
  const slept: number[] = [];
  before(async () => {
    api = await startTestApi({
      sleep: async (ms) => {
        slept.push(ms);
      },
    });
  });
  after(async () => {
    await api?.close();
  });

  const get = (token: string, remoteAddress: string) =>
    api.server.app.inject({ method: 'GET', url: CSRS, headers: { authorization: `Bearer ${token}` }, remoteAddress });
  const guess = (remoteAddress: string) => get('qqqqqq.0123456789abcdef', remoteAddress);
  /** A bootstrapper may create CSRs but not list them: 403 proves the token authenticated. */
  const valid = async (remoteAddress: string) => (await get(BOOTSTRAP_TOKEN, remoteAddress)).statusCode;

  test('a source over its budget is slowed and gets 429 with Retry-After, yet its valid token still succeeds', async () => {
    slept.length = 0;
    const statuses: number[] = [];
    for (let i = 0; i < 150; i++) statuses.push((await guess('10.0.0.1')).statusCode);
    assert.deepEqual(statuses.slice(0, 100), Array(100).fill(401));
    assert.deepEqual(statuses.slice(100), Array(50).fill(429));
    assert.deepEqual(slept, Array(50).fill(1000), 'each over-budget failure waited the tarpit, no more');
    const throttled = await guess('10.0.0.1');
    assert.equal(throttled.statusCode, 429);
    assert.match(String(throttled.headers['retry-after']), /^[1-9]\d*$/);
    assert.equal(
      throttled.json<{ details: { retryAfterSeconds: number } }>().details.retryAfterSeconds,
      Number(throttled.headers['retry-after']),
    );
    slept.length = 0;
    assert.equal(await valid('10.0.0.1'), 403, 'the NAT neighbour of a guesser joins');
    assert.equal((await api.server.app.inject({ method: 'GET', url: CSRS, headers: admin, remoteAddress: '10.0.0.1' })).statusCode, 200);
    assert.deepEqual(slept, [], 'a valid credential is never slowed');
    assert.equal((await guess('10.0.0.2')).statusCode, 401, 'another source is not affected');
    api.clock.ms += 60_000;
    assert.equal((await guess('10.0.0.1')).statusCode, 401, 'a minute later the source is within budget again');
  });

  test('failures from 200 addresses exhaust the global budget, and a valid token still succeeds', async () => {
    api.clock.ms += 120_000;
    slept.length = 0;
    const statuses: number[] = [];
    for (let round = 0; round < 6; round++) {
      for (let host = 1; host <= 200; host++) statuses.push((await guess(`10.1.${host >> 8}.${host & 255}`)).statusCode);
    }
    const first429 = statuses.indexOf(429);
    assert.ok(first429 >= 1000 && first429 <= 1001, `the first 429 came after ${first429} failures`);
    assert.deepEqual(statuses.slice(0, 1000), Array(1000).fill(401), 'no single address was over its own budget of 100');
    assert.ok(
      statuses.slice(first429).every((s) => s === 429),
      'rotating addresses does not escape the global budget',
    );
    assert.equal(slept.length, statuses.length - first429);
    slept.length = 0;
    assert.equal(await valid('192.0.2.7'), 403, 'a valid token from a fresh address succeeds while the server is over budget');
    assert.deepEqual(slept, []);
  });
});
