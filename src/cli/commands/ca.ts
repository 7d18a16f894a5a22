/**
 * `tlsboot ca seal` and `tlsboot ca session open|close|status`: sealing the CA keys at rest and
 * managing the server's time-boxed signing sessions. Secrets come from a terminal prompt or a
 * file (`-` for stdin), never from a flag value, so they stay out of shell history and `ps`.
 */
import { readFileSync } from 'node:fs';
import type { Command } from 'commander';
import { stringify } from 'yaml';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { isObject, type JsonObject } from '../../base/json.ts';
import { formatTextTable } from '../../base/text-table.ts';
import { sealCaKeys } from '../../signer/sealed-ca.ts';
import type { CliEnv } from '../io.ts';
import { withClient } from './csr.ts';

const SESSIONS_PATH = '/apis/ca.tlsboot.io/v1alpha1/signingsessions';

/** A secret from --*-file (`-` is stdin), else a prompt. One trailing newline is not part of it. */
export async function readSecret(file: string | undefined, env: CliEnv, prompt: string): Promise<Buffer> {
  let data: Buffer;
  if (file === undefined) data = await env.promptSecret(prompt);
  else if (file === '-') data = await env.readStdin();
  else {
    try {
      data = readFileSync(file);
    } catch (error) {
      const code = error instanceof Error && 'code' in error ? String(error.code) : 'error';
      throw new InvalidError('SECRET_FILE', `cannot read ${file} (${code})`, { field: file });
    }
  }
  let end = data.length;
  if (data[end - 1] === 0x0a) end--;
  if (data[end - 1] === 0x0d) end--;
  return data.subarray(0, end);
}

export async function readPassphrase(file: string | undefined, env: CliEnv, confirm: boolean): Promise<Buffer> {
  const passphrase = await readSecret(file, env, 'CA key passphrase: ');
  if (confirm && file === undefined) {
    const again = await env.promptSecret('Repeat the passphrase: ');
    if (!again.equals(passphrase)) throw new InvalidError('PASSPHRASE_MISMATCH', 'the passphrases differ');
  }
  return passphrase;
}

/**
 * A session's limits in words: its own, and for a remote session those of the grant that opened
 * it, which the signer enforces, so nothing reads "unlimited" that is not.
 */
function sessionLimits(obj: JsonObject): { max: string; maxShort: string; signers: string } {
  const spec = isObject(obj.spec) ? obj.spec : {};
  const status = isObject(obj.status) ? obj.status : {};
  const grant = isObject(status.grant) ? status.grant : undefined;
  const left = typeof grant?.certificatesLeft === 'number' ? grant.certificatesLeft : undefined;
  const grantSigners = Array.isArray(grant?.signerNames) ? grant.signerNames.join(', ') : undefined;
  const own = typeof spec.maxCertificates === 'number' ? spec.maxCertificates : undefined;
  const inGrant = left === undefined ? undefined : `${left} left in the grant at open`;
  const max =
    own === undefined
      ? (inGrant ?? (grant ? 'no limit but the grant’s lifetime' : 'unlimited'))
      : `${own}${inGrant ? ` (${inGrant})` : ''}`;
  const maxShort = own !== undefined ? String(own) : left !== undefined ? `${left} (grant)` : '<none>';
  const signers = Array.isArray(spec.signerNames)
    ? `${spec.signerNames.join(', ')}${grantSigners ? ` (the grant covers ${grantSigners})` : ''}`
    : (grantSigners ?? 'all');
  return { max, maxShort, signers };
}

function describeSession(obj: JsonObject): string {
  const status = isObject(obj.status) ? obj.status : {};
  const meta = isObject(obj.metadata) ? obj.metadata : {};
  const { max, signers } = sessionLimits(obj);
  return [
    `Session:    ${String(meta.name ?? '')} (${String(status.mode ?? '')})`,
    `Phase:      ${String(status.phase ?? '')}`,
    `Opened:     ${String(status.openedAt ?? '')} by ${String(status.openedBy ?? '')}`,
    `Expires:    ${String(status.expiresAt ?? '')}`,
    ...(status.closedAt ? [`Ended:      ${String(status.closedAt)} by ${String(status.closedBy ?? '')}`] : []),
    `Signed:     ${String(status.signed ?? 0)} of ${max}`,
    `Signers:    ${signers}`,
    '',
  ].join('\n');
}

interface SessionOpenFlags {
  ttl: string;
  maxCertificates?: string;
  signers?: string;
  kubeconfig?: string;
  passphraseFile?: string;
  grantFile?: string;
}

export function registerCa(program: Command, env: CliEnv): void {
  const ca = program.command('ca').description('keep the CA key out of the cluster: seal it, and open signing sessions');
  ca.command('seal')
    .description('encrypt the CA keys under DIR/pki with a passphrase (scrypt + AES-256-GCM) and remove the plaintext')
    .requiredOption('--dir <dir>', 'directory holding DIR/pki')
    .option('--passphrase-file <file>', 'read the passphrase from FILE (- for stdin) instead of prompting')
    .action(async (flags: { dir: string; passphraseFile?: string }) => {
      const passphrase = await readPassphrase(flags.passphraseFile, env, true);
      try {
        const report = sealCaKeys(flags.dir, passphrase, env.randomBytes);
        for (const path of report.sealed) env.stdout.write(`sealed ${path}\n`);
        for (const path of report.removed) env.stdout.write(`removed ${path}\n`);
        env.stdout.write('Run the server with --signer sealed and open signing sessions with tlsboot ca session open.\n');
      } finally {
        passphrase.fill(0);
      }
    });

  const session = ca.command('session').description("the server's time-boxed signing sessions (--signer sealed or remote)");
  session
    .command('open')
    .description('unlock signing on the server for a limited time')
    .requiredOption('--ttl <duration>', 'how long the session lasts (1m to 24h), e.g. 30m')
    .option('--max-certificates <n>', 'end the session after signing this many certificates')
    .option('--signers <names>', 'only these signer names, comma-separated (default: all)')
    .option('--passphrase-file <file>', 'sealed mode: read the passphrase from FILE (- for stdin) instead of prompting')
    .option('--grant-file <file>', 'remote mode: the grant credential from tlsboot signer grant (- for stdin)')
    .option('--kubeconfig <file>', 'admin kubeconfig (default $KUBECONFIG)')
    .action(async (flags: SessionOpenFlags) => {
      const ttlMs = parseDuration(flags.ttl, 'ttl');
      let maxCertificates: number | undefined;
      if (flags.maxCertificates !== undefined) {
        maxCertificates = Number(flags.maxCertificates);
        if (!Number.isInteger(maxCertificates) || maxCertificates < 1)
          throw new InvalidError('SESSION_MAX', '--max-certificates must be a positive integer', { field: 'max-certificates' });
      }
      const signerNames = flags.signers
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      if (flags.passphraseFile !== undefined && flags.grantFile !== undefined)
        throw new InvalidError('SESSION_SECRET', 'pass either --passphrase-file (sealed) or --grant-file (remote), not both');
      const secret =
        flags.grantFile !== undefined
          ? { grant: (await readSecret(flags.grantFile, env, '')).toString('utf8') }
          : await (async () => {
              const bytes = await readPassphrase(flags.passphraseFile, env, false);
              const passphrase = bytes.toString('base64');
              bytes.fill(0);
              return { passphrase };
            })();
      const created = await withClient(flags, env, (client) =>
        client.request(SESSIONS_PATH, {
          method: 'POST',
          body: {
            apiVersion: 'ca.tlsboot.io/v1alpha1',
            kind: 'SigningSession',
            metadata: {},
            spec: {
              ttlSeconds: Math.round(ttlMs / 1000),
              ...(maxCertificates === undefined ? {} : { maxCertificates }),
              ...(signerNames === undefined ? {} : { signerNames }),
              ...secret,
            },
          },
        }),
      );
      env.stdout.write(describeSession(created));
    });
  session
    .command('close')
    .description('end the open signing session now')
    .option('--kubeconfig <file>', 'admin kubeconfig (default $KUBECONFIG)')
    .action(async (flags: { kubeconfig?: string }) => {
      const closed = await withClient(flags, env, (client) => client.request(`${SESSIONS_PATH}/current`, { method: 'DELETE' }));
      env.stdout.write(describeSession(closed));
    });
  session
    .command('status')
    .description('show the open session (until when, how much it signed) and the last one')
    .option('--kubeconfig <file>', 'admin kubeconfig (default $KUBECONFIG)')
    .option('-o, --output <format>', 'table, yaml or json', 'table')
    .action(async (flags: { kubeconfig?: string; output: string }) => {
      if (!['table', 'yaml', 'json'].includes(flags.output))
        throw new InvalidError('OUTPUT_FORMAT', '--output must be table, yaml or json', { field: 'output' });
      const list = await withClient(flags, env, (client) => client.request(SESSIONS_PATH));
      const items = Array.isArray(list.items) ? list.items.filter(isObject) : [];
      if (flags.output === 'json') return void env.stdout.write(`${JSON.stringify(items, null, 2)}\n`);
      if (flags.output === 'yaml') return void env.stdout.write(stringify(items));
      const open = items.find((i) => isObject(i.status) && i.status.phase === 'Open');
      if (!open) env.stdout.write('No signing session is open: approved CSRs wait.\n');
      const rows = items.map((i) => {
        const st = isObject(i.status) ? i.status : {};
        const meta = isObject(i.metadata) ? i.metadata : {};
        return [
          String(meta.name ?? ''),
          String(st.mode ?? ''),
          String(st.phase ?? ''),
          String(st.signed ?? 0),
          sessionLimits(i).maxShort,
          String(st.expiresAt ?? ''),
          String(st.openedBy ?? ''),
        ];
      });
      if (rows.length > 0)
        env.stdout.write(`${formatTextTable([['SESSION', 'MODE', 'PHASE', 'SIGNED', 'MAX', 'EXPIRES', 'OPENED-BY'], ...rows])}\n`);
    });
}
