/**
 * The per-requester create rate limits requesters, not the server's own controllers: with a
 * burst of 2, one node's join makes its CSR (the bootstrap token's create) and the controllers'
 * three bookkeeping objects (name claim, issued certificate, node client record) without any of
 * them being refused. Before the exemption a 10,000-node join storm exhausted the controllers'
 * burst and stalled on retries (p99 20 s).
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { joinNode, type RunningServer, startCluster, tempDir } from './helpers/processes.ts';

describe('create rate and the in-process controllers', () => {
  const dir = tempDir('create-rate');
  let server: RunningServer;
  let token: string;
  let close: () => void = () => {};

  before(async () => {
    const cluster = await startCluster(dir.path, ['--creates-per-second-per-user', '1', '--create-burst-per-user', '2']);
    server = cluster.server;
    token = cluster.token;
    close = () => cluster.admin.close();
  });

  after(async () => {
    close();
    await server?.stop();
    dir.remove();
  });

  test('a join within the requester limit is issued without the controllers being rate limited', async () => {
    const joined = await joinNode(server, token, 'node-1', join(dir.path, 'node-1'), ['--tls-bootstrap-timeout', '60s']);
    assert.equal(joined.code, 0, joined.stderr);
    const refused = server.logs.filter((line) => line.includes('creating objects faster'));
    assert.deepEqual(refused, [], 'no create of the controllers was refused');
  });
});
