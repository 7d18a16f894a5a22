/**
 * Token discovery, step by step as kubeadm join does it (reference §2.4): fetch
 * `kube-public/cluster-info` anonymously without trusting the server yet, wait for the JWS made
 * with our token, verify it, check the CA against the operator's pins, then fetch again over TLS
 * verified with that CA and require the same bytes. Pins are checked before any network I/O;
 * without a pin, discovery refuses unless the operator explicitly accepted the risk.
 */

import { parseKubeconfig } from '../api/kubeconfig.ts';
import { type Clock, sleep } from '../base/clock.ts';
import { InvalidError, isTlsbootError, UnauthenticatedError, UnavailableError } from '../base/errors.ts';
import type { JsonObject } from '../base/json.ts';
import { type ConnectionConfig, KubeClient } from '../client/client.ts';
import { certificatePin, matchesAnyPin, parseCertificateBundle, parsePin, verifyDetachedJws } from '../pki/index.ts';

export const CLUSTER_INFO_PATH = '/api/v1/namespaces/kube-public/configmaps/cluster-info';

export interface TokenDiscoveryParams {
  /** `https://host:port` of the control plane, as given to join. */
  readonly endpoint: string;
  readonly tokenId: string;
  readonly tokenSecret: string;
  readonly pins: readonly string[];
  readonly unsafeSkipCaVerification: boolean;
  readonly timeoutMs: number;
  readonly retryIntervalMs: number;
  readonly clock: Clock;
  readonly signal?: AbortSignal;
  /** Cap on a cluster-info response. */
  readonly maxResponseBytes?: number;
  /**
   * Fetches of a reachable cluster-info that has no signature for the token before giving up:
   * the bootstrap signer signs a new token within moments, so a longer wait only hides a wrong
   * or expired token.
   */
  readonly unknownTokenAttempts?: number;
  /** Told of each failed attempt, with the reason, before the next one. */
  readonly onRetry?: (attempt: number, problem: string) => void;
}

export interface DiscoveredCluster {
  /** The API server URL the cluster advertises in cluster-info. */
  readonly server: string;
  readonly caPem: string;
}

function discoveryError(reason: string, message: string): InvalidError {
  return new InvalidError(`DISCOVERY_${reason}`, message);
}

function dataOf(configMap: JsonObject): Record<string, string> {
  const data = configMap.data;
  if (typeof data !== 'object' || data === null) return {};
  return Object.fromEntries(Object.entries(data).filter((e): e is [string, string] => typeof e[1] === 'string'));
}

/** Checks flags before any I/O: pins well-formed, or the explicit unsafe opt-out. */
export function validateDiscoveryFlags(pins: readonly string[], unsafe: boolean): string[] {
  const parsed = pins.map(parsePin);
  if (parsed.length === 0 && !unsafe) {
    throw discoveryError(
      'NO_PIN',
      'refusing to trust the control plane without --discovery-token-ca-cert-hash sha256:<hash> (or the explicit --discovery-token-unsafe-skip-ca-verification)',
    );
  }
  return parsed;
}

function parseClusterInfo(kubeconfigText: string): DiscoveredCluster {
  const config = parseKubeconfig(kubeconfigText);
  const first = [...config.clusters.values()][0];
  if (!first) throw discoveryError('CLUSTER_INFO', 'cluster-info has no cluster');
  if (!first.certificateAuthorityData) throw discoveryError('CLUSTER_INFO', 'cluster-info has no certificate-authority-data');
  return { server: first.server, caPem: first.certificateAuthorityData };
}

export async function discoverWithToken(p: TokenDiscoveryParams): Promise<DiscoveredCluster> {
  const pins = validateDiscoveryFlags(p.pins, p.unsafeSkipCaVerification);
  const base: ConnectionConfig = {
    server: p.endpoint,
    timeoutMs: Math.min(10_000, p.timeoutMs),
    maxResponseBytes: p.maxResponseBytes ?? 1024 * 1024,
  };
  const deadline = p.clock.now() + p.timeoutMs;
  const insecure = new KubeClient({ ...base, insecureSkipTlsVerify: true });
  let kubeconfigText: string;
  let jws: string;
  let attempt = 0;
  let unknownToken = 0;
  try {
    for (;;) {
      attempt++;
      let lastProblem: string;
      try {
        const data = dataOf(await insecure.request(CLUSTER_INFO_PATH, p.signal ? { signal: p.signal } : {}));
        const signature = data[`jws-kubeconfig-${p.tokenId}`];
        const text = data.kubeconfig;
        if (signature !== undefined && text !== undefined) {
          kubeconfigText = text;
          jws = signature;
          break;
        }
        lastProblem = `there is no JWS signature in cluster-info for token id "${p.tokenId}": the token is invalid for this cluster or it has expired; create a new one with "tlsboot token create"`;
        unknownToken++;
        if (unknownToken >= (p.unknownTokenAttempts ?? 3))
          throw new UnauthenticatedError('DISCOVERY_TOKEN_UNKNOWN', `discovery failed after ${attempt} attempts: ${lastProblem}`);
      } catch (error) {
        if (isTlsbootError(error) && error.reason === 'DISCOVERY_TOKEN_UNKNOWN') throw error;
        if (
          !isTlsbootError(error) ||
          (error.code !== 'UNAVAILABLE' && error.code !== 'INTERNAL' && error.code !== 'NOT_FOUND' && error.code !== 'FORBIDDEN')
        )
          throw error;
        lastProblem = error.message;
      }
      if (p.clock.now() + p.retryIntervalMs > deadline)
        throw new UnavailableError('DISCOVERY_TIMEOUT', `discovery timed out after ${attempt} attempts: ${lastProblem}`);
      p.onRetry?.(attempt, lastProblem);
      await sleep(p.clock, p.retryIntervalMs, p.signal);
    }
  } finally {
    insecure.close();
  }
  if (!verifyDetachedJws(jws, kubeconfigText, p.tokenId, p.tokenSecret)) {
    throw discoveryError('JWS_MISMATCH', "failed to verify the JWS signature of the received cluster-info: can't trust this API server");
  }
  const cluster = parseClusterInfo(kubeconfigText);
  if (pins.length === 0) return cluster;
  const cas = parseCertificateBundle(cluster.caPem, 'cluster-info certificate-authority-data');
  if (!matchesAnyPin(cas, pins)) {
    throw discoveryError(
      'PIN_MISMATCH',
      `the cluster CA found in cluster-info is not pinned: its public key hashes are ${cas.map(certificatePin).join(', ')}, expected one of ${pins.join(', ')}`,
    );
  }
  const verified = new KubeClient({ ...base, caPem: cluster.caPem });
  try {
    const again = dataOf(await verified.request(CLUSTER_INFO_PATH, p.signal ? { signal: p.signal } : {}));
    if (again.kubeconfig !== kubeconfigText) {
      throw discoveryError('CHANGED', 'cluster-info fetched over verified TLS differs from the signed copy; refusing to continue');
    }
  } finally {
    verified.close();
  }
  return cluster;
}
