/**
 * Nodes end to end, with real processes and no serving policy: `tlsboot join` then `tlsboot agent
 * --rotate-server-certificates` registers the node's Node with its addresses, and the serving
 * certificate is approved on that evidence alone (NodeAddressesApproved) and served.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { asCertificateSigningRequestList, csrConditions } from '../src/api/index.ts';
import { isObject } from '../src/base/json.ts';
import type { KubeClient } from '../src/client/client.ts';
import {
  freePort,
  joinNode,
  kubectl,
  type RunningServer,
  startCluster,
  tempDir,
  tlsbootAsync,
  toolSkip,
  until,
} from './helpers/processes.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

describe('tlsboot agent registers its Node, whose addresses approve its serving certificate', () => {
  const dir = tempDir('nodes');
  let server: RunningServer;
  let admin: KubeClient;
  let token: string;
  let kubeconfig: string;

  before(async () => {
    ({ server, admin, token, kubeconfig } = await startCluster(dir.path));
  });
  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  test('join + agent without a serving policy: Node registered, serving certificate approved by its addresses', async () => {
    const nodeDir = join(dir.path, 'worker-1');
    const joined = await joinNode(server, token, 'worker-1', nodeDir);
    assert.equal(joined.code, 0, joined.stderr);
    const servingPort = await freePort();
    const stopAgent = new AbortController();
    const agent = tlsbootAsync(
      [
        'agent',
        '--dir',
        nodeDir,
        '--node-name',
        'worker-1',
        '--rotate-server-certificates',
        '--node-ip',
        '10.20.0.5',
        '--serving-address',
        `127.0.0.1:${servingPort}`,
      ],
      { timeoutMs: 60_000, signal: stopAgent.signal },
    );
    try {
      const nodeObj = await until('the Node worker-1', () => admin.request(`/api/v1/nodes/worker-1`).catch(() => undefined), 30_000);
      assert.deepEqual(isObject(nodeObj.status) ? nodeObj.status.addresses : undefined, [
        { type: 'Hostname', address: 'worker-1' },
        { type: 'InternalIP', address: '10.20.0.5' },
      ]);
      const subject = await until(
        'the serving endpoint',
        () =>
          new Promise<string | undefined>((resolve) => {
            const socket = connect(
              { host: '127.0.0.1', port: servingPort, ca: readFileSync(join(server.dir, 'pki', 'ca.crt')), servername: 'worker-1' },
              () => {
                const cert = socket.getPeerX509Certificate();
                socket.end();
                resolve(cert?.subject);
              },
            );
            socket.on('error', () => resolve(undefined));
          }),
        30_000,
      );
      assert.match(subject, /CN=system:node:worker-1/);
      const list = await admin.request(CSRS, {}, asCertificateSigningRequestList);
      const serving = list.items.filter(
        (c) => c.spec.signerName === 'kubernetes.io/kubelet-serving' && c.spec.username === 'system:node:worker-1',
      );
      assert.equal(serving.length, 1, 'one serving request');
      const approved = csrConditions(serving[0] ?? {}).find((c) => c.type === 'Approved');
      assert.equal(approved?.reason, 'NodeAddressesApproved');
    } finally {
      stopAgent.abort();
      const exited = await agent;
      assert.equal(exited.code, 0, `the agent stops cleanly: ${exited.stderr}`);
    }
  });

  test('kubectl lists the Node, and a node impersonated by kubectl may not delete it', { skip: toolSkip('kubectl') }, () => {
    const cache = join(dir.path, 'kubectl-cache');
    const listed = kubectl(kubeconfig, cache, ['get', 'nodes']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\n/);
    assert.match(listed.stdout, /\nworker-1\s+Unknown\s+<none>\s+/);
    const wideList = kubectl(kubeconfig, cache, ['get', 'nodes', '-o', 'wide']);
    assert.equal(wideList.code, 0, wideList.stderr);
    assert.match(wideList.stdout, /^NAME\s+STATUS\s+ROLES\s+AGE\s+VERSION\s+INTERNAL-IP\s+EXTERNAL-IP\s+OS-IMAGE/);
    assert.match(wideList.stdout, /\nworker-1\s+Unknown\s+<none>\s+\S+\s+10\.20\.0\.5\s+<none>\s+<unknown>/);
    const asNode = ['--as', 'system:node:worker-1', '--as-group', 'system:nodes'];
    const own = kubectl(kubeconfig, cache, ['get', 'node', 'worker-1', '-o', 'name', ...asNode]);
    assert.equal(own.code, 0, own.stderr);
    const removed = kubectl(kubeconfig, cache, ['delete', 'node', 'worker-1', ...asNode]);
    assert.notEqual(removed.code, 0, removed.stdout);
    assert.match(removed.stderr, /Forbidden/);
  });
});
