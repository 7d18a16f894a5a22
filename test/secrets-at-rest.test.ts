/**
 * Secrets at rest, end to end with real processes: a bootstrap token made with `tlsboot token
 * create` against a running server is nowhere in the cluster directory once the server stopped
 * (not the secret, not its base64 form, in no file: database, WAL, logs, key file), nor in the
 * server's log; the folder and database are private; `tlsboot secrets rotate-key` is refused
 * while the server runs, then re-encrypts, and the token still authenticates with the old key gone.
 * An invalid key file stops the server before it stores anything.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { KubeClient } from '../src/client/client.ts';
import { filesUnder } from './helpers/files.ts';
import { adminAndToken, freePort, type RunningServer, startServer, tempDir, tlsbootAsync } from './helpers/processes.ts';
import { findInFiles, findInText, textNeedle } from './helpers/secrets.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

describe('an invalid secrets key file', () => {
  const dir = tempDir('secrets-key-invalid');
  after(() => dir.remove());

  test('refuses the server start naming the file, quoting none of it, and no store is created', async () => {
    const cluster = join(dir.path, 'cluster');
    const port = await freePort();
    const init = await tlsbootAsync(['init', '--dir', cluster, '--node-name', 'cp', '--apiserver-bind-port', String(port)]);
    assert.equal(init.code, 0, init.stderr);
    const keyFile = join(cluster, 'pki', 'secrets-encryption.key');
    const material = randomBytes(32).toString('base64');
    // A bare key where the JSON should be: any echo of the file is an echo of key material.
    writeFileSync(keyFile, `${material}\n`);
    const r = await tlsbootAsync(['server', '--dir', cluster, '--listen', `127.0.0.1:${port}`], { timeoutMs: 60_000 });
    assert.equal(r.code, 1, r.stdout);
    assert.match(r.stderr, new RegExp(`error: ${keyFile}: is not valid JSON`));
    assert.ok(!`${r.stdout}${r.stderr}`.includes(material.slice(0, 12)), 'no key material in the output');
    assert.ok(!filesUnder(cluster).some((f) => f.includes('tlsboot.db')), 'no store was created');
  });
});

describe('bootstrap token secrets at rest', () => {
  const dir = tempDir('secrets-at-rest');
  const cluster = join(dir.path, 'cluster');
  let port: number;
  let server: RunningServer | undefined;
  let token: string;
  let admin: KubeClient | undefined;
  const logs: string[] = [];

  before(async () => {
    port = await freePort();
    const init = await tlsbootAsync(['init', '--dir', cluster, '--apiserver-bind-port', String(port), '--node-name', 'cp']);
    assert.equal(init.code, 0, init.stderr);
    server = await startServer(cluster, [], port);
    const made = await adminAndToken(cluster);
    admin = made.admin;
    token = made.token;
  });

  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  function tokenClient(): KubeClient {
    return new KubeClient({ server: `https://127.0.0.1:${port}`, caPem: readFileSync(join(cluster, 'pki', 'ca.crt'), 'utf8'), token });
  }

  async function stop(): Promise<void> {
    admin?.close();
    admin = undefined;
    if (server) {
      assert.equal(await server.stop(), 0);
      logs.push(...server.logs);
      server = undefined;
    }
  }

  test('the token works, and once the server stopped no file under the data folder holds its secret in any form', async () => {
    const c = tokenClient();
    try {
      await c.request(CSRS);
    } finally {
      c.close();
    }
    await stop();
    const secret = token.split('.')[1] ?? '';
    assert.match(secret, /^[a-z0-9]{16}$/);
    const needles = textNeedle(secret, 'token secret');
    const files = filesUnder(cluster);
    assert.ok(
      files.some((f) => f.endsWith('tlsboot.db')),
      `the store is among the files searched: ${files.join(' ')}`,
    );
    assert.deepEqual(findInFiles(cluster, needles), []);
    assert.deepEqual(findInText(logs.join('\n'), needles, 'the server log'), []);
    assert.equal(statSync(cluster).mode & 0o777, 0o700);
    assert.equal(statSync(join(cluster, 'tlsboot.db')).mode & 0o777, 0o600);
    assert.equal(statSync(join(cluster, 'pki', 'secrets-encryption.key')).mode & 0o777, 0o600);
  });

  test('rotate-key is refused while the server runs; stopped, it re-encrypts, and the token still authenticates without the old key', async () => {
    await stop();
    server = await startServer(cluster, [], port);
    const keyFile = readFileSync(join(cluster, 'pki', 'secrets-encryption.key'));
    const busy = await tlsbootAsync(['secrets', 'rotate-key', '--dir', cluster]);
    assert.equal(busy.code, 1, busy.stdout);
    assert.match(busy.stderr, /stop tlsboot server first/);
    assert.deepEqual(readFileSync(join(cluster, 'pki', 'secrets-encryption.key')), keyFile, 'a refused rotation changes nothing');
    await stop();

    const rotated = await tlsbootAsync(['secrets', 'rotate-key', '--dir', cluster]);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /encrypted with key "key2-[0-9a-f]{8}": [1-9]\d* stored values? re-encrypted; removed "key1-[0-9a-f]{8}"/);
    const keys = readFileSync(join(cluster, 'pki', 'secrets-encryption.key'), 'utf8');
    assert.match(keys, /"name": "key2-[0-9a-f]{8}"/);
    assert.doesNotMatch(keys, /"key1-/);
    assert.deepEqual(
      findInText(`${rotated.stdout}${rotated.stderr}`, textNeedle(token.split('.')[1] ?? '', 'token secret'), 'rotate-key output'),
      [],
    );

    server = await startServer(cluster, [], port);
    const c = tokenClient();
    try {
      await c.request(CSRS);
    } finally {
      c.close();
    }
    await stop();
    assert.deepEqual(findInFiles(cluster, textNeedle(token.split('.')[1] ?? '', 'token secret')), []);
  });
});
