/**
 * The SQLite backend: the conformance suite in memory and on disk (on disk with tiny history
 * pages, so every watch test also crosses the boundary between paged replay and live delivery),
 * then what only a file-backed store can show: persistence across reopen, the exclusive lock,
 * the bound on a slow watcher, compaction under a replaying watcher, group commit (one refused
 * write of a batch, a failed COMMIT) and durability under kill -9.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { type SQLInputValue, type StatementResultingChanges, StatementSync } from 'node:sqlite';
import { after, describe, mock, test } from 'node:test';
import { runStoreConformance } from './conformance.ts';
import { openSqliteStore } from './sqlite.ts';
import type { Store, StoredObject } from './types.ts';

const root = mkdtempSync(join(tmpdir(), 'tlsboot-sqlite-store-'));
after(() => rmSync(root, { recursive: true, force: true }));
let files = 0;
const freshPath = () => join(root, `store-${files++}.db`);

runStoreConformance('sqlite in memory', async () => openSqliteStore({ path: ':memory:' }));
runStoreConformance('sqlite on disk', async () => openSqliteStore({ path: freshPath(), historyPageSize: 3 }));

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function reason(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'reason' in error ? String(error.reason) : undefined;
}

async function createMany(s: Store, names: string[]): Promise<void> {
  for (const name of names) await s.create({ resource: 'r', namespace: '', name }, { metadata: { name } });
}

const k = (name: string) => ({ resource: 'r', namespace: '', name });

/** Settles every promise and reports each as its resourceVersion or its error code, in order. */
async function outcomes(writes: Promise<StoredObject>[]): Promise<string[]> {
  return (await Promise.allSettled(writes)).map((r) =>
    r.status === 'fulfilled' ? `rv ${r.value.metadata.resourceVersion}` : `${code(r.reason)}`,
  );
}

/** Makes the next `count` COMMITs fail as a full disk would, whatever statement object runs them. */
function failCommits(count: number): { restore: () => void } {
  // The store binds positional parameters only; naming that overload lets them pass through.
  const run: (this: StatementSync, ...params: SQLInputValue[]) => StatementResultingChanges = StatementSync.prototype.run;
  let left = count;
  const m = mock.method(StatementSync.prototype, 'run', function (this: StatementSync, ...params: SQLInputValue[]) {
    if (left > 0 && this.sourceSQL.trim().toUpperCase() === 'COMMIT') {
      left--;
      throw new Error('database or disk is full');
    }
    return run.apply(this, params);
  });
  return { restore: () => m.mock.restore() };
}

describe('SqliteStore', () => {
  test('a file whose events predate the replaced-body column answers GONE for a snapshot it cannot rebuild, not a wrong page', async () => {
    const path = freshPath();
    const s1 = openSqliteStore({ path });
    await createMany(s1, ['a', 'b']);
    const b = await s1.get(k('b'));
    await s1.update(k('b'), { ...b, v: 2 }, { expectedResourceVersion: b.metadata.resourceVersion ?? '' });
    await s1.close();
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(path);
    raw.exec('UPDATE events SET prev = NULL');
    raw.close();
    const s2 = openSqliteStore({ path });
    try {
      await assert.rejects(s2.listPage('r', { limit: 5, revision: 2 }), (e: unknown) => code(e) === 'GONE');
      assert.deepEqual(
        (await s2.listPage('r', { limit: 5 })).items.map((o) => o.metadata.name),
        ['a', 'b'],
        'the present needs no history',
      );
    } finally {
      await s2.close();
    }
  });

  test('a file from before the rowid layout is moved to it at open, objects and history intact', async () => {
    const path = freshPath();
    const s1 = openSqliteStore({ path });
    await createMany(s1, ['a', 'b']);
    await s1.close();
    const { DatabaseSync } = await import('node:sqlite');
    const raw = new DatabaseSync(path);
    raw.exec(`
      CREATE TABLE old_objects (
        resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)
      ) WITHOUT ROWID;
      INSERT INTO old_objects SELECT resource, namespace, name, rv, body FROM objects;
      DROP TABLE objects;
      ALTER TABLE old_objects RENAME TO objects;
    `);
    raw.close();
    const s2 = openSqliteStore({ path });
    try {
      assert.deepEqual(
        (await s2.list('r')).items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
        ['a@1', 'b@2'],
      );
      const a = await s2.get(k('a'));
      await s2.update(k('a'), { ...a, v: 1 }, { expectedResourceVersion: '1' });
      assert.equal(await s2.revision(), 3);
    } finally {
      await s2.close();
    }
    const check = new DatabaseSync(path, { readOnly: true });
    const sql = check.prepare("SELECT sql FROM sqlite_master WHERE name = 'objects'").get()?.sql;
    check.close();
    assert.doesNotMatch(String(sql), /WITHOUT ROWID/i);
  });

  test('a write settles, and reads and watches see it, only once the WAL fsync that makes it durable is done', async () => {
    const held: (() => void)[] = [];
    const synced: string[] = [];
    const s = openSqliteStore({
      path: freshPath(),
      syncWal: (walPath) =>
        new Promise<void>((resolve) => {
          synced.push(walPath);
          held.push(resolve);
        }),
    });
    const turns = async (n: number) => {
      for (let i = 0; i < n; i++) await new Promise((r) => setImmediate(r));
    };
    try {
      const w = s.watch('r', { fromRevision: 0, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const first = w.next();
      let settled = false;
      const a = s.create(k('a'), { metadata: { name: 'a' } }).finally(() => {
        settled = true;
      });
      await turns(3);
      assert.equal(held.length, 1, 'one fsync is running');
      assert.match(String(synced[0]), /-wal$/);
      assert.equal(settled, false, 'no answer before the fsync');
      await assert.rejects(s.get(k('a')), (e: unknown) => code(e) === 'NOT_FOUND');
      assert.deepEqual((await s.list('r')).items, []);
      assert.equal(await s.revision(), 0);
      // Writes made while the disk syncs wait for it, then share one commit and one fsync, checked against durable state.
      const again = outcomes([s.create(k('a'), { metadata: { name: 'a' } })]);
      await turns(1);
      const b = s.create(k('b'), { metadata: { name: 'b' } });
      await turns(3);
      assert.equal(held.length, 1);
      held.shift()?.();
      assert.equal((await a).metadata.resourceVersion, '1');
      assert.equal((await first).value?.object.metadata.name, 'a');
      assert.deepEqual(
        (await s.list('r')).items.map((o) => o.metadata.name),
        ['a'],
      );
      await turns(3);
      assert.equal(held.length, 1, 'one fsync for both later writes');
      held.shift()?.();
      assert.deepEqual(await again, ['ALREADY_EXISTS']);
      assert.equal((await b).metadata.resourceVersion, '2');
      assert.equal(await s.revision(), 2);
      await w.return?.();
    } finally {
      const closing = s.close();
      for (const release of held.splice(0)) release();
      await closing;
    }
  });

  test('while a batch awaits its fsync, pages (objects and JSON) show the durable state, not the committed rows', async () => {
    const held: (() => void)[] = [];
    const s = openSqliteStore({ path: freshPath(), syncWal: () => new Promise<void>((resolve) => held.push(resolve)) });
    const settle = async <T>(p: Promise<T>): Promise<T> => {
      while (held.length === 0) await new Promise((r) => setImmediate(r));
      held.shift()?.();
      return p;
    };
    const shown = async () => {
      const page = await s.listPageJson('r', { limit: 10, count: true });
      assert.deepEqual(
        page.items.map((i) => JSON.parse(i.json)),
        (await s.listPage('r', { limit: 10, count: true })).items,
      );
      return page.items.map((i) => `${i.name}@${(JSON.parse(i.json) as StoredObject).metadata.resourceVersion}`);
    };
    try {
      for (const n of ['a', 'b', 'c']) await settle(s.create(k(n), { metadata: { name: n } }));
      const b = await s.get(k('b'));
      const batch = [
        s.update(k('b'), { ...b, v: 2 }, { expectedResourceVersion: '2' }),
        s.delete(k('c')),
        s.create(k('d'), { metadata: { name: 'd' } }),
      ];
      while (held.length === 0) await new Promise((r) => setImmediate(r));
      assert.deepEqual(await shown(), ['a@1', 'b@2', 'c@3']);
      held.shift()?.();
      await Promise.all(batch);
      assert.deepEqual(await shown(), ['a@1', 'b@4', 'd@6']);
    } finally {
      const closing = s.close();
      for (const release of held.splice(0)) release();
      await closing;
    }
  });

  test('a failed WAL fsync fails its writes and the store, and ends every watch: nothing not durable is taken as done', async () => {
    let fail = false;
    const s = openSqliteStore({
      path: freshPath(),
      syncWal: async () => {
        if (fail) throw new Error('EIO: i/o error, fsync');
      },
    });
    try {
      await s.create(k('a'), { metadata: { name: 'a' } });
      const w = s.watch('r', { fromRevision: 1, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const next = w.next();
      fail = true;
      await assert.rejects(
        s.create(k('b'), { metadata: { name: 'b' } }),
        (e: unknown) => code(e) === 'UNAVAILABLE' && /durable/.test(String(e)),
      );
      await assert.rejects(next, (e: unknown) => code(e) === 'UNAVAILABLE');
      await assert.rejects(s.get(k('a')), (e: unknown) => code(e) === 'UNAVAILABLE');
      await assert.rejects(s.create(k('c'), { metadata: { name: 'c' } }), (e: unknown) => code(e) === 'UNAVAILABLE');
    } finally {
      await s.close();
    }
  });

  test('objects, the revision and the compacted revision survive close and reopen', async () => {
    const path = freshPath();
    const s1 = openSqliteStore({ path });
    await createMany(s1, ['a', 'b', 'c']);
    await s1.delete({ resource: 'r', namespace: '', name: 'b' });
    await s1.compact(2);
    await s1.close();
    const s2 = openSqliteStore({ path });
    try {
      assert.equal(await s2.revision(), 4);
      assert.deepEqual(
        (await s2.list('r')).items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
        ['a@1', 'c@3'],
      );
      const d = await s2.create({ resource: 'r', namespace: '', name: 'd' }, { metadata: { name: 'd' } });
      assert.equal(d.metadata.resourceVersion, '5');
      const it = s2.watch('r', { fromRevision: 1, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      await assert.rejects(it.next(), (e: unknown) => code(e) === 'GONE');
      const history = s2.watch('r', { fromRevision: 2, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      assert.deepEqual(
        [(await history.next()).value?.revision, (await history.next()).value?.revision, (await history.next()).value?.revision],
        [3, 4, 5],
      );
      await history.return?.();
    } finally {
      await s2.close();
    }
  });

  test('a second open of the same file is refused with UNAVAILABLE until the first closes', async () => {
    const path = freshPath();
    const s1 = openSqliteStore({ path });
    try {
      await createMany(s1, ['a']);
      assert.throws(
        () => openSqliteStore({ path, lockTimeoutMs: 0 }),
        (e: unknown) => code(e) === 'UNAVAILABLE' && reason(e) === 'STORE_LOCKED',
      );
      await createMany(s1, ['b']);
    } finally {
      await s1.close();
    }
    const s2 = openSqliteStore({ path, lockTimeoutMs: 0 });
    try {
      assert.equal(await s2.revision(), 2);
    } finally {
      await s2.close();
    }
  });

  test('a watcher that falls more than maxWatchBacklog events behind ends with GONE at once', async () => {
    const s = openSqliteStore({ path: ':memory:', maxWatchBacklog: 5 });
    try {
      await createMany(s, ['h']);
      const it = s.watch('r', { fromRevision: 0, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.revision, 1);
      await createMany(s, ['l1', 'l2', 'l3', 'l4', 'l5']);
      const fast = s.watch('r', { fromRevision: 6, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const fastNext = fast.next();
      await createMany(s, ['over']);
      // The queued events are dropped rather than delivered: the caller must re-list anyway.
      await assert.rejects(it.next(), (e: unknown) => code(e) === 'GONE' && reason(e) === 'WATCH_TOO_SLOW');
      assert.equal((await fastNext).value?.revision, 7, 'a watcher that keeps up is unaffected');
      await fast.return?.();
      const within = s.watch('r', { fromRevision: 7, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const first = within.next();
      await createMany(s, ['w1', 'w2', 'w3', 'w4', 'w5']);
      assert.equal((await first).value?.revision, 8);
      for (const r of [9, 10, 11, 12]) assert.equal((await within.next()).value?.revision, r);
      await within.return?.();
    } finally {
      await s.close();
    }
  });

  test('compaction that overtakes a paged replay ends the watch with GONE instead of skipping events', async () => {
    const s = openSqliteStore({ path: ':memory:', historyPageSize: 2 });
    try {
      await createMany(s, ['a', 'b', 'c', 'd', 'e', 'f']);
      const it = s.watch('r', { fromRevision: 0, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      assert.equal((await it.next()).value?.revision, 1);
      await s.compact(4);
      // Revision 2 was read with the first page; the page after it was compacted away.
      assert.equal((await it.next()).value?.revision, 2);
      await assert.rejects(it.next(), (e: unknown) => code(e) === 'GONE' && reason(e) === 'STORE_COMPACTED');
    } finally {
      await s.close();
    }
  });

  test('concurrent writes share a commit; the one that conflicts fails alone and takes no revision', async () => {
    const s = openSqliteStore({ path: freshPath() });
    try {
      await s.create(k('a'), { metadata: { name: 'a' } });
      const w = s.watch('r', { fromRevision: 1, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const results = await outcomes([
        s.create(k('b'), { metadata: { name: 'b' } }),
        s.update(k('a'), { metadata: { name: 'a' }, v: 1 }, { expectedResourceVersion: '1' }),
        // Read rv 1 like the write before it, so the earlier write of the same batch wins.
        s.update(k('a'), { metadata: { name: 'a' }, v: 2 }, { expectedResourceVersion: '1' }),
        s.create(k('b'), { metadata: { name: 'b' } }),
        s.delete(k('missing')),
        s.create(k('c'), { metadata: { name: 'c' } }),
      ]);
      assert.deepEqual(results, ['rv 2', 'rv 3', 'CONFLICT', 'ALREADY_EXISTS', 'NOT_FOUND', 'rv 4']);
      assert.equal(await s.revision(), 4);
      assert.deepEqual((await s.get(k('a'))).v, 1);
      const events = [(await w.next()).value, (await w.next()).value, (await w.next()).value];
      assert.deepEqual(
        events.map((e) => `${e?.revision} ${e?.type} ${e?.object.metadata.name}`),
        ['2 ADDED b', '3 MODIFIED a', '4 ADDED c'],
      );
      await w.return?.();
    } finally {
      await s.close();
    }
  });

  test('a failed COMMIT rejects every write of its batch, publishes nothing and leaves no gap', async () => {
    const path = freshPath();
    const s = openSqliteStore({ path });
    try {
      await s.create(k('a'), { metadata: { name: 'a' } });
      const w = s.watch('r', { fromRevision: 1, signal: AbortSignal.timeout(5000) })[Symbol.asyncIterator]();
      const first = w.next();
      const injected = failCommits(1);
      let results: string[];
      try {
        results = await outcomes([
          s.create(k('b'), { metadata: { name: 'b' } }),
          s.update(k('a'), { metadata: { name: 'a' }, v: 1 }, { expectedResourceVersion: '1' }),
          s.delete(k('a')),
          s.create(k('a'), { metadata: { name: 'a' } }),
        ]);
      } finally {
        injected.restore();
      }
      assert.deepEqual(results, ['UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE', 'UNAVAILABLE']);
      assert.equal(await s.revision(), 1);
      assert.deepEqual(
        (await s.list('r')).items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
        ['a@1'],
      );
      // Point reads and the checks of later writes come from memory: it forgets the batch too.
      await assert.rejects(s.get(k('b')), (e: unknown) => code(e) === 'NOT_FOUND');
      assert.equal((await s.get(k('a'))).v, undefined);
      await assert.rejects(s.create(k('a'), { metadata: { name: 'a' } }), (e: unknown) => code(e) === 'ALREADY_EXISTS');
      // The next write takes the revision the failed batch never used, and is the first event.
      const c = await s.create(k('c'), { metadata: { name: 'c' } });
      assert.equal(c.metadata.resourceVersion, '2');
      const event = (await first).value;
      assert.equal(`${event?.revision} ${event?.type} ${event?.object.metadata.name}`, '2 ADDED c');
      await w.return?.();
    } finally {
      await s.close();
    }
    const reopened = openSqliteStore({ path });
    try {
      assert.equal(await reopened.revision(), 2);
      assert.deepEqual(
        (await reopened.list('r')).items.map((o) => o.metadata.name),
        ['a', 'c'],
      );
    } finally {
      await reopened.close();
    }
  });

  test('a read issued after a write resolved sees it, and a list reports a revision covering it', async () => {
    const s = openSqliteStore({ path: freshPath() });
    try {
      const names = Array.from({ length: 50 }, (_, i) => `n${i}`);
      await Promise.all(
        names.map((name) =>
          s.create(k(name), { metadata: { name } }).then(async (created) => {
            assert.deepEqual(await s.get(k(name)), created);
            const listed = await s.list('r');
            assert.ok(listed.revision >= Number(created.metadata.resourceVersion));
            assert.ok(listed.items.some((o) => o.metadata.name === name));
          }),
        ),
      );
      assert.equal(await s.revision(), names.length);
    } finally {
      await s.close();
    }
  });

  test('writes still queued when the store closes are committed, not dropped', async () => {
    const path = freshPath();
    const s = openSqliteStore({ path });
    const pending = [s.create(k('a'), { metadata: { name: 'a' } }), s.create(k('b'), { metadata: { name: 'b' } })];
    await s.close();
    assert.deepEqual(await outcomes(pending), ['rv 1', 'rv 2']);
    await assert.rejects(s.create(k('c'), { metadata: { name: 'c' } }), (e: unknown) => code(e) === 'UNAVAILABLE');
    const reopened = openSqliteStore({ path });
    try {
      assert.equal(await reopened.revision(), 2);
    } finally {
      await reopened.close();
    }
  });

  test('invalid tuning options are INVALID', () => {
    assert.throws(
      () => openSqliteStore({ path: ':memory:', historyPageSize: 0 }),
      (e: unknown) => code(e) === 'INVALID',
    );
    assert.throws(
      () => openSqliteStore({ path: ':memory:', maxWatchBacklog: 1.5 }),
      (e: unknown) => code(e) === 'INVALID',
    );
  });

  test('every write acknowledged before kill -9 is present after restart', { timeout: 15_000 }, async () => {
    const path = freshPath();
    const script = join(root, 'crash-writer.ts');
    const storeModule = new URL('./sqlite.ts', import.meta.url).href;
    // The child acknowledges a name only after create() resolved, i.e. after the commit.
    writeFileSync(
      script,
      `import { openSqliteStore } from ${JSON.stringify(storeModule)};
const s = openSqliteStore({ path: ${JSON.stringify(path)} });
for (let i = 0; ; i++) {
  const name = 'o' + i;
  await s.create({ resource: 'r', namespace: 'ns', name }, { metadata: { name, namespace: 'ns' }, payload: 'x'.repeat(500 + (i % 7) * 300) });
  process.stdout.write(name + '\\n');
}
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'inherit'] });
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const acknowledged: string[] = [];
    const lines = createInterface({ input: child.stdout });
    await new Promise<void>((resolve, reject) => {
      child.once('error', reject);
      child.once('exit', () => reject(new Error(`the writer exited early after ${acknowledged.length} writes`)));
      lines.on('line', (name) => {
        acknowledged.push(name);
        if (acknowledged.length === 400) {
          child.kill('SIGKILL');
          resolve();
        }
      });
    });
    await exited;
    lines.close();
    const s = openSqliteStore({ path });
    try {
      const { items, revision } = await s.list('r');
      const stored = new Set(items.map((o) => o.metadata.name));
      assert.deepEqual(
        acknowledged.filter((a) => !stored.has(a)),
        [],
      );
      assert.ok(items.length >= acknowledged.length);
      // Every committed create left exactly one revision behind, and nothing half-written.
      assert.equal(revision, items.length);
      assert.deepEqual(
        items.map((o) => o.metadata.resourceVersion),
        items.map((o) => String(Number(String(o.metadata.name).slice(1)) + 1)),
      );
      const next = await s.create({ resource: 'r', namespace: 'ns', name: 'after' }, { metadata: { name: 'after', namespace: 'ns' } });
      assert.equal(next.metadata.resourceVersion, String(revision + 1));
    } finally {
      await s.close();
    }
  });
});
