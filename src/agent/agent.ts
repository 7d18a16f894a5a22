/**
 * `tlsboot agent`: registers the node's Node with its addresses (src/agent/node-registration.ts),
 * runs the rotators for the node's client certificate and, when asked, its serving certificate
 * (first requested once the Node registration was tried, so the approver can see the Node), and serves a small HTTPS endpoint with the current serving certificate
 * (swapped in place on rotation, no restart), so anyone can check it against the cluster CA, and
 * optionally `/metrics` on a loopback address (src/agent/metrics-endpoint.ts).
 * Everything it starts is owned by the returned handle and stopped by `close()`.
 */
import { existsSync, readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:https';
import { dirname, join } from 'node:path';
import { nodeNameOf } from '../api/identity.ts';
import { parseKubeconfig, resolveKubeconfig } from '../api/kubeconfig.ts';
import type { Clock } from '../base/clock.ts';
import { InvalidError } from '../base/errors.ts';
import { canonicalIp, certificateToPem, commonName, privateKeyToPem } from '../pki/index.ts';
import { CertStore, type StoredPair } from './cert-store.ts';
import { kubeletClientSpec, validateNodeName } from './join.ts';
import { checkMetricsListen, type MetricsEndpoint, startMetricsEndpoint } from './metrics-endpoint.ts';
import { NodeRegistrar, nodeAddressesFor } from './node-registration.ts';
import type { CertificateRequestSpec } from './request.ts';
import { CertificateRotator, certificateConnection } from './rotation.ts';

export const KUBELET_SERVING_SIGNER = 'kubernetes.io/kubelet-serving';

export interface AgentParams {
  readonly nodeDir: string;
  readonly nodeName: string;
  readonly bootstrapKubeconfig?: string;
  readonly rotateServerCertificates: boolean;
  readonly nodeIps: readonly string[];
  /** `host:port` for the HTTPS endpoint; served only with a serving certificate. */
  readonly servingHost: string;
  readonly servingPort: number;
  /** Where to serve `/metrics` (a loopback address only); no metrics endpoint when absent. */
  readonly metricsListen?: { readonly host: string; readonly port: number };
  readonly clock: Clock;
  /** Uniform in [0, 1): rotation jitter. */
  readonly random: () => number;
  readonly log: (event: Record<string, unknown>, message: string) => void;
  readonly warn: (event: Record<string, unknown>, message: string) => void;
}

export interface AgentHandle {
  readonly client: CertificateRotator;
  readonly serving: CertificateRotator | undefined;
  /** Keeps the node's Node registered with its addresses. */
  readonly node: NodeRegistrar;
  /** Resolves with the endpoint's address once it serves (after the first serving certificate). */
  readonly servingAddress: Promise<{ host: string; port: number } | undefined>;
  /** The `/metrics` endpoint, with `metricsListen`. */
  readonly metrics: MetricsEndpoint | undefined;
  close(): Promise<void>;
}

export function kubeletServingSpec(nodeName: string, nodeIps: readonly string[]): CertificateRequestSpec {
  return {
    signerName: KUBELET_SERVING_SIGNER,
    commonName: `system:node:${nodeName}`,
    organizations: ['system:nodes'],
    sans: { dns: [nodeName], ip: [...new Set(nodeIps.map(canonicalIp))].sort(), email: [], uri: [] },
    usages: ['digital signature', 'server auth'],
  };
}

function tlsMaterial(pair: StoredPair): { cert: string; key: string } {
  return { cert: pair.certificates.map((c) => certificateToPem(c)).join(''), key: privateKeyToPem(pair.key) };
}

/**
 * The node name an agent runs as: the one given, which must be the one its client certificate
 * carries (a node may only renew its own name, so any other would be refused on every attempt),
 * or else the one in the certificate.
 */
export function agentNodeName(nodeDir: string, given: string | undefined, fallback: string): string {
  nodeFile(join(nodeDir, 'kubelet.conf'));
  let held: string | undefined;
  try {
    const leaf = CertStore.open(join(nodeDir, 'pki')).loadCurrent('kubelet-client')?.certificates[0];
    held = leaf ? nodeNameOf(commonName(leaf.subject)) : undefined;
  } catch {
    held = undefined;
  }
  if (given !== undefined && held !== undefined && given !== held)
    throw new InvalidError(
      'NODE_NAME',
      `--node-name "${given}" differs from the node this folder's client certificate belongs to ("${held}"); a node may only renew its own name`,
      { field: 'node-name' },
    );
  return given ?? held ?? fallback;
}

/** Reads a file the node folder must hold, or says which command makes it. */
function nodeFile(path: string): string {
  if (!existsSync(path))
    throw new InvalidError('AGENT_DIR', `${path} does not exist: run "tlsboot join --dir ${dirname(path)}" first`, { field: 'dir' });
  return readFileSync(path, 'utf8');
}

export function startAgent(p: AgentParams): AgentHandle {
  validateNodeName(p.nodeName);
  const kubeconfigPath = join(p.nodeDir, 'kubelet.conf');
  const resolved = resolveKubeconfig(parseKubeconfig(nodeFile(kubeconfigPath)));
  const caPem = resolved.cluster.certificateAuthorityData;
  if (!caPem)
    throw new InvalidError('AGENT_KUBECONFIG', `${kubeconfigPath} has no embedded certificate-authority-data`, { field: kubeconfigPath });
  let bootstrapToken: string | undefined;
  if (p.bootstrapKubeconfig !== undefined) {
    bootstrapToken = resolveKubeconfig(parseKubeconfig(nodeFile(p.bootstrapKubeconfig))).user.token;
    if (!bootstrapToken)
      throw new InvalidError('AGENT_BOOTSTRAP', `${p.bootstrapKubeconfig} has no token`, { field: 'bootstrap-kubeconfig' });
  }
  if (p.rotateServerCertificates && p.nodeIps.length === 0) {
    throw new InvalidError('AGENT_NODE_IP', '--rotate-server-certificates needs at least one --node-ip', { field: 'node-ip' });
  }
  if (p.metricsListen !== undefined) checkMetricsListen(p.metricsListen.host);
  const store = CertStore.open(join(p.nodeDir, 'pki'));
  store.recover('kubelet-client');
  store.recover('kubelet-server');
  const stop = new AbortController();
  const clientPair = () => {
    try {
      return store.loadCurrent('kubelet-client');
    } catch {
      return undefined;
    }
  };
  const client = new CertificateRotator({
    store,
    prefix: 'kubelet-client',
    spec: kubeletClientSpec(p.nodeName),
    server: resolved.cluster.server,
    caPem,
    clientCredential: clientPair,
    ...(bootstrapToken === undefined ? {} : { bootstrapToken }),
    clock: p.clock,
    random: p.random,
    log: p.log,
    warn: p.warn,
  });
  const servingSpec = kubeletServingSpec(p.nodeName, p.nodeIps);
  const node = new NodeRegistrar({
    nodeName: p.nodeName,
    addresses: nodeAddressesFor(p.nodeName, servingSpec.sans ?? { dns: [], ip: [] }),
    connection: () => certificateConnection(resolved.cluster.server, caPem, clientPair(), new Date(p.clock.now())),
    clock: p.clock,
    random: p.random,
    log: p.log,
    warn: p.warn,
  });
  const loops: Promise<void>[] = [client.run(stop.signal), node.run(stop.signal)];
  let server: Server | undefined;
  let serving: CertificateRotator | undefined;
  let resolveAddress: (a: { host: string; port: number } | undefined) => void = () => {};
  const servingAddress = new Promise<{ host: string; port: number } | undefined>((r) => {
    resolveAddress = r;
  });
  const listen = (pair: StoredPair) => {
    if (server) {
      server.setSecureContext(tlsMaterial(pair));
      return;
    }
    const s = createServer({ ...tlsMaterial(pair), minVersion: 'TLSv1.2' }, (req, res) => {
      res.writeHead(req.url === '/healthz' ? 200 : 404, { 'Content-Type': 'text/plain' });
      res.end(req.url === '/healthz' ? 'ok' : 'not found');
    });
    server = s;
    s.listen(p.servingPort, p.servingHost, () => {
      const addr = s.address();
      resolveAddress(addr && typeof addr === 'object' ? { host: addr.address, port: addr.port } : undefined);
      p.log({ address: addr }, 'serving endpoint listening');
    });
  };
  if (p.rotateServerCertificates) {
    serving = new CertificateRotator({
      store,
      prefix: 'kubelet-server',
      spec: servingSpec,
      server: resolved.cluster.server,
      caPem,
      clientCredential: clientPair,
      clock: p.clock,
      random: p.random,
      log: p.log,
      warn: p.warn,
      onRotated: listen,
    });
    try {
      const existing = store.loadCurrent('kubelet-server');
      if (existing && (existing.certificates[0]?.notAfter.getTime() ?? 0) > p.clock.now()) listen(existing);
    } catch {
      // A broken serving pair is replaced by the rotator's first attempt.
    }
    const rotator = serving;
    loops.push(node.firstAttempt.then(() => rotator.run(stop.signal)));
  } else {
    resolveAddress(undefined);
  }
  const prefixes = p.rotateServerCertificates ? (['kubelet-client', 'kubelet-server'] as const) : (['kubelet-client'] as const);
  const metrics =
    p.metricsListen === undefined
      ? undefined
      : startMetricsEndpoint({
          ...p.metricsListen,
          nodeName: p.nodeName,
          // The files, not the rotators' memory: what a restart would serve is what counts.
          certificates: () =>
            prefixes.flatMap((prefix) => {
              try {
                const leaf = store.loadCurrent(prefix)?.certificates[0];
                return leaf ? [{ certificate: prefix, notAfter: leaf.notAfter }] : [];
              } catch {
                return [];
              }
            }),
        });
  return {
    client,
    serving,
    node,
    servingAddress,
    metrics,
    async close() {
      stop.abort();
      await metrics?.close();
      await Promise.allSettled(loops);
      resolveAddress(undefined);
      const s = server;
      if (s) await new Promise<void>((r) => s.close(() => r()));
      s?.closeAllConnections();
    },
  };
}
