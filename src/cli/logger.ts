/**
 * Structured JSON logs (pino) written to the CLI's stdout. Authorization headers and token or
 * key fields are redacted by path as a second line of defence; the first is never logging them.
 */
import pino, { type Logger } from 'pino';
import { InvalidError } from '../base/errors.ts';
import type { CliEnv } from './io.ts';

const LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace'];

export function createLogger(env: CliEnv, level: string): Logger {
  if (!LEVELS.includes(level))
    throw new InvalidError('LOG_LEVEL', `--log-level must be one of ${LEVELS.join(', ')}`, { field: 'log-level' });
  return pino(
    {
      level,
      base: { app: 'tlsboot' },
      timestamp: () => `,"time":"${env.now().toISOString()}"`,
      redact: {
        paths: ['*.authorization', '*.token', '*.tokenSecret', '*.privateKey', '*.key', 'headers.authorization'],
        censor: '[redacted]',
      },
    },
    { write: (s: string) => env.stdout.write(s) },
  );
}
