/**
 * The discovery documents kubectl reads before anything else: `/api` (APIVersions), `/apis`
 * (APIGroupList) and one APIResourceList per group version, with subresources listed as
 * `resource/subresource` entries. Built from the registry, so discovery cannot drift from
 * what is served.
 */

import type { JsonObject } from '../base/json.ts';
import type { Registry, ResourceDef } from './registry.ts';

const SUBRESOURCE_VERBS = ['get', 'patch', 'update'];

function resourceEntry(def: ResourceDef): JsonObject {
  return {
    name: def.resource,
    singularName: def.singular,
    namespaced: def.namespaced,
    kind: def.kind,
    verbs: [...def.verbs],
    ...(def.shortNames.length > 0 ? { shortNames: [...def.shortNames] } : {}),
  };
}

export function apiVersions(serverAddress: string): JsonObject {
  return { kind: 'APIVersions', versions: ['v1'], serverAddressByClientCIDRs: [{ clientCIDR: '0.0.0.0/0', serverAddress }] };
}

export function apiGroupList(registry: Registry): JsonObject {
  const groups = [...registry.groups()]
    .filter(([group]) => group !== '')
    .map(([name, versions]) => {
      const gvs = versions.map((version) => ({ groupVersion: `${name}/${version}`, version }));
      return { name, versions: gvs, preferredVersion: gvs[0] };
    });
  return { kind: 'APIGroupList', apiVersion: 'v1', groups };
}

/** The APIResourceList of one group version, or undefined when it is not served. */
export function apiResourceList(registry: Registry, group: string, version: string): JsonObject | undefined {
  const defs = registry.all.filter((d) => d.group === group && d.version === version);
  if (defs.length === 0) return undefined;
  const resources: JsonObject[] = [];
  for (const def of defs) {
    resources.push(resourceEntry(def));
    for (const sub of def.subresources) {
      resources.push({
        name: `${def.resource}/${sub}`,
        singularName: '',
        namespaced: def.namespaced,
        kind: def.kind,
        verbs: SUBRESOURCE_VERBS,
      });
    }
  }
  return { kind: 'APIResourceList', apiVersion: 'v1', groupVersion: group === '' ? version : `${group}/${version}`, resources };
}
