/**
 * The watch verb for the REST plugin: counts the watch against its requester's limit, takes the
 * response over from Fastify (the stream outlives the handler) and runs serveWatch (../watch.ts)
 * until the client leaves, the timeout passes or the server shuts down. An in-process client
 * (inject() with `payloadAsStream`) has no socket to close: it leaves through inject's `signal`,
 * which destroys its request, and Fastify then closes the response.
 */
import type { FastifyReply } from 'fastify';
import type { Clock } from '../../base/clock.ts';
import type { JsonObject } from '../../base/json.ts';

import type { Store } from '../../store/index.ts';

import type { UserInfo } from '../authn.ts';

import type { RequesterLimits } from '../limits.ts';

import type { ReadOptions } from '../list-options.ts';

import type { ResourceDef } from '../registry.ts';
import type { ResourceRequestInfo } from '../request-info.ts';

import { statusFor } from '../status.ts';

import { serveWatch } from '../watch.ts';

export interface WatchDeps {
  readonly store: Store;
  readonly limits: RequesterLimits;
  readonly now: () => Date;
  readonly shutdown: AbortSignal;
  readonly clock: Clock | undefined;
  readonly minRequestTimeoutSeconds: number;
}

export interface WatchRequest {
  readonly def: ResourceDef;
  readonly info: ResourceRequestInfo;
  readonly user: UserInfo;
  readonly options: ReadOptions;
  readonly matches: (o: JsonObject) => boolean;
  /** The only name the field selector allows, if it pins one. */
  readonly name: string | undefined;
  /** Set (possibly null) when the client asked for Table rows. */
  readonly tableIncludeObject: string | null | undefined;
}

export async function serveWatchRequest(d: WatchDeps, w: WatchRequest, reply: FastifyReply): Promise<FastifyReply> {
  const releaseWatch = d.limits.watches.acquire(w.user.name);
  reply.hijack();
  await serveWatch({
    def: w.def,
    store: d.store,
    namespace: w.info.namespace,
    options: w.options,
    matches: w.matches,
    ...(w.name === undefined ? {} : { name: w.name }),
    table: w.tableIncludeObject === undefined ? undefined : { columns: w.def.columns, now: d.now, includeObject: w.tableIncludeObject },
    response: reply.raw,
    shutdown: d.shutdown,
    statusFor: (e) => statusFor(e, { info: w.info, kind: w.def.kind }).body,
    ...(d.clock === undefined ? {} : { clock: d.clock }),
    minRequestTimeoutSeconds: d.minRequestTimeoutSeconds,
  }).finally(releaseWatch);
  return reply;
}
