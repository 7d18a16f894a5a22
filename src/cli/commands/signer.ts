/**
 * `tlsboot signer serve|grant|grants|revoke`: the remote signer, run on the machine that keeps the
 * CA key, and the local operator's commands that issue and revoke its time-boxed grants through
 * the admin socket in its state directory.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { isObject } from '../../base/json.ts';
import { formatTextTable } from '../../base/text-table.ts';
import { isIp, parseEndpoint } from '../../kubeadm/layout.ts';
import { readReservedSources } from '../../kubeadm/reserved-identities.ts';
import { keyMatchesSpki, parseCertificatePem, parsePrivateKeyPem } from '../../pki/index.ts';
import { adminRequest as admin } from '../../signer-server/remote-admin.ts';
import { DEFAULT_GRANT_SIGNERS, REMOTE_SIGNERS, startRemoteSigner } from '../../signer-server/remote-signer-server.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { createLogger } from '../logger.ts';
import { auditRotationOf, withAuditRotationFlags } from './audit.ts';

function listenAddress(text: string): { host: string; port: number } {
  // Port 0 (any free port) is fine here, unlike for the cluster's advertised endpoint.
  const zero = /:0$/.test(text);
  const { host, port } = parseEndpoint(zero ? text.slice(0, -2) : text, 8443, 'listen');
  if (!isIp(host)) throw new InvalidError('LISTEN', `--listen needs an IP address, not "${host}"`, { field: 'listen' });
  return { host, port: zero ? 0 : port };
}

function actorOf(env: CliEnv): string {
  return env.vars.SUDO_USER ?? env.vars.USER ?? env.vars.LOGNAME ?? 'operator';
}

export function registerSigner(program: Command, env: CliEnv): void {
  const signer = program.command('signer').description('a remote signer that keeps the CA key off the cluster, and its grants');
  withAuditRotationFlags(signer.command('serve'))
    .description('sign for the cluster over mutual TLS, only under a live grant')
    .requiredOption('--ca-cert <file>', 'the cluster CA certificate')
    .requiredOption('--ca-key <file>', 'the cluster CA key')
    .requiredOption('--state-dir <dir>', 'transport CA, grants, audit log and admin socket (mode 0700)')
    .option('--listen <host:port>', 'address to serve on', '127.0.0.1:8443')
    .option('--san <names>', 'extra DNS names or IPs the cluster dials this signer by, comma-separated')
    .option(
      '--deny-san <names>',
      "DNS names and IPs never certified for a node, comma-separated (the API server's service IP, load balancer name...)",
      '10.96.0.1',
    )
    .option(
      '--reserved-from <dir>',
      "also never certify what the cluster's own servers present: the SANs of DIR/pki/apiserver.crt, etcd/server.crt, etcd/peer.crt and admin.conf's endpoint (public files only)",
    )
    .option('--max-ttl <duration>', 'the longest certificate this signer issues', '8760h')
    .option('--metrics-token-file <file>', 'serve Prometheus /metrics to scrapers presenting the bearer token in FILE (off without it)')
    .option('--log-level <level>', 'fatal, error, warn, info or debug', 'info')
    .action(
      async (flags: {
        caCert: string;
        caKey: string;
        stateDir: string;
        listen: string;
        san?: string;
        denySan: string;
        reservedFrom?: string;
        maxTtl: string;
        metricsTokenFile?: string;
        logLevel: string;
        auditMaxBytes: string;
        auditMaxBackups: string;
      }) => {
        const { host, port } = listenAddress(flags.listen);
        const metricsToken = flags.metricsTokenFile === undefined ? undefined : readFileSync(flags.metricsTokenFile, 'utf8').trim();
        if (metricsToken !== undefined && !/^\S{16,}$/.test(metricsToken))
          throw new InvalidError(
            'METRICS_TOKEN',
            `${flags.metricsTokenFile} must hold one token of at least 16 characters without spaces`,
            {
              field: 'metrics-token-file',
            },
          );
        const caCertificate = parseCertificatePem(readFileSync(flags.caCert), flags.caCert);
        const caKey = parsePrivateKeyPem(readFileSync(flags.caKey), flags.caKey);
        if (!keyMatchesSpki(caKey, caCertificate.spki))
          throw new InvalidError('PKI_KEY_MISMATCH', `${flags.caKey} is not the key of ${flags.caCert}`, { field: 'ca-key' });
        if (!caCertificate.basicConstraints?.ca)
          throw new InvalidError('PKI_NOT_CA', `${flags.caCert} is not a CA certificate`, { field: 'ca-cert' });
        const logger = createLogger(env, flags.logLevel);
        const server = await startRemoteSigner({
          caCertificate,
          caKey,
          stateDir: flags.stateDir,
          auditRotation: auditRotationOf(flags),
          host,
          port,
          sans: (flags.san ?? '')
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
          deniedSans: flags.denySan
            .split(',')
            .map((s) => s.trim())
            .filter((s) => s !== ''),
          ...(flags.reservedFrom === undefined ? {} : { reserved: readReservedSources(flags.reservedFrom) }),
          maxTtlMs: parseDuration(flags.maxTtl, 'max-ttl'),
          ...(metricsToken === undefined ? {} : { metricsToken }),
          now: env.now,
          randomBytes: env.randomBytes,
        });
        logger.info({ url: server.url, adminSocket: server.adminSocket }, 'tlsboot signer ready');
        await waitForShutdown(env);
        await server.close();
        logger.info({}, 'stopped');
      },
    );
  signer
    .command('grant')
    .description('issue a temporary credential for the cluster, bound to a window and limits; prints it')
    .requiredOption('--state-dir <dir>', "the running signer's state directory")
    .requiredOption('--ttl <duration>', 'how long the grant lasts (1m to 24h)')
    .option('--max-certificates <n>', 'how many certificates the grant may obtain (default: no limit but its lifetime)')
    .option(
      '--signers <names>',
      `signer names it covers, comma-separated, of ${REMOTE_SIGNERS.join(', ')} (default: the node signers ${DEFAULT_GRANT_SIGNERS.join(', ')})`,
    )
    .option('--output-file <file>', 'write the credential to FILE (mode 0600) instead of standard output')
    .action(async (flags: { stateDir: string; ttl: string; maxCertificates?: string; signers?: string; outputFile?: string }) => {
      const ttlMs = parseDuration(flags.ttl, 'ttl');
      const max = flags.maxCertificates === undefined ? undefined : Number(flags.maxCertificates);
      if (max !== undefined && !(Number.isInteger(max) && max > 0))
        throw new InvalidError('GRANT_MAX', '--max-certificates must be a positive integer', { field: 'max-certificates' });
      const signerNames = flags.signers
        ?.split(',')
        .map((s) => s.trim())
        .filter((s) => s !== '');
      const answer = await admin(flags.stateDir, 'POST', '/v1/grants', {
        ttlSeconds: Math.round(ttlMs / 1000),
        ...(max === undefined ? {} : { maxCertificates: max }),
        ...(signerNames === undefined ? {} : { signerNames }),
        actor: actorOf(env),
      });
      const credential = String(answer.credential ?? '');
      if (flags.outputFile !== undefined) {
        writeFileSync(flags.outputFile, credential, { mode: 0o600, flag: 'wx' });
        env.stdout.write(`grant ${String(answer.id)} written to ${flags.outputFile}; it expires at ${String(answer.expiresAt)}\n`);
      } else env.stdout.write(credential);
    });
  signer
    .command('grants')
    .description('list grants: expiry, limits, use, revocation')
    .requiredOption('--state-dir <dir>', "the running signer's state directory")
    .action(async (flags: { stateDir: string }) => {
      const answer = await admin(flags.stateDir, 'GET', '/v1/grants');
      const now = env.now();
      const rows = (Array.isArray(answer.grants) ? answer.grants.filter(isObject) : []).map((g) => [
        String(g.id),
        g.revokedAt ? 'revoked' : new Date(String(g.expiresAt)) <= now ? 'expired' : 'live',
        String(g.expiresAt),
        `${String(g.signed)}/${g.maxCertificates === undefined ? '-' : String(g.maxCertificates)}`,
        Array.isArray(g.signerNames) ? g.signerNames.join(',') : 'all',
        String(g.createdBy),
      ]);
      env.stdout.write(`${formatTextTable([['GRANT', 'STATE', 'EXPIRES', 'SIGNED', 'SIGNERS', 'CREATED-BY'], ...rows])}\n`);
    });
  signer
    .command('revoke')
    .description('revoke a grant now: the signer refuses it from the next request on')
    .argument('<grant>', 'grant id')
    .requiredOption('--state-dir <dir>', "the running signer's state directory")
    .action(async (id: string, flags: { stateDir: string }) => {
      if (!/^[0-9a-f]{32}$/.test(id)) throw new InvalidError('GRANT_ID', `"${id}" is not a grant id`, { field: 'grant' });
      await admin(flags.stateDir, 'DELETE', `/v1/grants/${id}`, undefined, actorOf(env));
      env.stdout.write(`grant ${id} revoked\n`);
    });
}
