/**
 * Node TLS bootstrap end to end: a real server with a serving policy and 40-second certificates,
 * a token from `tlsboot token create`, three `tlsboot join` processes in parallel, openssl checks
 * of every issued certificate, discovery refusals (no pin, wrong pin, wrong secret, deleted token),
 * the guard against re-registering a node with a bootstrap token, an agent rotating its client and
 * serving certificates, and forged serving CSRs denied with a reason naming the SAN.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connect } from 'node:tls';
import { asCertificateSigningRequest, asCertificateSigningRequestList, csrConditions } from '../src/api/index.ts';
import { KubeClient, loadKubeconfig } from '../src/client/client.ts';
import { csrObject, nodeSubject } from './helpers/pki.ts';
import {
  freePort,
  joinNode as joinAs,
  openssl,
  type RunningServer,
  startServer,
  tempDir,
  tlsbootAsync,
  until,
} from './helpers/processes.ts';

const CSRS = '/apis/certificates.k8s.io/v1/certificatesigningrequests';

describe('tlsboot join and agent', () => {
  const dir = tempDir('join');
  let server: RunningServer;
  let kubeconfig: string;
  let admin: KubeClient;
  let token: string;
  const env = () => ({ KUBECONFIG: kubeconfig });

  before(async () => {
    const policy = join(dir.path, 'policy.yaml');
    writeFileSync(policy, 'nodes:\n  node-1: { ips: [10.0.0.11] }\n  node-2: { ips: [10.0.0.12] }\n  node-3: { ips: [10.0.0.13] }\n');
    const cluster = join(dir.path, 'cluster');
    const port = await freePort();
    const init = await tlsbootAsync(['init', '--dir', cluster, '--apiserver-bind-port', String(port), '--node-name', 'cp']);
    assert.equal(init.code, 0, init.stderr);
    server = await startServer(cluster, ['--serving-policy', policy, '--cluster-signing-duration', '40s'], port);
    kubeconfig = join(cluster, 'admin.conf');
    admin = new KubeClient(loadKubeconfig(kubeconfig));
    const created = await tlsbootAsync(['token', 'create', '--ttl', '1h'], { env: env() });
    assert.equal(created.code, 0, created.stderr);
    token = created.stdout.trim();
    assert.match(token, /^[a-z0-9]{6}\.[a-z0-9]{16}$/);
  });

  after(async () => {
    admin?.close();
    await server?.stop();
    const secret = token?.split('.')[1];
    if (secret) assert.ok(!server.logs.join('\n').includes(secret), 'no token secret in the server logs');
    dir.remove();
  });

  const joinNode = (name: string, extra: string[] = [], nodeDir = join(dir.path, name)) =>
    joinAs(server, token, name, nodeDir, ['--discovery-timeout', '3s', ...extra]);

  test('three nodes join in parallel and get client certificates that openssl verifies', async () => {
    const results = await Promise.all(['node-1', 'node-2', 'node-3'].map((n) => joinNode(n)));
    for (const [i, r] of results.entries()) {
      assert.equal(r.code, 0, `node-${i + 1}: ${r.stdout}${r.stderr}`);
      const pem = join(dir.path, `node-${i + 1}`, 'pki', 'kubelet-client-current.pem');
      assert.match(readlinkSync(pem), /kubelet-client-\d{4}-\d{2}-\d{2}-\d{2}-\d{2}-\d{2}\.pem$/);
      const verified = openssl(['verify', '-x509_strict', '-purpose', 'sslclient', '-CAfile', join(server.dir, 'pki', 'ca.crt'), pem]);
      assert.equal(verified.code, 0, verified.stdout + verified.stderr);
      const text = openssl(['x509', '-in', pem, '-noout', '-subject', '-ext', 'extendedKeyUsage,keyUsage,basicConstraints']).stdout;
      assert.match(text, new RegExp(`O = system:nodes, CN = system:node:node-${i + 1}`));
      assert.match(text, /TLS Web Client Authentication/);
      assert.match(text, /CA:FALSE/);
      assert.ok(existsSync(join(dir.path, `node-${i + 1}`, 'kubelet.conf')));
      assert.match(
        r.stdout,
        new RegExp(
          `certificate issued: system:node:node-${i + 1} \\(serial [0-9a-f]+\\), valid until \\S+; "tlsboot agent" rotates it between`,
        ),
      );
    }
  });

  // The next two use node-2's and node-3's 40 s certificates: they run right after the join, before those expire.
  test('forged serving CSRs are denied with a reason naming the SAN', async () => {
    const node3 = new KubeClient(loadKubeconfig(join(dir.path, 'node-3', 'kubelet.conf')));
    try {
      const forge = async (name: string, sans: { dns?: string[]; ip?: string[] }) => {
        await node3.request(CSRS, {
          method: 'POST',
          body: csrObject(name, {
            subject: nodeSubject('node-3'),
            signerName: 'kubernetes.io/kubelet-serving',
            usages: ['digital signature', 'server auth'],
            sans,
          }),
        });
        for (let i = 0; i < 50; i++) {
          const csr = await admin.request(`${CSRS}/${name}`, {}, asCertificateSigningRequest);
          const decided = csrConditions(csr).find((c) => c.type === 'Denied' || c.type === 'Approved');
          if (decided) return decided;
          await new Promise((r) => setTimeout(r, 100));
        }
        throw new Error(`${name} was not decided`);
      };
      const otherNode = await forge('forged-other-ip', { ip: ['10.0.0.12'] });
      assert.equal(otherNode.type, 'Denied');
      assert.match(otherNode.message ?? '', /10\.0\.0\.12 belongs to node node-2/);
      const service = await forge('forged-service', { dns: ['kubernetes.default.svc'], ip: ['10.0.0.13'] });
      assert.equal(service.type, 'Denied');
      assert.match(service.message ?? '', /kubernetes\.default\.svc is reserved: the cluster's API server certificate/);
      const controlPlane = await forge('forged-control-plane', { dns: ['CP.'], ip: ['10.0.0.13'] });
      assert.equal(controlPlane.type, 'Denied');
      assert.match(controlPlane.message ?? '', /CP\. is reserved: the cluster's API server certificate/);
      const loopback = await forge('forged-loopback', { ip: ['127.0.0.1'] });
      assert.equal(loopback.type, 'Denied');
      assert.match(loopback.message ?? '', /IP 127\.0\.0\.1 is reserved: the cluster's API server certificate/);
      const honest = await forge('honest-node-3', { dns: ['node-3'], ip: ['10.0.0.13'] });
      assert.equal(honest.type, 'Approved');
    } finally {
      node3.close();
    }
  });

  test('the agent rotates the client and serving certificates under a 40 s lifetime and serves the new one', async () => {
    const nodeDir = join(dir.path, 'node-2');
    const servingPort = await freePort();
    const clientLink = join(nodeDir, 'pki', 'kubelet-client-current.pem');
    const firstClient = readlinkSync(clientLink);
    const stopAgent = new AbortController();
    const agent = tlsbootAsync(
      [
        'agent',
        '--dir',
        nodeDir,
        '--node-name',
        'node-2',
        '--rotate-server-certificates',
        '--node-ip',
        '10.0.0.12',
        '--serving-address',
        `127.0.0.1:${servingPort}`,
        '--bootstrap-kubeconfig',
        join(nodeDir, 'bootstrap-kubelet.conf'),
      ],
      { timeoutMs: 90_000, signal: stopAgent.signal },
    );
    const deadline = Date.now() + 55_000;
    while (Date.now() < deadline && readlinkSync(clientLink) === firstClient) await new Promise((r) => setTimeout(r, 500));
    assert.notEqual(readlinkSync(clientLink), firstClient, 'the client certificate was rotated');
    const verified = openssl(['verify', '-purpose', 'sslclient', '-CAfile', join(server.dir, 'pki', 'ca.crt'), clientLink]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const serve = () =>
      new Promise<string>((resolve, reject) => {
        const socket = connect(
          { host: '127.0.0.1', port: servingPort, ca: readFileSync(join(server.dir, 'pki', 'ca.crt')), servername: 'node-2' },
          () => {
            const cert = socket.getPeerX509Certificate();
            socket.end();
            resolve(cert?.subject ?? '');
          },
        );
        socket.on('error', reject);
      });
    // The endpoint listens once the first serving certificate is issued, which on a loaded machine
    // can come after the client rotation that ended the wait above.
    const served = await until('the serving endpoint', () => serve().catch(() => undefined), 30_000);
    assert.match(served, /CN=system:node:node-2/);
    const list = await admin.request(CSRS, {}, asCertificateSigningRequestList);
    const renewals = list.items.filter((c) => c.spec.username === 'system:node:node-2');
    assert.ok(renewals.length >= 2, 'the agent requested its serving certificate and renewed its client certificate itself');
    assert.ok(renewals.length <= 6, `rotation must not loop: ${renewals.length} requests from node-2`);
    stopAgent.abort();
    const exited = await agent;
    assert.equal(exited.code, 0, `the agent stops cleanly on SIGTERM: ${exited.stderr}`);
  });

  test('a node joins with a discovery file instead of token discovery', async () => {
    const r = await tlsbootAsync([
      'join',
      '--discovery-file',
      join(dir.path, 'node-1', 'bootstrap-kubelet.conf'),
      '--node-name',
      'node-4',
      '--dir',
      join(dir.path, 'node-4'),
    ]);
    assert.equal(r.code, 0, r.stderr);
    const pem = join(dir.path, 'node-4', 'pki', 'kubelet-client-current.pem');
    assert.equal(openssl(['verify', '-CAfile', join(server.dir, 'pki', 'ca.crt'), pem]).code, 0);
  });

  test('join refuses without a CA pin, with a wrong pin, or with a wrong token secret, and writes nothing', async () => {
    const noPin = await tlsbootAsync(['join', server.url, '--token', token, '--node-name', 'x1', '--dir', join(dir.path, 'x1')]);
    assert.equal(noPin.code, 1);
    assert.match(noPin.stderr, /discovery-token-ca-cert-hash/);
    assert.equal(existsSync(join(dir.path, 'x1')), false);
    const wrongPin = await tlsbootAsync([
      'join',
      server.url,
      '--token',
      token,
      '--discovery-token-ca-cert-hash',
      `sha256:${'0'.repeat(64)}`,
      '--node-name',
      'x2',
      '--dir',
      join(dir.path, 'x2'),
    ]);
    assert.equal(wrongPin.code, 1);
    assert.match(wrongPin.stderr, /not pinned/);
    assert.ok(wrongPin.stderr.includes(server.caPin), 'the actual pin is shown');
    assert.equal(existsSync(join(dir.path, 'x2')), false);
    const wrongSecret = `${token.slice(0, 7)}${'z'.repeat(16)}`;
    const forged = await tlsbootAsync([
      'join',
      server.url,
      '--token',
      wrongSecret,
      '--discovery-token-ca-cert-hash',
      server.caPin,
      '--node-name',
      'x3',
      '--dir',
      join(dir.path, 'x3'),
    ]);
    assert.equal(forged.code, 1);
    assert.match(forged.stderr, /JWS/);
    assert.doesNotMatch(forged.stderr + forged.stdout, new RegExp(wrongSecret.slice(7)), 'no token secret in the output');
  });

  test('a predictable supplied token is refused, and a deleted token cannot join or leave a half-registered node', async () => {
    const weak = await tlsbootAsync(['token', 'create', 'abcdef.0123456789abcdef'], { env: env() });
    assert.equal(weak.code, 1);
    assert.match(weak.stderr, /too predictable/);
    const extra = await tlsbootAsync(['token', 'create', '--ttl', '1h'], { env: env() });
    const doomed = extra.stdout.trim();
    const listed = await tlsbootAsync(['token', 'list'], { env: env() });
    assert.match(listed.stdout, new RegExp(`^${doomed.slice(0, 6)}\\.<secret> +(59m|60m|1h) `, 'm'), 'TTL is the time left');
    const deleted = await tlsbootAsync(['token', 'delete', doomed.slice(0, 6)], { env: env() });
    assert.equal(deleted.code, 0, deleted.stderr);
    const again = await tlsbootAsync(['token', 'delete', doomed.slice(0, 6)], { env: env() });
    assert.equal(again.code, 1);
    assert.equal(again.stderr.trim(), `error: bootstrap token "${doomed.slice(0, 6)}" not found`);
    const nodeDir = join(dir.path, 'node-doomed');
    const r = await tlsbootAsync([
      'join',
      server.url,
      '--token',
      doomed,
      '--discovery-token-ca-cert-hash',
      server.caPin,
      '--node-name',
      'doomed',
      '--dir',
      nodeDir,
      '--discovery-timeout',
      '1s',
    ]);
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /no JWS signature|invalid for this cluster|expired/);
    assert.equal(existsSync(join(nodeDir, 'kubelet.conf')), false);
    assert.equal(existsSync(join(nodeDir, 'pki', 'kubelet-client-current.pem')), false);
  });

  test('a bootstrap token cannot re-register a node that holds a valid certificate', async () => {
    // A node joined just now, so its 40 s certificate is valid however long the tests before took.
    const first = await joinNode('node-rr');
    assert.equal(first.code, 0, first.stdout + first.stderr);
    const r = await joinNode('node-rr', ['--tls-bootstrap-timeout', '3s'], join(dir.path, 'node-rr-again'));
    assert.notEqual(r.code, 0);
    assert.match(r.stdout, /node-csr-\S+: not approved automatically \(NodeAlreadyRegistered\): system:node:node-rr already holds/);
    assert.match(r.stdout, /An admin may approve it with "kubectl certificate approve node-csr-\S+"/);
    assert.match(
      r.stderr,
      /timed out waiting for certificatesigningrequest node-csr-\S+ to be approved and signed: not approved automatically/,
    );
    const list = await admin.request(CSRS, {}, asCertificateSigningRequestList);
    const withheld = list.items.filter((c) => JSON.stringify(c.status).includes('NodeAlreadyRegistered'));
    assert.equal(withheld.length, 1);
    assert.match(JSON.stringify(withheld[0]?.status), /system:node:node-rr already holds a valid client certificate/);
  });

  test("a bootstrap token cannot enrol a node under a name the control plane presents, nor under another node's name space", async () => {
    const cases = [
      ['cp', /node name "cp" is reserved/],
      ['localhost', /node name "localhost" is reserved/],
      ['node-1.rack', /collides with node "node-1"/],
    ] as const;
    const results = await Promise.all(cases.map(([name]) => joinNode(name, ['--tls-bootstrap-timeout', '3s'])));
    for (const [i, [name, why]] of cases.entries()) {
      const r = results[i] ?? { code: 0, stderr: '' };
      assert.notEqual(r.code, 0, name);
      assert.match(r.stderr, why, name);
      assert.equal(existsSync(join(dir.path, name, 'pki', 'kubelet-client-current.pem')), false, name);
    }
  });
});

describe('the join command tlsboot prints', () => {
  const dir = tempDir('printed');
  let server: RunningServer;
  after(async () => {
    await server?.stop();
    dir.remove();
  });

  test('runs as printed: npx tlsboot join with a default node folder, and the kubeconfig found in data/admin.conf', async () => {
    const cluster = join(dir.path, 'data');
    const port = await freePort();
    assert.equal((await tlsbootAsync(['init', '--dir', cluster, '--apiserver-bind-port', String(port)])).code, 0);
    server = await startServer(cluster, [], port);
    // As README's quick start: no KUBECONFIG, run beside the data folder npm start made.
    const created = await tlsbootAsync(['token', 'create', '--print-join-command'], {
      cwd: dir.path,
      env: { KUBECONFIG: '', HOME: dir.path },
    });
    assert.equal(created.code, 0, created.stderr);
    const printed = created.stdout.trim();
    assert.match(
      printed,
      /^npx tlsboot join https:\/\/\S+ --token [a-z0-9]{6}\.[a-z0-9]{16} --discovery-token-ca-cert-hash sha256:[0-9a-f]{64}$/,
    );
    const args = printed.split(' ').slice(2);
    const joined = await tlsbootAsync([...args, '--node-name', 'printed-1'], { cwd: dir.path });
    assert.equal(joined.code, 0, joined.stdout + joined.stderr);
    assert.ok(existsSync(join(dir.path, 'node-printed-1', 'kubelet.conf')), 'default folder ./node-<name>');
    assert.match(joined.stdout, /Keep it fresh with: npx tlsboot agent --dir node-printed-1 --node-name printed-1/);
    const missing = await tlsbootAsync(['agent', '--dir', 'node-nowhere'], { cwd: dir.path });
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /node-nowhere\/kubelet\.conf does not exist: run "tlsboot join --dir node-nowhere" first/);
    const otherName = await tlsbootAsync(['agent', '--dir', 'node-printed-1', '--node-name', 'printed-2'], { cwd: dir.path });
    assert.equal(otherName.code, 1);
    assert.match(
      otherName.stderr,
      /--node-name "printed-2" differs from the node this folder's client certificate belongs to \("printed-1"\)/,
    );
  });
});
