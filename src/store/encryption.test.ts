/**
 * Secrets at rest in the SQLite backend: the conformance suite with every value encrypted, the
 * file modes (created private whatever the umask, looser ones tightened and reported), the
 * aesgcm layout on disk, tampering, a wrong or missing key, a ciphertext moved onto another
 * object, the first migration of values written in clear (and the scrub that leaves no copy in
 * the file), and rewriting under a new key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, test } from 'node:test';
import { runStoreConformance } from './conformance.ts';
import { AesGcmTransformer, type EncryptionKey, IDENTITY_TRANSFORMER, type ValueTransformer } from './encryption.ts';
import { openSqliteStore, type StoreReport } from './sqlite.ts';
import type { ObjectKey, Store, StoredObject } from './types.ts';

const root = mkdtempSync(join(tmpdir(), 'tlsboot-store-encryption-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;
/** A database path in a folder of its own, since the store tightens its folder. */
const freshPath = () => {
  const dir = join(root, `d${dirs++}`);
  mkdirSync(dir, { mode: 0o700 });
  return join(dir, 'tlsboot.db');
};

const SECRETS = 'core/secrets';
const key1: EncryptionKey = { name: 'key1', secret: randomBytes(32) };
const key2: EncryptionKey = { name: 'key2', secret: randomBytes(32) };
const aes = (keys: EncryptionKey[], resources = [SECRETS]): ValueTransformer => new AesGcmTransformer({ keys, resources, randomBytes });

runStoreConformance('sqlite on disk, every value encrypted', async () =>
  openSqliteStore({
    path: freshPath(),
    historyPageSize: 3,
    transformer: aes([key1], ['certificates.k8s.io/certificatesigningrequests', 'v1/secrets']),
  }),
);

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function reason(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'reason' in error ? String(error.reason) : undefined;
}

const TOKEN_SECRET = 'q7w8e9r0t1y2u3i4';
const GONE_SECRET = 'g0neg0neg0neg0ne';

function secret(name: string, value = TOKEN_SECRET): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'kube-system' },
    data: { 'token-secret': Buffer.from(value).toString('base64') },
  };
}

const sk = (name: string): ObjectKey => ({ resource: SECRETS, namespace: 'kube-system', name });

/** The needles: the secret itself and its base64 form, the way Secret data carries it. */
function leaks(dir: string, value = TOKEN_SECRET): string[] {
  const needles = [Buffer.from(value), Buffer.from(Buffer.from(value).toString('base64'))];
  const found: string[] = [];
  for (const name of readdirSync(dir)) {
    const data = readFileSync(join(dir, name));
    for (const n of needles) if (data.indexOf(n) >= 0) found.push(`${n.toString()} in ${name}`);
  }
  return found;
}

function rawBody(path: string, table: 'objects' | 'events', name: string): Uint8Array | string {
  const db = new DatabaseSync(path, { readOnly: true });
  try {
    const sql =
      table === 'objects' ? 'SELECT body FROM objects WHERE name = ?' : 'SELECT body FROM events WHERE name = ? ORDER BY rev DESC';
    const row = db.prepare(sql).get(name);
    const body = row?.body;
    assert.ok(typeof body === 'string' || body instanceof Uint8Array, `a ${table} row for ${name}`);
    return body;
  } finally {
    db.close();
  }
}

function mode(path: string): string {
  return (statSync(path).mode & 0o777).toString(8);
}

async function withStore<T>(s: Store, fn: (s: Store) => Promise<T>): Promise<T> {
  try {
    return await fn(s);
  } finally {
    await s.close();
  }
}

describe('store files are private', () => {
  test('a new store is created 0700/0600 whatever the umask', async () => {
    const dir = join(root, `fresh-${dirs++}`, 'data');
    const path = join(dir, 'tlsboot.db');
    const old = process.umask(0);
    const reports: string[] = [];
    try {
      await withStore(openSqliteStore({ path, report: (_l, message) => reports.push(message) }), async (s) => {
        await s.create(sk('a'), secret('a'));
        assert.equal(mode(dir), '700');
        assert.equal(mode(path), '600');
        assert.equal(mode(`${path}-wal`), '600');
      });
    } finally {
      process.umask(old);
    }
    assert.deepEqual(reports, [], 'never created loose, not even for a moment');
  });

  test('a folder 0755 and a database and WAL 0644 are tightened at open, each reported with its old mode', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path }), (s) => s.create(sk('a'), secret('a')));
    const dir = join(path, '..');
    chmodSync(dir, 0o755);
    chmodSync(path, 0o644);
    // A WAL left by a crash; an empty one is a valid, empty log.
    writeFileSync(`${path}-wal`, '');
    chmodSync(`${path}-wal`, 0o644);
    const reports: string[] = [];
    const report: StoreReport = (level, _message, d) => reports.push(`${level} ${String(d.path)} ${String(d.oldMode)}`);
    await withStore(openSqliteStore({ path, report }), async (s) => {
      assert.equal(mode(dir), '700');
      assert.equal(mode(path), '600');
      assert.equal(mode(`${path}-wal`), '600');
      assert.equal((await s.get(sk('a'))).metadata.name, 'a');
    });
    assert.deepEqual(reports.sort(), [`warn ${dir} 0755`, `warn ${path} 0644`, `warn ${path}-wal 0644`].sort());
  });

  test('a store in a shared sticky folder such as /tmp is refused rather than opened or the folder changed', () => {
    const shared = join(root, `shared-${dirs++}`);
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    assert.throws(
      () => openSqliteStore({ path: join(shared, 'tlsboot.db') }),
      (e: unknown) => code(e) === 'INVALID' && reason(e) === 'STORE_DIRECTORY',
    );
    assert.equal((statSync(shared).mode & 0o7777).toString(8), '1777');
    assert.deepEqual(readdirSync(shared), []);
  });
});

describe('secrets encrypted at rest', () => {
  test('round trip: get, list and watch history return the object; the rows hold aesgcm values and the file no clear secret', async () => {
    const path = freshPath();
    const t = aes([key1]);
    await withStore(openSqliteStore({ path, transformer: t }), async (s) => {
      const created = await s.create(sk('a'), secret('a'));
      const updated = await s.update(sk('a'), { ...created, data: { extra: 'eA==' } }, { expectedResourceVersion: '1' });
      await s.create(sk('b'), secret('b'));
      await s.delete(sk('b'));
      await s.create({ resource: 'core/configmaps', namespace: 'x', name: 'plain' }, { metadata: { name: 'plain', namespace: 'x' } });
      assert.deepEqual(await s.get(sk('a')), updated);
      assert.deepEqual(
        (await s.list(SECRETS)).items.map((o) => o.metadata.name),
        ['a'],
      );
      const history: string[] = [];
      for await (const e of s.watch(SECRETS, { fromRevision: 0, signal: AbortSignal.timeout(2000) })) {
        history.push(`${e.revision} ${e.type} ${e.object.metadata.name} ${JSON.stringify(e.object.data)}`);
        if (e.revision === 4) break;
      }
      const b64 = Buffer.from(TOKEN_SECRET).toString('base64');
      assert.deepEqual(history, [
        `1 ADDED a {"token-secret":"${b64}"}`,
        '2 MODIFIED a {"extra":"eA=="}',
        `3 ADDED b {"token-secret":"${b64}"}`,
        `4 DELETED b {"token-secret":"${b64}"}`,
      ]);
    });
    for (const [table, name] of [
      ['objects', 'a'],
      ['events', 'a'],
      ['events', 'b'],
    ] as const) {
      const body = rawBody(path, table, name);
      assert.ok(body instanceof Uint8Array);
      assert.equal(Buffer.from(body).subarray(0, 23).toString('latin1'), 'k8s:enc:aesgcm:v1:key1:');
    }
    assert.equal(typeof rawBody(path, 'objects', 'plain'), 'string', 'other resources are stored as they are');
    assert.deepEqual(leaks(join(path, '..')), []);
  });

  test('two writes of the same object never share a nonce', () => {
    const t = aes([key1]);
    const a = t.toStorage(sk('a'), '{"x":1}');
    const b = t.toStorage(sk('a'), '{"x":1}');
    assert.notDeepEqual(a, b);
  });

  test('a tampered value is a STORE_DECRYPT error naming the object, never a silent empty object', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), (s) => s.create(sk('a'), secret('a')));
    const db = new DatabaseSync(path);
    const body = Buffer.from(rawBody(path, 'objects', 'a'));
    body[body.length - 20] = (body[body.length - 20] ?? 0) ^ 1;
    db.prepare("UPDATE objects SET body = ? WHERE name = 'a'").run(body);
    db.close();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      await assert.rejects(s.get(sk('a')), (e: unknown) => {
        assert.equal(reason(e), 'STORE_DECRYPT');
        assert.equal(code(e), 'INTERNAL');
        assert.match(String(e), /kube-system\/a/);
        assert.doesNotMatch(String(e), new RegExp(TOKEN_SECRET));
        return true;
      });
      await assert.rejects(s.list(SECRETS), (e: unknown) => reason(e) === 'STORE_DECRYPT');
    });
  });

  test('a value under a key that is not in the key file is refused at open; a store opened without keys refuses to read it', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), (s) => s.create(sk('a'), secret('a')));
    assert.throws(
      () => openSqliteStore({ path, transformer: aes([key2]) }),
      (e: unknown) => reason(e) === 'STORE_DECRYPT' && /key "key1"/.test(String(e)) && !String(e).includes(TOKEN_SECRET),
    );
    await withStore(openSqliteStore({ path, transformer: IDENTITY_TRANSFORMER }), async (s) => {
      await assert.rejects(s.get(sk('a')), (e: unknown) => reason(e) === 'STORE_DECRYPT');
    });
    // The refused open rewrote nothing: the right key still reads it.
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      assert.equal((await s.get(sk('a'))).metadata.name, 'a');
    });
  });

  test("a ciphertext copied onto another object's row does not decrypt (the key is authenticated)", async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      await s.create(sk('a'), secret('a', 'aaaaaaaaaaaaaaaa'));
      await s.create(sk('b'), secret('b', 'bbbbbbbbbbbbbbbb'));
    });
    const db = new DatabaseSync(path);
    db.prepare("UPDATE objects SET body = (SELECT body FROM objects WHERE name = 'a') WHERE name = 'b'").run();
    db.close();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      assert.equal((await s.get(sk('a'))).metadata.name, 'a');
      await assert.rejects(s.get(sk('b')), (e: unknown) => reason(e) === 'STORE_DECRYPT' && /moved from another object/.test(String(e)));
    });
  });

  test('secrets written in clear before encryption are encrypted at open, in both tables, and no copy is left in the files', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path }), async (s) => {
      for (const name of ['a', 'b', 'c']) await s.create(sk(name), secret(name, `${name.repeat(4)}${TOKEN_SECRET.slice(4)}`));
      // Large enough for overflow pages, which a delete without secure_delete puts on the freelist as they are.
      await s.create(sk('gone'), { ...secret('gone', GONE_SECRET), padding: GONE_SECRET.repeat(2000) });
      await s.delete(sk('gone'));
      await s.create(sk('kept'), secret('kept'));
    });
    // A database from before this version deleted without secure_delete: compacted history leaves the secret in free space.
    const legacy = new DatabaseSync(path);
    legacy.exec('PRAGMA secure_delete = OFF');
    legacy.prepare("DELETE FROM events WHERE name = 'gone'").run();
    legacy.close();
    assert.ok(leaks(join(path, '..')).length > 0, 'the clear secret is in the file before the migration');
    assert.ok(leaks(join(path, '..'), GONE_SECRET).length > 0, 'so is the deleted one');
    const reports: string[] = [];
    const report: StoreReport = (level, message, d) => reports.push(`${level} ${message} ${String(d.rewritten)}`);
    await withStore(openSqliteStore({ path, transformer: aes([key1]), report }), async (s) => {
      assert.equal(await s.revision(), 6, 'the rewrite is not a write: no revision, no event');
      assert.deepEqual(
        (await s.list(SECRETS)).items.map((o) => `${o.metadata.name}@${o.metadata.resourceVersion}`),
        ['a@1', 'b@2', 'c@3', 'kept@6'],
      );
      assert.deepEqual((await s.get(sk('kept'))).data, secret('kept').data);
    });
    // 4 objects and the 4 events left.
    assert.deepEqual(reports, ['info stored values rewritten under the current encryption key 8']);
    assert.deepEqual(leaks(join(path, '..')), []);
    assert.deepEqual(leaks(join(path, '..'), `aaaa${TOKEN_SECRET.slice(4)}`), []);
    assert.deepEqual(leaks(join(path, '..'), GONE_SECRET), []);
    // Nothing is stale any more: a second open rewrites nothing.
    reports.length = 0;
    await withStore(openSqliteStore({ path, transformer: aes([key1]), report }), async () => {});
    assert.deepEqual(reports, []);
  });

  test('history rows from before the events table had a name column get the name they are now bound to', async () => {
    const path = freshPath();
    const legacy = new DatabaseSync(path);
    const body = JSON.stringify({ ...secret('old'), metadata: { name: 'old', namespace: 'kube-system', resourceVersion: '1' } });
    legacy.exec(`
      CREATE TABLE objects (resource TEXT NOT NULL, namespace TEXT NOT NULL, name TEXT NOT NULL, rv INTEGER NOT NULL, body TEXT NOT NULL,
        PRIMARY KEY (resource, namespace, name)) WITHOUT ROWID;
      CREATE TABLE events (rev INTEGER PRIMARY KEY, type TEXT NOT NULL, resource TEXT NOT NULL, namespace TEXT NOT NULL, body TEXT NOT NULL);
      CREATE TABLE meta (key TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
      INSERT INTO meta (key, value) VALUES ('revision', 1), ('compacted', 0);
    `);
    legacy.prepare("INSERT INTO objects VALUES (?, 'kube-system', 'old', 1, ?)").run(SECRETS, body);
    legacy.prepare("INSERT INTO events VALUES (1, 'ADDED', ?, 'kube-system', ?)").run(SECRETS, body);
    legacy.close();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      for await (const e of s.watch(SECRETS, { fromRevision: 0, signal: AbortSignal.timeout(2000) })) {
        assert.deepEqual(e.object.data, secret('old').data);
        break;
      }
    });
    assert.ok(rawBody(path, 'events', 'old') instanceof Uint8Array, 'the history row is named and encrypted');
    assert.deepEqual(leaks(join(path, '..')), []);
  });

  test('opening with a new write key rewrites every value under it, after which the old key is no longer needed', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), async (s) => {
      await s.create(sk('a'), secret('a'));
      await s.create(sk('b'), secret('b'));
      // The body this update replaces is kept (for paged reads at revision 2) and must be rotated too.
      const b = await s.get(sk('b'));
      await s.update(sk('b'), { ...b, data: { extra: 'eA==' } }, { expectedResourceVersion: '2' });
    });
    await withStore(openSqliteStore({ path, transformer: aes([key2, key1]) }), async () => {});
    assert.equal(
      Buffer.from(rawBody(path, 'objects', 'a'))
        .subarray(0, 23)
        .toString('latin1'),
      'k8s:enc:aesgcm:v1:key2:',
    );
    await withStore(openSqliteStore({ path, transformer: aes([key2]) }), async (s) => {
      assert.deepEqual(
        (await s.list(SECRETS)).items.map((o) => o.data),
        [secret('a').data, { extra: 'eA==' }],
      );
      const asBefore = await s.listPage(SECRETS, { limit: 10, revision: 2 });
      assert.deepEqual(
        asBefore.items.map((o) => o.data),
        [secret('a').data, secret('b').data],
        'the replaced body was re-encrypted under the new key',
      );
    });
  });

  test('after a key rotation at open, a write keeps the body it replaces under the new key, not the old one', async () => {
    const path = freshPath();
    await withStore(openSqliteStore({ path, transformer: aes([key1]) }), (s) => s.create(sk('a'), secret('a')));
    await withStore(openSqliteStore({ path, transformer: aes([key2, key1]) }), async (s) => {
      const a = await s.get(sk('a'));
      await s.update(sk('a'), { ...a, data: { more: 'eQ==' } }, { expectedResourceVersion: '1' });
    });
    await withStore(openSqliteStore({ path, transformer: aes([key2]) }), async (s) => {
      const asBefore = await s.listPage(SECRETS, { limit: 10, revision: 1 });
      assert.deepEqual(
        asBefore.items.map((o) => o.data),
        [secret('a').data],
      );
    });
  });

  test('invalid keys are refused without echoing key bytes', () => {
    const bad = randomBytes(16);
    assert.throws(
      () => aes([{ name: 'short', secret: bad }]),
      (e: unknown) => code(e) === 'INVALID' && !String(e).includes(bad.toString('base64')) && !String(e).includes(bad.toString('hex')),
    );
    assert.throws(
      () => aes([]),
      (e: unknown) => code(e) === 'INVALID',
    );
    assert.throws(
      () => aes([key1, { ...key2, name: 'key1' }]),
      (e: unknown) => code(e) === 'INVALID',
    );
    assert.throws(
      () => aes([{ ...key1, name: 'a:b' }]),
      (e: unknown) => code(e) === 'INVALID',
    );
  });
});
