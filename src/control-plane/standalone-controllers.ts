/**
 * The composition root of `tlsboot controllers`: the same ControllerManager as `tlsboot server`
 * runs in process, here against any Kubernetes API server through a kubeconfig, optionally behind
 * leader election on a Lease so that of several instances exactly one acts. A leader that loses
 * its lease stops its controllers at once and becomes a candidate again.
 */
import { join } from 'node:path';
import type { Logger } from 'pino';
import type { ReservedIdentities } from '../api/index.ts';
import type { ServingPolicy } from '../api/serving-policy.ts';
import { InvalidError } from '../base/errors.ts';
import { KubeClient, loadKubeconfig } from '../client/client.ts';
import { HttpClusterClient } from '../client/cluster-client.ts';
import { ControllerManager, type ControllerName } from '../controllers/manager.ts';
import { pkiPath, readIfPresent } from '../kubeadm/pki-files.ts';
import { parseCertificatePem } from '../pki/index.ts';
import { type AuditRotation, FileAuditLog } from '../signer/audit.ts';
import { buildSigner } from './control-plane.ts';
import { type LeaderElectionParams, startElectedControllers } from './elected-controllers.ts';

export type { LeaderElectionParams };

export interface StandaloneControllersParams {
  readonly kubeconfig: string;
  /** The PKI directory: pki/ca.crt and pki/ca.key for the local signer, the audit log. */
  readonly dir: string;
  readonly controllers?: ReadonlySet<ControllerName>;
  readonly servingPolicy?: ServingPolicy;
  readonly reserved: () => ReservedIdentities;
  readonly signingDurationMs?: number;
  /** The audit log of signatures, approvals and denials (default DIR/audit.log). */
  readonly auditLogPath?: string;
  readonly auditRotation?: AuditRotation;
  readonly leaderElection?: LeaderElectionParams;
  readonly csrCleanupIntervalMs?: number;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly randomBytes: (size: number) => Uint8Array;
}

export interface StandaloneControllers {
  /** This instance's leader-election identity (undefined without leader election). */
  readonly identity: string | undefined;
  close(): Promise<void>;
}

export async function startStandaloneControllers(p: StandaloneControllersParams): Promise<StandaloneControllers> {
  const runsSigner = p.controllers === undefined || p.controllers.has('signer');
  const config = loadKubeconfig(p.kubeconfig);
  const caPath = pkiPath(p.dir, 'ca', 'crt');
  const caPem = runsSigner ? readIfPresent(caPath) : undefined;
  if (runsSigner) {
    if (!caPem)
      throw new InvalidError('PKI_MISSING', `${caPath} is missing: the signer controller needs the cluster CA (--dir)`, { field: 'dir' });
    // Whatever the server shows is signed with the CA key: it must be the cluster's own API server.
    if (config.insecureSkipTlsVerify)
      throw new InvalidError(
        'KUBECONFIG_INSECURE',
        `${p.kubeconfig} skips verifying the API server; the signer signs what that server shows, so it must be verified (drop insecure-skip-tls-verify)`,
        { field: 'kubeconfig' },
      );
  }
  // With the signer, the API server is trusted only if the cluster CA it signs with vouches for it.
  const kube = new KubeClient(caPem ? { ...config, caPem: caPem.toString('utf8') } : config);
  const client = new HttpClusterClient(kube);
  const closers: (() => Promise<void>)[] = [async () => kube.close()];
  let signer: ReturnType<typeof buildSigner>['signer'];
  // The signer records signatures, the approvers their decisions; the cleaners and the bootstrap signer record nothing.
  const audited = runsSigner || p.controllers === undefined || p.controllers.has('approver') || p.controllers.has('serving-approver');
  let audit: FileAuditLog | undefined;
  try {
    audit = audited ? new FileAuditLog(p.auditLogPath ?? join(p.dir, 'audit.log'), p.now, p.auditRotation) : undefined;
  } catch (error) {
    kube.close();
    throw error;
  }
  if (audit) {
    const opened = audit;
    closers.push(async () => opened.close());
  }
  if (runsSigner && caPem && audit) {
    signer = buildSigner(
      {
        dir: p.dir,
        signerMode: 'local',
        ...(p.signingDurationMs === undefined ? {} : { signingDurationMs: p.signingDurationMs }),
        randomBytes: p.randomBytes,
        now: p.now,
        logger: p.logger,
      },
      parseCertificatePem(caPem.toString('utf8'), caPath),
      audit,
    ).signer;
  }
  const newManager = () =>
    new ControllerManager({
      client,
      signer,
      ...(audit === undefined ? {} : { audit }),
      now: p.now,
      logger: p.logger,
      reserved: p.reserved,
      ...(p.controllers === undefined ? {} : { controllers: p.controllers }),
      ...(p.servingPolicy === undefined ? {} : { servingPolicy: p.servingPolicy }),
      ...(p.csrCleanupIntervalMs === undefined ? {} : { csrCleanupIntervalMs: p.csrCleanupIntervalMs }),
    });
  const closeAll = async () => {
    for (const c of closers.reverse()) await c();
  };
  const le = p.leaderElection;
  if (le === undefined) {
    const manager = newManager();
    closers.push(() => manager.close());
    try {
      await manager.start();
    } catch (error) {
      await closeAll();
      throw error;
    }
    return { identity: undefined, close: closeAll };
  }
  const elected = startElectedControllers(client, le, newManager, p.logger);
  closers.push(() => elected.close());
  return { identity: elected.identity, close: closeAll };
}
