/**
 * Health and version: `/healthz` and `/livez` answer ok while the process serves at all,
 * `/readyz` only once `ready()` says the server can do its job (503 before), and `/version` the
 * build. Authorisation still applies (the authz hook); RBAC grants these to everyone by default.
 */

import type { JsonObject } from '../../base/json.ts';
import { METHODS, type Plugin } from './shared.ts';

export function healthPlugin(o: { readonly ready: () => boolean | Promise<boolean>; readonly version: JsonObject }): Plugin {
  return async (app) => {
    for (const url of ['/healthz', '/livez'])
      app.route({ method: METHODS, url, handler: async (_req, reply) => reply.type('text/plain').send('ok') });
    app.route({
      method: METHODS,
      url: '/readyz',
      handler: async (_req, reply) =>
        (await o.ready()) ? reply.type('text/plain').send('ok') : reply.code(503).type('text/plain').send('not ready'),
    });
    app.route({ method: METHODS, url: '/version', handler: async (_req, reply) => reply.send(o.version) });
  };
}
