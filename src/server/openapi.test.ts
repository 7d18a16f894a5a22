/**
 * The OpenAPI documents in process: `/openapi/v2` as JSON and as gnostic protobuf (read back here
 * with an independent little decoder) describe every served kind under its group-version-kind,
 * every reference resolves, required fields are marked, and the Accept header picks the form;
 * `/openapi/v3` documents carry the schemas of their group version; discovery lists the reviews.
 */
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { isObject } from '../base/json.ts';
import { ALL_RESOURCES } from './resources.ts';
import { ADMIN_TOKEN, startTestApi, type TestApi } from './testing.ts';

const admin = { authorization: `Bearer ${ADMIN_TOKEN}` };
const PROTOBUF = 'application/com.github.proto-openapi.spec.v2@v1.0+protobuf';

type Json = Record<string, unknown>;

/** Protobuf fields as (number, bytes-or-varint); enough to walk gnostic messages. */
function fields(buf: Buffer): { no: number; bytes: Buffer; value: number }[] {
  const out: { no: number; bytes: Buffer; value: number }[] = [];
  let pos = 0;
  const varint = () => {
    let result = 0;
    let scale = 1;
    for (;;) {
      const b = buf[pos++];
      assert.ok(b !== undefined, 'truncated varint');
      result += (b & 0x7f) * scale;
      scale *= 128;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (pos < buf.length) {
    const key = varint();
    const wire = key % 8;
    const no = Math.floor(key / 8);
    if (wire === 0) out.push({ no, bytes: Buffer.alloc(0), value: varint() });
    else {
      assert.equal(wire, 2, `wire type ${wire}`);
      const len = varint();
      out.push({ no, bytes: buf.subarray(pos, pos + len), value: 0 });
      pos += len;
    }
  }
  return out;
}
const one = (buf: Buffer, no: number) => fields(buf).find((f) => f.no === no)?.bytes ?? Buffer.alloc(0);
const all = (buf: Buffer, no: number) =>
  fields(buf)
    .filter((f) => f.no === no)
    .map((f) => f.bytes);
const text = (buf: Buffer, no: number) => one(buf, no).toString('utf8');

/** Every `$ref` under `value`. */
function refs(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) refs(v, out);
  else if (isObject(value)) for (const [k, v] of Object.entries(value)) k === '$ref' && typeof v === 'string' ? out.push(v) : refs(v, out);
  return out;
}

describe('OpenAPI documents', () => {
  let api: TestApi;
  before(async () => {
    api = await startTestApi();
  });
  after(async () => {
    await api?.close();
  });

  const get = (url: string, accept?: string) =>
    api.server.app.inject({ method: 'GET', url, headers: { ...admin, ...(accept ? { accept } : {}) } });

  test('/openapi/v2 JSON describes every served kind by its group-version-kind, with resolvable references', async () => {
    const r = await get('/openapi/v2', 'application/json');
    assert.equal(r.statusCode, 200, r.body);
    assert.match(String(r.headers['content-type']), /^application\/json/);
    const doc = r.json<{ swagger: string; definitions: Record<string, Json>; paths: Record<string, Json> }>();
    assert.equal(doc.swagger, '2.0');
    for (const def of ALL_RESOURCES) {
      const found = Object.values(doc.definitions).some(
        (s) =>
          Array.isArray(s['x-kubernetes-group-version-kind']) &&
          s['x-kubernetes-group-version-kind'].some((g: Json) => g.group === def.group && g.version === def.version && g.kind === def.kind),
      );
      assert.ok(found, `no definition for ${def.kind}`);
    }
    for (const ref of refs(doc.definitions)) assert.ok(doc.definitions[ref.replace('#/definitions/', '')], `dangling ${ref}`);
    const spec = doc.definitions['io.k8s.api.certificates.v1.CertificateSigningRequestSpec'];
    assert.deepEqual(spec?.required, ['request', 'signerName']);
    const post = (doc.paths['/apis/certificates.k8s.io/v1/certificatesigningrequests'] as { post: { parameters: Json[] } }).post;
    assert.ok(post.parameters.some((p) => p.name === 'fieldValidation'));
  });

  test('/openapi/v2 protobuf, as kubectl 1.20 asks for it, carries the same definitions, required fields and extensions', async () => {
    const json = (await get('/openapi/v2', 'application/json')).json<{ definitions: Record<string, Json> }>();
    const r = await get('/openapi/v2', `${PROTOBUF},application/json`);
    assert.equal(r.statusCode, 200, r.body);
    // What kube-apiserver labels it; client-go cannot parse the requested media type (kubectl 1.20 fails with it).
    assert.equal(r.headers['content-type'], 'application/octet-stream');
    const doc = r.rawPayload;
    assert.equal(text(doc, 1), '2.0');
    // Document.definitions = 9 -> Definitions.additional_properties = 1 -> NamedSchema { name = 1, value = 2 }.
    const named = new Map(all(one(doc, 9), 1).map((n) => [text(n, 1), one(n, 2)]));
    assert.deepEqual([...named.keys()].sort(), Object.keys(json.definitions).sort());
    const csr = named.get('io.k8s.api.certificates.v1.CertificateSigningRequest');
    assert.ok(csr);
    // Schema.vendor_extension = 31 -> NamedAny { name = 1, value = Any { yaml = 2 } }.
    const gvk = all(csr, 31).find((e) => text(e, 1) === 'x-kubernetes-group-version-kind');
    assert.ok(gvk, 'the CSR schema has its group-version-kind');
    assert.deepEqual(JSON.parse(text(one(gvk, 2), 2)), [
      { group: 'certificates.k8s.io', version: 'v1', kind: 'CertificateSigningRequest' },
    ]);
    assert.deepEqual(all(csr, 19).map(String), ['spec']);
    // Schema.properties = 25 -> NamedSchema; spec is a $ref (Schema._ref = 1).
    const props = new Map(all(one(csr, 25), 1).map((n) => [text(n, 1), one(n, 2)]));
    assert.equal(text(props.get('spec') ?? Buffer.alloc(0), 1), '#/definitions/io.k8s.api.certificates.v1.CertificateSigningRequestSpec');
    // Schema.type = 22 -> TypeItem.value = 1.
    assert.equal(text(one(props.get('kind') ?? Buffer.alloc(0), 22), 1), 'string');
  });

  test('/openapi/v2 answers 406 for a form it cannot produce, and JSON by default', async () => {
    assert.equal((await get('/openapi/v2', 'application/xml')).statusCode, 406);
    const r = await get('/openapi/v2');
    assert.equal(r.statusCode, 200);
    assert.match(String(r.headers['content-type']), /^application\/json/);
  });

  test('/openapi/v3 lists each group version; its document has the schemas of its kinds', async () => {
    const index = (await get('/openapi/v3')).json<{ paths: Record<string, { serverRelativeURL: string }> }>();
    const url = index.paths['apis/certificates.k8s.io/v1']?.serverRelativeURL;
    assert.ok(url);
    const doc = (await get(url)).json<{ components: { schemas: Record<string, Json> } }>();
    const schemas = doc.components.schemas;
    const csr = schemas['io.k8s.api.certificates.v1.CertificateSigningRequest'] as { properties: Record<string, Json> };
    assert.deepEqual(csr.properties.spec?.allOf, [
      { $ref: '#/components/schemas/io.k8s.api.certificates.v1.CertificateSigningRequestSpec' },
    ]);
    assert.match(String(csr.properties.spec?.description), /certificate request/);
    for (const ref of refs(schemas)) assert.ok(schemas[ref.replace('#/components/schemas/', '')], `dangling ${ref}`);
    assert.ok(schemas['io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta']);
    const usages = (schemas['io.k8s.api.certificates.v1.CertificateSigningRequestSpec'] as { properties: Record<string, Json> }).properties
      .usages;
    assert.equal(usages?.type, 'array');
    assert.match(String(usages?.description), /key usages/);
  });

  test('discovery lists the review APIs', async () => {
    const authn = (await get('/apis/authentication.k8s.io/v1')).json<{
      resources: { name: string; verbs: string[]; namespaced: boolean }[];
    }>();
    assert.deepEqual(authn.resources.find((r) => r.name === 'selfsubjectreviews')?.verbs, ['create']);
    const authz = (await get('/apis/authorization.k8s.io/v1')).json<{ resources: { name: string; namespaced: boolean }[] }>();
    assert.equal(authz.resources.find((r) => r.name === 'localsubjectaccessreviews')?.namespaced, true);
    assert.equal(authz.resources.find((r) => r.name === 'selfsubjectrulesreviews')?.namespaced, false);
  });

  test('fieldValidation: Strict refuses unknown fields at any depth, Warn (the default) warns, Ignore is silent', async () => {
    const url = '/apis/rbac.authorization.k8s.io/v1/namespaces/default/roles';
    const create = (name: string, query: string) =>
      api.server.app.inject({
        method: 'POST',
        url: `${url}${query}`,
        headers: admin,
        payload: {
          apiVersion: 'rbac.authorization.k8s.io/v1',
          kind: 'Role',
          metadata: { name },
          colour: 1,
          rules: [{ verbs: ['get'], apiGroups: [''], resources: ['configmaps'], colour: 2 }],
        },
      });
    const strict = await create('strict', '?fieldValidation=Strict');
    assert.equal(strict.statusCode, 400, strict.body);
    assert.equal(
      strict.json<{ message: string }>().message,
      'Role in version "v1" cannot be handled as a Role: strict decoding error: unknown field "colour", unknown field "rules[0].colour"',
    );
    const warned = await create('warned', '');
    assert.equal(warned.statusCode, 201, warned.body);
    assert.deepEqual(warned.headers.warning, ['299 - "unknown field \\"colour\\""', '299 - "unknown field \\"rules[0].colour\\""']);
    const ignored = await create('ignored', '?fieldValidation=Ignore');
    assert.equal(ignored.statusCode, 201, ignored.body);
    assert.equal(ignored.headers.warning, undefined);
    assert.equal((await create('bad', '?fieldValidation=Loose')).statusCode, 400);
    const patch = await api.server.app.inject({
      method: 'PATCH',
      url: `${url}/warned?fieldValidation=Strict`,
      headers: { ...admin, 'content-type': 'application/strategic-merge-patch+json' },
      payload: { $setElementOrder: [], metadata: { labels: { a: 'b' } } },
    });
    assert.equal(patch.statusCode, 200, patch.body);
  });
});
