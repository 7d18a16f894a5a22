/**
 * The HTTPS API server's factory: builds the Fastify app from plugins (./plugins) and returns a
 * server value with `listen`, `close` and `app` (for in-process requests through `inject()`).
 * Plugins, in the order their hooks run: errors and bodies, request log, request target,
 * authentication (client certificate, bearer: static token file and bootstrap tokens),
 * impersonation, authorisation; then the routes: health and version, discovery and OpenAPI, and
 * REST for resources (with watch). Authentication, impersonation and authorisation need only the
 * connection and the headers, so they run as onRequest hooks before the body is read: a refused
 * request costs no body buffering. Bodies are size-capped before parsing; nothing secret is logged.
 */

import type { Server } from 'node:https';
import { setTimeout as delay } from 'node:timers/promises';
import Fastify, { type FastifyInstance } from 'fastify';
import type { Logger } from 'pino';
import { TRANSACTIONS } from '../api/cluster-client.ts';
import { type Clock, REAL_CLOCK } from '../base/clock.ts';
import { InternalError } from '../base/errors.ts';
import type { JsonObject } from '../base/json.ts';
import { ApiMetrics, MetricsRegistry } from '../base/metrics.ts';
import type { Certificate } from '../pki/index.ts';
import type { Store } from '../store/index.ts';
import { type ApprovalAudit, approvalAuditor } from './approval-audit.ts';
import { AuthThrottle } from './auth-throttle.ts';
import type { RevokedSerials, StaticTokens } from './authn.ts';
import type { Authorizer } from './authz.ts';
import { type ConnectionLimits, createLimitedServer, DEFAULT_CONNECTION_LIMITS } from './connections.ts';
import { DEFAULT_LIMITS, RequesterLimits, type RequesterLimitsConfig } from './limits.ts';
import { authnPlugin } from './plugins/authn.ts';
import { authzPlugin } from './plugins/authz.ts';
import { bootstrapTokenAuthenticator } from './plugins/bootstrap-tokens.ts';
import { type CrlSource, crlPlugin } from './plugins/crl.ts';
import { discoveryPlugin } from './plugins/discovery.ts';
import { errorsPlugin } from './plugins/errors.ts';
import { healthPlugin } from './plugins/health.ts';
import { impersonationPlugin } from './plugins/impersonation.ts';
import { metricsPlugin } from './plugins/metrics.ts';
import { requestLogPlugin } from './plugins/request-log.ts';
import { resourcesPlugin } from './plugins/resources.ts';
import { targetPlugin } from './plugins/target.ts';
import { type Registry, storeResourceOf, type VirtualResource } from './registry.ts';
import { isStoredResource } from './resources.ts';
import { type Admission, RestHandlers } from './rest.ts';
import { transactionApi } from './transactions.ts';

import { DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS } from './watch.ts';

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
  /** The CA's CRL shards, served at /crl/<shard>.crl (not served when absent). */
  readonly crls?: CrlSource;
  /** Revoked client certificates, refused at once (none when absent). */
  readonly revoked?: RevokedSerials;
  /** The `--token-auth-file` tokens. Bootstrap tokens need no dependency: they are Secrets in `store`. */
  readonly staticTokens: StaticTokens;
  readonly authorizer: Authorizer;
  readonly admission: Admission;
  /** The CA audit log, for approvals and denials made through the API. */
  readonly audit?: ApprovalAudit;
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
  /** Users the per-requester create rate does not apply to: this server's own components (limits.ts). */
  readonly exemptFromCreateRate?: readonly string[];
  /** Reports readiness (controllers synced, store answering); may take a store round trip. */
  readonly ready: () => boolean | Promise<boolean>;
  /** Runs watch timeouts and bookmarks; the real clock when absent. */
  readonly clock?: Clock;
  /** kube-apiserver's `--min-request-timeout` for watches without `timeoutSeconds` (watch.ts); 1800 s when absent. */
  readonly minRequestTimeoutSeconds?: number;
  /** The process's registry that `/metrics` serves, with the API's metrics in it; a registry of its own (closed with it) when absent. */
  readonly metrics?: { readonly registry: MetricsRegistry; readonly api: ApiMetrics };
}

export interface ApiServer {
  /**
   * The Fastify instance, for in-process requests: `app.inject()` passes the same hooks as HTTPS
   * (a bearer token authenticates; there is no client certificate). A watch streams with
   * `payloadAsStream: true` and ends when inject's `signal` aborts.
   */
  readonly app: FastifyInstance<Server>;
  /** What `/metrics` serves. */
  readonly metrics: MetricsRegistry;
  listen(host: string, port: number): Promise<{ host: string; port: number }>;
  close(): Promise<void>;
}

export async function createApiServer(deps: ApiServerDeps): Promise<ApiServer> {
  const maxBodyBytes = deps.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  // Checked before anything is started, so that a bad registry leaves nothing running.
  const secrets = deps.registry.find('', 'v1', 'secrets');
  if (!secrets) throw new InternalError('NO_SECRETS', 'the registry serves no core/v1 Secrets for bootstrap tokens');
  const shutdown = new AbortController();
  // deps.now is the time every check reads; the timers run on deps.clock.
  const timers = deps.clock ?? REAL_CLOCK;
  const clock: Clock = { now: () => deps.now().getTime(), setTimeout: (fn, ms, options) => timers.setTimeout(fn, ms, options) };
  const limits = await RequesterLimits.start({
    store: deps.store,
    config: { ...DEFAULT_LIMITS, ...deps.limits },
    clock,
    ...(deps.exemptFromCreateRate === undefined ? {} : { exemptFromCreateRate: deps.exemptFromCreateRate }),
    onError: (error) => deps.logger.warn({ error: String(error) }, 'csr ledger'),
  });
  const rest = new RestHandlers({
    store: deps.store,
    now: deps.now,
    uid: deps.uid,
    randomSuffix: deps.randomSuffix,
    admission: deps.admission,
    quota: limits.csrs,
    ...(deps.audit === undefined ? {} : { onUpdated: approvalAuditor(deps.audit) }),
  });
  const throttle = new AuthThrottle({
    perSource: deps.maxFailedAuthPerMinute ?? DEFAULT_FAILED_AUTH_PER_MINUTE,
    global: deps.maxFailedAuthPerMinuteTotal ?? DEFAULT_FAILED_AUTH_PER_MINUTE_TOTAL,
    windowMs: 60_000,
    tarpitMs: deps.authTarpitMs ?? DEFAULT_AUTH_TARPIT_MS,
    clock,
  });
  const ownMetrics = deps.metrics === undefined;
  const metricsRegistry = deps.metrics?.registry ?? new MetricsRegistry();
  const apiMetrics = deps.metrics?.api ?? new ApiMetrics(metricsRegistry);
  apiMetrics.watchSource = () => limits.watches.total();
  const connections: ConnectionLimits = { ...DEFAULT_CONNECTION_LIMITS, ...deps.connectionLimits };
  const limited = createLimitedServer({ cert: deps.tls.certPem, key: deps.tls.keyPem, ca: deps.tls.clientCaPem }, connections);
  const app = Fastify<Server>({
    serverFactory: (handler) => limited.server.on('request', handler),
    bodyLimit: maxBodyBytes,
    logger: false,
    return503OnClosing: true,
    forceCloseConnections: true,
    routerOptions: { ignoreTrailingSlash: true, ignoreDuplicateSlashes: true },
  });

  await app.register(errorsPlugin({ logger: deps.logger, maxBodyBytes }));
  await app.register(requestLogPlugin({ logger: deps.logger }));
  await app.register(metricsPlugin({ registry: metricsRegistry, api: apiMetrics }));
  await app.register(targetPlugin());
  await app.register(
    authnPlugin({
      clientCas: deps.clientCas,
      staticTokens: deps.staticTokens,
      bootstrapTokens: bootstrapTokenAuthenticator(deps.store, storeResourceOf(secrets)),
      now: deps.now,
      throttle,
      sleep: deps.sleep ?? ((ms, signal) => delay(ms, undefined, { signal }).catch(() => {})),
      shutdown: shutdown.signal,
      trust: (socket) => limited.trust(socket),
      onFailure: (method) => apiMetrics.authnFailures.inc({ method }),
      ...(deps.revoked === undefined ? {} : { revoked: deps.revoked }),
    }),
  );
  await app.register(impersonationPlugin({ authorizer: deps.authorizer }));
  await app.register(authzPlugin({ authorizer: deps.authorizer, registry: deps.registry }));
  await app.register(healthPlugin({ ready: deps.ready, version: deps.version }));
  if (deps.crls !== undefined) await app.register(crlPlugin({ crls: deps.crls }));
  await app.register(discoveryPlugin({ registry: deps.registry, advertisedAddress: deps.advertisedAddress }));
  await app.register(
    resourcesPlugin({
      rest,
      authorizer: deps.authorizer,
      virtualResources: new Map([
        ...(deps.virtualResources ?? []),
        [
          `${TRANSACTIONS.group}/${TRANSACTIONS.resource}`,
          transactionApi({
            rest,
            registry: deps.registry,
            authorizer: deps.authorizer,
            store: deps.store,
            stored: isStoredResource,
            takeCreate: (user) => limits.creates.take(user),
          }),
        ],
      ]),
      logger: deps.logger,
      store: deps.store,
      limits,
      now: deps.now,
      shutdown: shutdown.signal,
      clock: deps.clock,
      minRequestTimeoutSeconds: deps.minRequestTimeoutSeconds ?? DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS,
    }),
  );

  return {
    app,
    metrics: metricsRegistry,
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
      if (ownMetrics) metricsRegistry.close();
    },
  };
}
