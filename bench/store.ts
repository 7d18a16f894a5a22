/**
 * The store alone under the write pattern of one kubelet certificate, to see what the store costs
 * without the API in front: create the CSR, read it, approve it, look up and create the issued
 * record, read it again and write the certificate (5 writes, 3 reads), 16 certificates in flight,
 * one collection watcher (the controllers' informer) and WATCHERS more watching one name each (a
 * kubelet waiting for its own CSR). Prints certificates/s, CPU ms per certificate (every thread)
 * and event-loop ms per certificate (the main thread only: what it could not spend on requests).
 * `node bench/store.ts` (BENCH_SECONDS, WATCHERS; STORE_SRC=<other checkout>/src compares two trees).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Store } from '../src/store/index.ts';

const src = process.env.STORE_SRC ?? new URL('../src', import.meta.url).pathname;
const module: unknown = await import(`${src}/store/index.ts`);
function hasOpen(m: unknown): m is { openSqliteStore: (o: { path: string }) => Store } {
  return typeof m === 'object' && m !== null && 'openSqliteStore' in m && typeof m.openSqliteStore === 'function';
}
if (!hasOpen(module)) throw new Error(`${src}/store/index.ts does not export openSqliteStore`);
const dir = mkdtempSync(join(tmpdir(), 'bench-store-'));
const store = module.openSqliteStore({ path: join(dir, 'tlsboot.db') });
const CSRS = 'certificates.k8s.io/certificatesigningrequests';
const RECORDS = 'tlsboot.io/issuedcertificates';
const request = 'A'.repeat(700);
const certificate = 'B'.repeat(900);
const watchers = Number(process.env.WATCHERS ?? 0);
const seconds = Number(process.env.BENCH_SECONDS ?? 4);
const abort = new AbortController();
let heard = 0;
const drain = async (events: AsyncIterable<unknown>) => {
  for await (const _ of events) heard++;
};
void drain(store.watch(CSRS, { fromRevision: 0, signal: abort.signal }));
const from = await store.revision();
for (let i = 0; i < watchers; i++) void drain(store.watch(CSRS, { fromRevision: from, signal: abort.signal, name: `idle-${i}` }));

async function certificateOf(i: number): Promise<void> {
  const name = `csr-${i}`;
  const key = { resource: CSRS, namespace: '', name };
  await store.create(key, {
    apiVersion: 'certificates.k8s.io/v1',
    kind: 'CertificateSigningRequest',
    metadata: { name, uid: `u${i}`, creationTimestamp: '2026-12-01T00:00:00Z' },
    spec: {
      request,
      signerName: 'kubernetes.io/kube-apiserver-client-kubelet',
      usages: ['digital signature', 'client auth'],
      username: 'system:bootstrap:abcdef',
    },
    status: {},
  });
  let csr = await store.get(key);
  const approved = { type: 'Approved', status: 'True', reason: 'AutoApproved', message: 'bench', lastUpdateTime: '2026-12-01T00:00:00Z' };
  csr = await store.update(
    key,
    { ...csr, status: { conditions: [approved] } },
    { expectedResourceVersion: csr.metadata.resourceVersion ?? '' },
  );
  const record = { resource: RECORDS, namespace: '', name: `u${i}` };
  await store.get(record).catch(() => undefined);
  await store.create(record, { metadata: { name: `u${i}` }, certificate, serialNumber: '1234', csrName: name });
  csr = await store.get(key);
  await store.update(
    key,
    { ...csr, status: { conditions: [approved], certificate } },
    { expectedResourceVersion: csr.metadata.resourceVersion ?? '' },
  );
}

let issued = 0;
let next = 0;
const cpu = process.cpuUsage();
const loop = performance.eventLoopUtilization();
const start = performance.now();
const end = start + seconds * 1000;
await Promise.all(
  Array.from({ length: 16 }, async () => {
    while (performance.now() < end) {
      await certificateOf(next++);
      issued++;
    }
  }),
);
const elapsed = performance.now() - start;
const used = process.cpuUsage(cpu);
// The main thread's busy time: what the event loop could not spend on anything else.
const busy = performance.eventLoopUtilization(loop).active;
process.stdout.write(
  `store (${src}): ${watchers} name watchers: ${((issued * 1000) / elapsed).toFixed(0)} certificates/s, ${((used.user + used.system) / 1000 / issued).toFixed(3)} CPU ms each, ${(busy / issued).toFixed(3)} ms of event loop each (${heard} events heard)\n`,
);
abort.abort();
await store.close();
rmSync(dir, { recursive: true, force: true });
