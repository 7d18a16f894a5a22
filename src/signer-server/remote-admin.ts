/**
 * The local operator's client for a running remote signer's admin socket (grant, list, revoke).
 * Reaching the socket is the authorisation: it lives in the signer's 0700 state directory.
 */
import { request as httpRequest } from 'node:http';
import { join } from 'node:path';
import { InvalidError, UnavailableError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';

/** One request to the signer's admin socket; errors carry the signer's own message. */
export function adminRequest(
  stateDir: string,
  method: string,
  path: string,
  body?: unknown,
  actor?: string,
): Promise<Record<string, unknown>> {
  const payload = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        socketPath: join(stateDir, 'admin.sock'),
        path,
        method,
        headers: {
          ...(payload ? { 'content-type': 'application/json', 'content-length': payload.length } : {}),
          ...(actor ? { 'x-tlsboot-actor': actor } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(Buffer.concat(chunks).toString('utf8'));
          } catch {
            parsed = {};
          }
          const obj = isObject(parsed) ? parsed : {};
          if ((res.statusCode ?? 500) >= 300) {
            const message = typeof obj.message === 'string' ? obj.message : `HTTP ${res.statusCode}`;
            reject(new InvalidError(typeof obj.reason === 'string' ? obj.reason : 'SIGNER_ADMIN', message));
          } else resolve(obj);
        });
      },
    );
    req.on('error', (e) =>
      reject(new UnavailableError('SIGNER_NOT_RUNNING', `no signer is running with --state-dir ${stateDir} (${e.message})`)),
    );
    req.end(payload);
  });
}
