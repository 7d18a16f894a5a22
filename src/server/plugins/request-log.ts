/**
 * One log line per request once its response is finished: method, path (never the query, which
 * may carry selectors or names a reader has no business seeing), status, the user it acted as
 * and its duration. Credentials and bodies are never logged.
 */
import type { Logger } from 'pino';
import { type Plugin, shared } from './shared.ts';

export function requestLogPlugin(p: { readonly logger: Logger }): Plugin {
  return shared(async (app) => {
    app.addHook('onRequest', async (req, reply) => {
      const started = performance.now();
      // Once: light-my-request (inject, the in-process controllers' path) emits 'finish' twice.
      reply.raw.once('finish', () => {
        p.logger.info(
          {
            method: req.method,
            path: req.tlsboot?.url.pathname ?? req.url.split('?')[0],
            status: reply.raw.statusCode,
            user: req.tlsboot?.user?.name,
            ms: Math.round(performance.now() - started),
          },
          'request',
        );
      });
    });
  });
}
