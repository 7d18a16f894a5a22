/** `tlsboot server`: flag parsing and the process lifetime; the control plane is built in src/server. */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Command } from 'commander';
import { parse as parseYaml } from 'yaml';
import { parseKubeconfig, resolveKubeconfig } from '../../api/index.ts';
import { parseServingPolicy } from '../../api/serving-policy.ts';
import { parseDuration } from '../../base/duration.ts';
import { InvalidError } from '../../base/errors.ts';
import { COMPACTION_INTERVAL_MS, HISTORY_REVISIONS, SIGNER_MODES, startControlPlane } from '../../control-plane/control-plane.ts';
import type { LeaderElectionParams } from '../../control-plane/elected-controllers.ts';
import { parseStoreUrl } from '../../control-plane/secrets-at-rest.ts';
import { runInit } from '../../kubeadm/init.ts';
import {
  DEFAULT_CA_VALIDITY_MS,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_SERVICE_CIDR,
  isIp,
  parseEndpoint,
} from '../../kubeadm/layout.ts';
import { pkiPath, readIfPresent } from '../../kubeadm/pki-files.ts';
import { type ConnectionLimits, checkConnectionLimits, DEFAULT_CONNECTION_LIMITS } from '../../server/connections.ts';
import { DEFAULT_LIMITS, LIMIT_FLAGS, type RequesterLimitsConfig } from '../../server/limits.ts';
import { DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS } from '../../server/watch.ts';
import { defaultCryptoWorkers } from '../../signer/crypto-pool.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { createLogger } from '../logger.ts';
import { auditRotationOf, withAuditRotationFlags } from './audit.ts';
import { type LeaderElectFlags, leaderElectionOf, parseControllerList, withLeaderElectFlags } from './controllers.ts';

interface ServerFlags extends LeaderElectFlags {
  dir: string;
  listen?: string;
  store?: string;
  etcdCafile?: string;
  etcdCertfile?: string;
  etcdKeyfile?: string;
  tokenAuthFile?: string;
  servingPolicy?: string;
  clusterSigningDuration: string;
  signer: string;
  controllers?: string;
  auditLog?: string;
  crlBaseUrl?: string;
  auditMaxBytes: string;
  auditMaxBackups: string;
  logLevel: string;
  headerTimeout: string;
  requestTimeout: string;
  keepAliveTimeout: string;
  maxConnections: string;
  maxUnauthenticatedConnectionsPerSource: string;
  maxPendingCsrsPerUser: string;
  maxCsrBytesPerUser: string;
  createsPerSecondPerUser: string;
  createBurstPerUser: string;
  maxWatchesPerUser: string;
  cryptoWorkers: string;
  minRequestTimeout: string;
  etcdCompactionInterval: string;
  watchHistory: string;
}

/** A flag that must be a positive integer. */
function positiveInteger(text: string, flag: string): number {
  const value = Number(text);
  if (!/^\d+$/.test(text) || !Number.isSafeInteger(value) || value <= 0) {
    throw new InvalidError('FLAG', `--${flag} must be a positive integer, not "${text}"`, { field: flag });
  }
  return value;
}

const seconds = (ms: number) => `${ms / 1000}s`;

/**
 * Where the server listens: `--listen`, else the local API endpoint `init` wrote into
 * DIR/controller-manager.conf (advertise address and bind port), else 127.0.0.1:6443. A `--listen`
 * port that differs from the one the PKI's kubeconfigs name is refused, naming both, since
 * kubectl and `tlsboot token create` would then dial a port nobody serves.
 */
/** An http(s) URL of printable ASCII without query or fragment: certificates carry it verbatim. */
function crlBaseUrl(text: string): string {
  let url: URL | undefined;
  try {
    url = new URL(text);
  } catch {
    url = undefined;
  }
  if (url === undefined || !/^https?:$/.test(url.protocol) || url.search !== '' || url.hash !== '' || !/^[\x21-\x7e]+$/.test(text)) {
    throw new InvalidError('CRL_BASE_URL', `--crl-base-url ${text}: expected an http:// or https:// URL without query or fragment`, {
      field: 'crl-base-url',
    });
  }
  return text.replace(/\/+$/, '');
}

function listenAddress(dir: string, listen: string | undefined): { host: string; port: number } {
  const conf = readIfPresent(join(dir, 'controller-manager.conf'));
  const local = conf ? new URL(resolveKubeconfig(parseKubeconfig(conf.toString('utf8'))).cluster.server) : undefined;
  const initPort = local ? Number(local.port || 443) : undefined;
  if (listen === undefined) {
    if (!local || initPort === undefined) return { host: '127.0.0.1', port: 6443 };
    return { host: local.hostname.replace(/^\[|\]$/g, ''), port: initPort };
  }
  if (/:0$/.test(listen))
    throw new InvalidError('LISTEN', '--listen needs a fixed port: the PKI and the kubeconfigs name it, so port 0 cannot work', {
      field: 'listen',
    });
  const { host, port } = parseEndpoint(listen, 6443, 'listen');
  if (!isIp(host)) throw new InvalidError('LISTEN', `--listen needs an IP address, not "${host}"`, { field: 'listen' });
  if (initPort !== undefined && port !== initPort)
    throw new InvalidError(
      'LISTEN',
      `--listen ${listen} serves on port ${port}, but ${join(dir, 'controller-manager.conf')} (written by tlsboot init --apiserver-bind-port) says ${initPort}: drop --listen, use port ${initPort}, or re-create the PKI with --apiserver-bind-port ${port}`,
      { field: 'listen' },
    );
  return { host, port };
}

function connectionLimits(flags: ServerFlags): ConnectionLimits {
  const limits = {
    headersTimeoutMs: parseDuration(flags.headerTimeout, 'header-timeout'),
    requestTimeoutMs: parseDuration(flags.requestTimeout, 'request-timeout'),
    keepAliveTimeoutMs: parseDuration(flags.keepAliveTimeout, 'keep-alive-timeout'),
    maxConnections: Number(flags.maxConnections),
    maxUnauthenticatedPerSource: Number(flags.maxUnauthenticatedConnectionsPerSource),
  };
  checkConnectionLimits(limits);
  return limits;
}

/** Each limit flag: a positive integer (the create rate may be fractional). */
function parseLimits(flags: ServerFlags): RequesterLimitsConfig {
  const read = (key: keyof RequesterLimitsConfig, integer: boolean): number => {
    const text = flags[key];
    const value = Number(text);
    if (text.trim() === '' || !Number.isFinite(value) || value <= 0 || (integer && !Number.isSafeInteger(value))) {
      throw new InvalidError('LIMIT', `${LIMIT_FLAGS[key]} must be a positive ${integer ? 'integer' : 'number'}, not "${text}"`, {
        field: LIMIT_FLAGS[key].slice(2),
      });
    }
    return value;
  };
  return {
    maxPendingCsrsPerUser: read('maxPendingCsrsPerUser', true),
    maxCsrBytesPerUser: read('maxCsrBytesPerUser', true),
    createsPerSecondPerUser: read('createsPerSecondPerUser', false),
    createBurstPerUser: read('createBurstPerUser', true),
    maxWatchesPerUser: read('maxWatchesPerUser', true),
  };
}

function withLeaderElection(le: LeaderElectionParams | undefined): { leaderElection?: LeaderElectionParams } {
  return le === undefined ? {} : { leaderElection: le };
}

export function registerServer(program: Command, env: CliEnv): void {
  withAuditRotationFlags(withLeaderElectFlags(program.command('server')))
    .description('run the control plane: Kubernetes-compatible CSR API, bootstrap tokens, approvers and signer')
    .requiredOption('--dir <dir>', 'data directory: DIR/pki (created by init when absent) and the embedded store')
    .option('--no-leader-elect', 'run the controllers without the Lease (the default on sqlite; on etcd only with one server running them)')
    .option('--listen <host:port>', 'address to serve HTTPS on (default: the local endpoint init wrote, else 127.0.0.1:6443)')
    .option('--store <url>', 'sqlite:PATH (default DIR/tlsboot.db), or etcd://HOST:PORT[,HOST:PORT...]')
    .option('--etcd-cafile <file>', 'CA of the etcd members (default DIR/pki/etcd/ca.crt)')
    .option('--etcd-certfile <file>', 'client certificate for etcd (default DIR/pki/apiserver-etcd-client.crt)')
    .option('--etcd-keyfile <file>', 'its key (default DIR/pki/apiserver-etcd-client.key)')
    .option('--token-auth-file <file>', 'static bearer tokens: TOKEN,USER,UID,"GROUP1,GROUP2" per line')
    .option('--serving-policy <file>', 'YAML policy for auto-approving kubelet serving certificates (without it, a person approves them)')
    .option('--cluster-signing-duration <duration>', 'the longest certificate the signer issues', '8760h')
    .option('--signer <mode>', 'local (CA key on disk), sealed (key sealed, signs in sessions) or remote (key on a remote signer)', 'local')
    .option('--audit-log <file>', 'append-only, hash-chained CA audit log (default DIR/audit.log); check it with tlsboot audit verify')
    .option(
      '--crl-base-url <url>',
      'base URL of the CRLs every issued certificate names: <url>/crl/<shard>.crl (default: the control-plane endpoint)',
    )
    .option(
      '--controllers <list>',
      'controllers run in process: none, or a comma-separated list (default: all); run others with tlsboot controllers',
    )
    .option('--log-level <level>', 'fatal, error, warn, info or debug', 'info')
    .option(
      '--header-timeout <duration>',
      'time a client has to finish the TLS handshake, and then to send request headers',
      seconds(DEFAULT_CONNECTION_LIMITS.headersTimeoutMs),
    )
    .option(
      '--request-timeout <duration>',
      'time a client has to send a whole request, body included (responses such as watches are not limited)',
      seconds(DEFAULT_CONNECTION_LIMITS.requestTimeoutMs),
    )
    .option(
      '--keep-alive-timeout <duration>',
      'how long an idle keep-alive connection stays open',
      seconds(DEFAULT_CONNECTION_LIMITS.keepAliveTimeoutMs),
    )
    .option(
      '--max-connections <n>',
      'open connections at most; at the cap the oldest that has not authenticated gives way, else the new one is closed',
      String(DEFAULT_CONNECTION_LIMITS.maxConnections),
    )
    .option(
      '--max-unauthenticated-connections-per-source <n>',
      'connections one address (IPv6: one /64) may hold before they authenticate',
      String(DEFAULT_CONNECTION_LIMITS.maxUnauthenticatedPerSource),
    )
    .option(
      `${LIMIT_FLAGS.maxPendingCsrsPerUser} <n>`,
      'CSRs one requester may have pending (403 past it)',
      String(DEFAULT_LIMITS.maxPendingCsrsPerUser),
    )
    .option(
      `${LIMIT_FLAGS.maxCsrBytesPerUser} <bytes>`,
      "JSON bytes of one requester's stored CSRs, pending or finished (403 past it)",
      String(DEFAULT_LIMITS.maxCsrBytesPerUser),
    )
    .option(
      `${LIMIT_FLAGS.createsPerSecondPerUser} <n>`,
      'creates per second one requester sustains (429 with Retry-After past it)',
      String(DEFAULT_LIMITS.createsPerSecondPerUser),
    )
    .option(`${LIMIT_FLAGS.createBurstPerUser} <n>`, 'creates one requester may make at once', String(DEFAULT_LIMITS.createBurstPerUser))
    .option(
      `${LIMIT_FLAGS.maxWatchesPerUser} <n>`,
      'watches one requester may have open (429 past it)',
      String(DEFAULT_LIMITS.maxWatchesPerUser),
    )
    .option(
      '--min-request-timeout <seconds>',
      "as kube-apiserver's: a watch without timeoutSeconds ends after a random time between this and twice this",
      String(DEFAULT_MIN_REQUEST_TIMEOUT_SECONDS),
    )
    .option(
      '--etcd-compaction-interval <duration>',
      'how often watch history beyond --watch-history is compacted away',
      seconds(COMPACTION_INTERVAL_MS),
    )
    .option(
      '--crypto-workers <n>',
      'worker threads that verify CSRs and sign with a local CA key; 0 does both on the main thread',
      String(defaultCryptoWorkers()),
    )
    .option(
      '--watch-history <revisions>',
      'revisions of history kept for watchers; a watch from before them is 410 Expired',
      String(HISTORY_REVISIONS),
    )
    .action(async (flags: ServerFlags) => {
      const signerMode = SIGNER_MODES.find((m) => m === flags.signer);
      if (!signerMode) throw new InvalidError('SIGNER_MODE', `--signer must be one of ${SIGNER_MODES.join(', ')}`, { field: 'signer' });
      const limits = parseLimits(flags);
      const crlBase = flags.crlBaseUrl === undefined ? undefined : crlBaseUrl(flags.crlBaseUrl);
      const { host, port } = listenAddress(flags.dir, flags.listen);
      const connections = connectionLimits(flags);
      // Refused before anything is written: an unsupported store would otherwise leave a fresh PKI behind.
      const store = parseStoreUrl(flags.dir, flags.store);
      // On etcd other servers may share the store: their controllers must never act at once, so
      // leader election is on unless refused in so many words (kube-controller-manager's default).
      const leaderElect = flags.leaderElect ?? store.kind === 'etcd';
      const logger = createLogger(env, flags.logLevel);
      if (store.kind === 'etcd' && !leaderElect && flags.controllers !== 'none')
        logger.warn({}, '--no-leader-elect on etcd: run controllers on one server only (--controllers none on the others)');
      if (!readIfPresent(pkiPath(flags.dir, 'ca', 'crt')) && signerMode !== 'local') {
        // Creating the PKI here would put a plaintext CA key on this machine, which these modes exist to avoid.
        throw new InvalidError(
          'PKI_MISSING',
          `${pkiPath(flags.dir, 'ca', 'crt')} is missing; with --signer ${signerMode} create the PKI first (${signerMode === 'sealed' ? 'tlsboot init --sealed' : 'tlsboot init, then move the CA keys to the signer machine'})`,
          { field: 'dir' },
        );
      }
      if (!readIfPresent(pkiPath(flags.dir, 'ca', 'crt'))) {
        const report = runInit(
          flags.dir,
          {
            nodeName: env.hostname.toLowerCase(),
            advertiseAddress: host === '0.0.0.0' || host === '::' ? '127.0.0.1' : host,
            bindPort: port,
            extraSans: [],
            serviceCidr: DEFAULT_SERVICE_CIDR,
            dnsDomain: DEFAULT_DNS_DOMAIN,
            keyAlgorithm: 'ecdsa-p256',
            certValidityMs: DEFAULT_CERT_VALIDITY_MS,
            caValidityMs: DEFAULT_CA_VALIDITY_MS,
          },
          { now: env.now(), randomBytes: env.randomBytes },
        );
        logger.info({ dir: flags.dir, files: report.written.length, caPin: report.caPin }, 'created the cluster PKI');
      }
      const plane = await startControlPlane({
        dir: flags.dir,
        host,
        port,
        ...(flags.store === undefined ? {} : { storeUrl: flags.store }),
        etcd: { caFile: flags.etcdCafile, certFile: flags.etcdCertfile, keyFile: flags.etcdKeyfile },
        ...(flags.tokenAuthFile === undefined ? {} : { tokenAuthFile: flags.tokenAuthFile }),
        ...(flags.servingPolicy === undefined
          ? {}
          : { servingPolicy: parseServingPolicy(parseYaml(readFileSync(flags.servingPolicy, 'utf8'))) }),
        signingDurationMs: parseDuration(flags.clusterSigningDuration, 'cluster-signing-duration'),
        signerMode,
        ...(flags.controllers === undefined ? {} : { controllers: parseControllerList(flags.controllers) }),
        ...withLeaderElection(leaderElectionOf({ ...flags, leaderElect })),
        connectionLimits: connections,
        ...(flags.auditLog === undefined ? {} : { auditLogPath: flags.auditLog }),
        ...(crlBase === undefined ? {} : { crlBaseUrl: crlBase }),
        auditRotation: auditRotationOf(flags),
        limits,
        minRequestTimeoutSeconds: positiveInteger(flags.minRequestTimeout, 'min-request-timeout'),
        compactionIntervalMs: parseDuration(flags.etcdCompactionInterval, 'etcd-compaction-interval'),
        historyRevisions: positiveInteger(flags.watchHistory, 'watch-history'),
        cryptoWorkers: flags.cryptoWorkers === '0' ? 0 : positiveInteger(flags.cryptoWorkers, 'crypto-workers'),
        logger,
        now: env.now,
        clock: env.clock,
        randomBytes: env.randomBytes,
      });
      logger.info(
        {
          address: `https://${plane.address.host.includes(':') ? `[${plane.address.host}]` : plane.address.host}:${plane.address.port}`,
          caPin: plane.caPin,
        },
        'tlsboot server ready',
      );
      await waitForShutdown(env);
      logger.info({}, 'shutting down');
      await plane.close();
      logger.info({}, 'stopped');
    });
}
