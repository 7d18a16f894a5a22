/**
 * `npm run bench`: measures tlsboot against the crypto limit on this machine and prints one table,
 * also written as JSON under bench/results/. Scenarios so far: (1) ECDSA P-256 signatures and
 * verifications per second on one core and the implied issuance ceiling, (2) in-process issuance
 * (parse + verify CSR, signer policy, build and sign the certificate) as a fraction of it, (5) the
 * server's start-up time and idle RSS. The cfssl peer (3) and the join storm (4) are not written
 * yet; the cfssl row says how to install cfssl when it is missing.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, sign, verify } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent as HttpAgent, request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import {
  asCertificateSigningRequest,
  asCertificateSigningRequestList,
  asConfigMap,
  csrCertificatePem,
  metadataString,
  signerPolicyProblem,
  x509Usages,
} from '../src/api/index.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import {
  certificatePin,
  createCsr,
  createCsrPem,
  generatePrivateKey,
  issueCertificate,
  matchesAnyPin,
  parseCertificateBundle,
  parseCertificatePem,
  parseCsr,
  verifyDetachedJws,
} from '../src/pki/index.ts';
import { selfSignedCa } from '../test/helpers/pki.ts';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;
const root = new URL('..', import.meta.url).pathname;
/** Node options for the server under load only, e.g. BENCH_SERVER_NODE_ARGS='--cpu-prof --cpu-prof-dir=prof'. */
const serverNodeArgs = (process.env.BENCH_SERVER_NODE_ARGS ?? '').split(' ').filter((a) => a !== '');

function rate(fn: () => void): number {
  for (let i = 0; i < 200; i++) fn();
  let n = 0;
  const start = performance.now();
  let elapsed = 0;
  do {
    for (let i = 0; i < 100; i++) fn();
    n += 100;
    elapsed = performance.now() - start;
  } while (elapsed < DURATION_MS);
  return (n * 1000) / elapsed;
}

function cryptoLimit() {
  const key = generatePrivateKey('ecdsa-p256');
  const tbs = randomBytes(400);
  const sig = sign('sha256', tbs, key);
  const signs = rate(() => sign('sha256', tbs, key));
  const verifies = rate(() => verify('sha256', tbs, key, sig));
  return { signs, verifies, ceiling: 1 / (1 / signs + 1 / verifies) };
}

function issuance() {
  const { certificate: ca, key: caKey } = selfSignedCa({ hours: 87_600 });
  const csrs = Array.from({ length: 64 }, (_, i) =>
    createCsr({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [
        { type: 'O', value: 'system:nodes' },
        { type: 'CN', value: `system:node:n${i}` },
      ],
    }),
  );
  const usages = ['digital signature', 'client auth'];
  const { keyUsage, extKeyUsage } = x509Usages(usages);
  let i = 0;
  const now = new Date();
  return rate(() => {
    const csr = parseCsr(csrs[i++ % csrs.length] as Buffer);
    if (signerPolicyProblem('kubernetes.io/kube-apiserver-client-kubelet', csr, usages)) throw new Error('policy');
    issueCertificate({
      subject: csr.subject.attributes,
      publicKey: csr.spki,
      sans: csr.sans,
      keyUsage,
      extKeyUsage,
      notBefore: new Date(now.getTime() - 300_000),
      notAfter: new Date(now.getTime() + 86_400_000),
      issuer: { kind: 'ca', certificate: ca, key: caKey },
      randomBytes,
    });
  });
}

async function idleServer(): Promise<{ startupMs: number; rssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-server-'));
  try {
    const main = join(root, 'src/cli/main.ts');
    const port = await freePort();
    const init = spawnSync(process.execPath, [main, 'init', '--dir', dir, '--node-name', 'bench', '--apiserver-bind-port', String(port)], {
      encoding: 'utf8',
    });
    if (init.status !== 0) throw new Error(init.stderr);
    const started = performance.now();
    const child = spawn(process.execPath, [main, 'server', '--dir', dir, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    await new Promise<void>((resolve, reject) => {
      createInterface({ input: child.stdout }).on('line', (line) => {
        if (line.includes('tlsboot server ready')) resolve();
      });
      child.once('exit', () => reject(new Error('server exited')));
    });
    const startupMs = performance.now() - started;
    await new Promise((r) => setTimeout(r, 1000));
    const status = readFileSync(`/proc/${child.pid}/status`, 'utf8');
    const rssKb = Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? 0);
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    return { startupMs, rssMb: rssKb / 1024 };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs `op` with `concurrency` workers for the bench duration; returns completed operations per second. */
async function load(op: () => Promise<void>, concurrency: number): Promise<number> {
  const end = performance.now() + DURATION_MS;
  let done = 0;
  const start = performance.now();
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (performance.now() < end) {
        await op();
        done++;
      }
    }),
  );
  return (done * 1000) / (performance.now() - start);
}

async function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const probe = createServer().listen(0, '127.0.0.1', () => {
      const addr = probe.address();
      probe.close(() => resolve(typeof addr === 'object' && addr ? addr.port : 0));
    });
  });
}

/** Scenario 3: one CSR signed again and again through cfssl's sign endpoint and through tlsboot's API. */
async function peer(concurrency: number): Promise<{ cfssl: number; tlsboot: number } | undefined> {
  if (spawnSync('sh', ['-c', 'command -v cfssl']).status !== 0) return undefined;
  const dir = mkdtempSync(join(tmpdir(), 'bench-peer-'));
  const children: ReturnType<typeof spawn>[] = [];
  try {
    const initca = spawnSync('cfssl', ['gencert', '-initca', '-'], {
      input: '{"CN":"cfssl-ca","key":{"algo":"ecdsa","size":256}}',
      encoding: 'utf8',
    });
    const ca = JSON.parse(initca.stdout) as { cert: string; key: string };
    writeFileSync(join(dir, 'ca.pem'), ca.cert);
    writeFileSync(join(dir, 'ca-key.pem'), ca.key);
    const cfPort = await freePort();
    children.push(
      spawn(
        'cfssl',
        ['serve', '-address', '127.0.0.1', '-port', String(cfPort), '-ca', join(dir, 'ca.pem'), '-ca-key', join(dir, 'ca-key.pem')],
        { stdio: 'ignore' },
      ),
    );
    const main = join(root, 'src/cli/main.ts');
    const cluster = join(dir, 'cluster');
    const port = await freePort();
    spawnSync(process.execPath, [main, 'init', '--dir', cluster, '--node-name', 'bench', '--apiserver-bind-port', String(port)]);
    const server = spawn(
      process.execPath,
      [...serverNodeArgs, main, 'server', '--dir', cluster, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
      {
        stdio: ['ignore', 'pipe', 'ignore'],
      },
    );
    children.push(server);
    await new Promise((r) => setTimeout(r, 1500));
    const csrPem = createCsrPem({
      key: generatePrivateKey('ecdsa-p256'),
      subject: [
        { type: 'O', value: 'bench' },
        { type: 'CN', value: 'bench-client' },
      ],
    });
    const agent = new HttpAgent({ keepAlive: true, maxSockets: concurrency });
    const body = JSON.stringify({ certificate_request: csrPem });
    const cfsslSign = () =>
      new Promise<void>((resolve, reject) => {
        const req = httpRequest(
          {
            host: '127.0.0.1',
            port: cfPort,
            path: '/api/v1/cfssl/sign',
            method: 'POST',
            agent,
            headers: { 'Content-Type': 'application/json' },
          },
          (res) => {
            let text = '';
            res.on('data', (d: Buffer) => {
              text += d.toString();
            });
            res.on('end', () => (text.includes('BEGIN CERTIFICATE') ? resolve() : reject(new Error(text))));
          },
        );
        req.on('error', reject);
        req.end(body);
      });
    await cfsslSign();
    const client = new KubeClient(loadKubeconfig(join(cluster, 'admin.conf')));
    const path = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    const request = Buffer.from(csrPem).toString('base64');
    // One watch on all CSRs wakes each waiting request when its certificate lands, like a
    // kubelet's informer, instead of polling.
    const waiting = new Map<string, () => void>();
    const issued = new Set<string>();
    const watchAbort = new AbortController();
    const list = await client.request(path, {}, asCertificateSigningRequestList);
    void (async () => {
      try {
        for await (const event of client.watch(path, { resourceVersion: list.metadata?.resourceVersion ?? '' }, watchAbort.signal)) {
          const name = metadataString(event.object, 'name') ?? '';
          if (csrCertificatePem(event.object) === undefined) continue;
          issued.add(name);
          waiting.get(name)?.();
        }
      } catch {
        // Ends when the bench closes the client.
      }
    })();
    const certificateOf = (name: string) =>
      new Promise<void>((resolve) => {
        if (issued.has(name)) return resolve();
        waiting.set(name, () => {
          waiting.delete(name);
          resolve();
        });
      });
    const tlsbootSign = async () => {
      const created = await client.request(path, {
        method: 'POST',
        body: {
          metadata: { generateName: 'bench-' },
          spec: { request, signerName: 'kubernetes.io/kube-apiserver-client', usages: ['digital signature', 'client auth'] },
        },
      });
      const name = String(metadataString(created, 'name'));
      await client.request(`${path}/${name}/approval`, {
        method: 'PUT',
        body: { ...created, status: { conditions: [{ type: 'Approved', status: 'True', reason: 'Bench', message: 'bench' }] } },
      });
      await certificateOf(name);
      issued.delete(name);
    };
    await tlsbootSign();
    const rounds = { cfssl: [] as number[], tlsboot: [] as number[] };
    for (let i = 0; i < 2; i++) {
      rounds.cfssl.push(await load(cfsslSign, concurrency));
      rounds.tlsboot.push(await load(tlsbootSign, concurrency));
    }
    watchAbort.abort();
    client.close();
    agent.destroy();
    const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
    return { cfssl: mean(rounds.cfssl), tlsboot: mean(rounds.tlsboot) };
  } finally {
    for (const c of children) c.kill('SIGTERM');
    await new Promise((r) => setTimeout(r, 300));
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Scenario 4: N simulated nodes each discover (JWS + pin), make a key and CSR, and wait for the certificate. */
async function joinStorm(
  nodes: number,
  concurrency: number,
): Promise<{ totalMs: number; p50: number; p99: number; max: number; peakRssMb: number }> {
  const dir = mkdtempSync(join(tmpdir(), 'bench-storm-'));
  const main = join(root, 'src/cli/main.ts');
  const port = await freePort();
  spawnSync(process.execPath, [main, 'init', '--dir', dir, '--node-name', 'bench', '--apiserver-bind-port', String(port)]);
  const server = spawn(
    process.execPath,
    [...serverNodeArgs, main, 'server', '--dir', dir, '--listen', `127.0.0.1:${port}`, '--log-level', 'warn'],
    {
      stdio: ['ignore', 'pipe', 'ignore'],
    },
  );
  try {
    await new Promise((r) => setTimeout(r, 1500));
    const admin = new KubeClient(loadKubeconfig(join(dir, 'admin.conf')));
    const id = 'storm1';
    const secret = 'stormstormstorm1';
    const b64 = (v: string) => Buffer.from(v).toString('base64');
    await admin.request('/api/v1/namespaces/kube-system/secrets', {
      method: 'POST',
      body: {
        metadata: { name: `bootstrap-token-${id}` },
        type: 'bootstrap.kubernetes.io/token',
        data: {
          'token-id': b64(id),
          'token-secret': b64(secret),
          'usage-bootstrap-authentication': b64('true'),
          'usage-bootstrap-signing': b64('true'),
          'auth-extra-groups': b64('system:bootstrappers:kubeadm:default-node-token'),
        },
      },
    });
    const pin = certificatePin(parseCertificatePem(readFileSync(join(dir, 'pki', 'ca.crt'))));
    const anon = new KubeClient({ server: `https://127.0.0.1:${port}`, insecureSkipTlsVerify: true });
    const tokenClient = new KubeClient({
      server: `https://127.0.0.1:${port}`,
      caPem: readFileSync(join(dir, 'pki', 'ca.crt'), 'utf8'),
      token: `${id}.${secret}`,
    });
    const csrPath = '/apis/certificates.k8s.io/v1/certificatesigningrequests';
    const joinOne = async (i: number): Promise<number> => {
      const started = performance.now();
      for (;;) {
        const info = await anon.request('/api/v1/namespaces/kube-public/configmaps/cluster-info', {}, asConfigMap);
        const kubeconfig = info.data?.kubeconfig ?? '';
        const jws = info.data?.[`jws-kubeconfig-${id}`];
        if (jws) {
          if (!verifyDetachedJws(jws, kubeconfig, id, secret)) throw new Error('JWS mismatch');
          const caData = /certificate-authority-data: (\S+)/.exec(kubeconfig)?.[1] ?? '';
          if (!matchesAnyPin(parseCertificateBundle(Buffer.from(caData, 'base64').toString('utf8')), [pin]))
            throw new Error('pin mismatch');
          break;
        }
        await new Promise((r) => setTimeout(r, 50));
      }
      const key = generatePrivateKey('ecdsa-p256');
      const request = Buffer.from(
        createCsrPem({
          key,
          subject: [
            { type: 'O', value: 'system:nodes' },
            { type: 'CN', value: `system:node:storm-${i}` },
          ],
        }),
      ).toString('base64');
      const created = await tokenClient.request(
        csrPath,
        {
          method: 'POST',
          body: {
            metadata: { generateName: 'node-csr-' },
            spec: { request, signerName: 'kubernetes.io/kube-apiserver-client-kubelet', usages: ['digital signature', 'client auth'] },
          },
        },
        asCertificateSigningRequest,
      );
      for (;;) {
        const got = await tokenClient.request(`${csrPath}/${created.metadata?.name ?? ''}`, {}, asCertificateSigningRequest);
        if (got.status?.certificate) return performance.now() - started;
        await new Promise((r) => setTimeout(r, 20));
      }
    };
    const latencies: number[] = [];
    let next = 0;
    const started = performance.now();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < nodes) latencies.push(await joinOne(next++));
      }),
    );
    const totalMs = performance.now() - started;
    const status = readFileSync(`/proc/${server.pid}/status`, 'utf8');
    const peakRssMb = Number(/VmHWM:\s+(\d+)/.exec(status)?.[1] ?? 0) / 1024;
    for (const c of [admin, anon, tokenClient]) c.close();
    latencies.sort((a, b) => a - b);
    const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
    return { totalMs, p50: at(0.5), p99: at(0.99), max: latencies[latencies.length - 1] ?? 0, peakRssMb };
  } finally {
    server.kill('SIGTERM');
    await new Promise((r) => server.once('exit', r));
    rmSync(dir, { recursive: true, force: true });
  }
}

const machine = { cores: cpus().length, cpu: cpus()[0]?.model ?? 'unknown', node: process.version, openssl: process.versions.openssl };
// BENCH_ONLY=3,4 runs a subset, so one scenario can be measured or profiled without the others.
const only = new Set((process.env.BENCH_ONLY ?? '1,2,3,4,5').split(',').map((s) => s.trim()));
const limit = only.has('1') || only.has('2') ? cryptoLimit() : undefined;
const inProcess = only.has('2') ? issuance() : undefined;
const idle = only.has('5') ? await idleServer() : undefined;
const CONCURRENCY = 16;
const peerResult = only.has('3') ? await peer(CONCURRENCY) : undefined;
const STORM_NODES = Number(process.env.BENCH_JOIN_NODES ?? 2000);
const storm = only.has('4') ? await joinStorm(STORM_NODES, 200) : undefined;

const rows: [string, string, string][] = [];
if (limit) {
  rows.push(['1 crypto limit', 'ECDSA P-256 sign/s, verify/s (1 core)', `${limit.signs.toFixed(0)} / ${limit.verifies.toFixed(0)}`]);
  rows.push(['1 crypto limit', 'issuance ceiling (1 verify + 1 sign) /s', limit.ceiling.toFixed(0)]);
}
if (limit && inProcess !== undefined) {
  rows.push([
    '2 in-process issuance',
    'certificates/s (1 core)',
    `${inProcess.toFixed(0)} (${((100 * inProcess) / limit.ceiling).toFixed(0)}% of ceiling)`,
  ]);
}
if (only.has('3')) {
  rows.push([
    '3 peer: cfssl',
    `certificates/s through the API, ${CONCURRENCY} in flight`,
    peerResult
      ? `cfssl ${peerResult.cfssl.toFixed(0)}, tlsboot ${peerResult.tlsboot.toFixed(0)} (${(peerResult.tlsboot / peerResult.cfssl).toFixed(2)}x)`
      : 'skipped: cfssl missing (apt-get install golang-cfssl)',
  ]);
}
if (storm) {
  rows.push([
    '4 join storm',
    `${STORM_NODES} nodes, 200 in flight`,
    `${(storm.totalMs / 1000).toFixed(1)} s; latency p50 ${(storm.p50 / 1000).toFixed(2)} s, p99 ${(storm.p99 / 1000).toFixed(2)} s, max ${(storm.max / 1000).toFixed(2)} s; server peak RSS ${storm.peakRssMb.toFixed(0)} MB`,
  ]);
}
if (idle) rows.push(['5 idle footprint', 'server start-up, RSS after 1 s', `${idle.startupMs.toFixed(0)} ms, ${idle.rssMb.toFixed(0)} MB`]);
const width = Math.max(...rows.map((r) => r[0].length));
const width2 = Math.max(...rows.map((r) => r[1].length));
process.stdout.write(`tlsboot bench: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, OpenSSL ${machine.openssl}\n`);
for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(width + 2)}${b.padEnd(width2 + 2)}${c}\n`);
mkdirSync(join(root, 'bench/results'), { recursive: true });
const file = join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}.json`);
// A partial run is for investigation; only a full run replaces the recorded results.
if (only.size === 5)
  writeFileSync(
    file,
    `${JSON.stringify({ date: new Date().toISOString(), machine, cryptoLimit: limit, inProcessIssuancePerSecond: inProcess, idle, peer: peerResult ?? null, joinStorm: { nodes: STORM_NODES, ...storm } }, null, 2)}\n`,
  );
process.stdout.write(only.size === 5 ? `written ${file}\n` : 'partial run (BENCH_ONLY): results not written\n');
