/** `tlsboot secrets rotate-key`: flag parsing and output; the rotation is in src/control-plane/secrets-at-rest.ts. */
import type { Command } from 'commander';
import { rotateSecretsKey } from '../../control-plane/secrets-at-rest.ts';
import type { CliEnv } from '../io.ts';

export function registerSecrets(program: Command, env: CliEnv): void {
  const secrets = program.command('secrets').description('encryption of Secrets at rest');
  secrets
    .command('rotate-key')
    .description('add a new key that encrypts Secrets at rest, re-encrypt every Secret under it, then drop the old keys (server stopped)')
    .requiredOption('--dir <dir>', 'the cluster directory (DIR/pki/secrets-encryption.key and the store)')
    .option('--store <url>', 'sqlite:PATH (default DIR/tlsboot.db)')
    .action(async (flags: { dir: string; store?: string }) => {
      const result = await rotateSecretsKey({
        dir: flags.dir,
        storeUrl: flags.store,
        randomBytes: env.randomBytes,
        report: (level, message, details) => {
          const fields = Object.entries(details).map(([k, v]) => `${k}=${v}`);
          env.stderr.write(`${level === 'warn' ? 'warning' : 'info'}: ${message} (${fields.join(' ')})\n`);
        },
      });
      env.stdout.write(
        `Secrets are now encrypted with key "${result.writeKey}": ${result.rewritten} stored value${result.rewritten === 1 ? '' : 's'} re-encrypted; removed ${result.removed.map((n) => `"${n}"`).join(', ')}.\n`,
      );
    });
}
