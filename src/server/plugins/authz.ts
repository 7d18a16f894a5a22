/**
 * Authorisation as the last onRequest hook: resolves a resource request to a served resource
 * (404 before anything else is said about it) and asks the authorizer whether the effective user
 * may do the verb on it, or on the non-resource URL. It runs before the body is read, so a refused
 * request costs no body buffering.
 */
import { ForbiddenError, InternalError, NotFoundError, type TlsbootError } from '../../base/errors.ts';
import { type Authorizer, forbiddenMessage } from '../authz.ts';
import type { Registry } from '../registry.ts';
import { type Plugin, shared, stateOf } from './shared.ts';

function noResource(): TlsbootError {
  return new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
}

export function authzPlugin(o: { readonly authorizer: Authorizer; readonly registry: Registry }): Plugin {
  return shared(async (app) => {
    app.addHook('onRequest', async (req) => {
      const state = stateOf(req);
      const { info, user } = state;
      if (user === undefined) throw new InternalError('NOT_ADMITTED', 'authorisation ran before authentication');
      if (info.kind === 'nonresource') {
        const attrs = { user, verb: info.verb, nonResourceURL: state.url.pathname };
        if (!o.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
        return;
      }
      const def = o.registry.find(info.group, info.version, info.resource);
      if (!def || (info.subresource !== '' && !def.subresources.includes(info.subresource))) throw noResource();
      if (!def.namespaced && info.namespace !== '') throw noResource();
      const attrs = {
        user,
        verb: info.verb,
        apiGroup: info.group,
        resource: info.resource,
        subresource: info.subresource,
        name: info.name,
        namespace: info.namespace,
      };
      if (!o.authorizer.authorize(attrs).allowed) throw new ForbiddenError('RBAC', forbiddenMessage(attrs));
      state.def = def;
    });
  });
}
