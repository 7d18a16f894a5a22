/**
 * One bootstrap-token rule, seen from every place that applies it: authentication, the token
 * cleaner, the bootstrap signer, `tlsboot token list` and admission. For each expiration in the
 * table they must agree: a token authentication accepts is kept by the cleaner, signed for by the
 * bootstrap signer and listed with a TTL; one it refuses is deleted, unsigned and `<invalid>`.
 * Admission refuses exactly the expirations that are not RFC 3339, naming the field, also over HTTP.
 * (A store failure during token authentication answering 503 is tested in src/server/plugins/authn.test.ts.)
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { CONFIGMAPS, SECRETS } from '../src/api/cluster-client.ts';
import { BOOTSTRAP_TOKEN_SECRET_TYPE, NodeNameIndex, reservedIdentities } from '../src/api/index.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import type { JsonObject } from '../src/base/json.ts';
import { listRows } from '../src/cli/commands/token.ts';
import { CLUSTER_INFO_NAME, reconcileClusterInfo } from '../src/controllers/bootstrap-signer.ts';
import { MemoryCluster } from '../src/controllers/testing.ts';
import { reconcileToken } from '../src/controllers/token-cleaner.ts';
import { ControlPlaneAdmission } from '../src/server/admission.ts';
import { bootstrapTokenAuthenticator } from '../src/server/authn.ts';
import { secretResource } from '../src/server/resources.ts';
import { ADMIN_TOKEN, startTestApi } from '../src/server/testing.ts';

const NOW = new Date('2026-06-01T00:00:00Z');
const NAME = 'bootstrap-token-abcdef';
const TOKEN = 'abcdef.0123456789abcdef';
const b64 = (s: string) => Buffer.from(s).toString('base64');

function tokenSecret(expiration: string | undefined, id = 'abcdef'): JsonObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name: `bootstrap-token-${id}`, namespace: 'kube-system', resourceVersion: '7' },
    type: BOOTSTRAP_TOKEN_SECRET_TYPE,
    data: {
      'token-id': b64(id),
      'token-secret': b64('0123456789abcdef'),
      'usage-bootstrap-authentication': b64('true'),
      'usage-bootstrap-signing': b64('true'),
      ...(expiration === undefined ? {} : { expiration: b64(expiration) }),
    },
  };
}

/** One Secret and cluster-info, as the cleaner and the bootstrap signer see them. */
function oneTokenCluster(secret: JsonObject): MemoryCluster {
  const cluster = new MemoryCluster();
  cluster.put(SECRETS, secret);
  cluster.put(CONFIGMAPS, { metadata: { name: CLUSTER_INFO_NAME, namespace: 'kube-public' }, data: { kubeconfig: 'apiVersion: v1\n' } });
  return cluster;
}

/** `valid`: usable at NOW; `wellFormed`: an RFC 3339 expiration (or none), which admission requires. */
const CASES: readonly { readonly expiration: string | undefined; readonly valid: boolean; readonly wellFormed: boolean }[] = [
  { expiration: undefined, valid: true, wellFormed: true },
  { expiration: '2026-06-02T00:00:00Z', valid: true, wellFormed: true },
  { expiration: '2026-06-01T00:00:00.500Z', valid: true, wellFormed: true },
  { expiration: '2026-06-01T01:00:00+00:30', valid: true, wellFormed: true },
  { expiration: '2026-06-01T01:00:00+02:00', valid: false, wellFormed: true },
  { expiration: '2026-06-01T00:00:00Z', valid: false, wellFormed: true },
  { expiration: '2026-05-31T23:59:59Z', valid: false, wellFormed: true },
  { expiration: '2030-01-01', valid: false, wellFormed: false },
  { expiration: '2030-01-01T00:00:00', valid: false, wellFormed: false },
  { expiration: '2030-02-30T00:00:00Z', valid: false, wellFormed: false },
  { expiration: 'Tue, 01 Jan 2030 00:00:00 GMT', valid: false, wellFormed: false },
  { expiration: 'tomorrow', valid: false, wellFormed: false },
];

const admission = new ControlPlaneAdmission({ authorize: () => ({ allowed: true, reason: 'test' }) }, () => ({
  reserved: reservedIdentities([]),
  dnsSuffixes: [],
  nodes: new NodeNameIndex(),
}));
const ADMIN = { name: 'admin', groups: ['system:masters'] };

describe('every user of the bootstrap-token rule agrees', () => {
  for (const c of CASES) {
    test(`expiration ${JSON.stringify(c.expiration)}: ${c.valid ? 'valid' : 'invalid'}${c.wellFormed ? '' : ', refused at admission'}`, async () => {
      const secret = tokenSecret(c.expiration);

      const user = await bootstrapTokenAuthenticator(async (name) => (name === NAME ? secret : undefined))(TOKEN, NOW);
      assert.equal(user !== undefined, c.valid, 'authentication');

      const forCleaner = oneTokenCluster(secret);
      await reconcileToken(NAME, forCleaner, NOW);
      assert.equal(forCleaner.deleted.length === 0, c.valid || c.expiration === undefined, 'token cleaner');

      const forSigner = oneTokenCluster(secret);
      await reconcileClusterInfo(forSigner, NOW);
      const data = forSigner.objects.get(`${CONFIGMAPS.resource}/${CLUSTER_INFO_NAME}`)?.data;
      assert.equal(typeof data === 'object' && data !== null && 'jws-kubeconfig-abcdef' in data, c.valid, 'bootstrap signer');

      const [row] = listRows([secret], NOW);
      assert.equal(row?.[1] === '<invalid>', !c.valid, 'token list TTL');

      const admitted = await admission.admit({ def: secretResource, subresource: '', old: undefined, obj: secret, user: ADMIN }).then(
        () => true,
        (e: unknown) => {
          assert.ok(isTlsbootError(e) && e.code === 'INVALID' && e.reason === 'TOKEN_SECRET' && e.field === 'data[expiration]', String(e));
          return false;
        },
      );
      assert.equal(admitted, c.wellFormed, 'admission');
    });
  }

  test('a Secret with expiration 2030-01-01 is refused over HTTP with 422 naming data[expiration], and not stored', async () => {
    const api = await startTestApi({ admission });
    try {
      // Another id than the fixture's own bootstrap token (startTestApi stores bootstrap-token-abcdef).
      const other = 'q1w2e3';
      const { metadata: _, ...rest } = tokenSecret('2030-01-01', other);
      const res = await api.server.app.inject({
        method: 'POST',
        url: '/api/v1/namespaces/kube-system/secrets',
        headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' },
        payload: JSON.stringify({ ...rest, metadata: { name: `bootstrap-token-${other}`, namespace: 'kube-system' } }),
      });
      assert.equal(res.statusCode, 422);
      const body: unknown = res.json();
      assert.ok(typeof body === 'object' && body !== null && 'details' in body);
      assert.deepEqual(
        (body.details as { causes?: { field: string }[] }).causes?.map((cause) => cause.field),
        ['data[expiration]'],
      );
      const get = await api.server.app.inject({
        method: 'GET',
        url: `/api/v1/namespaces/kube-system/secrets/bootstrap-token-${other}`,
        headers: { authorization: `Bearer ${ADMIN_TOKEN}` },
      });
      assert.equal(get.statusCode, 404);
    } finally {
      await api.close();
    }
  });
});
