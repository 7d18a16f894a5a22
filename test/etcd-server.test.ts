/**
 * `tlsboot server --store etcd://...` (issue 15): the control plane on a real etcd member reached
 * with the mutual TLS `tlsboot init` prepares (the etcd CA and the apiserver-etcd-client pair from
 * DIR/pki). A node joins through it; its CSR and certificate are in etcd under kube-apiserver's
 * key layout; a restarted server serves them from etcd; bad --store values and unreadable etcd
 * files are refused before anything starts.
 */
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { CSRS, storeKeyOf } from '../src/api/cluster-client.ts';
import { csrCertificatePem } from '../src/api/index.ts';
import { openEtcdStore } from '../src/store/etcd.ts';
import { type EtcdMember, etcdPkiIn, startEtcd } from './helpers/etcd.ts';
import { adminAndToken, freePort, joinNode, type RunningServer, startServer, tempDir, tlsboot, toolSkip } from './helpers/processes.ts';

// Without etcd-server installed the file is one skipped test locally, and fails in CI.
const skip = toolSkip('etcd');

describe('tlsboot server on etcd', { skip }, () => {
  const dir = tempDir('etcd-server');
  const cluster = join(dir.path, 'cluster');
  let member: EtcdMember;
  let server: RunningServer;
  let port = 0;

  before(async () => {
    port = await freePort();
    const init = tlsboot(['init', '--dir', cluster, '--apiserver-bind-port', String(port)]);
    assert.equal(init.code, 0, init.stderr);
    member = await startEtcd(etcdPkiIn(cluster));
  });

  after(async () => {
    await server?.stop();
    await member?.stop();
    await member?.remove();
    dir.remove();
  });

  test('a node joins through a server on etcd; its certificate is in etcd and a restarted server serves it', async () => {
    server = await startServer(cluster, ['--store', `etcd://${member.endpoint}`], port);
    const { admin, token } = await adminAndToken(cluster);
    const joined = await joinNode(server, token, 'on-etcd', join(dir.path, 'on-etcd'));
    assert.equal(joined.code, 0, `${joined.stderr}\n${server.logs.join('')}`);

    const pki = etcdPkiIn(cluster);
    const store = openEtcdStore({ endpoints: [member.endpoint], tls: pki.tls });
    try {
      const { items } = await store.list(storeKeyOf(CSRS));
      const mine = items.filter((csr) => JSON.stringify(csr.spec).includes('kube-apiserver-client-kubelet'));
      assert.equal(mine.length, 1);
      assert.ok(mine[0] !== undefined && csrCertificatePem(mine[0]) !== undefined, 'the certificate is stored in etcd');
    } finally {
      await store.close();
    }

    await server.stop();
    server = await startServer(cluster, ['--store', `etcd://${member.endpoint}`], port);
    const list = await admin.request('/apis/certificates.k8s.io/v1/certificatesigningrequests');
    const items = Array.isArray(list.items) ? list.items : [];
    assert.equal(items.filter((c) => JSON.stringify(c).includes('kube-apiserver-client-kubelet')).length, 1);
    admin.close();
  });

  test('a malformed --store or an unreadable etcd file is refused, naming it', async () => {
    const bad = tlsboot(['server', '--dir', cluster, '--store', 'etcd://no-port', '--listen', `127.0.0.1:${port}`]);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /"no-port" is not HOST:PORT/);
    const other = tlsboot(['server', '--dir', cluster, '--store', 'postgres://x', '--listen', `127.0.0.1:${port}`]);
    assert.notEqual(other.code, 0);
    assert.match(other.stderr, /use sqlite:PATH or etcd:\/\/HOST:PORT/);
    const missing = tlsboot([
      'server',
      '--dir',
      cluster,
      '--store',
      `etcd://${member.endpoint}`,
      '--etcd-keyfile',
      join(dir.path, 'nope.key'),
      '--listen',
      `127.0.0.1:${port}`,
    ]);
    assert.notEqual(missing.code, 0);
    assert.match(missing.stderr, /nope\.key \(etcd-keyfile\) cannot be read/);
  });
});
