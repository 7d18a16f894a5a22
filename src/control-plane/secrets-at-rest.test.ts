/**
 * The key file and key rotation, in process: a missing key file is created 0600 and a loose one
 * tightened; an invalid one is refused naming the file, quoting none of it, before the database
 * exists; rotation re-encrypts every Secret and drops the old key, is refused while the store is
 * in use, and a crash at any point of it leaves every Secret readable with the key file as left.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, mock, test } from 'node:test';
import { SECRETS, storeKeyOf } from '../api/cluster-client.ts';

const SECRET_RESOURCE = storeKeyOf(SECRETS);

import { parseSecretsKeys, secretsKeyPath } from '../kubeadm/secrets-key.ts';
import { AesGcmTransformer, type StoredObject, type StoreReport } from '../store/index.ts';
import { openClusterStore, rotateSecretsKey, type StoreParams } from './secrets-at-rest.ts';

const root = mkdtempSync(join(tmpdir(), 'tlsboot-secrets-at-rest-'));
after(() => rmSync(root, { recursive: true, force: true }));
let n = 0;

function cluster(): { dir: string; params: StoreParams; reports: string[] } {
  const dir = join(root, `c${n++}`);
  mkdirSync(dir, { mode: 0o700 });
  const reports: string[] = [];
  const report: StoreReport = (level, message, d) => reports.push(`${level}: ${message} ${JSON.stringify(d)}`);
  return { dir, params: { dir, randomBytes, report }, reports };
}

function code(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'code' in error ? String(error.code) : undefined;
}

function reason(error: unknown): string | undefined {
  return typeof error === 'object' && error !== null && 'reason' in error ? String(error.reason) : undefined;
}

const NAMES = ['bootstrap-token-aaaaaa', 'bootstrap-token-bbbbbb', 'bootstrap-token-cccccc'];
const key = (name: string) => ({ resource: SECRET_RESOURCE, namespace: 'kube-system', name });

function secret(name: string): StoredObject {
  return {
    apiVersion: 'v1',
    kind: 'Secret',
    metadata: { name, namespace: 'kube-system' },
    data: { 'token-secret': Buffer.from(`${name.slice(-6)}0123456789`).toString('base64') },
  };
}

async function seed(params: StoreParams): Promise<void> {
  const store = await openClusterStore(params);
  try {
    for (const name of NAMES) await store.create(key(name), secret(name));
  } finally {
    await store.close();
  }
}

/** Opens the store as the server would, with the key file as it is now, and reads every Secret. */
async function readAll(params: StoreParams): Promise<unknown[]> {
  const store = await openClusterStore(params);
  try {
    return await Promise.all(NAMES.map(async (name) => (await store.get(key(name))).data));
  } finally {
    await store.close();
  }
}

function keyNames(dir: string): string[] {
  const path = secretsKeyPath(dir);
  return parseSecretsKeys(readFileSync(path, 'utf8'), path).map((k) => generation(k.name));
}

/** `key2-0a1b2c3d` -> `key2`: the random part of a key name differs from run to run. */
function generation(name: string): string {
  const m = /^(key\d+)-[0-9a-f]{8}$/.exec(name);
  assert.ok(m, `a generated key name: ${name}`);
  return m[1] ?? '';
}

/** The key generations the stored Secrets (objects and history) are encrypted under; 'clear' for plaintext. */
function storedKeyNames(dir: string): string[] {
  const db = new DatabaseSync(join(dir, 'tlsboot.db'), { readOnly: true });
  try {
    const rows = db
      .prepare('SELECT body FROM objects WHERE resource = ? UNION ALL SELECT body FROM events WHERE resource = ?')
      .all(SECRET_RESOURCE, SECRET_RESOURCE);
    const names = rows.map((r) => {
      if (!(r.body instanceof Uint8Array)) return 'clear';
      return generation(/^k8s:enc:aesgcm:v1:([^:]+):/.exec(Buffer.from(r.body).toString('latin1'))?.[1] ?? '?');
    });
    return [...new Set(names)];
  } finally {
    db.close();
  }
}

describe('the secrets encryption key file', () => {
  test('is created 0600 with one key when absent, and a loose one is tightened and reported', async () => {
    const { dir, params, reports } = cluster();
    await seed(params);
    assert.equal(statSync(secretsKeyPath(dir)).mode & 0o777, 0o600);
    assert.deepEqual(keyNames(dir), ['key1']);
    assert.match(reports.join('\n'), /created the key that encrypts Secrets at rest/);
    chmodSync(secretsKeyPath(dir), 0o644);
    reports.length = 0;
    assert.equal((await readAll(params)).length, 3);
    assert.equal(statSync(secretsKeyPath(dir)).mode & 0o777, 0o600);
    assert.match(reports.join('\n'), /warn: .*key file was readable by other users.*"oldMode":"0644"/);
  });

  test('an invalid key file is refused naming the file, quoting nothing of it, before anything is stored', async () => {
    const material = randomBytes(32).toString('base64');
    const cases: [string, string][] = [
      ['not JSON', `key1:${material}`],
      ['another kind', JSON.stringify({ apiVersion: 'v1', kind: 'Secret', keys: [{ name: 'key1', secret: material }] })],
      ['no keys', JSON.stringify({ apiVersion: 'tlsboot.io/v1', kind: 'SecretsEncryptionKeys', keys: [] })],
      [
        'a short key',
        JSON.stringify({
          apiVersion: 'tlsboot.io/v1',
          kind: 'SecretsEncryptionKeys',
          keys: [{ name: 'key1', secret: material.slice(0, 24) }],
        }),
      ],
      [
        'key material as a name',
        JSON.stringify({ apiVersion: 'tlsboot.io/v1', kind: 'SecretsEncryptionKeys', keys: [{ name: material, secret: material }] }),
      ],
      [
        'a name twice',
        JSON.stringify({
          apiVersion: 'tlsboot.io/v1',
          kind: 'SecretsEncryptionKeys',
          keys: [
            { name: 'key1', secret: material },
            { name: 'key1', secret: material },
          ],
        }),
      ],
    ];
    for (const [what, content] of cases) {
      const { dir, params } = cluster();
      mkdirSync(join(dir, 'pki'), { mode: 0o700 });
      writeFileSync(secretsKeyPath(dir), content, { mode: 0o600 });
      await assert.rejects(
        () => openClusterStore(params),
        (e: unknown) => {
          assert.equal(code(e), 'INVALID', what);
          assert.equal(reason(e), 'SECRETS_KEY_FILE', what);
          assert.ok(String(e).includes(secretsKeyPath(dir)), `${what}: names the file`);
          for (const part of [material, material.slice(0, 24), Buffer.from(material, 'base64').toString('hex')]) {
            assert.ok(!String(e).includes(part), `${what}: quotes no key material`);
          }
          return true;
        },
      );
      assert.equal(existsSync(join(dir, 'tlsboot.db')), false, `${what}: no database was created`);
      assert.equal(readFileSync(secretsKeyPath(dir), 'utf8'), content, `${what}: the key file is left as it was`);
    }
  });
  test('a lost key file is not papered over: the new key gets another name and the start is refused naming the lost one', async () => {
    const { dir, params } = cluster();
    await seed(params);
    const lost = parseSecretsKeys(readFileSync(secretsKeyPath(dir), 'utf8'), secretsKeyPath(dir))[0]?.name ?? '';
    rmSync(secretsKeyPath(dir));
    await assert.rejects(
      () => openClusterStore(params),
      (e: unknown) => reason(e) === 'STORE_DECRYPT' && String(e).includes(`encrypted with key "${lost}", which is not in the key file`),
    );
  });
});

describe('tlsboot secrets rotate-key', () => {
  test('re-encrypts every Secret under a new key and drops the old one, which is then not needed to read them', async () => {
    const { dir, params } = cluster();
    await seed(params);
    const before = await readAll(params);
    assert.deepEqual(storedKeyNames(dir), ['key1']);
    const result = await rotateSecretsKey(params);
    assert.deepEqual(
      { ...result, writeKey: generation(result.writeKey), removed: result.removed.map(generation) },
      { writeKey: 'key2', removed: ['key1'], rewritten: 6 },
    );
    assert.deepEqual(keyNames(dir), ['key2']);
    assert.deepEqual(storedKeyNames(dir), ['key2']);
    assert.deepEqual(await readAll(params), before);
    assert.equal(statSync(secretsKeyPath(dir)).mode & 0o777, 0o600);
  });

  test('is refused while the store is in use, and then changes nothing', async () => {
    const { dir, params } = cluster();
    await seed(params);
    const keyFile = readFileSync(secretsKeyPath(dir));
    const running = await openClusterStore(params);
    try {
      await assert.rejects(rotateSecretsKey(params), (e: unknown) => code(e) === 'UNAVAILABLE' && /stop tlsboot server/.test(String(e)));
    } finally {
      await running.close();
    }
    assert.deepEqual(readFileSync(secretsKeyPath(dir)), keyFile);
  });

  for (const k of [0, 1, 5]) {
    test(`a crash after ${k} re-encryptions leaves every Secret readable, and a second run completes the rotation`, async () => {
      const { dir, params } = cluster();
      await seed(params);
      const before = await readAll(params);
      const toStorage = AesGcmTransformer.prototype.toStorage;
      let left = k;
      const crash = mock.method(
        AesGcmTransformer.prototype,
        'toStorage',
        function (this: AesGcmTransformer, ...args: Parameters<typeof toStorage>) {
          if (left-- <= 0) throw new Error('simulated crash');
          return toStorage.apply(this, args);
        },
      );
      try {
        await assert.rejects(rotateSecretsKey(params));
      } finally {
        crash.mock.restore();
      }
      assert.deepEqual(keyNames(dir), ['key2', 'key1'], 'the old key stays until every value is re-encrypted');
      assert.deepEqual(await readAll(params), before);
      const again = await rotateSecretsKey(params);
      assert.deepEqual(again.removed.map(generation), ['key2', 'key1']);
      assert.deepEqual(keyNames(dir), ['key3']);
      assert.deepEqual(storedKeyNames(dir), ['key3']);
      assert.deepEqual(await readAll(params), before);
    });
  }
});
