/**
 * The first hook: reads the request target into Kubernetes request attributes (request-info.ts)
 * and starts the request's state, so that every later refusal names the resource it was about.
 */
import { BadRequestError } from '../../base/errors.ts';
import { requestInfo } from '../request-info.ts';
import { type Plugin, shared } from './shared.ts';

/** The request target as a URL; a path is never read as an authority (`//[` would be a host). */
function requestUrl(target: string): URL {
  try {
    return new URL(target.startsWith('/') ? `https://localhost${target}` : target, 'https://localhost');
  } catch {
    throw new BadRequestError('URL', 'the request target is not a valid URL');
  }
}

export function targetPlugin(): Plugin {
  return shared(async (app) => {
    app.addHook('onRequest', async (req) => {
      const url = requestUrl(req.url);
      const info = requestInfo(req.method, url.pathname, url.searchParams);
      req.tlsboot = { url, info, authenticated: undefined, user: undefined, def: undefined, bodyStarted: false };
    });
  });
}
