/**
 * Row 3: certificates/s and server CPU ms per certificate through each server's API, 16 in
 * flight, rounds alternating between cfssl (in memory; with its sqlite certdb over TLS) and
 * tlsboot (one shared watch; a watch per request as kubelet and `join` do), every server in its
 * own process. Also the tlsboot client used by row 7.
 */
import { join } from 'node:path';
import { asCertificateSigningRequest, asCertificateSigningRequestList, csrCertificatePem, metadataString } from '../src/api/index.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import { type CfsslServer, certdbRows, cfsslInstalled, makeCfsslCa, startCfssl } from './cfssl.ts';
import { CsrPool, loadWindow, meanWindow, type Window } from './load.ts';
import { type Cluster, startCluster, stop, tempDir } from './proc.ts';

export const CSR_PATH = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

/**
 * The per-user limits are lifted for the throughput rows: one admin identity makes every CSR, and
 * the default create rate (200/s per user) or stored-bytes quota would otherwise be measured.
 */
export const LIFTED_LIMITS = [
  '--creates-per-second-per-user',
  '1000000',
  '--create-burst-per-user',
  '1000000',
  '--max-pending-csrs-per-user',
  '1000000',
  '--max-csr-bytes-per-user',
  '100000000000',
];

/** A tlsboot server and an admin client that creates, approves and waits for certificates. */
export class TlsbootIssuer {
  readonly client: KubeClient;
  private readonly waiting = new Map<string, () => void>();
  private readonly issued = new Set<string>();
  private readonly abort = new AbortController();
  private shared: Promise<void> | undefined;

  readonly cluster: Cluster;
  private readonly pool: CsrPool;

  constructor(cluster: Cluster, pool: CsrPool) {
    this.cluster = cluster;
    this.pool = pool;
    this.client = new KubeClient(loadKubeconfig(join(cluster.dir, 'admin.conf')));
  }

  /** One watch on every CSR that wakes each waiting request when its certificate lands, like an informer. */
  async startSharedWatch(): Promise<void> {
    const list = await this.client.request(CSR_PATH, {}, asCertificateSigningRequestList);
    this.shared = (async () => {
      try {
        for await (const event of this.client.watch(
          CSR_PATH,
          { resourceVersion: list.metadata?.resourceVersion ?? '' },
          this.abort.signal,
        )) {
          if (csrCertificatePem(event.object) === undefined) continue;
          const name = metadataString(event.object, 'name') ?? '';
          this.issued.add(name);
          this.waiting.get(name)?.();
        }
      } catch (error) {
        if (!this.abort.signal.aborted) process.stderr.write(`shared watch ended: ${String(error)}\n`);
      }
    })();
  }

  /** Create + approve; returns the name and the approval's resourceVersion. */
  private async createApproved(): Promise<{ name: string; rv: string }> {
    const created = await this.client.request(
      CSR_PATH,
      {
        method: 'POST',
        body: {
          metadata: { generateName: 'bench-' },
          spec: {
            request: Buffer.from(this.pool.take()).toString('base64'),
            signerName: 'kubernetes.io/kube-apiserver-client',
            usages: ['digital signature', 'client auth'],
          },
        },
      },
      asCertificateSigningRequest,
    );
    const name = created.metadata?.name ?? '';
    const approved = await this.client.request(
      `${CSR_PATH}/${name}/approval`,
      {
        method: 'PUT',
        body: { ...created, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Bench', message: 'bench' }] } },
      },
      asCertificateSigningRequest,
    );
    return { name, rv: approved.metadata?.resourceVersion ?? created.metadata?.resourceVersion ?? '' };
  }

  /** Through the shared watch (startSharedWatch first). */
  readonly signShared = async (): Promise<void> => {
    const { name } = await this.createApproved();
    await new Promise<void>((resolve, reject) => {
      if (this.issued.has(name)) return resolve();
      const timer = setTimeout(() => {
        this.waiting.delete(name);
        reject(new Error(`no certificate for ${name} within 60 s`));
      }, 60_000);
      this.waiting.set(name, () => {
        clearTimeout(timer);
        this.waiting.delete(name);
        resolve();
      });
    });
    this.issued.delete(name);
  };

  /** A watch of its own (fieldSelector on the name, from the approval's resourceVersion), as kubelet does. */
  readonly signOwnWatch = async (): Promise<void> => {
    const { name, rv } = await this.createApproved();
    const signal = AbortSignal.timeout(60_000);
    for await (const event of this.client.watch(CSR_PATH, { fieldSelector: `metadata.name=${name}`, resourceVersion: rv }, signal)) {
      if (csrCertificatePem(event.object) !== undefined) return;
    }
    throw new Error(`watch on ${name} ended without a certificate`);
  };

  async close(): Promise<void> {
    this.abort.abort();
    this.client.close();
    await this.shared;
    await this.cluster.close();
  }
}

export interface PeerResult {
  readonly cfsslMemory: Window;
  readonly cfsslCertdb: Window;
  readonly certdbRows: number;
  readonly tlsbootShared: Window;
  readonly tlsbootOwnWatch: Window;
  readonly rounds: number;
  readonly poolSize: number;
  readonly poolUsed: number;
}

export async function peer(concurrency: number, durationMs: number, rounds: number): Promise<PeerResult | undefined> {
  if (!cfsslInstalled()) return undefined;
  const tmp = tempDir('bench-peer-');
  // tlsboot's servers draw from one pool (each has its own parse cache); cfssl, which caches
  // nothing, from another that may start over.
  const pool = new CsrPool(20_000, 'peer');
  const cfsslPool = new CsrPool(4096, 'cfssl');
  const cfssl: CfsslServer[] = [];
  const tlsboot: TlsbootIssuer[] = [];
  try {
    makeCfsslCa(tmp.path);
    const memory = await startCfssl(tmp.path, false, concurrency, cfsslPool.take());
    cfssl.push(memory);
    const certdb = await startCfssl(tmp.path, true, concurrency, cfsslPool.take());
    cfssl.push(certdb);
    const rowsBefore = certdbRows(tmp.path);
    const shared = new TlsbootIssuer(await startCluster('bench-peer-shared-', LIFTED_LIMITS), pool);
    tlsboot.push(shared);
    await shared.startSharedWatch();
    await shared.signShared();
    const own = new TlsbootIssuer(await startCluster('bench-peer-own-', LIFTED_LIMITS), pool);
    tlsboot.push(own);
    await own.signOwnWatch();
    const w = { cfsslMemory: [] as Window[], cfsslCertdb: [] as Window[], tlsbootShared: [] as Window[], tlsbootOwnWatch: [] as Window[] };
    for (let i = 0; i < rounds; i++) {
      w.cfsslMemory.push(await loadWindow(memory.pid, () => memory.sign(cfsslPool.take()), concurrency, durationMs));
      w.cfsslCertdb.push(await loadWindow(certdb.pid, () => certdb.sign(cfsslPool.take()), concurrency, durationMs));
      w.tlsbootShared.push(await loadWindow(shared.cluster.pid, shared.signShared, concurrency, durationMs));
      w.tlsbootOwnWatch.push(await loadWindow(own.cluster.pid, own.signOwnWatch, concurrency, durationMs));
    }
    const cfsslCertdb = meanWindow(w.cfsslCertdb);
    const rows = certdbRows(tmp.path) - rowsBefore;
    if (rows < cfsslCertdb.certificates)
      throw new Error(
        `cfssl certdb holds ${rows} new certificates, but ${cfsslCertdb.certificates} were signed: the durable figure is not real`,
      );
    return {
      cfsslMemory: meanWindow(w.cfsslMemory),
      cfsslCertdb,
      certdbRows: rows,
      tlsbootShared: meanWindow(w.tlsbootShared),
      tlsbootOwnWatch: meanWindow(w.tlsbootOwnWatch),
      rounds,
      poolSize: pool.size,
      poolUsed: pool.used,
    };
  } finally {
    for (const c of cfssl) {
      c.close();
      await stop(c.child);
    }
    for (const t of tlsboot) await t.close();
    tmp.remove();
  }
}
