/**
 * REST for resources: one route per API prefix (`/api/v1/...`, `/apis/<group>/<version>/...`)
 * serving the verbs the authz hook already resolved and authorised (get, list, create, update,
 * patch incl. server-side apply, delete) on REST storage, label and field selectors, Table
 * output, field validation and dry-run; watch goes to ./watch.ts, and resources served by code
 * (access reviews, signing sessions) to their VirtualResource.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';

import type { Logger } from 'pino';
import { metadataString } from '../../api/index.ts';
import { MethodNotAllowedError, NotFoundError, type TlsbootError, UnsupportedMediaTypeError } from '../../base/errors.ts';
import { isObject, type JsonObject } from '../../base/json.ts';

import { APPLY_PATCH_TYPE, fieldManagerOf, serveApply } from '../apply.ts';

import type { UserInfo } from '../authn.ts';

import type { Authorizer } from '../authz.ts';

import { parseBody } from '../body.ts';

import { fieldValidated } from '../field-validation.ts';

import { parseListRequest, RemainingCounts, serveList } from '../list.ts';

import { parseReadOptions } from '../list-options.ts';

import { queryDryRun } from '../query.ts';

import { apiVersionOf, type ResourceDef, type VirtualResource } from '../registry.ts';
import type { ResourceRequestInfo } from '../request-info.ts';

import type { RestHandlers } from '../rest.ts';

import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from '../selectors.ts';

import { buildTable, wantsTable } from '../table.ts';

import { sendError } from './errors.ts';

import { METHODS, type Plugin, stateOf } from './shared.ts';

import { serveWatchRequest, type WatchDeps } from './watch.ts';

export interface ResourcesOptions extends WatchDeps {
  readonly rest: RestHandlers;
  readonly authorizer: Authorizer;
  readonly virtualResources: ReadonlyMap<string, VirtualResource> | undefined;
  readonly logger: Logger;
}

function unsupported(info: ResourceRequestInfo, def: ResourceDef): TlsbootError {
  return new MethodNotAllowedError('METHOD', `${info.verb} is not supported on ${def.resource}`);
}

export function resourcesPlugin(o: ResourcesOptions): Plugin {
  const { rest, limits } = o;
  const counts = new RemainingCounts();

  async function serveVirtual(
    v: VirtualResource,
    def: ResourceDef,
    info: ResourceRequestInfo,
    reply: FastifyReply,
    user: UserInfo,
    /** Set (possibly null) when the client asked for a Table. */
    tableIncludeObject: string | null | undefined,
    body: unknown,
    contentType: string | undefined,
    query: URLSearchParams,
  ): Promise<unknown> {
    const asTable = (items: JsonObject[]) =>
      buildTable({ columns: def.columns, items, resourceVersion: '', now: o.now(), includeObject: tableIncludeObject ?? null });
    switch (info.verb) {
      case 'create':
        if (!v.create) throw unsupported(info, def);
        return reply.code(201).send(await v.create(parseBody(body, contentType), user, info.namespace, { dryRun: queryDryRun(query) }));
      case 'get': {
        if (!v.get) throw unsupported(info, def);
        const obj = await v.get(info.name, user);
        return reply.send(tableIncludeObject === undefined ? obj : asTable([obj]));
      }
      case 'list': {
        if (!v.list) throw unsupported(info, def);
        const items = await v.list(user);
        if (tableIncludeObject !== undefined) return reply.send(asTable(items));
        return reply.send({ apiVersion: apiVersionOf(def), kind: `${def.kind}List`, metadata: {}, items });
      }
      case 'delete':
        if (!v.delete) throw unsupported(info, def);
        return reply.send(await v.delete(info.name, user));
      default:
        throw unsupported(info, def);
    }
  }

  async function serveResource(def: ResourceDef, info: ResourceRequestInfo, user: UserInfo, req: FastifyRequest, reply: FastifyReply) {
    const query = stateOf(req).url.searchParams;
    const target = { namespace: info.namespace, name: info.name, subresource: info.subresource };
    const table = wantsTable(req.headers.accept);
    const virtual = o.virtualResources?.get(`${def.group}/${def.resource}`);
    if (virtual)
      return serveVirtual(
        virtual,
        def,
        info,
        reply,
        user,
        table ? query.get('includeObject') : undefined,
        req.body,
        req.headers['content-type'],
        query,
      );
    switch (info.verb) {
      case 'get': {
        const obj = await rest.get(def, target);
        if (!table || info.subresource !== '') return reply.send(obj);
        const rv = metadataString(obj, 'resourceVersion') ?? '';
        return reply.send(
          buildTable({ columns: def.columns, items: [obj], resourceVersion: rv, now: o.now(), includeObject: query.get('includeObject') }),
        );
      }
      case 'list':
      case 'watch': {
        const labels = parseLabelSelector(query.get('labelSelector'));
        const fields = parseFieldSelector(
          query.get('fieldSelector'),
          {
            'metadata.name': (obj) => metadataString(obj, 'name') ?? '',
            'metadata.namespace': (obj) => metadataString(obj, 'namespace') ?? '',
            ...def.fields,
          },
          def.resource,
        );
        const pinnedName = fields.find((f) => f.field === 'metadata.name' && !f.negate)?.value;
        const matches = (obj: JsonObject) => {
          const meta = isObject(obj.metadata) ? obj.metadata : {};
          const objLabels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : {};
          return matchesLabels(labels, objLabels) && matchesFields(fields, obj);
        };
        const readOptions = parseReadOptions(query, info.verb === 'watch');
        if (info.verb === 'watch') {
          return serveWatchRequest(
            o,
            {
              def,
              info,
              user,
              options: readOptions,
              matches,
              name: pinnedName,
              tableIncludeObject: table ? query.get('includeObject') : undefined,
            },
            reply,
          );
        }
        await serveList({
          def,
          store: o.store,
          counts,
          namespace: info.namespace,
          request: parseListRequest(
            query,
            { namespace: info.namespace, allNamespaces: def.namespaced && info.namespace === '' },
            readOptions,
          ),
          matches,
          ...(pinnedName === undefined ? {} : { name: pinnedName }),
          filtered: labels.length > 0 || fields.length > 0,
          table: table ? { columns: def.columns, now: o.now(), includeObject: query.get('includeObject') } : undefined,
          begin: () => {
            reply.hijack();
            return reply.raw;
          },
          onStreamError: (error) => o.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'list stream failed'),
        });
        return reply;
      }
      case 'create': {
        const body = fieldValidated(def, parseBody(req.body, req.headers['content-type']), query, reply);
        try {
          const dryRun = queryDryRun(query);
          limits.creates.take(user.name);
          const manager = fieldManagerOf(query, req.headers['user-agent'], 'CreateOptions');
          return reply.code(201).send(await rest.create(def, target, body, user, dryRun, manager));
        } catch (error) {
          // The URL names no object on create; the Status names the body's.
          return sendError(o.logger, reply, error, { info, kind: def.kind, body });
        }
      }
      case 'update': {
        const manager = fieldManagerOf(query, req.headers['user-agent'], 'UpdateOptions');
        const body = fieldValidated(def, parseBody(req.body, req.headers['content-type']), query, reply);
        return reply.send(await rest.update(def, target, body, user, queryDryRun(query), manager));
      }
      case 'patch': {
        const type = (req.headers['content-type'] ?? '').split(';')[0]?.trim() ?? '';
        if (type === APPLY_PATCH_TYPE) {
          const applied = await serveApply(
            { rest, def, info, body: req.body, query, userAgent: req.headers['user-agent'], user },
            { authorizer: o.authorizer, countCreate: () => limits.creates.take(user.name) },
          );
          return reply.code(applied.created ? 201 : 200).send(applied.obj);
        }
        if (type !== 'application/merge-patch+json' && type !== 'application/strategic-merge-patch+json') {
          throw new UnsupportedMediaTypeError(
            'PATCH_TYPE',
            `patch type ${type || '(none)'} is not supported; use merge-patch, strategic-merge-patch or apply-patch+yaml`,
          );
        }
        const manager = fieldManagerOf(query, req.headers['user-agent'], 'PatchOptions', type);
        const patch = fieldValidated(def, parseBody(req.body, 'application/json'), query, reply);
        return reply.send(await rest.patch(def, target, patch, user, queryDryRun(query), manager));
      }
      case 'delete':
        return reply.send(await rest.delete(def, target, parseBody(req.body, req.headers['content-type']), queryDryRun(query)));
      default:
        throw unsupported(info, def);
    }
  }

  const handler = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const { info, def, user } = stateOf(req);
    // Paths under a prefix that name no resource (`/apis/g/v/x/y/z/w`) are not found, as anywhere else.
    if (info.kind !== 'resource' || def === undefined || user === undefined)
      throw new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
    return serveResource(def, info, user, req, reply);
  };

  return async (app) => {
    app.route({ method: METHODS, url: '/api/v1/*', handler });
    app.route({ method: METHODS, url: '/apis/:group/:version/*', handler });
  };
}
