/**
 * The agent's `/metrics` (`tlsboot agent --metrics-listen 127.0.0.1:PORT`, off by default): the
 * expiry of the node's current client and serving certificates, read from the certificate
 * directory at each scrape. Plain HTTP on a loopback address only, like the kubelet's healthz
 * port: the node's own Prometheus agent (or a sidecar) scrapes it, nothing off the machine can,
 * so it needs no credential. Any other address is refused before anything starts.
 */
import { createServer, type Server } from 'node:http';
import { InvalidError } from '../base/errors.ts';
import { type CertificateExpiry, ExpiryMetrics, MetricsRegistry } from '../base/metrics.ts';
import { canonicalIp, ipToBytes } from '../pki/index.ts';

/** Whether `host` is an IP address of the loopback range (127.0.0.0/8 or ::1). `localhost` is not: it resolves as DNS says. */
export function isLoopbackAddress(host: string): boolean {
  let bytes: Uint8Array;
  try {
    bytes = ipToBytes(host);
  } catch {
    return false;
  }
  return bytes.length === 4 ? bytes[0] === 127 : canonicalIp(host) === '::1';
}

export interface MetricsEndpoint {
  /** The address it listens on, once it does. */
  readonly address: Promise<{ host: string; port: number }>;
  readonly metrics: MetricsRegistry;
  close(): Promise<void>;
}

/** Refuses a non-loopback listen address with a clear error; call before starting anything else. */
export function checkMetricsListen(host: string): void {
  if (!isLoopbackAddress(host))
    throw new InvalidError(
      'METRICS_LISTEN',
      `--metrics-listen must be a loopback IP address (127.0.0.1 or ::1), not "${host}": the agent's metrics have no authentication`,
      { field: 'metrics-listen' },
    );
}

export function startMetricsEndpoint(o: {
  readonly host: string;
  readonly port: number;
  readonly nodeName: string;
  readonly certificates: () => readonly CertificateExpiry[];
}): MetricsEndpoint {
  checkMetricsListen(o.host);
  const metrics = new MetricsRegistry();
  new ExpiryMetrics(metrics, o.certificates, { node: o.nodeName });
  const server: Server = createServer((req, res) => {
    if (req.method !== 'GET' || (req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'Content-Type': 'text/plain' }).end('not found');
      return;
    }
    metrics.text().then(
      (text) => res.writeHead(200, { 'Content-Type': metrics.contentType }).end(text),
      (error: unknown) => res.writeHead(500, { 'Content-Type': 'text/plain' }).end(String(error)),
    );
  });
  const address = new Promise<{ host: string; port: number }>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      const addr = server.address();
      if (addr && typeof addr === 'object') resolve({ host: addr.address, port: addr.port });
      else reject(new InvalidError('METRICS_LISTEN', 'the metrics endpoint has no address', { field: 'metrics-listen' }));
    });
  });
  // A failed listen is reported through `address`; nothing else waits on it.
  address.catch(() => {});
  return {
    address,
    metrics,
    async close() {
      if (server.listening) await new Promise<void>((r) => server.close(() => r()));
      server.closeAllConnections();
      metrics.close();
    },
  };
}
