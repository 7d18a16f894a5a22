/**
 * `tlsboot controllers`: runs any set of the controllers against any Kubernetes API server (the
 * work is in src/control-plane/standalone-controllers.ts), and `tlsboot controllers manifests`
 * prints the RBAC and CustomResourceDefinitions a stock cluster needs for them.
 */
import { readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml, stringify } from 'yaml';
import { parseServingPolicy } from '../../api/serving-policy.ts';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import type { LeaderElectionParams } from '../../control-plane/elected-controllers.ts';
import { startStandaloneControllers } from '../../control-plane/standalone-controllers.ts';
import { CONTROLLER_NAMES, type ControllerName } from '../../controllers/manager.ts';
import { bookkeepingCrds, type ControllerSubject, controllerRbac } from '../../controllers/manifests.ts';
import { ReservedIdentityFiles } from '../../kubeadm/reserved-identities.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { createLogger } from '../logger.ts';
import { auditRotationOf, withAuditRotationFlags } from './audit.ts';

/** `--controllers a,b` (or `none`) as a set of known names; an unknown one is refused by name. */
export function parseControllerList(text: string): ReadonlySet<ControllerName> {
  if (text.trim() === 'none') return new Set();
  const out = new Set<ControllerName>();
  for (const part of text.split(',').map((s) => s.trim())) {
    const name = CONTROLLER_NAMES.find((n) => n === part);
    if (name === undefined)
      throw new InvalidError('FLAG', `--controllers: unknown controller "${part}"; known: ${CONTROLLER_NAMES.join(', ')}, or none`, {
        field: 'controllers',
      });
    out.add(name);
  }
  return out;
}

function subjectOf(flags: { user?: string; group?: string; serviceAccount?: string }): ControllerSubject {
  const given = [flags.user, flags.group, flags.serviceAccount].filter((x) => x !== undefined).length;
  if (given > 1) throw new InvalidError('FLAG', 'give one of --user, --group and --service-account', { field: 'user' });
  if (flags.user !== undefined) return { kind: 'User', name: flags.user };
  if (flags.group !== undefined) return { kind: 'Group', name: flags.group };
  const sa = flags.serviceAccount ?? 'kube-system/tlsboot-controllers';
  const m = /^([a-z0-9]([-a-z0-9]*[a-z0-9])?)\/([a-z0-9]([-.a-z0-9]*[a-z0-9])?)$/.exec(sa);
  if (!m) throw new InvalidError('FLAG', `--service-account must be NAMESPACE/NAME, not "${sa}"`, { field: 'service-account' });
  return { kind: 'ServiceAccount', namespace: m[1] ?? '', name: m[3] ?? '' };
}

/** The leader-election flags, as kube-controller-manager names them. */
export interface LeaderElectFlags {
  leaderElect?: boolean;
  leaderElectLeaseDuration: string;
  leaderElectRenewDeadline: string;
  leaderElectRetryPeriod: string;
  leaderElectIdentity?: string;
}

/** kube-controller-manager's defaults. */
const LEADER_ELECT_DEFAULTS = { lease: '15s', renew: '10s', retry: '2s' } as const;

/** Leader election with the default timings (for `join --control-plane`, which has no such flags). */
export function defaultLeaderElection(): LeaderElectionParams {
  return {
    leaseDurationMs: parseDuration(LEADER_ELECT_DEFAULTS.lease, 'leader-elect-lease-duration'),
    renewDeadlineMs: parseDuration(LEADER_ELECT_DEFAULTS.renew, 'leader-elect-renew-deadline'),
    retryPeriodMs: parseDuration(LEADER_ELECT_DEFAULTS.retry, 'leader-elect-retry-period'),
  };
}

export function withLeaderElectFlags(command: Command): Command {
  return command
    .option('--leader-elect', 'run the controllers only while holding the kube-system/tlsboot-controllers Lease')
    .option(
      '--leader-elect-lease-duration <duration>',
      'how long a candidate waits on an unrenewed lease before taking it',
      LEADER_ELECT_DEFAULTS.lease,
    )
    .option(
      '--leader-elect-renew-deadline <duration>',
      'how long the leader keeps trying to renew before it stops acting',
      LEADER_ELECT_DEFAULTS.renew,
    )
    .option(
      '--leader-elect-retry-period <duration>',
      'how often candidates try to acquire and the leader renews',
      LEADER_ELECT_DEFAULTS.retry,
    )
    .option('--leader-elect-identity <name>', 'this instance in the Lease (default: hostname_uuid)');
}

export function leaderElectionOf(flags: LeaderElectFlags): LeaderElectionParams | undefined {
  if (!flags.leaderElect) return undefined;
  return {
    ...(flags.leaderElectIdentity === undefined ? {} : { identity: flags.leaderElectIdentity }),
    leaseDurationMs: parseDuration(flags.leaderElectLeaseDuration, 'leader-elect-lease-duration'),
    renewDeadlineMs: parseDuration(flags.leaderElectRenewDeadline, 'leader-elect-renew-deadline'),
    retryPeriodMs: parseDuration(flags.leaderElectRetryPeriod, 'leader-elect-retry-period'),
  };
}

interface RunFlags extends LeaderElectFlags {
  kubeconfig?: string;
  dir?: string;
  controllers: string;
  signer: string;
  servingPolicy?: string;
  clusterSigningDuration: string;
  logLevel: string;
  auditLog?: string;
  auditMaxBytes: string;
  auditMaxBackups: string;
}

export function registerControllers(program: Command, env: CliEnv): void {
  const controllers = withAuditRotationFlags(withLeaderElectFlags(program.command('controllers')))
    .description('run the approvers, signer, bootstrap signer and cleaners against any Kubernetes API server')
    .option('--kubeconfig <file>', 'how to reach the API server, as the controllers identity (required)')
    .option(
      '--dir <dir>',
      'the PKI directory: pki/ca.crt and pki/ca.key for the signer, the reserved identities (default: the kubeconfig directory)',
    )
    .option('--controllers <list>', `which to run, comma-separated: ${CONTROLLER_NAMES.join(', ')}`, CONTROLLER_NAMES.join(','))
    .option('--signer <mode>', 'local (the CA key in DIR/pki); sealed and remote run inside tlsboot server only', 'local')
    .option('--serving-policy <file>', 'YAML policy for auto-approving kubelet serving certificates')
    .option('--cluster-signing-duration <duration>', 'the longest certificate the signer issues', '8760h')
    .option(
      '--audit-log <file>',
      'the hash-chained audit log of signatures, approvals and denials (default DIR/audit.log; one process per file: beside a server on the same DIR, give another)',
    )
    .option('--log-level <level>', 'fatal, error, warn, info or debug', 'info')
    .action(async (flags: RunFlags) => {
      if (flags.signer !== 'local')
        throw new InvalidError(
          'SIGNER_MODE',
          `--signer ${flags.signer}: sealed and remote signing sessions are opened through tlsboot server; run the signer there`,
          {
            field: 'signer',
          },
        );
      const kubeconfig = flags.kubeconfig;
      if (kubeconfig === undefined)
        throw new InvalidError('FLAG', '--kubeconfig is required: the controllers reach the API server only through it', {
          field: 'kubeconfig',
        });
      const set = parseControllerList(flags.controllers);
      const dir = flags.dir ?? dirname(kubeconfig);
      const logger = createLogger(env, flags.logLevel);
      const reserved = new ReservedIdentityFiles({ dir, now: env.now });
      if (reserved.describe().length === 0)
        throw new InvalidError(
          'RESERVED_MISSING',
          `${dir} holds no API server or etcd certificate to reserve; without them the signer could certify the cluster's own names (give --dir)`,
          { field: 'dir' },
        );
      const leaderElection = leaderElectionOf(flags);
      const running = await startStandaloneControllers({
        kubeconfig,
        dir,
        controllers: set,
        ...(flags.servingPolicy === undefined
          ? {}
          : { servingPolicy: parseServingPolicy(parseYaml(readFileSync(flags.servingPolicy, 'utf8'))) }),
        reserved: () => reserved.current(),
        ...(flags.auditLog === undefined ? {} : { auditLogPath: flags.auditLog }),
        auditRotation: auditRotationOf(flags),
        signingDurationMs: parseDuration(flags.clusterSigningDuration, 'cluster-signing-duration'),
        ...(leaderElection === undefined ? {} : { leaderElection }),
        logger,
        now: env.now,
        randomBytes: env.randomBytes,
      });
      logger.info({ controllers: [...set], identity: running.identity }, 'tlsboot controllers running');
      await waitForShutdown(env);
      logger.info({}, 'shutting down');
      await running.close();
      logger.info({}, 'stopped');
    });
  controllers
    .command('manifests')
    .description('print the RBAC and CustomResourceDefinitions the controllers need on a stock cluster (apply with kubectl apply -f -)')
    .option('--user <name>', 'bind the RBAC to this user')
    .option('--group <name>', 'bind the RBAC to this group')
    .option('--service-account <ns/name>', 'bind the RBAC to this service account (default kube-system/tlsboot-controllers)')
    .option('--no-crds', 'leave out the CustomResourceDefinitions (tlsboot server serves those kinds itself)')
    .action((flags: { user?: string; group?: string; serviceAccount?: string; crds: boolean }) => {
      const rbac = controllerRbac(subjectOf(flags));
      const docs = [...(flags.crds ? bookkeepingCrds() : []), ...rbac.clusterScoped, ...rbac.namespaced];
      env.stdout.write(docs.map((d) => stringify(d)).join('---\n'));
    });
}
