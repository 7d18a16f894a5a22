/**
 * Discovery and OpenAPI routes: `/api`, `/apis`, each group-version's resource list, OpenAPI v2
 * (JSON or protobuf by Accept) and v3 (index and per group-version), all derived from the Registry
 * so that what is served and what is advertised cannot disagree.
 */
import { NotFoundError, type TlsbootError } from '../../base/errors.ts';
import { apiGroupList, apiResourceList, apiVersions } from '../discovery.ts';
import { openApiGroupVersion, openApiIndex, openApiV2Response } from '../openapi.ts';
import type { Registry } from '../registry.ts';
import { METHODS, type Plugin } from './shared.ts';

function notFound(): TlsbootError {
  return new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
}

export function discoveryPlugin(o: { readonly registry: Registry; readonly advertisedAddress: string }): Plugin {
  const { registry } = o;
  return async (app) => {
    app.route({ method: METHODS, url: '/api', handler: async (_req, reply) => reply.send(apiVersions(o.advertisedAddress)) });
    app.route({ method: METHODS, url: '/apis', handler: async (_req, reply) => reply.send(apiGroupList(registry)) });
    app.route({
      method: METHODS,
      url: '/api/v1',
      handler: async (_req, reply) => {
        const list = apiResourceList(registry, '', 'v1');
        if (!list) throw notFound();
        return reply.send(list);
      },
    });
    app.route<{ Params: { group: string; version: string } }>({
      method: METHODS,
      url: '/apis/:group/:version',
      handler: async (req, reply) => {
        const list = apiResourceList(registry, req.params.group, req.params.version);
        if (!list) throw notFound();
        return reply.send(list);
      },
    });
    app.route({
      method: METHODS,
      url: '/openapi/v2',
      handler: async (req, reply) => {
        const { type, body } = openApiV2Response(registry, req.headers.accept);
        return reply.type(type).send(body);
      },
    });
    app.route({ method: METHODS, url: '/openapi/v3', handler: async (_req, reply) => reply.send(openApiIndex(registry)) });
    app.route({
      method: METHODS,
      url: '/openapi/v3/api/v1',
      handler: async (_req, reply) => {
        const doc = openApiGroupVersion(registry, '', 'v1');
        if (!doc) throw notFound();
        return reply.send(doc);
      },
    });
    app.route<{ Params: { group: string; version: string } }>({
      method: METHODS,
      url: '/openapi/v3/apis/:group/:version',
      handler: async (req, reply) => {
        const doc = openApiGroupVersion(registry, req.params.group, req.params.version);
        if (!doc) throw notFound();
        return reply.send(doc);
      },
    });
  };
}
