/**
 * Turns a request path and method into Kubernetes request attributes (RequestInfoFactory rules):
 * API group/version, namespace, resource, name, subresource and verb (`get`, `list`, `watch`,
 * `create`, `update`, `patch`, `delete`, `deletecollection`), or a non-resource path. Pure.
 */

import { queryFlag } from './list-options.ts';

export type Verb = 'get' | 'list' | 'watch' | 'create' | 'update' | 'patch' | 'delete' | 'deletecollection';

export interface ResourceRequestInfo {
  readonly kind: 'resource';
  readonly verb: Verb;
  /** '' for the core group. */
  readonly group: string;
  readonly version: string;
  readonly namespace: string;
  readonly resource: string;
  readonly name: string;
  readonly subresource: string;
}

export interface NonResourceRequestInfo {
  readonly kind: 'nonresource';
  readonly verb: string;
  readonly path: string;
}

export type RequestInfo = ResourceRequestInfo | NonResourceRequestInfo;

const METHOD_VERBS: Record<string, string> = { GET: 'get', HEAD: 'get', POST: 'create', PUT: 'update', PATCH: 'patch', DELETE: 'delete' };

export function requestInfo(method: string, path: string, query: URLSearchParams): RequestInfo {
  const verbForMethod = METHOD_VERBS[method] ?? method.toLowerCase();
  const parts = path.split('/').filter((p) => p !== '');
  let rest: string[];
  let group = '';
  let version: string;
  if (parts[0] === 'api' && parts.length >= 2) {
    version = parts[1] as string;
    rest = parts.slice(2);
  } else if (parts[0] === 'apis' && parts.length >= 3) {
    group = parts[1] as string;
    version = parts[2] as string;
    rest = parts.slice(3);
  } else {
    return { kind: 'nonresource', verb: verbForMethod, path };
  }
  if (rest.length === 0) return { kind: 'nonresource', verb: verbForMethod, path };
  let namespace = '';
  // `namespaces/NAME/...` addresses a namespaced resource; `namespaces` and `namespaces/NAME` alone
  // (and its subresources like /status) are the namespace object itself.
  if (rest[0] === 'namespaces' && rest.length >= 3) {
    namespace = rest[1] as string;
    rest = rest.slice(2);
  }
  const [resource = '', name = '', subresource = '', ...extra] = rest;
  if (extra.length > 0) return { kind: 'nonresource', verb: verbForMethod, path };
  let verb = verbForMethod as Verb;
  if (verb === 'get' && name === '') verb = queryFlag(query, 'watch') === true ? 'watch' : 'list';
  if (verb === 'delete' && name === '') verb = 'deletecollection';
  return { kind: 'resource', verb, group, version, namespace, resource, name, subresource };
}
