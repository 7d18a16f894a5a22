/**
 * `tlsboot join --control-plane --certificate-key K`: kubeadm's control-plane join. Token
 * discovery with CA pinning, as a worker's; then, with the bootstrap token, the kubeadm-certs
 * Secret is fetched and opened under the certificate key; DIR gets the shared CAs and keys and
 * this node's own certificates (written whole or not at all). When the Secret holds no CA key (the
 * CA is sealed or remote), this node's API-server certificate comes through a CSR instead, and
 * the node serves with the same signer mode. Then this process serves as `tlsboot server --dir DIR
 * --store ...` would, until it is stopped.
 */

import { requestControlPlaneServing } from '../../agent/control-plane-serving.ts';
import { validateDiscoveryFlags } from '../../agent/discovery.ts';
import { discoverLogged, validateNodeName } from '../../agent/join.ts';
import { SIGNER_CONTROL_PLANE_SERVING } from '../../api/certificates.ts';
import { resourcePath, SECRETS } from '../../api/cluster-client.ts';
import { parseBootstrapToken } from '../../api/core.ts';
import { InvalidError, isTlsbootError, NotFoundError } from '../../base/errors.ts';
import { KubeClient } from '../../client/client.ts';
import { type SignerMode, startControlPlane } from '../../control-plane/control-plane.ts';
import { parseStoreUrl } from '../../control-plane/secrets-at-rest.ts';
import { parseCertificateKey } from '../../kubeadm/certificate-key.ts';
import type { InitReport } from '../../kubeadm/init.ts';
import { writeJoinedControlPlane, writeKeylessControlPlane } from '../../kubeadm/join-control-plane.ts';
import {
  DEFAULT_CA_VALIDITY_MS,
  DEFAULT_CERT_VALIDITY_MS,
  DEFAULT_DNS_DOMAIN,
  DEFAULT_SERVICE_CIDR,
  type InitOptions,
  isIp,
  leafSpecs,
} from '../../kubeadm/layout.ts';
import { KUBEADM_CERTS_SECRET, openCertsSecret } from '../../kubeadm/upload-certs.ts';
import { type CliEnv, waitForShutdown } from '../io.ts';
import { createLogger } from '../logger.ts';
import { defaultLeaderElection } from './controllers.ts';

export interface ControlPlaneJoinParams {
  readonly endpoint: string;
  readonly token: string;
  readonly pins: readonly string[];
  readonly unsafeSkipCaVerification: boolean;
  readonly certificateKey: string;
  readonly store?: string | undefined;
  readonly etcd: { caFile?: string | undefined; certFile?: string | undefined; keyFile?: string | undefined };
  readonly advertiseAddress: string;
  readonly bindPort: number;
  readonly nodeName: string;
  readonly dir: string;
  readonly serviceCidr?: string | undefined;
  readonly dnsDomain?: string | undefined;
  readonly discoveryTimeoutMs: number;
  /** With a sealed or remote CA: how long to wait for the API-server certificate's CSR to be approved and signed. */
  readonly certificateTimeoutMs: number;
  readonly logLevel: string;
}

/** The Secret, read with the bootstrap token (RBAC: kubeadm:kubeadm-certs lets its group get it). */
async function fetchCertsSecret(server: string, caPem: string, token: string) {
  const client = new KubeClient({ server, caPem, token });
  try {
    return await client.request(resourcePath(SECRETS, 'kube-system', KUBEADM_CERTS_SECRET));
  } catch (error) {
    if (isTlsbootError(error) && error.code === 'NOT_FOUND')
      throw new NotFoundError(
        'UPLOAD_CERTS_MISSING',
        `kube-system/${KUBEADM_CERTS_SECRET} is not there: it is deleted 2 hours after the upload; run tlsboot certs upload on a control-plane node and use the key it prints`,
      );
    throw error;
  } finally {
    client.close();
  }
}

export async function joinControlPlane(p: ControlPlaneJoinParams, env: CliEnv): Promise<void> {
  // Every flag is checked before the network is touched or anything is written.
  const key = parseCertificateKey(p.certificateKey);
  parseBootstrapToken(p.token);
  validateDiscoveryFlags(p.pins, p.unsafeSkipCaVerification);
  validateNodeName(p.nodeName);
  parseStoreUrl(p.dir, p.store);
  if (!isIp(p.advertiseAddress))
    throw new InvalidError('JOIN_OPTION', '--apiserver-advertise-address must be an IP address', { field: 'apiserver-advertise-address' });
  const log = (line: string) => env.stdout.write(`${line}\n`);
  const cluster = await discoverLogged({
    endpoint: p.endpoint,
    token: p.token,
    pins: p.pins,
    unsafeSkipCaVerification: p.unsafeSkipCaVerification,
    discoveryTimeoutMs: p.discoveryTimeoutMs,
    clock: env.clock,
    signal: env.shutdown,
    log,
  });
  log(`[download-certs] Downloading the certificates in Secret "${KUBEADM_CERTS_SECRET}" in the "kube-system" Namespace`);
  const shared = openCertsSecret(await fetchCertsSecret(cluster.server, cluster.caPem, p.token), key);
  // The endpoint every node reaches the control plane by (the load balancer): in this node's certificate and kubeconfigs.
  const endpoint = new URL(cluster.server);
  const options: InitOptions = {
    nodeName: p.nodeName,
    advertiseAddress: p.advertiseAddress,
    bindPort: p.bindPort,
    controlPlaneEndpoint: endpoint.host,
    extraSans: [],
    serviceCidr: p.serviceCidr ?? DEFAULT_SERVICE_CIDR,
    dnsDomain: p.dnsDomain ?? DEFAULT_DNS_DOMAIN,
    keyAlgorithm: 'ecdsa-p256',
    certValidityMs: DEFAULT_CERT_VALIDITY_MS,
    caValidityMs: DEFAULT_CA_VALIDITY_MS,
  };
  let report: InitReport;
  if (shared.mode === 'local') {
    report = writeJoinedControlPlane(p.dir, shared.files, cluster.caPem, options, { now: env.now(), randomBytes: env.randomBytes });
  } else {
    // No CA key here: the cluster's CA signs this node's API-server certificate, once a person
    // approved its CSR, during a signing session (sealed) or under a grant (remote).
    log(
      `[certs] The cluster CA key is ${shared.mode === 'sealed' ? 'sealed' : 'on a remote signer'}: requesting this node's "apiserver" certificate from it (signer ${SIGNER_CONTROL_PLANE_SERVING})`,
    );
    const apiserver = leafSpecs(options).find((s) => s.name === 'apiserver');
    if (apiserver === undefined) throw new Error('init has no apiserver certificate');
    const own = await requestControlPlaneServing({
      server: cluster.server,
      caPem: cluster.caPem,
      token: p.token,
      sans: apiserver.sans,
      clock: env.clock,
      timeoutMs: p.certificateTimeoutMs,
      signal: env.shutdown,
      log,
    });
    report = writeKeylessControlPlane(p.dir, shared.files, cluster.caPem, { nodeName: p.nodeName, ...own }, env.randomBytes);
  }
  log(report.lines.join('\n'));
  const signerMode: SignerMode = shared.mode;
  const listen = `${p.advertiseAddress.includes(':') ? `[${p.advertiseAddress}]` : p.advertiseAddress}:${p.bindPort}`;
  log(
    `[control-plane-join] wrote ${p.dir} (${report.written.length + shared.files.size} files); starting the API server and the elected controllers`,
  );
  log(
    `[control-plane-join] to start this node again later: tlsboot server --dir ${p.dir}${p.store === undefined ? '' : ` --store ${p.store}`}${signerMode === 'local' ? '' : ` --signer ${signerMode}`} --listen ${listen}`,
  );
  const logger = createLogger(env, p.logLevel);
  const plane = await startControlPlane({
    dir: p.dir,
    host: p.advertiseAddress,
    port: p.bindPort,
    ...(p.store === undefined ? {} : { storeUrl: p.store }),
    etcd: p.etcd,
    leaderElection: defaultLeaderElection(),
    signerMode,
    logger,
    now: env.now,
    clock: env.clock,
    randomBytes: env.randomBytes,
  });
  logger.info(
    {
      address: `https://${listen}`,
      caPin: plane.caPin,
    },
    'tlsboot server ready',
  );
  log(`This node has joined the cluster as a control-plane node and serves on ${listen}.`);
  await waitForShutdown(env);
  logger.info({}, 'shutting down');
  await plane.close();
  logger.info({}, 'stopped');
}
