/**
 * What a command may touch of the outside world, injected so commands run in tests in-process:
 * output streams, the clock, randomness and the host name. Only main.ts builds the real one.
 */
import type { Clock } from '../base/clock.ts';

export interface Output {
  write(text: string): void;
}

export interface CliEnv {
  readonly stdout: Output;
  readonly stderr: Output;
  /** The one clock: timers and sleeps. */
  readonly clock: Clock;
  /** `clock.now()` as a Date, for the many callers that want one. */
  readonly now: () => Date;
  readonly randomBytes: (size: number) => Uint8Array;
  readonly hostname: string;
  /** Aborted on SIGTERM/SIGINT: long-running commands shut down cleanly. */
  readonly shutdown: AbortSignal;
  /** Environment variables the commands honour (for example KUBECONFIG). */
  readonly vars: Readonly<Record<string, string | undefined>>;
  /** All of standard input (for `--passphrase-file -`). */
  readStdin(): Promise<Buffer>;
  /** Asks for a secret on the terminal without echoing it; throws when there is no terminal. */
  promptSecret(prompt: string): Promise<Buffer>;
}

/** Resolves when the process is asked to stop (SIGTERM/SIGINT). */
export function waitForShutdown(env: CliEnv): Promise<void> {
  return new Promise((resolve) => {
    if (env.shutdown.aborted) resolve();
    env.shutdown.addEventListener('abort', () => resolve(), { once: true });
  });
}
