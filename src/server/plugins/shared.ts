/**
 * What the server's plugins share: the per-request state the hooks build up (request target,
 * authenticated and effective user, resolved resource) as the typed `request.tlsboot`
 * decoration, and `shared()`, which lets a hook plugin apply to its siblings. Fastify
 * encapsulates a plugin's hooks to its own routes; authentication, impersonation and
 * authorisation must guard every route, so their plugins opt out as fastify-plugin does.
 */
import type { Server } from 'node:https';
import type { FastifyInstance, FastifyPluginAsync } from 'fastify';
import { InternalError } from '../../base/errors.ts';
import type { UserInfo } from '../authn.ts';
import type { ResourceDef } from '../registry.ts';
import type { RequestInfo } from '../request-info.ts';

export type App = FastifyInstance<Server>;
export type Plugin = FastifyPluginAsync<Record<never, never>, Server>;

/**
 * The methods every route answers. Non-resource paths (health, discovery) answer whatever the
 * method once authz allowed its verb, as kube-apiserver's handlers do; resource paths map the
 * method to a verb (request-info.ts).
 */
export const METHODS = ['GET', 'HEAD', 'POST', 'PUT', 'PATCH', 'DELETE'];

export interface RequestState {
  readonly url: URL;
  readonly info: RequestInfo;
  /** Who the credentials prove: set by authn. */
  authenticated: UserInfo | undefined;
  /** Who the request acts as (the impersonated user, if any): set by impersonation, read by authz and handlers. */
  user: UserInfo | undefined;
  /** The served resource, once authz has resolved and authorised it. */
  def: ResourceDef | undefined;
  /** Set when the body is about to be read: a refusal before that closes the connection instead. */
  bodyStarted: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    tlsboot: RequestState | undefined;
  }
}

/** Marks `plugin` as not encapsulated, so its hooks, handlers and decorations reach the whole app. */
export function shared(plugin: Plugin): Plugin {
  Object.defineProperty(plugin, Symbol.for('skip-override'), { value: true });
  return plugin;
}

/** The state of a request that passed the target hook; handlers run only after it. */
export function stateOf(req: { tlsboot: RequestState | undefined }): RequestState {
  if (req.tlsboot === undefined) throw new InternalError('NOT_ADMITTED', 'the request reached its handler before its target was read');
  return req.tlsboot;
}
