/**
 * `npm run bench`: measures tlsboot against the crypto limit on this machine and prints one table,
 * also written as JSON under bench/results/ after a full run. Rows: (1) ECDSA P-256 signatures and
 * verifications per second on one core and the implied issuance ceiling, (2) in-process issuance
 * (parse + verify CSR, signer policy, build and sign the certificate) as a fraction of it, (3) the
 * API peer: cfssl in memory and with its certdb vs tlsboot (bench/peer.ts), (4) join storms
 * (bench/storm.ts), (5) the server's start-up time and idle RSS, (6) LIST of 50,000 CSRs
 * (bench/list.ts), (7) issuance with 1,000 idle watches (bench/watchers.ts). Every process the
 * bench starts is stopped at the end, also on error (bench/proc.ts).
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes, sign, verify } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { signerPolicyProblem, x509Usages } from '../src/api/index.ts';
import { createCsr, generatePrivateKey, issueCertificate, parseCsr } from '../src/pki/index.ts';
import { selfSignedCa } from '../test/helpers/pki.ts';
import { hasTool } from '../test/helpers/processes.ts';
import { type ListMeasure, listRow } from './list.ts';
import type { Window } from './load.ts';
import { peer } from './peer.ts';
import { freePort, initCluster, MAIN, memMb, root, stop, stopAll, tempDir } from './proc.ts';
import { haServers, joinStorm, type StormResult } from './storm.ts';
import { IDLE_WATCHES, watchersRow } from './watchers.ts';

const DURATION_MS = Number(process.env.BENCH_SECONDS ?? 3) * 1000;

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

/**
 * The server started as `npm start` and bin/tlsboot start it, with V8's compile cache in
 * `compileCache`: the first start in an empty cache strips the TypeScript and fills it, every
 * later one does not (bin/tlsboot).
 */
async function idleServer(compileCache: string): Promise<{ startupMs: number; rssMb: number }> {
  const tmp = tempDir('bench-server-');
  try {
    const port = await freePort();
    initCluster(tmp.path, port);
    const started = performance.now();
    const child = spawn(process.execPath, [MAIN, 'server', '--dir', tmp.path, '--listen', `127.0.0.1:${port}`], {
      stdio: ['ignore', 'pipe', 'ignore'],
      env: { ...process.env, NODE_COMPILE_CACHE: compileCache },
    });
    try {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error('server not ready within 60 s')), 60_000);
        createInterface({ input: child.stdout }).on('line', (line) => {
          if (line.includes('tlsboot server ready')) {
            clearTimeout(timer);
            resolve();
          }
        });
        child.once('exit', () => reject(new Error('server exited')));
      });
      const startupMs = performance.now() - started;
      await new Promise((r) => setTimeout(r, 1000));
      return { startupMs, rssMb: child.pid === undefined ? 0 : memMb(child.pid, 'VmRSS') };
    } finally {
      await stop(child);
    }
  } finally {
    tmp.remove();
  }
}

const ALL = ['1', '2', '3', '4', '5', '6', '7'];
// BENCH_ONLY=3,4 runs a subset, so one row can be measured or profiled without the others.
const only = new Set((process.env.BENCH_ONLY ?? ALL.join(',')).split(',').map((s) => s.trim()));
const fullRun = ALL.every((r) => only.has(r));
const CONCURRENCY = 16;
const ROUNDS = Math.max(2, Number(process.env.BENCH_ROUNDS ?? 2));
const STORM_NODES = (process.env.BENCH_STORM_NODES ?? '2000,10000,20000').split(',').map((s) => Number(s.trim()));
const LIST_COUNT = Number(process.env.BENCH_LIST_CSRS ?? 50_000);
const machine = {
  cores: cpus().length,
  cpu: cpus()[0]?.model ?? 'unknown',
  node: process.version,
  openssl: process.versions.openssl,
  cfssl: spawnSync('cfssl', ['version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'missing',
};

type Row = [string, string, string];
const rows: Row[] = [];
const took: Record<string, number> = {};
const results: Record<string, unknown> = { date: new Date().toISOString(), machine };
const benchStart = performance.now();

/** Runs one row, timing it; a row that fails says so in the table and the others still run. */
async function row<T>(id: string, label: string, fn: () => Promise<T> | T, show: (r: T) => Row[]): Promise<T | undefined> {
  if (!only.has(id)) return undefined;
  const t = performance.now();
  try {
    const r = await fn();
    rows.push(...show(r));
    results[label] = r;
    return r;
  } catch (error) {
    rows.push([`${id} ${label}`, 'FAILED', error instanceof Error ? error.message : String(error)]);
    process.exitCode = 1;
    return undefined;
  } finally {
    took[id] = (took[id] ?? 0) + (performance.now() - t);
    rows.push([`${id} ${label}`, 'row took', `${((performance.now() - t) / 1000).toFixed(1)} s`]);
  }
}

const f0 = (n: number) => n.toFixed(0);
const f1 = (n: number) => n.toFixed(1);
const f2 = (n: number) => n.toFixed(2);
const perCert = (w: Window) =>
  `${f0(w.rate)} certs/s; server CPU ${f2(w.serverCpuMs)} ms/cert (bench ${f2(w.clientCpuMs)} ms/cert); n=${w.certificates}`;
/** A Node server's row: also its main thread's share, which the crypto workers relieve. */
const perCertNode = (w: Window) => `${perCert(w)}; main thread ${f2(w.mainThreadCpuMs)} ms/cert`;

process.on('SIGINT', () => {
  void stopAll().then(() => process.exit(130));
});
try {
  const t1 = performance.now();
  const limit = only.has('1') || only.has('2') ? cryptoLimit() : undefined;
  if (limit) {
    results.cryptoLimit = limit;
    rows.push(['1 crypto limit', 'ECDSA P-256 sign/s, verify/s (1 core)', `${f0(limit.signs)} / ${f0(limit.verifies)}`]);
    rows.push(['1 crypto limit', 'issuance ceiling (1 verify + 1 sign) /s', f0(limit.ceiling)]);
    rows.push(['1 crypto limit', 'row took', `${f1((performance.now() - t1) / 1000)} s`]);
  }
  if (limit && only.has('2')) {
    const t2 = performance.now();
    const inProcess = issuance();
    results.inProcessIssuancePerSecond = inProcess;
    rows.push([
      '2 in-process issuance',
      'certificates/s (1 core)',
      `${f0(inProcess)} (${f0((100 * inProcess) / limit.ceiling)}% of ceiling)`,
    ]);
    rows.push(['2 in-process issuance', 'row took', `${f1((performance.now() - t2) / 1000)} s`]);
  }
  await row(
    '3',
    'API peer',
    () => peer(CONCURRENCY, DURATION_MS, ROUNDS),
    (p): Row[] => {
      const l = `3 API peer, ${CONCURRENCY} in flight`;
      if (p === undefined) return [[l, 'cfssl', 'skipped: cfssl missing (apt-get install golang-cfssl)']];
      const ratio = (a: Window, b: Window) => `${f2(a.rate / b.rate)}x rate, ${f2(a.serverCpuMs / b.serverCpuMs)}x CPU/cert`;
      return [
        [l, `cfssl serve, in memory (HTTP) [${p.rounds} rounds]`, perCert(p.cfsslMemory)],
        [l, 'cfssl serve, sqlite certdb (TLS)', `${perCert(p.cfsslCertdb)}; ${p.certdbRows} rows landed in certdb`],
        [l, 'tlsboot, one shared watch (limits lifted)', perCertNode(p.tlsbootShared)],
        [l, 'tlsboot, a watch per request (limits lifted)', perCertNode(p.tlsbootOwnWatch)],
        [l, 'tlsboot shared / cfssl certdb', ratio(p.tlsbootShared, p.cfsslCertdb)],
        [l, 'tlsboot shared / cfssl memory', ratio(p.tlsbootShared, p.cfsslMemory)],
        [l, 'tlsboot watch-per-request / cfssl certdb', ratio(p.tlsbootOwnWatch, p.cfsslCertdb)],
        [l, 'tlsboot watch-per-request / cfssl memory', ratio(p.tlsbootOwnWatch, p.cfsslMemory)],
        [l, 'distinct CSRs used by tlsboot', `${p.poolUsed} of a pool of ${p.poolSize}${p.poolUsed > p.poolSize ? ' (pool reused!)' : ''}`],
      ];
    },
  );
  const stormShow =
    (nodes: number, what: string) =>
    (s: StormResult): Row[] => [
      [
        '4 join storm',
        `${nodes} nodes, 200 in flight, watch per CSR, ${s.tokens} token(s)${what}`,
        `${f1(s.totalMs / 1000)} s; latency p50 ${f2(s.p50 / 1000)} s, p99 ${f2(s.p99 / 1000)} s, max ${f2(s.max / 1000)} s; ` +
          `server peak RSS ${f0(s.peakRssMb)} MB; CPU/node server ${f1(s.serverCpuMsPerNode)} ms, bench ${f1(s.clientCpuMsPerNode)} ms; 429s ${s.rateLimited}, 503s ${s.unavailable}`,
      ],
    ];
  const stormOnSqlite = new Map<number, StormResult>();
  for (const nodes of STORM_NODES) {
    const r = await row('4', `join storm ${nodes}`, () => joinStorm(nodes, 200, 120_000 + nodes * 100), stormShow(nodes, ''));
    if (r) stormOnSqlite.set(nodes, r);
  }
  // The same storm on the HA set-up of the tests: 2 servers on 3 etcd members, through haproxy.
  const haNodes = Number(process.env.BENCH_STORM_HA_NODES ?? 2000);
  if (hasTool('etcd') && hasTool('haproxy')) {
    const ha = await row(
      '4',
      `join storm HA ${haNodes}`,
      () => joinStorm(haNodes, 200, 120_000 + haNodes * 100, haServers),
      // Server CPU is both servers' summed, peak RSS the larger one's; etcd's and haproxy's are not counted.
      stormShow(haNodes, ', HA: 2 servers, 3 etcd, haproxy'),
    );
    const sqlite = stormOnSqlite.get(haNodes);
    if (ha && sqlite) rows.push(['4 join storm', `HA / SQLite time for ${haNodes} nodes`, `${f2(ha.totalMs / sqlite.totalMs)}x`]);
  } else rows.push(['4 join storm', 'HA', 'skipped: etcd or haproxy is not installed']);
  await row(
    '5',
    'idle footprint',
    async () => {
      const cache = tempDir('bench-compile-cache-');
      try {
        return { cold: await idleServer(cache.path), warm: await idleServer(cache.path) };
      } finally {
        cache.remove();
      }
    },
    (idle): Row[] => [
      ['5 idle footprint', 'server start-up, RSS after 1 s: first start', `${f0(idle.cold.startupMs)} ms, ${f0(idle.cold.rssMb)} MB`],
      ['5 idle footprint', 'every later start (compile cache warm)', `${f0(idle.warm.startupMs)} ms, ${f0(idle.warm.rssMb)} MB`],
    ],
  );
  await row(
    '6',
    `LIST of ${LIST_COUNT} CSRs`,
    () => listRow(LIST_COUNT),
    (r): Row[] => {
      const show = (m: ListMeasure) =>
        `${f0(m.wallMs)} ms (server CPU ${f0(m.serverCpuMs)} ms), ${f1(m.bytes / 1048576)} MiB in ${m.pages} page(s); server RSS +${f0(m.rssGrowthMb)} MB; ` +
        `longest event-loop delay ${f0(m.maxLoopDelayMs)} ms (/livez probe ${f0(m.maxProbeMs)} ms)`;
      const l = `6 LIST ${LIST_COUNT} CSRs (~${f1(r.objectBytes / 1024)} KB JSON each)`;
      return [
        [l, 'full LIST (no limit), admin, HTTPS', show(r.full)],
        [l, 'paginated LIST (limit=500, continue)', show(r.paged)],
        [
          l,
          'idle, once quiet',
          `longest event-loop delay ${f0(r.idleLoopDelayMs)} ms (/livez probe ${f0(r.idleProbeMs)} ms); quiet ${f1(r.settleMs / 1000)} s after /livez`,
        ],
      ];
    },
  );
  await row(
    '7',
    'idle watchers',
    () => watchersRow(CONCURRENCY, DURATION_MS),
    (w): Row[] => {
      const l = `7 ${IDLE_WATCHES} idle watchers`;
      const base = (w.none.rate + w.noneAgain.rate) / 2;
      return [
        [l, 'tlsboot shared-watch load, 0 watches (before)', perCert(w.none)],
        [
          l,
          `${IDLE_WATCHES} watches, fieldSelector metadata.name`,
          `${perCert(w.selector)}; ${f2(w.selector.rate / base)}x of 0; watchers sent ${f1(w.selectorBytes / 1048576)} MiB`,
        ],
        [
          l,
          `${IDLE_WATCHES} watches, whole collection`,
          `${perCert(w.collection)}; ${f2(w.collection.rate / base)}x of 0; watchers sent ${f1(w.collectionBytes / 1048576)} MiB`,
        ],
        [l, '0 watches (after)', perCert(w.noneAgain)],
      ];
    },
  );
} finally {
  await stopAll();
}

const totalS = (performance.now() - benchStart) / 1000;
const width = Math.max(...rows.map((r) => r[0].length));
const width2 = Math.max(...rows.map((r) => r[1].length));
process.stdout.write(
  `tlsboot bench ${new Date().toISOString()}: ${machine.cores} cores (${machine.cpu}), Node ${machine.node}, OpenSSL ${machine.openssl}, ${machine.cfssl}\n`,
);
for (const [a, b, c] of rows) process.stdout.write(`${a.padEnd(width + 2)}${b.padEnd(width2 + 2)}${c}\n`);
process.stdout.write(`total ${f1(totalS)} s\n`);
results.tookSeconds = Object.fromEntries(Object.entries(took).map(([k, v]) => [k, v / 1000]));
results.totalSeconds = totalS;
// A partial run is for investigation; only a full run with no failed row replaces the recorded results.
if (fullRun && process.exitCode !== 1) {
  mkdirSync(join(root, 'bench/results'), { recursive: true });
  const file = join(root, 'bench/results', `${new Date().toISOString().slice(0, 10)}.json`);
  writeFileSync(file, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`written ${file}\n`);
} else process.stdout.write(`${fullRun ? 'a row failed' : 'partial run (BENCH_ONLY)'}: results not written\n`);
