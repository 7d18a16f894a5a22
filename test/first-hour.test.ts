/**
 * Flags that agree: `server` serves where `init` said; a `--listen` that disagrees, port 0, a busy
 * port and an unsupported store are each one clear error naming the flag, before anything is
 * written.
 */
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { freePort, type RunningServer, startServer, tempDir, tlsboot, tlsbootAsync } from './helpers/processes.ts';

describe('server flags agree with init', () => {
  const dir = tempDir('first-hour');
  let server: RunningServer | undefined;
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  test('without --listen the server serves on the port init was given; another --listen port is refused naming both', async () => {
    const cluster = join(dir.path, 'cluster');
    const port = await freePort();
    assert.equal(tlsboot(['init', '--dir', cluster, '--apiserver-bind-port', String(port)]).code, 0);
    const other = await freePort();
    const refused = await tlsbootAsync(['server', '--dir', cluster, '--listen', `127.0.0.1:${other}`], { timeoutMs: 30_000 });
    assert.equal(refused.code, 1);
    assert.match(
      refused.stderr,
      new RegExp(`--listen 127\\.0\\.0\\.1:${other} serves on port ${other}, but .*controller-manager\\.conf .* says ${port}`),
    );
    const zero = await tlsbootAsync(['server', '--dir', cluster, '--listen', '127.0.0.1:0'], { timeoutMs: 30_000 });
    assert.equal(zero.code, 1);
    assert.match(zero.stderr, /--listen needs a fixed port/);

    server = await startServer(cluster, [], port);
    assert.match(server.logs.join('\n'), new RegExp(`"address":"https://127\\.0\\.0\\.1:${port}"`));
    // The same directory again while the first server holds the port: the error names the address and --listen.
    const copy = join(dir.path, 'copy');
    assert.equal(tlsboot(['init', '--dir', copy, '--apiserver-bind-port', String(port)]).code, 0);
    const busy = await tlsbootAsync(['server', '--dir', copy], { timeoutMs: 30_000 });
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, new RegExp(`127\\.0\\.0\\.1:${port} is already in use .* --listen`));
    assert.doesNotMatch(busy.stderr, /internal error/);
  });

  test('an unsupported --store is refused before the PKI is created', async () => {
    const fresh = join(dir.path, 'fresh');
    for (const [store, message] of [
      ['postgres://127.0.0.1:5432', /--store "postgres:\/\/127\.0\.0\.1:5432" is not supported \(use sqlite:PATH or etcd:/],
      ['etcd://127.0.0.1', /--store "etcd:\/\/127\.0\.0\.1": "127\.0\.0\.1" is not HOST:PORT/],
    ] as const) {
      const r = await tlsbootAsync(['server', '--dir', fresh, '--store', store, '--listen', '127.0.0.1:16999'], { timeoutMs: 30_000 });
      assert.equal(r.code, 1);
      assert.match(r.stderr, message);
      assert.equal(existsSync(join(fresh, 'pki')), false, 'no PKI written');
    }
  });
});
