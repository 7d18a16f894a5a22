/**
 * Impersonation as an onRequest hook after authentication: the request acts as the user named by
 * the `Impersonate-*` headers once each requested part (user, group, uid, extra) is authorised
 * for the authenticated user (impersonation.ts), else as the authenticated user itself. Every
 * later hook and handler (authz, admission, the REST verbs) sees only the effective user.
 */
import type { Authorizer } from '../authz.ts';
import { impersonate } from '../impersonation.ts';
import { type Plugin, shared, stateOf } from './shared.ts';

export function impersonationPlugin(o: { readonly authorizer: Authorizer }): Plugin {
  return shared(async (app) => {
    app.addHook('onRequest', async (req) => {
      const state = stateOf(req);
      if (state.authenticated === undefined) return;
      state.user = impersonate(state.authenticated, req.raw.rawHeaders, o.authorizer);
    });
  });
}
