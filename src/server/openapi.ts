/**
 * The OpenAPI documents, generated from the registry and the schemas of openapi-schemas.ts:
 * `/openapi/v2` (one Swagger 2.0 document; JSON here, protobuf in openapi-protobuf.ts) and
 * `/openapi/v3` (an index, then one document per group version with the schemas it uses). Each
 * operation carries `x-kubernetes-group-version-kind` and the `fieldValidation` query parameter,
 * which is how kubectl learns that the server validates fields itself; each kind's schema carries
 * the same extension, which is how kubectl's validator and `explain` find it.
 */
import { createHash } from 'node:crypto';
import { NotAcceptableError } from '../base/errors.ts';
import { isObject, type JsonObject } from '../base/json.ts';
import { encodeOpenApiV2, OPENAPI_V2_PROTOBUF } from './openapi-protobuf.ts';
import { DEFINITIONS, definitionOf } from './openapi-schemas.ts';
import type { Registry, ResourceDef } from './registry.ts';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

const QUERY_PARAMS: readonly [string, string][] = [
  ['dryRun', 'When present, the change is validated but not persisted; "All" is the only valid value.'],
  ['fieldManager', 'The name of the actor making the change.'],
  ['fieldValidation', 'How to treat unknown or duplicate fields: Ignore, Warn or Strict.'],
];

/** The operations of one resource; `parameter` shapes a query parameter as v2 or v3 writes it. */
function operations(def: ResourceDef, parameter: (name: string, description: string) => JsonObject): JsonObject {
  const gvk = { group: def.group, version: def.version, kind: def.kind };
  const params = QUERY_PARAMS.map(([name, description]) => parameter(name, description));
  const op = (action: string, write: boolean): JsonObject => ({
    'x-kubernetes-action': action,
    'x-kubernetes-group-version-kind': gvk,
    ...(write ? { parameters: params } : {}),
    responses: { '200': { description: 'OK' } },
  });
  const has = (verb: string) => def.verbs.includes(verb);
  const pick = (entries: [string, boolean, JsonObject][]): JsonObject =>
    Object.fromEntries(entries.filter(([, served]) => served).map(([method, , o]) => [method, o]));
  const base = `/${gvPath(def.group, def.version)}${def.namespaced ? '/namespaces/{namespace}' : ''}/${def.resource}`;
  const paths: JsonObject = {};
  const collection = pick([
    ['get', has('list'), op('list', false)],
    ['post', has('create'), op('post', true)],
  ]);
  if (Object.keys(collection).length > 0) paths[base] = collection;
  const item = pick([
    ['get', has('get'), op('get', false)],
    ['put', has('update'), op('put', true)],
    ['patch', has('patch'), op('patch', true)],
    ['delete', has('delete'), op('delete', false)],
  ]);
  if (Object.keys(item).length > 0) paths[`${base}/{name}`] = item;
  for (const sub of def.subresources) {
    paths[`${base}/{name}/${sub}`] = { get: op('get', false), put: op('put', true), patch: op('patch', true) };
  }
  return paths;
}

/** The definitions `names` refer to, transitively, with the names themselves. */
function closure(names: readonly string[]): string[] {
  const seen = new Set<string>();
  const visit = (value: unknown): void => {
    if (Array.isArray(value)) value.forEach(visit);
    else if (isObject(value)) {
      for (const [k, v] of Object.entries(value)) {
        if (k === '$ref' && typeof v === 'string') add(v.replace('#/definitions/', ''));
        else visit(v);
      }
    }
  };
  const add = (name: string) => {
    if (seen.has(name)) return;
    seen.add(name);
    visit(DEFINITIONS[name]);
  };
  names.forEach(add);
  return [...seen].sort();
}

const v2Documents = new WeakMap<Registry, JsonObject>();

/** The Swagger 2.0 document of `/openapi/v2`, built once per registry. */
export function openApiV2(registry: Registry): JsonObject {
  const cached = v2Documents.get(registry);
  if (cached) return cached;
  const paths: JsonObject = {};
  for (const def of registry.all) {
    Object.assign(
      paths,
      operations(def, (name, description) => ({ name, in: 'query', description, type: 'string', uniqueItems: true })),
    );
  }
  const doc: JsonObject = {
    swagger: '2.0',
    info: { title: 'Kubernetes', version: 'v1.33.0' },
    paths,
    definitions: Object.fromEntries(closure(Object.keys(DEFINITIONS)).map((n) => [n, DEFINITIONS[n]])),
  };
  v2Documents.set(registry, doc);
  return doc;
}

/**
 * A v2 schema in v3 form: references move to `#/components/schemas/`, and a reference with its
 * own description becomes `allOf` with that description beside it, as kube-apiserver writes it
 * (a v3 `$ref` ignores its siblings).
 */
function toV3(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toV3);
  if (!isObject(value)) return value;
  const refName = typeof value.$ref === 'string' ? value.$ref.replace('#/definitions/', '#/components/schemas/') : undefined;
  if (refName !== undefined) {
    const { $ref: _ref, ...rest } = value;
    if (Object.keys(rest).length === 0) return { $ref: refName };
    return { allOf: [{ $ref: refName }], ...rest, default: {} };
  }
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toV3(v)]));
}

export function openApiGroupVersion(registry: Registry, group: string, version: string): JsonObject | undefined {
  const defs = registry.all.filter((d) => d.group === group && d.version === version);
  if (defs.length === 0) return undefined;
  const paths: JsonObject = {};
  for (const def of defs) {
    Object.assign(
      paths,
      operations(def, (name, description) => ({ name, in: 'query', description, schema: { type: 'string', uniqueItems: true } })),
    );
  }
  const kinds = defs.map((d) => definitionOf(d.group, d.version, d.kind)).filter((n): n is string => n !== undefined);
  const schemas = Object.fromEntries(closure(kinds).map((n) => [n, toV3(DEFINITIONS[n])]));
  return { openapi: '3.0.0', info: { title: 'Kubernetes', version: 'v1.33.0' }, paths, components: { schemas } };
}

export function openApiIndex(registry: Registry): JsonObject {
  const paths: JsonObject = {};
  for (const [group, versions] of registry.groups()) {
    for (const version of versions) {
      const doc = openApiGroupVersion(registry, group, version);
      const hash = createHash('sha256').update(JSON.stringify(doc)).digest('hex').slice(0, 32).toUpperCase();
      paths[gvPath(group, version)] = { serverRelativeURL: `/openapi/v3/${gvPath(group, version)}?hash=${hash}` };
    }
  }
  return { paths };
}

const v2Protobufs = new WeakMap<Registry, Buffer>();

/** Media types clients ask `/openapi/v2` for; newer client-go sends the dotted form, which Go's mime parser accepts. */
const PROTOBUF_TYPES = new Set([OPENAPI_V2_PROTOBUF, 'application/com.github.proto-openapi.spec.v2.v1.0+protobuf']);

/**
 * `/openapi/v2` in the form the Accept header prefers (by q-value, then order): the gnostic
 * protobuf or JSON; NOT_ACCEPTABLE when it names neither nor a wildcard, as kube-apiserver answers.
 */
export function openApiV2Response(registry: Registry, accept: string | undefined): { type: string; body: Buffer | JsonObject } {
  const ranges = (accept ?? '*/*')
    .split(',')
    .map((part, index) => {
      const [type = '', ...params] = part.split(';').map((s) => s.trim().toLowerCase());
      const q = params.find((p) => p.startsWith('q='));
      return { type, q: q === undefined ? 1 : Number(q.slice(2)), index };
    })
    .filter((r) => r.type !== '' && r.q > 0)
    .sort((a, b) => b.q - a.q || a.index - b.index);
  for (const { type } of ranges) {
    if (PROTOBUF_TYPES.has(type)) {
      let body = v2Protobufs.get(registry);
      if (!body) {
        body = encodeOpenApiV2(openApiV2(registry));
        v2Protobufs.set(registry, body);
      }
      // Labelled octet-stream, as kube-apiserver does: Go's mime parser, which client-go applies
      // to every response, refuses the `@` of the media type asked for ("unexpected content after media subtype").
      return { type: 'application/octet-stream', body };
    }
    if (type === 'application/json' || type === 'application/*' || type === '*/*')
      return { type: 'application/json', body: openApiV2(registry) };
  }
  throw new NotAcceptableError('OPENAPI_MEDIA_TYPE', `only application/json and ${OPENAPI_V2_PROTOBUF} are served at /openapi/v2`);
}
