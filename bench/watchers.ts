/**
 * Row 7: what idle watches cost the issuing path. Row 3's tlsboot shared-watch load (distinct
 * CSRs) with no extra watches, then with 1,000 kubelet-style watches (fieldSelector on a CSR name
 * that never changes), then with 1,000 informer-style watches on the whole CSR collection, then
 * with none again; one keep-alive socket per watch. The collection watchers read and discard what
 * they are sent, so the bench's own CPU is reported too.
 */
import type { ClientRequest } from 'node:http';
import { Agent, get } from 'node:https';
import { join } from 'node:path';
import { asCertificateSigningRequestList } from '../src/api/index.ts';
import { loadKubeconfig } from '../src/client/client.ts';
import { CsrPool, loadWindow, type Window } from './load.ts';
import { CSR_PATH, LIFTED_LIMITS, TlsbootIssuer } from './peer.ts';
import { startCluster } from './proc.ts';

export const IDLE_WATCHES = 1000;

export interface WatchersResult {
  readonly none: Window;
  readonly noneAgain: Window;
  readonly selector: Window;
  readonly collection: Window;
  /** Bytes the 1,000 watchers received during their window. */
  readonly selectorBytes: number;
  readonly collectionBytes: number;
  readonly poolUsed: number;
  readonly poolSize: number;
}

/** Bytes the idle watchers were sent (reset before each window): are "idle" watches idle? */
const received = { bytes: 0 };

/**
 * Opens the watches, each on its own socket, 100 at a time (the server closes connections from one
 * address past 512 that have not authenticated yet); resolves once every one answered 200.
 */
async function openWatches(agent: Agent, port: number, paths: readonly string[]): Promise<ClientRequest[]> {
  const reqs: ClientRequest[] = [];
  for (let i = 0; i < paths.length; i += 100) await openBatch(agent, port, paths.slice(i, i + 100), reqs);
  for (const r of reqs) r.setTimeout(0);
  return reqs;
}

async function openBatch(agent: Agent, port: number, paths: readonly string[], reqs: ClientRequest[]): Promise<void> {
  await Promise.all(
    paths.map(
      (path) =>
        new Promise<void>((resolve, reject) => {
          const req = get({ host: '127.0.0.1', port, path, agent, headers: { accept: 'application/json' } }, (res) => {
            res.on('error', () => {});
            res.on('data', (c: Buffer) => {
              received.bytes += c.length;
            });
            if (res.statusCode === 200) resolve();
            else reject(new Error(`watch ${path} answered ${res.statusCode}`));
          });
          req.on('error', (error) => reject(error));
          req.setTimeout(30_000, () => req.destroy(new Error('watch did not open within 30 s')));
          reqs.push(req);
        }),
    ),
  );
}

function closeWatches(reqs: readonly ClientRequest[]): void {
  for (const r of reqs) {
    r.on('error', () => {});
    r.destroy();
  }
}

export async function watchersRow(concurrency: number, durationMs: number): Promise<WatchersResult> {
  const pool = new CsrPool(20_000, 'watchers');
  const cluster = await startCluster('bench-watchers-', [...LIFTED_LIMITS, '--max-connections', String(IDLE_WATCHES + 1000)]);
  const issuer = new TlsbootIssuer(cluster, pool);
  const config = loadKubeconfig(join(cluster.dir, 'admin.conf'));
  const agent = new Agent({
    keepAlive: true,
    maxSockets: IDLE_WATCHES + 10,
    ...(config.caPem === undefined ? {} : { ca: config.caPem }),
    ...(config.clientCertificatePem === undefined ? {} : { cert: config.clientCertificatePem }),
    ...(config.clientKeyPem === undefined ? {} : { key: config.clientKeyPem }),
  });
  let open: ClientRequest[] = [];
  try {
    await issuer.startSharedWatch();
    await issuer.signShared();
    const window = () => loadWindow(cluster.pid, issuer.signShared, concurrency, durationMs);
    const currentRv = async () =>
      (await issuer.client.request(CSR_PATH, { query: { limit: '1' } }, asCertificateSigningRequestList)).metadata?.resourceVersion ?? '';
    // Warm-up, not measured: the first seconds of a fresh server run slower (JIT, caches).
    await loadWindow(cluster.pid, issuer.signShared, concurrency, Math.min(durationMs, 3000));
    const none = await window();
    let rv = await currentRv();
    open = await openWatches(
      agent,
      cluster.port,
      Array.from(
        { length: IDLE_WATCHES },
        (_, i) => `${CSR_PATH}?${new URLSearchParams({ watch: '1', fieldSelector: `metadata.name=idle-node-${i}`, resourceVersion: rv })}`,
      ),
    );
    received.bytes = 0;
    const selector = await window();
    const selectorBytes = received.bytes;
    closeWatches(open);
    rv = await currentRv();
    open = await openWatches(
      agent,
      cluster.port,
      Array.from({ length: IDLE_WATCHES }, () => `${CSR_PATH}?${new URLSearchParams({ watch: '1', resourceVersion: rv })}`),
    );
    received.bytes = 0;
    const collection = await window();
    const collectionBytes = received.bytes;
    closeWatches(open);
    open = [];
    await new Promise((r) => setTimeout(r, 1000));
    const noneAgain = await window();
    return { none, noneAgain, selector, collection, selectorBytes, collectionBytes, poolUsed: pool.used, poolSize: pool.size };
  } finally {
    closeWatches(open);
    agent.destroy();
    await issuer.close();
  }
}
