/**
 * A minimal OpenAPI v3 description generated from the registry: the `/openapi/v3` index and one
 * document per group version listing each resource's paths, with the `x-kubernetes-group-version-
 * kind` extension and the `fieldValidation` query parameter on PATCH. That is what kubectl reads
 * to decide that the server validates fields itself (tlsboot always does, strictly), instead of
 * demanding a full client-side schema.
 */
import { createHash } from 'node:crypto';
import type { JsonObject, Registry, ResourceDef } from './registry.ts';

function gvPath(group: string, version: string): string {
  return group === '' ? `api/${version}` : `apis/${group}/${version}`;
}

const queryParams = ['dryRun', 'fieldManager', 'fieldValidation'].map((name) => ({
  name,
  in: 'query',
  schema: { type: 'string', uniqueItems: true },
}));

function operations(def: ResourceDef): JsonObject {
  const gvk = { 'x-kubernetes-group-version-kind': { group: def.group, version: def.version, kind: def.kind } };
  const base = `/${gvPath(def.group, def.version)}${def.namespaced ? '/namespaces/{namespace}' : ''}/${def.resource}`;
  const response = { '200': { description: 'OK' } };
  const paths: JsonObject = {
    [base]: { get: { ...gvk, responses: response }, post: { ...gvk, parameters: queryParams, responses: response } },
    [`${base}/{name}`]: {
      get: { ...gvk, responses: response },
      put: { ...gvk, parameters: queryParams, responses: response },
      patch: { ...gvk, parameters: queryParams, responses: response },
      delete: { ...gvk, responses: response },
    },
  };
  for (const sub of def.subresources) {
    paths[`${base}/{name}/${sub}`] = {
      get: { ...gvk, responses: response },
      put: { ...gvk, parameters: queryParams, responses: response },
      patch: { ...gvk, parameters: queryParams, responses: response },
    };
  }
  return paths;
}

export function openApiGroupVersion(registry: Registry, group: string, version: string): JsonObject | undefined {
  const defs = registry.all.filter((d) => d.group === group && d.version === version);
  if (defs.length === 0) return undefined;
  const paths = Object.assign({}, ...defs.map(operations)) as JsonObject;
  return { openapi: '3.0.0', info: { title: 'tlsboot', version: gvPath(group, version) }, paths, components: { schemas: {} } };
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
