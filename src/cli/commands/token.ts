/** `tlsboot token generate|create|list|delete`: bootstrap tokens as kube-system Secrets (reference §1). */
import type { Command } from 'commander';
import {
  asList,
  BOOTSTRAP_TOKEN_SECRET_TYPE,
  bootstrapTokenSecret,
  bootstrapTokenSecretName,
  generateToken,
  parseBootstrapToken,
  SECRET,
  type Secret,
  TOKEN_ID_PATTERN,
} from '../../api/index.ts';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError, isTlsbootError, NotFoundError } from '../../base/errors.ts';
import { formatTextTable } from '../../base/text-table.ts';
import { DEFAULT_TOKEN_GROUP, joinCommand, TOKEN_SECRETS_PATH } from '../../client/tokens.ts';
import { tokenView } from '../../web/views.ts';
import type { CliEnv } from '../io.ts';

import { withClient } from './csr.ts';

const SECRETS = TOKEN_SECRETS_PATH;
const DEFAULT_GROUP = DEFAULT_TOKEN_GROUP;

/** kubeadm's ban list and more: a token must not look guessable even when typed in by hand. */
function assertNotWeak(token: string): void {
  const { id, secret } = parseBootstrapToken(token);
  const weak = new Set(['abcdef', '000000', '123456', 'aaaaaa']);
  if (weak.has(id) || /^(.)\1+$/.test(secret) || secret === '0123456789abcdef' || new Set(secret).size < 6) {
    throw new InvalidError('TOKEN_WEAK', 'the supplied token is too predictable; omit it to have one generated', { field: 'token' });
  }
}

interface CreateFlags {
  kubeconfig?: string;
  ttl: string;
  usages: string;
  groups: string;
  description?: string;
  printJoinCommand?: boolean;
}

/** The rows of `tlsboot token list`; the TTL column reads validity through the one token rule (the console's too). */
export function listRows(secrets: readonly Secret[], now: Date): string[][] {
  return secrets
    .filter((s) => s.type === BOOTSTRAP_TOKEN_SECRET_TYPE)
    .map((s) => {
      const t = tokenView(s, now);
      return [`${t.id}.<secret>`, t.ttl, t.expiration || '<never>', t.usages.join(','), t.description || '<none>', t.groups];
    });
}

export function registerToken(program: Command, env: CliEnv): void {
  const token = program.command('token').description('manage bootstrap tokens');
  token
    .command('generate')
    .description('print a new random token without creating it')
    .action(() => env.stdout.write(`${generateToken(env.randomBytes)}\n`));
  token
    .command('create')
    .description('create a bootstrap token (a kube-system Secret) and print it')
    .argument('[token]', 'the token to create (default: a random one)')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG)')
    .option('--ttl <duration>', 'lifetime; 0 means it never expires', '24h')
    .option('--usages <list>', 'signing,authentication', 'signing,authentication')
    .option('--groups <list>', 'extra groups for authentication', DEFAULT_GROUP)
    .option('--description <text>', 'what the token is for')
    .option('--print-join-command', 'print the full tlsboot join command')
    .action((given: string | undefined, flags: CreateFlags) =>
      withClient(flags, env, async (client) => {
        const text = given ?? generateToken(env.randomBytes);
        if (given !== undefined) assertNotWeak(given);
        const parsed = parseBootstrapToken(text);
        const usages = flags.usages
          .split(',')
          .map((u) => u.trim())
          .filter((u) => u !== '');
        for (const u of usages) {
          if (u !== 'signing' && u !== 'authentication')
            throw new InvalidError('TOKEN_USAGE', `--usages: "${u}" is not signing or authentication`, { field: 'usages' });
        }
        const groups = flags.groups
          .split(',')
          .map((g) => g.trim())
          .filter((g) => g !== '');
        const ttl = parseDuration(flags.ttl, 'ttl');
        const secret = bootstrapTokenSecret({
          token: parsed,
          usages: usages as ('signing' | 'authentication')[],
          groups,
          ...(ttl > 0 ? { expiration: new Date(env.now().getTime() + ttl) } : {}),
          ...(flags.description === undefined ? {} : { description: flags.description }),
        });
        await client.request(SECRETS, { method: 'POST', body: secret });
        if (!flags.printJoinCommand) {
          env.stdout.write(`${text}\n`);
          return;
        }
        env.stdout.write(`${joinCommand(client.config, text)}\n`);
      }),
    );
  token
    .command('list')
    .description('list bootstrap tokens (their secrets are never printed)')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG)')
    .action((flags: { kubeconfig?: string }) =>
      withClient(flags, env, async (client) => {
        const list = await client.request(SECRETS, { query: { fieldSelector: `type=${BOOTSTRAP_TOKEN_SECRET_TYPE}` } }, (v) =>
          asList<Secret>(v, SECRET),
        );
        const rows = listRows(list.items, env.now());
        env.stdout.write(
          rows.length === 0
            ? 'No bootstrap tokens\n'
            : `${formatTextTable([['TOKEN', 'TTL', 'EXPIRES', 'USAGES', 'DESCRIPTION', 'EXTRA GROUPS'], ...rows])}\n`,
        );
      }),
    );
  token
    .command('delete')
    .description('delete bootstrap tokens by ID (or ID.SECRET)')
    .argument('<ids...>')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG)')
    .action((ids: string[], flags: { kubeconfig?: string }) =>
      withClient(flags, env, async (client) => {
        for (const given of ids) {
          const id = given.includes('.') ? parseBootstrapToken(given).id : given;
          if (!TOKEN_ID_PATTERN.test(id))
            throw new InvalidError('TOKEN_FORMAT', `"${id}" is not a token ID (${TOKEN_ID_PATTERN.source})`, { field: 'ids' });
          try {
            await client.request(`${SECRETS}/${bootstrapTokenSecretName(id)}`, { method: 'DELETE' });
          } catch (error) {
            if (isTlsbootError(error) && error.code === 'NOT_FOUND')
              throw new NotFoundError('TOKEN_NOT_FOUND', `bootstrap token "${id}" not found`, { field: 'ids' });
            throw error;
          }
          env.stdout.write(`bootstrap token "${id}" deleted\n`);
        }
      }),
    );
}
