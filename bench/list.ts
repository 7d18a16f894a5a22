/**
 * Row 6: LIST of 50,000 CSRs. Seeds realistic, issued kubelet client CSRs (real request PEM,
 * conditions, a certificate signed by the cluster CA, ~2 KB of JSON each) straight into the
 * cluster's store before the server starts — opened as the server opens it (openClusterStore,
 * with the Secrets encryption transformer) — then waits until the server is quiet (its
 * controllers go through every CSR first), and measures one full LIST and one paginated LIST
 * (limit=500, following continue) over HTTPS as admin. For each: wall time, the server's CPU time, server RSS growth
 * (VmRSS every 20 ms), the server's longest event-loop delay as it records it itself
 * (loop-delay.ts), and the longest /livez probe (every 10 ms, its own connection) as seen from
 * outside, which adds the client's and the network's noise.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { readFileSync, rmSync } from 'node:fs';
import { Agent, get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { isObject } from '../src/base/json.ts';
import { loadKubeconfig } from '../src/client/client.ts';
import { openClusterStore } from '../src/control-plane/secrets-at-rest.ts';
import {
  certificateToPem,
  createCsrPem,
  generatePrivateKey,
  issueCertificate,
  parseCertificatePem,
  parseCsrPem,
  parsePrivateKeyPem,
} from '../src/pki/index.ts';
import { LOOP_DELAY_ENV, LOOP_DELAY_NODE_ARGS, loopDelay } from './loop-delay.ts';
import { CSR_PATH } from './peer.ts';
import { CLK_TCK, cpuTicks, memMb, quiesce, startCluster } from './proc.ts';

const RESOURCE = 'certificates.k8s.io/certificatesigningrequests';
/** Distinct request/certificate pairs; the 50,000 objects cycle through them. */
const DISTINCT = 256;

export async function seedCsrs(dir: string, count: number): Promise<number> {
  const ca = parseCertificatePem(readFileSync(join(dir, 'pki', 'ca.crt')));
  const caKey = parsePrivateKeyPem(readFileSync(join(dir, 'pki', 'ca.key')));
  const now = new Date();
  const time = now.toISOString().replace(/\.\d+Z$/, 'Z');
  const pairs = Array.from({ length: DISTINCT }, (_, i) => {
    const cn = `system:node:list-${i}`;
    const pem = createCsrPem({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [
        { type: 'O', value: 'system:nodes' },
        { type: 'CN', value: cn },
      ],
    });
    const csr = parseCsrPem(pem);
    const cert = issueCertificate({
      subject: csr.subject.attributes,
      publicKey: csr.spki,
      keyUsage: ['digitalSignature'],
      extKeyUsage: ['clientAuth'],
      notBefore: new Date(now.getTime() - 300_000),
      notAfter: new Date(now.getTime() + 365 * 86_400_000),
      issuer: { kind: 'ca', certificate: ca, key: caKey },
      randomBytes,
    });
    return { request: Buffer.from(pem).toString('base64'), certificate: Buffer.from(certificateToPem(cert)).toString('base64') };
  });
  const store = await openClusterStore({ dir, randomBytes, report: () => {} });
  let bytes = 0;
  try {
    for (let i = 0; i < count; i += 1000) {
      await Promise.all(
        Array.from({ length: Math.min(1000, count - i) }, (_, j) => {
          const n = i + j;
          const pair = pairs[n % DISTINCT] ?? { request: '', certificate: '' };
          const name = `node-csr-${String(n).padStart(6, '0')}`;
          const object = {
            apiVersion: 'certificates.k8s.io/v1',
            kind: 'CertificateSigningRequest',
            metadata: { name, uid: randomUUID(), creationTimestamp: time },
            spec: {
              request: pair.request,
              signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
              usages: ['digital signature', 'client auth'],
              username: 'system:bootstrap:abcdef',
              groups: ['system:bootstrappers', 'system:bootstrappers:kubeadm:default-node-token', 'system:authenticated'],
            },
            status: {
              conditions: [
                {
                  type: 'Approved',
                  status: 'True',
                  reason: 'AutoApproved',
                  message: 'Auto approving kubelet client certificate after SubjectAccessReview.',
                  lastUpdateTime: time,
                  lastTransitionTime: time,
                },
              ],
              certificate: pair.certificate,
            },
          };
          if (n === 0) bytes = JSON.stringify(object).length;
          return store.create({ resource: RESOURCE, namespace: '', name }, object);
        }),
      );
    }
  } finally {
    await store.close();
  }
  return bytes;
}

export interface ListMeasure {
  readonly wallMs: number;
  /** The server's CPU time (utime + stime from /proc) over the LIST: its work, whatever the machine's load does to the wall time. */
  readonly serverCpuMs: number;
  readonly rssGrowthMb: number;
  readonly maxProbeMs: number;
  /** The server's longest event-loop delay during the LIST, as it recorded it. */
  readonly maxLoopDelayMs: number;
  readonly items: number;
  readonly bytes: number;
  readonly pages: number;
}

export interface ListResult {
  readonly objectBytes: number;
  readonly full: ListMeasure;
  readonly paged: ListMeasure;
  readonly idleProbeMs: number;
  readonly idleLoopDelayMs: number;
  /** How long the server took to become quiet after it answered /livez. */
  readonly settleMs: number;
}

/** GET as admin; resolves with the body (or only its length when `keep` is false). */
function fetchAs(
  agent: Agent,
  port: number,
  path: string,
  keep: boolean,
  timeoutMs: number,
): Promise<{ status: number; body: Buffer; bytes: number }> {
  return new Promise((resolve, reject) => {
    const req = get({ host: '127.0.0.1', port, path, agent, timeout: timeoutMs, headers: { accept: 'application/json' } }, (res) => {
      const chunks: Buffer[] = [];
      let bytes = 0;
      res.on('data', (c: Buffer) => {
        bytes += c.length;
        if (keep) chunks.push(c);
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks), bytes }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error(`GET ${path} timed out`)));
  });
}

/** Probes /livez every 10 ms on its own connection until stopped; the longest answer. */
function prober(port: number): { stop: () => Promise<number> } {
  const agent = new Agent({ keepAlive: true, maxSockets: 1, rejectUnauthorized: false });
  let running = true;
  let max = 0;
  const loop = (async () => {
    while (running) {
      const t = performance.now();
      const r = await fetchAs(agent, port, '/livez', false, 60_000);
      if (r.status !== 200) throw new Error(`/livez answered ${r.status}`);
      const ms = performance.now() - t;
      max = Math.max(max, ms);
      await new Promise((res) => setTimeout(res, Math.max(0, 10 - ms)));
    }
  })();
  return {
    stop: async () => {
      running = false;
      await loop;
      agent.destroy();
      return max;
    },
  };
}

async function measure(
  pid: number,
  port: number,
  delays: ReturnType<typeof loopDelay>,
  run: () => Promise<{ items: number; bytes: number; pages: number }>,
): Promise<ListMeasure> {
  await new Promise((r) => setTimeout(r, 1000));
  await delays.window();
  const base = memMb(pid, 'VmRSS');
  let peak = base;
  const sampler = setInterval(() => {
    peak = Math.max(peak, memMb(pid, 'VmRSS'));
  }, 20);
  const probe = prober(port);
  const ticks = cpuTicks(pid);
  const started = performance.now();
  let maxProbeMs = 0;
  let result: { items: number; bytes: number; pages: number };
  let wallMs = 0;
  let serverCpuMs = 0;
  try {
    result = await run();
    wallMs = performance.now() - started;
    serverCpuMs = ((cpuTicks(pid) - ticks) * 1000) / CLK_TCK;
  } finally {
    clearInterval(sampler);
    maxProbeMs = await probe.stop();
  }
  const maxLoopDelayMs = (await delays.window()).maxMs;
  return { wallMs, serverCpuMs, rssGrowthMb: peak - base, maxProbeMs, maxLoopDelayMs, ...result };
}

export async function listRow(count: number): Promise<ListResult> {
  let objectBytes = 0;
  const delayFile = join(tmpdir(), `bench-list-loop-delay-${process.pid}.json`);
  const cluster = await startCluster(
    'bench-list-',
    [],
    async (dir) => {
      objectBytes = await seedCsrs(dir, count);
    },
    { nodeArgs: LOOP_DELAY_NODE_ARGS, env: { [LOOP_DELAY_ENV]: delayFile } },
  );
  const delays = loopDelay(cluster.pid, delayFile);
  const config = loadKubeconfig(join(cluster.dir, 'admin.conf'));
  const agent = new Agent({
    keepAlive: true,
    maxSockets: 1,
    ...(config.caPem === undefined ? {} : { ca: config.caPem }),
    ...(config.clientCertificatePem === undefined ? {} : { cert: config.clientCertificatePem }),
    ...(config.clientKeyPem === undefined ? {} : { key: config.clientKeyPem }),
  });
  try {
    const settleMs = await quiesce(cluster.pid);
    await delays.window();
    const idle = prober(cluster.port);
    await new Promise((r) => setTimeout(r, 1000));
    const idleProbeMs = await idle.stop();
    const idleLoopDelayMs = (await delays.window()).maxMs;
    const full = await measure(cluster.pid, cluster.port, delays, async () => {
      const r = await fetchAs(agent, cluster.port, CSR_PATH, false, 300_000);
      if (r.status !== 200) throw new Error(`full LIST answered ${r.status}`);
      return { items: count, bytes: r.bytes, pages: 1 };
    });
    const paged = await measure(cluster.pid, cluster.port, delays, async () => {
      let items = 0;
      let bytes = 0;
      let pages = 0;
      let token = '';
      for (; pages < 10_000; ) {
        const q = new URLSearchParams({ limit: '500', ...(token ? { continue: token } : {}) });
        const r = await fetchAs(agent, cluster.port, `${CSR_PATH}?${q}`, true, 60_000);
        if (r.status !== 200) throw new Error(`paged LIST answered ${r.status}: ${r.body.toString().slice(0, 200)}`);
        const page: unknown = JSON.parse(r.body.toString('utf8'));
        if (!isObject(page) || !Array.isArray(page.items) || !isObject(page.metadata)) throw new Error('paged LIST: not a list');
        items += page.items.length;
        bytes += r.bytes;
        pages++;
        token = typeof page.metadata.continue === 'string' ? page.metadata.continue : '';
        if (token === '') break;
      }
      if (items < count) throw new Error(`paged LIST returned ${items} CSRs, expected at least ${count}`);
      return { items, bytes, pages };
    });
    return { objectBytes, full, paged, idleProbeMs, idleLoopDelayMs, settleMs };
  } finally {
    agent.destroy();
    await cluster.close();
    rmSync(delayFile, { force: true });
  }
}
