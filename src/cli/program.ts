/**
 * The tlsboot command tree. `runCli` parses argv against it and returns an exit code; it never
 * touches `process`, so tests run commands in-process with fake output, clock and randomness.
 * Errors with a code print as `error: <message>` and exit 1; anything else is a bug and exits 2.
 */
import { Command, CommanderError } from 'commander';
import { describeError, isCancelled, isTlsbootError } from '../base/errors.ts';
import { VERSION } from '../base/version.ts';
import { registerAudit } from './commands/audit.ts';
import { registerCa } from './commands/ca.ts';
import { registerConsole } from './commands/console.ts';
import { registerControllers } from './commands/controllers.ts';
import { registerCsr } from './commands/csr.ts';
import { registerInit } from './commands/init.ts';
import { registerNode } from './commands/node.ts';
import { registerSecrets } from './commands/secrets.ts';
import { registerServer } from './commands/server.ts';
import { registerSigner } from './commands/signer.ts';
import { registerToken } from './commands/token.ts';
import type { CliEnv } from './io.ts';

export function buildProgram(env: CliEnv): Command {
  const program = new Command('tlsboot')
    .description('Kubernetes-compatible cluster PKI and TLS bootstrapping')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => env.stdout.write(s), writeErr: (s) => env.stderr.write(s) })
    .showHelpAfterError();
  registerInit(program, env);
  registerServer(program, env);
  registerControllers(program, env);
  registerCsr(program, env);
  registerNode(program, env);
  registerToken(program, env);
  registerCa(program, env);
  registerSigner(program, env);
  registerSecrets(program, env);
  registerConsole(program, env);
  registerAudit(program, env);
  return program;
}

export async function runCli(argv: readonly string[], env: CliEnv): Promise<number> {
  const program = buildProgram(env);
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return 0;
  } catch (error) {
    if (error instanceof CommanderError) return error.exitCode;
    // Cancelled by the shutdown signal: an ending the operator asked for, not a failure to report.
    if (isCancelled(error)) return 130;
    if (isTlsbootError(error)) {
      env.stderr.write(`error: ${error.message}\n`);
      return 1;
    }
    env.stderr.write(`internal error: ${describeError(error)}\n`);
    return 2;
  }
}
