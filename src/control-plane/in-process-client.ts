/**
 * The controllers' way into `tlsboot server` in process: the typed client over a transport that
 * hands each request to the server's own request handling (Fastify's inject), authenticated with
 * a random bearer token known only to this process. So in-process controllers pass the same
 * authentication, authorisation (the RBAC `tlsboot controllers manifests` prints), admission and
 * strategies as any client, without a socket or TLS.
 */
import { randomBytes } from 'node:crypto';
import { KubeClient, type Transport } from '../client/client.ts';
import type { ApiServer } from '../server/app.ts';

/** Any https URL: never dialled, only used to build request paths. */
const IN_PROCESS_SERVER = 'https://in-process.tlsboot.invalid';

export function newInProcessToken(): string {
  return randomBytes(32).toString('base64url');
}

const METHODS = ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'] as const;
type Method = (typeof METHODS)[number];

function method(m: string): Method {
  const found = METHODS.find((x) => x === m);
  if (found === undefined) throw new TypeError(`no in-process request uses the method ${m}`);
  return found;
}

export function inProcessKubeClient(app: ApiServer['app'], token: string): KubeClient {
  const transport: Transport = {
    async send(r) {
      const res = await app.inject({
        method: method(r.method),
        url: r.path,
        headers: { ...r.headers },
        ...(r.body === undefined ? {} : { payload: r.body }),
      });
      return { status: res.statusCode, body: res.rawPayload };
    },
    async stream(r, signal) {
      // The response stream is handed the abort only once it has a listener: aborted earlier,
      // light-my-request destroys it with nobody listening, an uncaught error.
      const inner = new AbortController();
      const res = await app.inject({ method: 'GET', url: r.path, headers: { ...r.headers }, payloadAsStream: true, signal: inner.signal });
      const body = res.stream();
      body.on('error', () => {});
      const abort = () => inner.abort();
      if (signal.aborted) abort();
      else signal.addEventListener('abort', abort, { once: true });
      body.once('close', () => signal.removeEventListener('abort', abort));
      return { status: res.statusCode, body };
    },
  };
  return new KubeClient({ server: IN_PROCESS_SERVER, token, timeoutMs: 60_000 }, transport);
}
