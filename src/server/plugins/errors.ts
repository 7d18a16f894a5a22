/**
 * Errors and bodies for the whole app: every error, from a hook or a handler, becomes a Kubernetes
 * Status naming what the request was about (status.ts), a path no plugin serves is a 404 Status,
 * and bodies are read as size-capped buffers that handlers decode (body.ts) only once admitted.
 * A request refused before its body was read loses its connection: a client that announced a
 * large or endless body gets its answer instead of holding the connection while it sends.
 */
import type { IncomingMessage } from 'node:http';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { BadRequestError, NotFoundError, TooLargeError } from '../../base/errors.ts';
import { isObject } from '../../base/json.ts';
import { type StatusSubject, statusFor } from '../status.ts';
import { type Plugin, type RequestState, shared } from './shared.ts';

/** Whether the request announces a body (RFC 9112 §6.3), which a refused request leaves unread. */
function announcesBody(req: IncomingMessage): boolean {
  const length = req.headers['content-length'];
  return req.headers['transfer-encoding'] !== undefined || (length !== undefined && length !== '0');
}

/** What a Status names for a request: its resource, and the Kind once authz resolved it. */
export function subjectOf(state: RequestState | undefined): StatusSubject | undefined {
  if (state?.info.kind !== 'resource') return undefined;
  return state.def ? { info: state.info, kind: state.def.kind } : { info: state.info };
}

export function sendError(logger: Logger, reply: FastifyReply, error: unknown, subject?: StatusSubject): FastifyReply {
  const { code, body, headers } = statusFor(error, subject);
  if (code >= 500) logger.error({ err: error instanceof Error ? error.message : String(error) }, 'request failed');
  return reply.code(code).headers(headers).type('application/json').send(body);
}

export function errorsPlugin(p: { readonly logger: Logger; readonly maxBodyBytes: number }): Plugin {
  return shared(async (app) => {
    app.decorateRequest('tlsboot', undefined);
    app.removeAllContentTypeParsers();
    app.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: p.maxBodyBytes }, (_req, body, done) => done(null, body));

    // The request was admitted and its body is about to be read: now invite a client that waits for it.
    app.addHook('preParsing', async (req, reply, payload) => {
      if (req.tlsboot) req.tlsboot.bodyStarted = true;
      if (req.headers.expect?.toLowerCase() === '100-continue') reply.raw.writeContinue();
      return payload;
    });

    app.setErrorHandler((error: unknown, req, reply) => {
      if (!req.tlsboot?.bodyStarted && announcesBody(req.raw)) reply.header('connection', 'close');
      const fastifyCode = isObject(error) && typeof error.code === 'string' ? error.code : '';
      if (fastifyCode === 'FST_ERR_CTP_BODY_TOO_LARGE') {
        return sendError(p.logger, reply, new TooLargeError('BODY_TOO_LARGE', `the request body is larger than ${p.maxBodyBytes} bytes`));
      }
      if (fastifyCode.startsWith('FST_ERR_CTP'))
        return sendError(p.logger, reply, new BadRequestError('BODY', 'the request body could not be read'));
      return sendError(p.logger, reply, error, subjectOf(req.tlsboot));
    });

    app.setNotFoundHandler(async () => {
      throw new NotFoundError('NO_RESOURCE', 'the server could not find the requested resource');
    });
  });
}
