/** `tlsboot certs revoke`: revokes certificates through the API (CertificateRevocation objects). */
import type { Command } from 'commander';
import { isRevocationReason, REVOCATION_REASONS } from '../../api/revocation.ts';
import { InvalidError } from '../../base/errors.ts';
import { type RevocationTarget, revokeCertificates } from '../../client/revocations.ts';
import type { CliEnv } from '../io.ts';
import { withClient } from './csr.ts';

interface RevokeFlags {
  serial?: string;
  node?: string;
  csr?: string;
  reason: string;
  kubeconfig?: string;
}

/** The one target the flags name; checked before anything is read. */
function targetOf(flags: RevokeFlags): RevocationTarget {
  const given = [
    flags.serial === undefined ? undefined : { serial: flags.serial },
    flags.node === undefined ? undefined : { node: flags.node },
    flags.csr === undefined ? undefined : { csr: flags.csr },
  ].filter((t) => t !== undefined);
  const [only] = given;
  if (given.length !== 1 || only === undefined)
    throw new InvalidError('REVOCATION', 'name exactly one of --serial HEX, --node NAME or --csr NAME', { field: 'serial' });
  return only;
}

export function registerRevoke(certs: Command, env: CliEnv): void {
  const reasons = Object.keys(REVOCATION_REASONS).join(', ');
  certs
    .command('revoke')
    .description('revoke certificates tlsboot issued: refused by the API server at once, listed in its CRLs until they expire')
    .option('--serial <hex>', 'the certificate with this serial number')
    .option('--node <name>', 'every live certificate issued to this node (client and serving)')
    .option('--csr <name>', 'the certificate issued for this CertificateSigningRequest')
    .option('--reason <reason>', `RFC 5280 reason: ${reasons}`, 'unspecified')
    .option('--kubeconfig <file>', 'kubeconfig to use (default: $KUBECONFIG)')
    .action(async (flags: RevokeFlags) => {
      const target = targetOf(flags);
      const reason = flags.reason;
      if (!isRevocationReason(reason))
        throw new InvalidError('REVOCATION', `--reason ${reason}: not one of ${reasons}`, { field: 'reason' });
      const results = await withClient(flags, env, (client) => revokeCertificates(client, target, reason, env.now()));
      for (const r of results)
        env.stdout.write(
          `certificaterevocation.tlsboot.io/${r.serial} ${r.created ? `revoked (${reason})` : 'already revoked'}${r.commonName ? `: ${r.commonName}` : ''}\n`,
        );
    });
}
