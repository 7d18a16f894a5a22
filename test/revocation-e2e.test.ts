/**
 * Issue 16's "Done when" for revocation, with real processes: a server (40 s certificates), two
 * joined nodes, and `tlsboot certs revoke --node` for one of them. Its next request is refused
 * (401), kubectl lists and describes the revocation, the CRL served over HTTPS (anonymously) lists
 * its serial and passes openssl's checks (revoked refused, the other node's certificate passes),
 * its agent's rotation fails saying why, and the CA audit log records who revoked it. Bad input
 * (unknown serial, revoking twice, a malformed reason) gets a clear error and changes nothing.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parseCombinedPem } from '../src/agent/cert-store.ts';
import { isTlsbootError } from '../src/base/errors.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import type { Certificate } from '../src/pki/index.ts';
import {
  fetchCrl,
  hasTool,
  joinNode,
  kubectl,
  MAIN,
  openssl,
  type RunningServer,
  startCluster,
  tempDir,
  tlsbootAsync,
  until,
} from './helpers/processes.ts';

const REVOCATIONS = '/apis/tlsboot.io/v1alpha1/certificaterevocations';
const SHARDS = 32;

describe('revoking a joined node end to end', () => {
  const dir = tempDir('tlsboot-revoke');
  let server: RunningServer;
  let kubeconfig: string;
  let admin: KubeClient;
  let caFile: string;
  const nodeDir = (n: string) => join(dir.path, n);
  const clientPem = (n: string) => readFileSync(join(nodeDir(n), 'pki', 'kubelet-client-current.pem'), 'utf8');
  /** The node's client certificate: the leaf of its combined PEM. */
  const leafOf = (n: string): Certificate => {
    const [leaf] = parseCombinedPem(clientPem(n), n).certificates;
    assert.ok(leaf);
    return leaf;
  };
  const revoke = (...args: string[]) => tlsbootAsync(['certs', 'revoke', '--kubeconfig', kubeconfig, ...args]);
  const revocationCount = async () => {
    const list = await admin.request(REVOCATIONS);
    return Array.isArray(list.items) ? list.items.length : -1;
  };
  const crlShard = (shard: number) => fetchCrl(server.url, caFile, shard);

  before(async () => {
    const started = await startCluster(dir.path, ['--cluster-signing-duration', '40s']);
    server = started.server;
    kubeconfig = started.kubeconfig;
    admin = started.admin;
    caFile = join(started.cluster, 'pki', 'ca.crt');
    for (const n of ['node-1', 'node-2']) {
      const joined = await joinNode(server, started.token, n, nodeDir(n));
      assert.equal(joined.code, 0, joined.stderr);
    }
  });
  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  test('the node is refused at once, the CRL lists it, its rotation fails clearly, and the audit log says who', async () => {
    const cert = leafOf('node-1');
    const other = leafOf('node-2');
    const node = new KubeClient(loadKubeconfig(join(nodeDir('node-1'), 'kubelet.conf')));
    try {
      await node.request('/apis/certificates.k8s.io/v1/certificatesigningrequests');
      const revoked = await revoke('--node', 'node-1', '--reason', 'keyCompromise');
      assert.equal(revoked.code, 0, revoked.stderr);
      assert.match(
        revoked.stdout,
        new RegExp(`certificaterevocation.tlsboot.io/${cert.serialNumber} revoked \\(keyCompromise\\): system:node:node-1`),
      );
      // Revoking twice (while the certificate is live) is AlreadyExists, and changes nothing.
      const twice = await revoke('--serial', cert.serialNumber, '--reason', 'superseded');
      assert.notEqual(twice.code, 0);
      assert.match(twice.stderr, /already exists/);
      const refused = await until('the revoked certificate to be refused', async () => {
        try {
          await node.request('/apis/certificates.k8s.io/v1/certificatesigningrequests');
          return undefined;
        } catch (error) {
          return error;
        }
      });
      assert.ok(isTlsbootError(refused) && refused.code === 'UNAUTHENTICATED', String(refused));
      assert.match(String(refused), /revoked/);
    } finally {
      node.close();
    }
    const nodeTwo = new KubeClient(loadKubeconfig(join(nodeDir('node-2'), 'kubelet.conf')));
    try {
      await nodeTwo.request('/apis/certificates.k8s.io/v1/certificatesigningrequests');
    } finally {
      nodeTwo.close();
    }

    const shard = Number.parseInt(cert.serialNumber.slice(-2), 16) % SHARDS;
    const crlFile = join(dir.path, 'node-1.crl');
    const crl = await until('the CRL to list the serial', async () => {
      const r = await crlShard(shard);
      if (r.status !== 200) return undefined;
      writeFileSync(crlFile, r.body);
      return openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']).stdout.includes(cert.serialNumber.toUpperCase())
        ? r
        : undefined;
    });
    assert.equal(crl.type, 'application/pkix-crl');
    const verified = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-CAfile', caFile, '-noout', '-verify']);
    assert.match(verified.stdout + verified.stderr, /verify OK/);
    const text = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-text']).stdout;
    assert.match(text, /Key Compromise/);
    assert.match(text, new RegExp(`URI:${server.url.replace(/\./g, '\\.')}/crl/${shard}\\.crl`));
    const crlPem = join(dir.path, 'node-1-crl.pem');
    writeFileSync(crlPem, openssl(['crl', '-inform', 'DER', '-in', crlFile]).stdout);
    const check = openssl([
      'verify',
      '-crl_check',
      '-CAfile',
      caFile,
      '-CRLfile',
      crlPem,
      join(nodeDir('node-1'), 'pki', 'kubelet-client-current.pem'),
    ]);
    assert.notEqual(check.code, 0);
    assert.match(check.stdout + check.stderr, /certificate revoked/);
    const otherShard = Number.parseInt(other.serialNumber.slice(-2), 16) % SHARDS;
    const otherFile = join(dir.path, 'node-2.crl');
    writeFileSync(otherFile, (await crlShard(otherShard)).body);
    const otherPem = join(dir.path, 'node-2-crl.pem');
    writeFileSync(otherPem, openssl(['crl', '-inform', 'DER', '-in', otherFile]).stdout);
    const live = openssl([
      'verify',
      '-crl_check',
      '-CAfile',
      caFile,
      '-CRLfile',
      otherPem,
      join(nodeDir('node-2'), 'pki', 'kubelet-client-current.pem'),
    ]);
    assert.equal(live.code, 0, live.stdout + live.stderr);

    // The agent rotates at 70-90 % of the 40 s lifetime, with the revoked certificate.
    const agent = spawn(process.execPath, [MAIN, 'agent', '--dir', nodeDir('node-1'), '--node-name', 'node-1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    agent.stdout.on('data', (d: Buffer) => (output += d.toString()));
    agent.stderr.on('data', (d: Buffer) => (output += d.toString()));
    try {
      await until('the agent to report the refused rotation', async () => (output.includes('rotation failed') ? true : undefined), 50_000);
    } finally {
      agent.kill('SIGTERM');
    }
    assert.match(
      output,
      new RegExp(`refused this node's client certificate \\(serial ${cert.serialNumber}\\)[^"]*has been revoked[^"]*join the node again`),
    );

    const audit = readFileSync(join(dir.path, 'cluster', 'audit.log'), 'utf8')
      .split('\n')
      .filter((l) => l.includes('certificate.revoked'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    assert.deepEqual(
      audit.map((e) => [e.actor, e.serial, e.reason, e.commonName]),
      [['kubernetes-admin', cert.serialNumber, 'keyCompromise', 'system:node:node-1']],
    );
    // The log that holds it proves itself, and a copy with one byte changed does not.
    const logPath = join(dir.path, 'cluster', 'audit.log');
    const chain = await tlsbootAsync(['audit', 'verify', logPath]);
    assert.equal(chain.code, 0, chain.stderr);
    const log = readFileSync(logPath, 'utf8');
    const at = log.indexOf('keyCompromise');
    const copy = join(dir.path, 'audit-tampered.log');
    writeFileSync(copy, `${log.slice(0, at)}KeyCompromise${log.slice(at + 'keyCompromise'.length)}`);
    // The revocation is the last record: its edit shows against the last hash the first verify printed.
    const lastHash = /^last hash: ([0-9a-f]{64})$/m.exec(chain.stdout)?.[1] ?? '';
    const tampered = await tlsbootAsync(['audit', 'verify', '--expect-last', lastHash, copy]);
    assert.notEqual(tampered.code, 0);
    assert.match(tampered.stderr, /audit chain broken|does not reach|edited/);
  });

  test('kubectl lists and describes revocations', { skip: !hasTool('kubectl') && 'kubectl is not installed' }, () => {
    const cert = leafOf('node-1');
    const cache = join(dir.path, 'kubectl-cache');
    const listed = kubectl(kubeconfig, cache, ['get', 'certificaterevocations']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, new RegExp(`${cert.serialNumber}\\s+keyCompromise\\s+system:node:node-1\\s+kubernetes-admin`));
    const described = kubectl(kubeconfig, cache, ['describe', 'certificaterevocation', cert.serialNumber]);
    assert.equal(described.code, 0, described.stderr);
    assert.match(described.stdout, /Reason:\s+keyCompromise/);
  });

  test('bad input gets a clear error and changes nothing', async () => {
    const before = await revocationCount();
    const unknown = await revoke('--serial', '0abc');
    assert.notEqual(unknown.code, 0);
    assert.match(unknown.stderr, /issued no certificate with serial 0abc/);
    const reason = await revoke('--node', 'node-2', '--reason', 'certificateHold');
    assert.notEqual(reason.code, 0);
    assert.match(reason.stderr, /--reason certificateHold: not one of unspecified, keyCompromise/);
    const none = await revoke('--node', 'node-2', '--csr', 'x');
    assert.notEqual(none.code, 0);
    assert.match(none.stderr, /exactly one of --serial HEX, --node NAME or --csr NAME/);
    assert.equal(await revocationCount(), before);
  });
});
