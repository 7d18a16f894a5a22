/**
 * The SQLite backend: the conformance suite in memory and on disk, persistence across reopen, and
 * durability under kill -9: every write acknowledged before the kill is there after restart.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, describe, test } from 'node:test';
import { runStoreConformance } from './conformance.ts';
import { openSqliteStore } from './sqlite.ts';

const root = mkdtempSync(join(tmpdir(), 'sqlite-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

runStoreConformance('sqlite in memory', async () => openSqliteStore({ path: ':memory:' }));
runStoreConformance('sqlite on disk', async () => openSqliteStore({ path: join(root, `c${n++}.db`) }));

describe('SqliteStore on disk', () => {
  test('objects and the revision survive close and reopen', async () => {
    const path = join(root, 'reopen.db');
    const s1 = openSqliteStore({ path });
    await s1.create({ resource: 'r', namespace: '', name: 'a' }, { metadata: { name: 'a' } });
    await s1.close();
    const s2 = openSqliteStore({ path });
    assert.equal(await s2.revision(), 1);
    const b = await s2.create({ resource: 'r', namespace: '', name: 'b' }, { metadata: { name: 'b' } });
    assert.equal(b.metadata.resourceVersion, '2');
    await s2.close();
  });

  test('every write acknowledged before kill -9 is present after restart', async () => {
    const path = join(root, 'crash.db');
    const script = join(root, 'writer.ts');
    const storeModule = new URL('./sqlite.ts', import.meta.url).href;
    writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(storeModule)};
const s = openSqliteStore({ path: ${JSON.stringify(path)} });
for (let i = 0; ; i++) {
  const name = 'o' + i;
  await s.create({ resource: 'r', namespace: '', name }, { metadata: { name }, payload: 'x'.repeat(200) });
  process.stdout.write(name + '\\n');
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const acknowledged: string[] = [];
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve) => {
      lines.on('line', (line) => {
        acknowledged.push(line);
        if (acknowledged.length === 300) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await new Promise((r) => child.once('exit', r));
    const s = openSqliteStore({ path });
    try {
      const { items } = await s.list('r');
      const stored = new Set(items.map((o) => o.metadata.name));
      const missing = acknowledged.filter((a) => !stored.has(a));
      assert.deepEqual(missing, []);
      assert.ok(items.length >= acknowledged.length);
      assert.equal(await s.revision(), items.length);
    } finally {
      await s.close();
    }
  });
});
