/**
 * `tlsboot join`: discovery (token with CA pins, or a discovery file), then TLS bootstrap of the
 * node's client certificate with the bootstrap token, then the node directory: `pki/ca.crt`,
 * `bootstrap-kubelet.conf` (the token credential the agent falls back to), the certificate pair
 * behind `pki/kubelet-client-current.pem`, and `kubelet.conf` pointing at it. A restarted join
 * reuses its pending key and therefore its CSR; a node that already holds a valid certificate is
 * left as it is.
 */

import { readFileSync } from 'node:fs';
import { join as joinPath, resolve } from 'node:path';
import { parseBootstrapToken } from '../api/core.ts';
import { dns1123SubdomainProblem } from '../api/identity.ts';
import { buildKubeconfig, parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import type { Clock } from '../base/clock.ts';
import { InvalidError, TlsbootError, UnavailableError } from '../base/errors.ts';
import { ensureDirectory, writeFilesAtomically } from '../base/fs.ts';
import { KubeClient } from '../client/client.ts';
import { certificatePin, parseCertificateBundle } from '../pki/index.ts';
import { CertStore } from './cert-store.ts';
import { type DiscoveredCluster, discoverWithToken, validateDiscoveryFlags } from './discovery.ts';
import { bootstrapCsrName, type CertificateRequestSpec, requestCertificate } from './request.ts';

export const KUBELET_CLIENT_SIGNER = 'kubernetes.io/kube-apiserver-client-kubelet';

export interface JoinParams {
  readonly endpoint?: string;
  readonly token?: string;
  readonly pins: readonly string[];
  readonly unsafeSkipCaVerification: boolean;
  readonly discoveryFile?: string;
  readonly nodeName: string;
  readonly nodeDir: string;
  readonly discoveryTimeoutMs: number;
  /** Wait between discovery attempts (default 5 s, as kubeadm). */
  readonly discoveryRetryMs?: number;
  readonly tlsBootstrapTimeoutMs: number;
  readonly clock: Clock;
  readonly log: (line: string) => void;
  readonly signal?: AbortSignal;
}

export interface JoinResult {
  readonly kubeconfigPath: string;
  readonly certificatePath: string;
  readonly csrName: string | undefined;
}

export function validateNodeName(name: string): void {
  const problem = dns1123SubdomainProblem(name);
  if (problem !== undefined) throw new InvalidError('NODE_NAME', `--node-name: "${name}" ${problem}`, { field: 'node-name' });
}

export function kubeletClientSpec(nodeName: string): CertificateRequestSpec {
  return {
    signerName: KUBELET_CLIENT_SIGNER,
    commonName: `system:node:${nodeName}`,
    organizations: ['system:nodes'],
    usages: ['digital signature', 'client auth'],
  };
}

/** The cluster and bootstrap credential from a discovery file (reference §2.6). */
function discoverFromFile(path: string, token: string | undefined): { cluster: DiscoveredCluster; token: string } {
  const resolved = resolveKubeconfig(parseKubeconfig(readFileSync(path, 'utf8')));
  const caPem =
    resolved.cluster.certificateAuthorityData ??
    (resolved.cluster.certificateAuthority ? readFileSync(resolve(path, '..', resolved.cluster.certificateAuthority), 'utf8') : undefined);
  if (!caPem) throw new InvalidError('DISCOVERY_FILE', `${path} has no certificate authority for its cluster`, { field: 'discovery-file' });
  parseCertificateBundle(caPem, path);
  const credential = resolved.user.token ?? token;
  if (!credential)
    throw new InvalidError('DISCOVERY_FILE', `${path} has no token; pass --token (or --tls-bootstrap-token)`, { field: 'token' });
  return { cluster: { server: resolved.cluster.server, caPem }, token: credential };
}

/**
 * Token discovery as every join runs it: the token and pin flags checked first, each attempt and
 * retry logged, and the verified cluster with the pins it matched.
 */
export async function discoverLogged(p: {
  readonly endpoint: string;
  readonly token: string;
  readonly pins: readonly string[];
  readonly unsafeSkipCaVerification: boolean;
  readonly discoveryTimeoutMs: number;
  readonly discoveryRetryMs?: number;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  readonly log: (line: string) => void;
}): Promise<DiscoveredCluster> {
  const { id, secret } = parseBootstrapToken(p.token);
  validateDiscoveryFlags(p.pins, p.unsafeSkipCaVerification);
  const retryMs = p.discoveryRetryMs ?? 5000;
  p.log(`[discovery] fetching cluster-info from ${p.endpoint}`);
  const cluster = await discoverWithToken({
    endpoint: p.endpoint,
    tokenId: id,
    tokenSecret: secret,
    pins: p.pins,
    unsafeSkipCaVerification: p.unsafeSkipCaVerification,
    timeoutMs: p.discoveryTimeoutMs,
    retryIntervalMs: retryMs,
    onRetry: (attempt, problem) => p.log(`[discovery] attempt ${attempt} failed: ${problem}; retrying in ${Math.round(retryMs / 1000)}s`),
    clock: p.clock,
    ...(p.signal ? { signal: p.signal } : {}),
  });
  const pins = parseCertificateBundle(cluster.caPem).map(certificatePin);
  p.log(`[discovery] cluster-info verified (JWS and CA pin ${pins.join(', ')}); API server ${cluster.server}`);
  return cluster;
}

export async function joinCluster(p: JoinParams): Promise<JoinResult> {
  validateNodeName(p.nodeName);
  let cluster: DiscoveredCluster;
  let bootstrapToken: string;
  if (p.discoveryFile !== undefined) {
    ({ cluster, token: bootstrapToken } = discoverFromFile(p.discoveryFile, p.token));
    parseBootstrapToken(bootstrapToken);
  } else {
    if (p.token === undefined) throw new InvalidError('TOKEN_FORMAT', 'a bootstrap token is required (--token)', { field: 'token' });
    if (p.endpoint === undefined)
      throw new InvalidError('ENDPOINT', 'the control-plane endpoint https://HOST:PORT is required', { field: 'endpoint' });
    cluster = await discoverLogged({ ...p, endpoint: p.endpoint, token: p.token });
    bootstrapToken = p.token;
  }

  const nodeDir = resolve(p.nodeDir);
  ensureDirectory(nodeDir, 0o755);
  const store = CertStore.open(joinPath(nodeDir, 'pki'));
  store.recover('kubelet-client');
  const caPath = joinPath(store.dir, 'ca.crt');
  const bootstrapPath = joinPath(nodeDir, 'bootstrap-kubelet.conf');
  const kubeletConfPath = joinPath(nodeDir, 'kubelet.conf');
  writeFilesAtomically([
    { path: caPath, content: cluster.caPem, mode: 0o644 },
    {
      path: bootstrapPath,
      content: buildKubeconfig({
        clusterName: 'kubernetes',
        server: cluster.server,
        caPem: cluster.caPem,
        userName: 'tls-bootstrap-token-user',
        token: bootstrapToken,
      }),
      mode: 0o600,
    },
  ]);

  const spec = kubeletClientSpec(p.nodeName);
  const existing = store.loadCurrent('kubelet-client');
  let csrName: string | undefined;
  let certificatePath: string;
  const leaf = existing?.certificates[0];
  if (existing && leaf && leaf.notAfter > new Date(p.clock.now())) {
    p.log(`[kubelet-start] this node already holds a valid client certificate (${existing.path}); keeping it`);
    certificatePath = existing.path;
  } else {
    const key = store.pendingKey('kubelet-client');
    csrName = bootstrapCsrName(key, spec);
    const client = new KubeClient({ server: cluster.server, caPem: cluster.caPem, token: bootstrapToken });
    try {
      const chain = await requestCertificate({
        client,
        key,
        spec,
        name: csrName,
        caPem: cluster.caPem,
        deadline: p.clock.now() + p.tlsBootstrapTimeoutMs,
        clock: p.clock,
        ...(p.signal ? { signal: p.signal } : {}),
        log: (line) => p.log(`[kubelet-start] ${line}`),
      });
      certificatePath = store.install('kubelet-client', chain, key, new Date(p.clock.now()));
      const leaf = chain[0];
      if (leaf) {
        const life = leaf.notAfter.getTime() - leaf.notBefore.getTime();
        const from = new Date(leaf.notBefore.getTime() + life * 0.7).toISOString();
        const to = new Date(leaf.notBefore.getTime() + life * 0.9).toISOString();
        p.log(
          `[kubelet-start] certificate issued: ${spec.commonName} (serial ${leaf.serialNumber}), valid until ${leaf.notAfter.toISOString()}; "tlsboot agent" rotates it between ${from} and ${to}`,
        );
      }
    } catch (error) {
      if (error instanceof TlsbootError) throw error;
      throw new UnavailableError('JOIN', `TLS bootstrap failed: ${error instanceof Error ? error.message : String(error)}`, {
        cause: error,
      });
    } finally {
      client.close();
    }
  }
  writeFilesAtomically([
    {
      path: kubeletConfPath,
      content: buildKubeconfig({
        clusterName: 'default-cluster',
        contextName: 'default-context',
        server: cluster.server,
        caPem: cluster.caPem,
        userName: 'default-auth',
        clientCertificateFile: store.currentPath('kubelet-client'),
        clientKeyFile: store.currentPath('kubelet-client'),
      }),
      mode: 0o600,
    },
  ]);
  p.log(`[kubelet-start] wrote ${kubeletConfPath}; this node has joined the cluster as system:node:${p.nodeName}`);
  return { kubeconfigPath: kubeletConfPath, certificatePath, csrName };
}
