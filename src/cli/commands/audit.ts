/** `tlsboot audit verify FILE...`: checks the CA audit log's hash chain (src/signer/audit-verify.ts). */
import type { Command } from 'commander';
import { InvalidError } from '../../base/errors.ts';
import { type AuditRotation, DEFAULT_AUDIT_MAX_BACKUPS, DEFAULT_AUDIT_MAX_BYTES } from '../../signer/audit.ts';
import { verifyAuditChain } from '../../signer/audit-verify.ts';
import type { CliEnv } from '../io.ts';

/** The audit log's rotation flags, as every command that writes the log takes them (kube-apiserver's --audit-log-maxsize, -maxbackup). */
export interface AuditRotationFlags {
  auditMaxBytes: string;
  auditMaxBackups: string;
}

export function withAuditRotationFlags(command: Command): Command {
  return command
    .option('--audit-max-bytes <n>', 'the audit log rotates before it would grow past this many bytes', String(DEFAULT_AUDIT_MAX_BYTES))
    .option(
      '--audit-max-backups <n>',
      'rotated audit log files kept (<log>-<last seq>.log); older ones are deleted',
      String(DEFAULT_AUDIT_MAX_BACKUPS),
    );
}

function wholeNumber(text: string, flag: string, min: number): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value < min)
    throw new InvalidError('FLAG', `--${flag} must be an integer of at least ${min}, not "${text}"`, { field: flag });
  return value;
}

export function auditRotationOf(flags: AuditRotationFlags): AuditRotation {
  return {
    maxBytes: wholeNumber(flags.auditMaxBytes, 'audit-max-bytes', 1),
    maxBackups: wholeNumber(flags.auditMaxBackups, 'audit-max-backups', 0),
  };
}

export function registerAudit(program: Command, env: CliEnv): void {
  const audit = program.command('audit').description('the CA audit log');
  audit
    .command('verify')
    .description(
      'check the hash chain of audit log files given oldest first (rotated files, then the current one: audit-*.log audit.log); ' +
        'names the first record edited, removed, reordered or cut off and exits non-zero. A cut-off end leaves no trace in the ' +
        'file itself: it shows only against the next file or against --expect-last, a hash an earlier verify printed',
    )
    .argument('<file...>', 'audit log files, oldest first')
    .option('--expect-last <sha256>', 'the last hash an earlier verify printed: the chain must still reach that record')
    .action((files: string[], flags: { expectLast?: string }) => {
      const result = verifyAuditChain(files, flags.expectLast === undefined ? {} : { expectLast: flags.expectLast });
      if (!result.ok) {
        const b = result.broken;
        throw new InvalidError(
          'AUDIT_CHAIN_BROKEN',
          `audit chain broken at ${b.file} line ${b.line}${b.seq === undefined ? '' : ` (seq ${b.seq})`}: ${b.problem}`,
        );
      }
      const s = result.summary;
      const start = s.firstSeq === 1 ? 'from genesis' : `from seq ${s.firstSeq} (earlier records are in files not given)`;
      env.stdout.write(
        `ok: ${s.records} records in ${s.files} file(s), seq ${s.firstSeq}..${s.lastSeq} ${start}\nlast hash: ${s.lastHash}\n`,
      );
    });
}
