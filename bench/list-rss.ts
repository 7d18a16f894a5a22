/**
 * Peak memory of one large LIST: fills an on-disk store with N ConfigMaps of SIZE bytes each,
 * serves it in process, reads `GET .../configmaps` (and the Table form) over HTTPS while sampling
 * the process's RSS and heap, and prints the growth over the idle baseline. A measurement, not a
 * test: run `node --expose-gc bench/list-rss.ts [N] [SIZE]` (defaults 20,000 x 10,000 bytes).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { get } from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openSqliteStore } from '../src/store/index.ts';
import { startTestApi, TOKENS } from '../test/helpers/api-server.ts';

const count = Number(process.argv[2] ?? 20_000);
const size = Number(process.argv[3] ?? 10_000);
const dir = mkdtempSync(join(tmpdir(), 'list-rss-'));
const store = openSqliteStore({ path: join(dir, 'store.db') });
const payload = 'x'.repeat(size);
for (let i = 0; i < count; i += 500) {
  await Promise.all(
    Array.from({ length: Math.min(500, count - i) }, (_, j) => {
      const name = `cm-${String(i + j).padStart(6, '0')}`;
      return store.create(
        { resource: 'core/configmaps', namespace: 'big', name },
        { apiVersion: 'v1', kind: 'ConfigMap', metadata: { name, namespace: 'big' }, data: { payload } },
      );
    }),
  );
}
const api = await startTestApi({ store });
const port = await (async () => {
  await api.listen(dir);
  const addr = api.server.app.server.address();
  if (addr === null || typeof addr !== 'object') throw new Error('no address');
  return addr.port;
})();

const gc = (globalThis as { gc?: () => void }).gc;
const mib = (n: number) => `${(n / 1024 / 1024).toFixed(1)} MiB`;

async function measure(label: string, accept: string | undefined): Promise<void> {
  gc?.();
  await new Promise((r) => setTimeout(r, 200));
  const base = process.memoryUsage();
  let peakRss = base.rss;
  let peakHeap = base.heapUsed;
  const sampler = setInterval(() => {
    const m = process.memoryUsage();
    peakRss = Math.max(peakRss, m.rss);
    peakHeap = Math.max(peakHeap, m.heapUsed);
  }, 5);
  const started = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    get(
      {
        host: '127.0.0.1',
        port,
        path: '/api/v1/namespaces/big/configmaps',
        rejectUnauthorized: false,
        headers: { authorization: `Bearer ${TOKENS.admin}`, ...(accept ? { accept } : {}) },
      },
      (res) => {
        let n = 0;
        res.on('data', (c: Buffer) => {
          n += c.length;
        });
        res.on('end', () => resolve(n));
        res.on('error', reject);
      },
    ).on('error', reject);
  });
  clearInterval(sampler);
  console.log(
    `${label}: ${count} objects, ${mib(bytes)} sent in ${Math.round(performance.now() - started)} ms; ` +
      `RSS ${mib(base.rss)} -> peak ${mib(peakRss)} (+${mib(peakRss - base.rss)}), heap +${mib(peakHeap - base.heapUsed)}`,
  );
}

try {
  await measure('list ', undefined);
  await measure('table', 'application/json;as=Table;v=v1;g=meta.k8s.io');
} finally {
  await api.close();
  rmSync(dir, { recursive: true, force: true });
}
