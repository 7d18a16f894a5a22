/**
 * The composition root of `tlsboot server`: opens the store, loads the PKI from DIR, seeds the
 * bootstrap RBAC policy and `kube-public/cluster-info`, builds the API server (authentication,
 * RBAC, admission, resources) and the controllers, and returns one handle that closes all of it
 * in reverse order.
 */
import { type KeyObject, randomUUID } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import type { Logger } from 'pino';
import { CONFIGMAPS, storeKeyOf } from '../api/cluster-client.ts';
import { parseKubeconfig, resolveKubeconfig } from '../api/index.ts';
import type { ServingPolicy } from '../api/serving-policy.ts';
import { type Clock, every, REAL_CLOCK } from '../base/clock.ts';
import { InternalError, InvalidError, isTlsbootError, UnavailableError } from '../base/errors.ts';
import { isObject } from '../base/json.ts';
import {
  ApiMetrics,
  CsrMetrics,
  ExpiryMetrics,
  MetricsRegistry,
  RevocationMetrics,
  SessionMetrics,
  StoreMetrics,
} from '../base/metrics.ts';
import { VERSION } from '../base/version.ts';
import { HttpClusterClient } from '../client/cluster-client.ts';
import { ControllerManager, type ControllerName } from '../controllers/manager.ts';
import { controllerRbac, IN_PROCESS_CONTROLLERS_USER } from '../controllers/manifests.ts';
import { checkExpiration } from '../kubeadm/certs.ts';
import { pkiPath, readIfPresent, sealedKeyPath } from '../kubeadm/pki-files.ts';
import { controlPlaneNodeName, ReservedIdentityFiles } from '../kubeadm/reserved-identities.ts';
import {
  type Certificate,
  type CrlDistribution,
  certificatePin,
  parseCertificateBundle,
  parseCertificatePem,
  parsePrivateKeyPem,
} from '../pki/index.ts';
import { IdentityCaches } from '../runtime/identity-caches.ts';
import { accessReviewHandlers, ControlPlaneAdmission } from '../server/admission.ts';
import { type ApiServer, createApiServer } from '../server/app.ts';
import { StaticTokens } from '../server/authn.ts';
import { RbacAuthorizer, startRbacInformers } from '../server/authz.ts';
import {
  BOOTSTRAP_CLUSTER_ROLE_BINDINGS,
  BOOTSTRAP_CLUSTER_ROLES,
  BOOTSTRAP_ROLE_BINDINGS,
  BOOTSTRAP_ROLES,
} from '../server/bootstrap-policy.ts';
import type { ConnectionLimits } from '../server/connections.ts';
import type { RequesterLimitsConfig } from '../server/limits.ts';
import { NodeRestrictingAuthorizer } from '../server/node-restriction.ts';
import { Registry } from '../server/registry.ts';
import { ALL_RESOURCES } from '../server/resources.ts';
import { type AuditLog, type AuditRotation, FileAuditLog } from '../signer/audit.ts';
import { CryptoPool } from '../signer/crypto-pool.ts';
import { RemoteBackend } from '../signer/remote-backend.ts';
import { SealedKeyBackend } from '../signer/sealed-ca.ts';
import { SessionSigner, sessionView } from '../signer/session-signer.ts';
import { AuditedSigner, LocalSigner, type Signer } from '../signer/signer.ts';
import { meteredStore, type Store, storeListWatch } from '../store/index.ts';
import { storeCrlKeeper } from './crl-keeper.ts';
import { CRL_SHARDS, CrlPublisher, SESSION_CRL_LIFETIME_MS } from './crl-publisher.ts';
import { type ElectedControllers, type LeaderElectionParams, startElectedControllers } from './elected-controllers.ts';
import { inProcessKubeClient, newInProcessToken } from './in-process-client.ts';
import { startReservedPublisher } from './reserved-publisher.ts';
import { RevokedSerialsCache, revocationAdmission } from './revocations.ts';
import { type EtcdFiles, openClusterStore } from './secrets-at-rest.ts';
import { signingSessionApi } from './signing-sessions.ts';
import { storeReadiness } from './store-readiness.ts';
import { createIfAbsent, ensureCurrent, storeKeyFor, upsert } from './stored-objects.ts';

/** Revisions of history kept for watchers, and how often older ones are compacted away (defaults). */
export const HISTORY_REVISIONS = 100_000;
export const COMPACTION_INTERVAL_MS = 5 * 60_000;
/** How often a server looks whether its certificates' names changed, to publish them to the others. */
export const RESERVED_RECHECK_MS = 10_000;

export interface ControlPlaneParams {
  readonly dir: string;
  readonly host: string;
  readonly port: number;
  readonly storeUrl?: string;
  /** The etcd client certificate files, for an `etcd://` store; DIR/pki's by default. */
  readonly etcd?: EtcdFiles;
  readonly tokenAuthFile?: string;
  readonly logger: Logger;
  readonly now: () => Date;
  readonly randomBytes: (size: number) => Uint8Array;
  readonly csrCleanupIntervalMs?: number;
  /** Revisions of history kept for watchers (HISTORY_REVISIONS when absent); a watch from before them is 410. */
  readonly historyRevisions?: number;
  /** How often history beyond `historyRevisions` is compacted away (COMPACTION_INTERVAL_MS when absent). */
  readonly compactionIntervalMs?: number;
  /** Runs the compactor's and the signing sessions' timers and their time (agreeing with `now`); the real clock when absent. */
  readonly clock?: Clock;
  /** kube-apiserver's --min-request-timeout, in seconds, for watches without timeoutSeconds. */
  readonly minRequestTimeoutSeconds?: number;
  readonly servingPolicy?: ServingPolicy;
  /** The longest certificate the signer issues (Kubernetes' --cluster-signing-duration). */
  readonly signingDurationMs?: number;
  /** Where the CA key is: on disk (local), sealed on disk and opened per session, or on a remote signer. */
  readonly signerMode?: SignerMode;
  /** The CA audit log (default DIR/audit.log). */
  readonly auditLogPath?: string;
  /** When the audit log rotates and how many rotated files it keeps (src/signer/audit.ts's defaults when absent). */
  readonly auditRotation?: AuditRotation;
  /** The API server's connection timeouts and cap (defaults: DEFAULT_CONNECTION_LIMITS). */
  readonly connectionLimits?: Partial<ConnectionLimits>;
  /** Limits per requester; each one left out takes its default. */
  readonly limits?: Partial<RequesterLimitsConfig>;
  /** Which controllers run in process (all when absent; none with an empty set). */
  readonly controllers?: ReadonlySet<ControllerName>;
  /** Run the in-process controllers only while holding the controllers' Lease (with `tlsboot controllers` beside it). */
  readonly leaderElection?: LeaderElectionParams;
  /** Base URL of the CRLs named in every certificate issued (`<base>/crl/<shard>.crl`); the control-plane endpoint when absent. */
  readonly crlBaseUrl?: string;
  /** Worker threads that verify CSRs and, with a local CA key, sign (src/signer/crypto-pool.ts); none (all in process) when absent or 0. */
  readonly cryptoWorkers?: number;
}

const CONFIGMAP_RESOURCE = storeKeyOf(CONFIGMAPS);

export const SIGNER_MODES = ['local', 'sealed', 'remote'] as const;
export type SignerMode = (typeof SIGNER_MODES)[number];

export interface SignerSetup {
  readonly signer: Signer | undefined;
  readonly sessions: SessionSigner | undefined;
  /** With `cryptoWorkers`: the pool that verifies CSRs, and signs when the CA key is local. The caller closes it. */
  readonly pool: CryptoPool | undefined;
}

/** What building a Signer needs: where the key is, in which mode, and the limits. */
export type SignerParams = Pick<
  ControlPlaneParams,
  'dir' | 'signerMode' | 'signingDurationMs' | 'randomBytes' | 'now' | 'logger' | 'clock' | 'cryptoWorkers'
>;

/** The CA key material in `dir` for the mode: the plaintext key (local) or the sealed one (sealed); none for remote. */
export interface SignerKeyMaterial {
  readonly mode: SignerMode;
  readonly plain: Buffer | undefined;
  readonly sealed: Buffer | undefined;
}

/** Reads the CA key material, refusing a directory whose key material contradicts the mode (before anything opens). */
export function signerKeyMaterial(p: Pick<SignerParams, 'dir' | 'signerMode'>): SignerKeyMaterial {
  const mode = p.signerMode ?? 'local';
  const keyPath = pkiPath(p.dir, 'ca', 'key');
  const sealedPath = sealedKeyPath(p.dir, 'ca');
  const plain = readIfPresent(keyPath);
  const sealed = readIfPresent(sealedPath);
  if (mode === 'local') {
    if (!plain && sealed)
      throw new InvalidError('SIGNER_MODE', `the CA key is sealed (${sealedPath}); run the server with --signer sealed`, {
        field: 'signer',
      });
    return { mode, plain, sealed: undefined };
  }
  if (plain)
    throw new InvalidError(
      'SIGNER_MODE',
      `--signer ${mode} keeps the CA key out of this machine, but ${keyPath} is here in plaintext; ${mode === 'sealed' ? 'seal it with tlsboot ca seal' : 'move it to the signer machine'}`,
      { field: 'signer' },
    );
  if (mode === 'sealed' && !sealed)
    throw new InvalidError('SIGNER_MODE', `--signer sealed needs ${sealedPath} (tlsboot ca seal, or tlsboot init --sealed)`, {
      field: 'signer',
    });
  if (mode === 'remote' && sealed)
    throw new InvalidError(
      'SIGNER_MODE',
      `--signer remote keeps no key material here, but ${sealedPath} is present; move it to the signer machine`,
      {
        field: 'signer',
      },
    );
  return { mode, plain: undefined, sealed };
}

/** Builds the Signer for the mode from its key material (signerKeyMaterial, which refuses a contradiction). */
export function buildSigner(
  p: SignerParams,
  caCertificate: Certificate,
  audit: AuditLog,
  material: SignerKeyMaterial = signerKeyMaterial(p),
  crl?: CrlDistribution,
): SignerSetup {
  const { mode, plain, sealed } = material;
  const limits = p.signingDurationMs === undefined ? {} : { maxTtlMs: p.signingDurationMs };
  if (mode === 'local') {
    if (!plain) {
      p.logger.warn({}, 'pki/ca.key is absent: approved CSRs wait for an external signer');
      return { signer: undefined, sessions: undefined, pool: cryptoPool(p, undefined) };
    }
    const caKey = parsePrivateKeyPem(plain, pkiPath(p.dir, 'ca', 'key'));
    const pool = cryptoPool(p, { certificate: caCertificate, key: caKey });
    const local = new LocalSigner({
      caCertificate,
      caKey,
      randomBytes: p.randomBytes,
      ...limits,
      ...(pool ? { issuer: pool } : {}),
      ...(crl === undefined ? {} : { crl }),
    });
    return { signer: new AuditedSigner(local, audit), sessions: undefined, pool };
  }
  const common = { caCertificate, audit, clock: p.clock ?? REAL_CLOCK, newId: () => randomUUID() };
  if (mode === 'sealed') {
    const sealedPath = sealedKeyPath(p.dir, 'ca');
    if (!sealed) throw new InternalError('SIGNER_MATERIAL', `sealed mode without ${sealedPath}: signerKeyMaterial was bypassed`);
    const backend = new SealedKeyBackend({
      sealedText: sealed.toString('utf8'),
      sealedPath,
      caCertificate,
      randomBytes: p.randomBytes,
      ...limits,
    });
    const sessions = new SessionSigner({ ...common, backend });
    return { signer: sessions, sessions, pool: cryptoPool(p, undefined) };
  }
  const sessions = new SessionSigner({ ...common, backend: new RemoteBackend(caCertificate, p.now, p.signingDurationMs) });
  return { signer: sessions, sessions, pool: cryptoPool(p, undefined) };
}

/** The crypto pool `cryptoWorkers` asks for; it signs only with a CA key held here (local mode). */
function cryptoPool(p: SignerParams, ca: { certificate: Certificate; key: KeyObject } | undefined): CryptoPool | undefined {
  if (p.cryptoWorkers === undefined || p.cryptoWorkers <= 0) return undefined;
  return new CryptoPool({
    workers: p.cryptoWorkers,
    ...(ca ? { ca } : {}),
    onWorkerExit: (message) => p.logger.error({}, `${message}; replacing it`),
  });
}

export interface ControlPlane {
  readonly address: { host: string; port: number };
  readonly caPin: string;
  readonly store: Store;
  /** This server's metrics, as `/metrics` serves them. */
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

function required(path: string, what: string): string {
  const data = readIfPresent(path);
  if (!data) throw new InvalidError('PKI_MISSING', `${path} (${what}) is missing; run tlsboot init --dir first`, { field: path });
  return data.toString('utf8');
}

/** kube-public/cluster-info's kubeconfig as kubeadm writes it: one cluster named "", nothing else. */
export function clusterInfoKubeconfig(server: string, caPem: string): string {
  return [
    'apiVersion: v1',
    'clusters:',
    '- cluster:',
    `    certificate-authority-data: ${Buffer.from(caPem).toString('base64')}`,
    `    server: ${server}`,
    '  name: ""',
    'contexts: null',
    'current-context: ""',
    'kind: Config',
    'preferences: {}',
    'users: null',
    '',
  ].join('\n');
}

async function ensureClusterInfo(store: Store, server: string, caPem: string, now: Date): Promise<void> {
  const kubeconfig = clusterInfoKubeconfig(server, caPem);
  await upsert(
    store,
    CONFIGMAP_RESOURCE,
    { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name: 'cluster-info', namespace: 'kube-public' }, data: { kubeconfig } },
    (current) => {
      const data = isObject(current.data) ? current.data : {};
      return data.kubeconfig === kubeconfig ? undefined : { ...current, data: { ...data, kubeconfig } };
    },
    now,
  );
}

export async function startControlPlane(p: ControlPlaneParams): Promise<ControlPlane> {
  const caPem = required(pkiPath(p.dir, 'ca', 'crt'), 'cluster CA certificate');
  const clientCas = parseCertificateBundle(caPem, pkiPath(p.dir, 'ca', 'crt'));
  const caCertificate = parseCertificatePem(caPem, pkiPath(p.dir, 'ca', 'crt'));
  const certPem = required(pkiPath(p.dir, 'apiserver', 'crt'), 'API server certificate');
  const keyPem = required(pkiPath(p.dir, 'apiserver', 'key'), 'API server key');
  const staticTokens =
    p.tokenAuthFile === undefined ? StaticTokens.empty() : StaticTokens.parse(readFileSync(p.tokenAuthFile, 'utf8'), p.tokenAuthFile);
  const adminConf = readIfPresent(join(p.dir, 'admin.conf'));
  const advertised = adminConf
    ? resolveKubeconfig(parseKubeconfig(adminConf.toString('utf8'))).cluster.server
    : `https://${p.host}:${p.port}`;

  const cleanup: (() => Promise<void>)[] = [];
  const closeAll = async () => {
    for (const c of cleanup.reverse())
      await c().catch((error: unknown) => p.logger.error({ error: String(error) }, 'shutdown step failed'));
  };
  try {
    const metrics = new MetricsRegistry();
    cleanup.push(async () => metrics.close());
    const nowMs = () => p.now().getTime();
    const csrMetrics = new CsrMetrics(metrics, nowMs);
    // Read at each scrape, so a certificate renewed on disk (tlsboot certs renew) shows its new date.
    new ExpiryMetrics(metrics, () => {
      try {
        const report = checkExpiration(p.dir);
        return [...report.authorities, ...report.certificates].flatMap((r) =>
          r.expires ? [{ certificate: r.name, notAfter: r.expires }] : [],
        );
      } catch (error) {
        p.logger.warn({ error: String(error) }, 'reading the control-plane certificates for /metrics failed');
        return [];
      }
    });
    // The signer's key material first: a directory that contradicts --signer fails before anything opens.
    const material = signerKeyMaterial(p);
    // The store before the audit log: a bad --store or etcd file is named as such, also while another
    // server on this directory holds the log.
    const store = meteredStore(
      await openClusterStore({
        dir: p.dir,
        storeUrl: p.storeUrl,
        etcd: p.etcd,
        randomBytes: p.randomBytes,
        report: (level, message, details) => p.logger[level](details, message),
      }),
      new StoreMetrics(metrics),
    );
    cleanup.push(() => store.close());
    const audit = new FileAuditLog(p.auditLogPath ?? join(p.dir, 'audit.log'), p.now, p.auditRotation);
    cleanup.push(async () => audit.close());
    const crlDistribution: CrlDistribution = { baseUrl: p.crlBaseUrl ?? advertised, shards: CRL_SHARDS };
    const { signer, sessions, pool } = buildSigner(p, caCertificate, audit, material, crlDistribution);
    if (signer) cleanup.push(() => signer.close());
    // Closed after the server and the controllers (cleanup runs in reverse), whose jobs it may still be running.
    if (pool) cleanup.push(() => pool.close());
    if (sessions) new SessionMetrics(metrics, sessions.mode, () => sessionView(sessions.status()), nowMs);
    const now = p.now();
    const registry = new Registry(ALL_RESOURCES);
    const storeKey = storeKeyFor;
    for (const obj of BOOTSTRAP_CLUSTER_ROLES) await createIfAbsent(store, storeKey('clusterroles'), obj, now);
    for (const obj of BOOTSTRAP_CLUSTER_ROLE_BINDINGS) await createIfAbsent(store, storeKey('clusterrolebindings'), obj, now);
    for (const obj of BOOTSTRAP_ROLES) await createIfAbsent(store, storeKey('roles'), obj, now);
    for (const obj of BOOTSTRAP_ROLE_BINDINGS) await createIfAbsent(store, storeKey('rolebindings'), obj, now);
    // The in-process controllers' own RBAC is this version's, also on a store an older server seeded.
    const controllersIdentity = controllerRbac({ kind: 'User', name: IN_PROCESS_CONTROLLERS_USER });
    for (const obj of controllersIdentity.clusterScoped)
      await ensureCurrent(store, storeKey(obj.kind === 'ClusterRole' ? 'clusterroles' : 'clusterrolebindings'), obj, now);
    for (const obj of controllersIdentity.namespaced)
      await ensureCurrent(store, storeKey(obj.kind === 'Role' ? 'roles' : 'rolebindings'), obj, now);
    await ensureClusterInfo(store, advertised, caPem, now);
    const reserved = new ReservedIdentityFiles({ dir: p.dir, now: p.now });
    const publisher = await startReservedPublisher({
      store,
      server: controlPlaneNodeName(p.dir) ?? hostname(),
      sources: () => reserved.describe(),
      now: p.now,
      clock: p.clock ?? REAL_CLOCK,
      intervalMs: RESERVED_RECHECK_MS,
      onError: (e) => p.logger.error({ error: String(e) }, 'publishing the reserved identities failed; retrying'),
    });
    cleanup.push(async () => publisher.close());

    const rbac = await startRbacInformers(store, (e) => p.logger.warn({ error: String(e) }, 'rbac informer'));
    cleanup.push(() => rbac.close());
    const authorizer = new NodeRestrictingAuthorizer(new RbacAuthorizer(rbac));
    p.logger.info(
      { reserved: reserved.describe().map((r) => ({ source: r.source, names: [...r.dns, ...r.ip] })) },
      'reserved identities: never certified to a node',
    );
    const identity = new IdentityCaches({
      source: (r, namespace) => storeListWatch(store, storeKeyOf(r), namespace),
      reserved: () => reserved.current(),
      staticNodes: Object.keys(p.servingPolicy?.nodes ?? {}),
      dnsSuffixes: p.servingPolicy?.dnsSuffixes ?? [],
      now: p.now,
      onError: (e) => p.logger.warn({ error: String(e) }, 'identity informer'),
    });
    await identity.start();
    cleanup.push(() => identity.close());
    const revoked = new RevokedSerialsCache({
      store,
      ...(p.clock === undefined ? {} : { clock: p.clock }),
      onError: (e) => p.logger.warn({ error: String(e) }, 'revocations informer'),
    });
    await revoked.start();
    cleanup.push(() => revoked.close());
    const crls =
      signer === undefined
        ? undefined
        : new CrlPublisher({
            signer,
            revocations: revoked,
            distribution: crlDistribution,
            clock: p.clock ?? REAL_CLOCK,
            // A session CA signs CRLs only in sessions: they must outlast the gap, and be kept for the servers between them.
            ...(sessions === undefined ? {} : { lifetimeMs: SESSION_CRL_LIFETIME_MS, keeper: storeCrlKeeper(store, p.now) }),
            onError: (e) =>
              // Between signing sessions a sealed CA's CRLs wait, and a remote CA signs none: no failure either way.
              isTlsbootError(e) && (e.reason === 'SESSION_NONE' || e.reason === 'CRL_UNSIGNABLE')
                ? p.logger.info({ reason: e.reason }, 'no CRL signed now (the last signed ones stay served)')
                : p.logger.warn({ error: String(e) }, 'building the CRLs failed; retrying at the next change or refresh'),
          });
    if (crls) {
      cleanup.push(() => crls.close());
      await crls.start();
      sessions?.onOpen(() => void crls.rebuild());
    }
    const revocationMetrics = new RevocationMetrics(metrics, () => crls?.served() ?? [], nowMs);
    const random = p.randomBytes;
    const controllersToken = newInProcessToken();
    const runControllers = p.controllers === undefined || p.controllers.size > 0;
    let manager: ControllerManager | undefined;
    let elected: ElectedControllers | undefined;
    const suffixAlphabet = 'bcdfghjklmnpqrstvwxz2456789';
    const storeReady = storeReadiness(store, p.clock ?? REAL_CLOCK);
    const server: ApiServer = await createApiServer({
      store,
      registry,
      tls: { certPem, keyPem, clientCaPem: caPem },
      clientCas,
      staticTokens: staticTokens.withToken(controllersToken, { name: IN_PROCESS_CONTROLLERS_USER, groups: [] }),
      authorizer,
      // The in-process approvers record their decisions themselves, naming the controller.
      audit: { log: audit, selfAuditing: [IN_PROCESS_CONTROLLERS_USER] },
      admission: new ControlPlaneAdmission(
        authorizer,
        () => identity.nodeNames(),
        pool ? (der) => pool.tryParseCsr(der) : undefined,
        revocationAdmission(store, p.now, audit, revocationMetrics),
      ),
      revoked,
      ...(crls === undefined ? {} : { crls: { get: (shard: number) => crls.get(shard), shards: CRL_SHARDS } }),
      virtualResources: new Map([
        ...accessReviewHandlers(authorizer),
        ['ca.tlsboot.io/signingsessions', signingSessionApi(sessions, p.signerMode ?? 'local', () => elected)],
      ]),
      now: p.now,
      uid: () => randomUUID(),
      randomSuffix: () => Array.from(random(5), (b) => suffixAlphabet[b % suffixAlphabet.length]).join(''),
      logger: p.logger,
      version: {
        major: '1',
        minor: '33',
        gitVersion: `v1.33.0-tlsboot.${VERSION}`,
        platform: `${process.platform}/${process.arch}`,
        goVersion: `node${process.versions.node}`,
      },
      advertisedAddress: `${p.host}:${p.port}`,
      ...(p.limits === undefined ? {} : { limits: p.limits }),
      exemptFromCreateRate: [IN_PROCESS_CONTROLLERS_USER],
      ...(p.connectionLimits === undefined ? {} : { connectionLimits: p.connectionLimits }),
      ...(p.minRequestTimeoutSeconds === undefined ? {} : { minRequestTimeoutSeconds: p.minRequestTimeoutSeconds }),
      // With leader election the API serves whoever leads; without, it waits for its own controllers.
      // Either way a server whose store does not answer (etcd without quorum) is not ready.
      metrics: { registry: metrics, api: new ApiMetrics(metrics) },
      ready: async () => (!runControllers || p.leaderElection !== undefined || (manager?.hasSynced() ?? false)) && (await storeReady()),
    });
    // Owned before it listens: a listen that fails must still close what the server started (its informers).
    cleanup.push(() => server.close());
    const address = await server.listen(p.host, p.port).catch((error: unknown) => {
      if (isObject(error) && error.code === 'EADDRINUSE')
        throw new UnavailableError(
          'LISTEN_IN_USE',
          `${p.host}:${p.port} is already in use (another tlsboot server, or another program): stop it, or serve elsewhere with --listen`,
          { field: 'listen' },
        );
      throw error;
    });

    if (runControllers) {
      const kube = inProcessKubeClient(server.app, controllersToken);
      cleanup.push(async () => kube.close());
      const client = new HttpClusterClient(kube);
      let current: ControllerManager | undefined;
      const newManager = () => {
        current = new ControllerManager({
          client,
          signer,
          audit,
          now: p.now,
          logger: p.logger,
          reserved: () => reserved.current(),
          metrics: csrMetrics,
          ...(p.controllers === undefined ? {} : { controllers: p.controllers }),
          ...(p.csrCleanupIntervalMs === undefined ? {} : { csrCleanupIntervalMs: p.csrCleanupIntervalMs }),
          ...(p.servingPolicy === undefined ? {} : { servingPolicy: p.servingPolicy }),
        });
        return current;
      };
      sessions?.onOpen(() => current?.signAgain());
      csrMetrics.pendingSource = () => current?.pendingCsrs() ?? [];
      if (p.leaderElection !== undefined) {
        const started = startElectedControllers(client, p.leaderElection, newManager, p.logger);
        elected = started;
        cleanup.push(() => started.close());
      } else {
        const started = newManager();
        manager = started;
        cleanup.push(() => started.close());
        await started.start();
      }
    }
    // Like kube-apiserver's compactor: keep a window of history for watchers, drop the rest.
    const history = p.historyRevisions ?? HISTORY_REVISIONS;
    const compactor = every(
      p.clock ?? REAL_CLOCK,
      p.compactionIntervalMs ?? COMPACTION_INTERVAL_MS,
      () => {
        void store
          .revision()
          .then((rev) => (rev > history ? store.compact(rev - history) : undefined))
          .catch((error: unknown) => p.logger.warn({ error: String(error) }, 'store compaction failed'));
      },
      { unref: true },
    );
    cleanup.push(async () => compactor.cancel());
    return { address, caPin: certificatePin(caCertificate), store, metrics, close: closeAll };
  } catch (error) {
    await closeAll();
    throw error;
  }
}
