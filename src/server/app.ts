/**
 * The HTTPS API server: a factory that returns a server value with `listen` and `close`. It
 * authenticates every request (client certificate, bearer token, anonymous), parses it into
 * Kubernetes request attributes, authorises it with RBAC, and dispatches to discovery, health,
 * the generic REST verbs or a watch stream. Errors become Kubernetes Status bodies in one place.
 * Authentication, impersonation and authorisation need only the connection and the headers, so
 * they run before the body is read: a refused request costs no body buffering. Bodies are
 * size-capped before parsing; nothing secret is logged.
 */

import type { IncomingMessage } from 'node:http';
import type { Server } from 'node:https';
import type { TLSSocket } from 'node:tls';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import { type Clock, REAL_CLOCK, sleep as sleepOn } from '../base/clock.ts';
import {
  BadRequestError,
  ForbiddenError,
  InternalError,
  MethodNotAllowedError,
  NotFoundError,
  RateLimitedError,
  TooLargeError,
  UnauthenticatedError,
  UnsupportedMediaTypeError,
} from '../base/errors.ts';
import { exceedsJsonDepth, isObject, type JsonObject, MAX_JSON_DEPTH } from '../base/json.ts';
import type { Certificate } from '../pki/index.ts';
import type { Store } from '../store/index.ts';
import { APPLY_PATCH_TYPE, fieldManagerOf, serveApply } from './apply.ts';
import { AuthThrottle } from './auth-throttle.ts';
import {
  ANONYMOUS,
  bearerToken,
  parsePeerCertificate,
  type StaticTokens,
  type UserInfo,
  userFromCertificate,
  withAuthenticatedGroup,
} from './authn.ts';
import type { Authorizer } from './authz.ts';
import { forbiddenMessage } from './authz.ts';
import { type ConnectionLimits, createLimitedServer, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import { apiGroupList, apiResourceList, apiVersions } from './discovery.ts';
import { fieldValidated } from './field-validation.ts';
import { impersonate } from './impersonation.ts';
import { DEFAULT_LIMITS, RequesterLimits, type RequesterLimitsConfig } from './limits.ts';
import { parseListRequest, serveList } from './list.ts';
import { parseReadOptions } from './list-options.ts';
import { openApiGroupVersion, openApiIndex, openApiV2Response } from './openapi.ts';
import { decodeKubernetesProtobuf } from './protobuf.ts';
import { queryDryRun } from './query.ts';
import { apiVersionOf, type Registry, type ResourceDef, type VirtualResource } from './registry.ts';
import { type NonResourceRequestInfo, type RequestInfo, type ResourceRequestInfo, requestInfo } from './request-info.ts';
import { type Admission, RestHandlers } from './rest.ts';
import { matchesFields, matchesLabels, parseFieldSelector, parseLabelSelector } from './selectors.ts';
import { type StatusSubject, statusFor } from './status.ts';
import { buildTable, wantsTable } from './table.ts';
import { DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS, serveWatch } from './watch.ts';

export const DEFAULT_MAX_BODY_BYTES = 256 * 1024;
/**
 * A joining node never fails, so failures come from typos, expired tokens and guessing. One
 * source (a NAT gateway may hide many clients) gets 100 a minute, the server ten times that:
 * enough that honest mistakes never meet the tarpit, while guessing pays a second per try once
 * over budget, from however many addresses.
 */
export const DEFAULT_FAILED_AUTH_PER_MINUTE = 100;
export const DEFAULT_FAILED_AUTH_PER_MINUTE_TOTAL = 1000;
export const DEFAULT_AUTH_TARPIT_MS = 1000;

export interface ApiServerDeps {
  readonly store: Store;
  readonly registry: Registry;
  readonly tls: { readonly certPem: string; readonly keyPem: string; readonly clientCaPem: string };
  /** Trust anchors for client certificates (the cluster CA). */
  readonly clientCas: readonly Certificate[];
  readonly staticTokens: StaticTokens;
  /** Bootstrap-token authenticator: a user for a valid token, undefined when it is not one. */
  readonly bootstrapTokens: (token: string, now: Date) => Promise<UserInfo | undefined>;
  readonly authorizer: Authorizer;
  readonly admission: Admission;
  /** Resources served by code rather than REST storage (access reviews, signing sessions), by `group/resource`. */
  readonly virtualResources?: ReadonlyMap<string, VirtualResource>;
  readonly now: () => Date;
  readonly uid: () => string;
  readonly randomSuffix: () => string;
  readonly logger: Logger;
  readonly version: JsonObject;
  /** `host:port` clients should use, reported in /api. */
  readonly advertisedAddress: string;
  readonly maxBodyBytes?: number;
  /** Failed bearer-token authentications one source may make per minute before its failures are slowed and answered 429. */
  readonly maxFailedAuthPerMinute?: number;
  /** Failed bearer-token authentications all sources together may make per minute before every failure is slowed and answered 429. */
  readonly maxFailedAuthPerMinuteTotal?: number;
  /** How long a throttled failure waits before its 429. */
  readonly authTarpitMs?: number;
  /** Waits `ms` or until `signal` aborts; injected so that tests need not sleep. */
  readonly sleep?: (ms: number, signal: AbortSignal) => Promise<void>;
  /** Connection timeouts and cap; each one missing takes its DEFAULT_CONNECTION_LIMITS value. */
  readonly connectionLimits?: Partial<ConnectionLimits>;
  /** Limits per requester; each one left out takes its default (DEFAULT_LIMITS). */
  readonly limits?: Partial<RequesterLimitsConfig>;
  /** Reports readiness (controllers synced, store open). */
  readonly ready: () => boolean;
  /** Runs watch timeouts and bookmarks; the real clock when absent. */
  readonly clock?: Clock;
  /** kube-apiserver's `--min-request-timeout` for watches without `timeoutSeconds` (watch.ts); 1800 s when absent. */
  readonly minRequestTimeoutSeconds?: number;
}

export interface ApiServer {
  readonly app: FastifyInstance<Server>;
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

/** What the onRequest hook established for a request it let through. */
type Admitted =
  | { readonly kind: 'nonresource'; readonly url: URL; readonly user: UserInfo; readonly info: NonResourceRequestInfo }
  | {
      readonly kind: 'resource';
      readonly url: URL;
      readonly user: UserInfo;
      readonly info: ResourceRequestInfo;
      readonly def: ResourceDef;
    };

declare module 'fastify' {
  interface FastifyRequest {
    tlsboot: Admitted | undefined;
  }
}

/** Whether the request announces a body (RFC 9112 §6.3), which a refused request leaves unread. */
function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** The request target as a URL; a path is never read as an authority (`//[` would be a host). */
function requestUrl(target: string): URL {
  try {
    return new URL(target.startsWith('/') ? `https://localhost${target}` : target, 'https://localhost');
  } catch {
    throw new BadRequestError('URL', 'the request target is not a valid URL');
  }
}

function parseBody(raw: unknown, contentType: string | undefined): unknown {
  if (!Buffer.isBuffer(raw) || raw.length === 0) return undefined;
  const type = (contentType ?? 'application/json').split(';')[0]?.trim().toLowerCase() ?? '';
  if (type === 'application/vnd.kubernetes.protobuf') return decodeKubernetesProtobuf(raw);
  const allowed = ['application/json', 'application/merge-patch+json', 'application/strategic-merge-patch+json', '*/*', ''];
  if (!allowed.includes(type)) {
    throw new UnsupportedMediaTypeError(
      'MEDIA_TYPE',
      'the body of the request was in an unknown format - accepted media types include: application/json, application/merge-patch+json, application/strategic-merge-patch+json, application/vnd.kubernetes.protobuf',
    );
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw.toString('utf8'));
  } catch {
    throw new BadRequestError('BODY_JSON', 'the request body is not valid JSON');
  }
  // JSON.parse itself is iterative; what comes after it (patching, validation) need not be.
  if (exceedsJsonDepth(parsed)) {
    throw new BadRequestError('BODY_TOO_DEEP', `the request body nests objects or arrays deeper than ${MAX_JSON_DEPTH} levels`);
  }
  return parsed;
}

export async function createApiServer(deps: ApiServerDeps): Promise<ApiServer> {
  const maxBody = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const shutdown = new AbortController();
  // deps.now is the time every check reads; the timers run on deps.clock.
  const timers = deps.clock ?? REAL_CLOCK;
  const clock: Clock = { now: () => deps.now().getTime(), setTimeout: (fn, ms, options) => timers.setTimeout(fn, ms, options) };
  const limits = await RequesterLimits.start({
    store: deps.store,
    config: { ...DEFAULT_LIMITS, ...deps.limits },
    clock,
    onError: (error) => deps.logger.warn({ error: String(error) }, 'csr ledger'),
  });
  const rest = new RestHandlers({
    store: deps.store,
    now: deps.now,
    uid: deps.uid,
    randomSuffix: deps.randomSuffix,
    admission: deps.admission,
    quota: limits.csrs,
  });
  const peerUsers = new WeakMap<TLSSocket, { user: UserInfo; notBefore: number; notAfter: number } | null>();
  const throttle = new AuthThrottle({
    perSource: deps.maxFailedAuthPerMinute ?? DEFAULT_FAILED_AUTH_PER_MINUTE,
    global: deps.maxFailedAuthPerMinuteTotal ?? DEFAULT_FAILED_AUTH_PER_MINUTE_TOTAL,
    windowMs: 60_000,
    tarpitMs: deps.authTarpitMs ?? DEFAULT_AUTH_TARPIT_MS,
    clock,
  });
  const sleep = deps.sleep ?? ((ms: number, signal: AbortSignal) => sleepOn(clock, ms, signal));
  const connections: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...deps.connectionLimits };
  const limited = createLimitedServer({ cert: deps.tls.certPem, key: deps.tls.keyPem, ca: deps.tls.clientCaPem }, connections);
  const app = Fastify<Server>({
    serverFactory: (handler) => limited.server.on('request', handler),
    bodyLimit: maxBody,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: true,
  });
  app.decorateRequest('tlsboot', undefined);
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: maxBody }, (_req, body, done) => done(null, body));

  const sendError = (reply: FastifyReply, error: unknown, subject?: StatusSubject) => {
    const { code, body, headers } = statusFor(error, subject);
    if (code >= 500) deps.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'request failed');
    return reply.code(code).headers(headers).type('application/json').send(body);
  };

  app.setErrorHandler((error: unknown, _req, reply) => {
    const fastifyCode = isObject(error) && typeof error.code === 'string' ? error.code : '';
    if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
      return sendError(reply, new TooLargeError('BODY_TOO_LARGE', `the request body is larger than ${maxBody} bytes`));
    }
    if (fastifyCode.startsWith('FST_ERR_CTP')) return sendError(reply, new BadRequestError('BODY', 'the request body could not be read'));
    return sendError(reply, error);
  });

  async function authenticate(req: IncomingMessage): Promise<UserInfo> {
    const socket = req.socket as TLSSocket;
    const now = deps.now();
    let peer = peerUsers.get(socket);
    if (peer === undefined) {
      const x509 = typeof socket.getPeerX509Certificate === 'function' ? socket.getPeerX509Certificate() : undefined;
      if (x509) {
        const leaf = parsePeerCertificate(x509.raw);
        const user = userFromCertificate(leaf, deps.clientCas, now);
        peer = user ? { user, notBefore: leaf.notBefore.getTime(), notAfter: leaf.notAfter.getTime() } : null;
      } else {
        peer = null;
      }
      peerUsers.set(socket, peer);
    }
    // The chain is verified once per connection; the validity window on every request, because a
    // certificate can expire while its keep-alive connection stays open.
    if (peer && (now.getTime() < peer.notBefore || now.getTime() > peer.notAfter)) {
      throw new UnauthenticatedError('AUTHN_FAILED', 'Unauthorized: the client certificate is not valid now');
    }
    const certUser = peer?.user;
    if (certUser) return withAuthenticatedGroup(certUser);
    const token = bearerToken(req.headers.authorization);
    if (token !== undefined) {
      // The token is checked before anything is throttled: a valid credential always succeeds.
      const user = deps.staticTokens.lookup(token) ?? (await deps.bootstrapTokens(token, now));
      if (user) return withAuthenticatedGroup(user);
      const penalty = throttle.recordFailure(req.socket.remoteAddress ?? '');
      if (penalty) {
        await sleep(penalty.delayMs, shutdown.signal);
        throw new RateLimitedError(
          'AUTHN_THROTTLED',
          'too many failed authentication attempts; try again later',
          penalty.retryAfterSeconds,
        );
      }
      throw new UnauthenticatedError('AUTHN_FAILED', 'Unauthorized');
    }
    return ANONYMOUS;
  }

  /** Authenticates, impersonates and authorises from the connection, method, URL and headers alone. */
  async function admit(req: IncomingMessage, url: URL, info: RequestInfo): Promise<Admitted> {
    const authenticated = await authenticate(req);
    // A connection that proved who it is is no longer one the connection cap may evict.
    if (authenticated !== ANONYMOUS) limited.trust(req.socket);
    const user = impersonate(authenticated, req.rawHeaders, deps.authorizer);
    if (info.kind === 'nonresource') {
      const attrs = { user, verb: info.verb, nonResourceURL: url.pathname };
      if (!deps.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
      return { kind: 'nonresource', url, user, info };
    }
    const def = deps.registry.find(info.group, info.version, info.resource);
    if (!def || (info.subresource !== '' && !def.subresources.includes(info.subresource))) {
      throw new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
    }
    if (!def.namespaced && info.namespace !== '')
      throw new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
    const attrs = {
      user,
      verb: info.verb,
      apiGroup: info.group,
      resource: info.resource,
      subresource: info.subresource,
      name: info.name,
      namespace: info.namespace,
    };
    if (!deps.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
    return { kind: 'resource', url, user, info, def };
  }

  // onRequest runs before the content-type parser: a request refused here never has its body read.
  app.addHook('onRequest', async (req, reply) => {
    const started = performance.now();
    reply.raw.on('finish', () => {
      deps.logger.info(
        {
          method: req.method,
          path: req.tlsboot?.url.pathname ?? req.url.split('?')[0],
          status: reply.raw.statusCode,
          user: req.tlsboot?.user.name,
          ms: Math.round(performance.now() - started),
        },
        'request',
      );
    });
    let info: RequestInfo | undefined;
    try {
      const url = requestUrl(req.url);
      info = requestInfo(req.method, url.pathname, url.searchParams);
      req.tlsboot = await admit(req.raw, url, info);
    } catch (error) {
      // Closing, not draining: a client that announced a large or endless body gets its answer and
      // loses the connection instead of holding it open while the server reads what it sends.
      if (announcesBody(req.raw)) reply.header('connection', 'close');
      return sendError(reply, error, info?.kind === 'resource' ? { info } : undefined);
    }
  });

  // The request was admitted and its body is about to be read: now invite a client that waits for it.
  app.addHook('preParsing', async (req, reply, payload) => {
    if (req.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
    return payload;
  });

  async function handle(req: FastifyRequest, reply: FastifyReply): Promise<unknown> {
    const admitted = req.tlsboot;
    try {
      if (!admitted) throw new InternalError('NOT_ADMITTED', 'the request reached its handler unauthenticated');
      if (admitted.kind === 'nonresource') return serveNonResource(admitted.url.pathname, req, reply);
      return await serveResource(admitted.def, admitted.info, admitted.url.searchParams, req, reply, admitted.user);
    } catch (error) {
      return sendError(reply, error, admitted?.kind === 'resource' ? { info: admitted.info, kind: admitted.def.kind } : undefined);
    }
  }

  function serveNonResource(path: string, req: FastifyRequest, reply: FastifyReply): unknown {
    const trimmed = path.replace(/\/+$/, '') || '/';
    if (trimmed === '/healthz' || trimmed === '/livez') return reply.type('text/plain').send('ok');
    if (trimmed === '/readyz')
      return deps.ready() ? reply.type('text/plain').send('ok') : reply.code(503).type('text/plain').send('not ready');
    if (trimmed === '/version') return reply.send(deps.version);
    if (trimmed === '/api') return reply.send(apiVersions(deps.advertisedAddress));
    if (trimmed === '/apis') return reply.send(apiGroupList(deps.registry));
    if (trimmed === '/openapi/v2') {
      const { type, body } = openApiV2Response(deps.registry, req.headers.accept);
      return reply.type(type).send(body);
    }
    if (trimmed === '/openapi/v3') return reply.send(openApiIndex(deps.registry));
    const oa = /^\/openapi\/v3\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(trimmed);
    if (oa) {
      const doc = oa[1]
        ? openApiGroupVersion(deps.registry, '', oa[1])
        : openApiGroupVersion(deps.registry, oa[2] as string, oa[3] as string);
      if (doc) return reply.send(doc);
    }
    const m = /^\/(?:api\/(v1)|apis\/([^/]+)\/([^/]+))$/.exec(trimmed);
    if (m) {
      const list = m[1] ? apiResourceList(deps.registry, '', m[1]) : apiResourceList(deps.registry, m[2] as string, m[3] as string);
      if (list) return reply.send(list);
    }
    throw new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
  }

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
  ): Promise<unknown> {
    const asTable = (items: JsonObject[]) =>
      buildTable({ columns: def.columns, items, resourceVersion: '', now: deps.now(), includeObject: tableIncludeObject ?? null });
    const unsupported = () => new MethodNotAllowedError('METHOD', `${info.verb} is not supported on ${def.resource}`);
    switch (info.verb) {
      case 'create':
        if (!v.create) throw unsupported();
        return reply.code(201).send(await v.create(parseBody(body, contentType), user, info.namespace));
      case 'get': {
        if (!v.get) throw unsupported();
        const obj = await v.get(info.name, user);
        return reply.send(tableIncludeObject === undefined ? obj : asTable([obj]));
      }
      case 'list': {
        if (!v.list) throw unsupported();
        const items = await v.list(user);
        if (tableIncludeObject !== undefined) return reply.send(asTable(items));
        return reply.send({ apiVersion: apiVersionOf(def), kind: `${def.kind}List`, metadata: {}, items });
      }
      case 'delete':
        if (!v.delete) throw unsupported();
        return reply.send(await v.delete(info.name, user));
      default:
        throw unsupported();
    }
  }

  async function serveResource(
    def: ResourceDef,
    info: ResourceRequestInfo,
    query: URLSearchParams,
    req: FastifyRequest,
    reply: FastifyReply,
    user: UserInfo,
  ): Promise<unknown> {
    const target = { namespace: info.namespace, name: info.name, subresource: info.subresource };
    const table = wantsTable(req.headers.accept);
    const virtual = deps.virtualResources?.get(`${def.group}/${def.resource}`);
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
      );
    switch (info.verb) {
      case 'get': {
        const obj = await rest.get(def, target);
        if (!table || info.subresource !== '') return reply.send(obj);
        const rv = String((obj.metadata as JsonObject | undefined)?.resourceVersion ?? '');
        return reply.send(
          buildTable({
            columns: def.columns,
            items: [obj],
            resourceVersion: rv,
            now: deps.now(),
            includeObject: query.get('includeObject'),
          }),
        );
      }
      case 'list':
      case 'watch': {
        const labels = parseLabelSelector(query.get('labelSelector'));
        const fields = parseFieldSelector(
          query.get('fieldSelector'),
          {
            'metadata.name': (o) => String((o.metadata as JsonObject | undefined)?.name ?? ''),
            'metadata.namespace': (o) => String((o.metadata as JsonObject | undefined)?.namespace ?? ''),
            ...def.fields,
          },
          def.resource,
        );
        const matches = (o: JsonObject) => {
          const meta = isObject(o.metadata) ? o.metadata : {};
          const objLabels = isObject(meta.labels) ? (meta.labels as Record<string, string>) : {};
          return matchesLabels(labels, objLabels) && matchesFields(fields, o);
        };
        const readOptions = parseReadOptions(query, info.verb === 'watch');
        if (info.verb === 'watch') {
          const releaseWatch = limits.watches.acquire(user.name);
          reply.hijack();
          await serveWatch({
            def,
            store: deps.store,
            namespace: info.namespace,
            options: readOptions,
            matches,
            table: table ? { columns: def.columns, now: deps.now, includeObject: query.get('includeObject') } : undefined,
            response: reply.raw,
            shutdown: shutdown.signal,
            statusFor: (e) => statusFor(e, { info, kind: def.kind }).body,
            ...(deps.clock === undefined ? {} : { clock: deps.clock }),
            minRequestTimeoutSeconds: deps.minRequestTimeoutSeconds ?? DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS,
          }).finally(releaseWatch);
          return reply;
        }
        await serveList({
          def,
          store: deps.store,
          namespace: info.namespace,
          request: parseListRequest(
            query,
            { namespace: info.namespace, allNamespaces: def.namespaced && info.namespace === '' },
            readOptions,
          ),
          matches,
          filtered: labels.length > 0 || fields.length > 0,
          table: table ? { columns: def.columns, now: deps.now(), includeObject: query.get('includeObject') } : undefined,
          begin: () => {
            reply.hijack();
            return reply.raw;
          },
          onStreamError: (error) =>
            deps.logger.error({ err: error instanceof Error ? error.message : String(error) }, 'list stream failed'),
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
          return sendError(reply, error, { info, kind: def.kind, body });
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
            {
              authorizer: deps.authorizer,
              countCreate: () => limits.creates.take(user.name),
            },
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
        throw new MethodNotAllowedError('METHOD', `${info.verb} is not supported on ${def.resource}`);
    }
  }

  app.route({ method: ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'], url: '/*', handler: handle });
  app.route({ method: ['GET', 'HEAD'], url: '/', handler: handle });

  return {
    app,
    async listen(host, port) {
      await app.listen({ host, port });
      const addr = app.server.address();
      if (!addr || typeof addr === 'string') throw new InternalError('LISTEN', 'server has no address');
      return { host: addr.address, port: addr.port };
    },
    async close() {
      shutdown.abort();
      limited.destroyConnections();
      await app.close();
      await limits.close();
    },
  };
}
