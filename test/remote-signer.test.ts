/**
 * The remote signer end to end with real processes: `tlsboot signer serve` holds the CA keys on
 * the "CA machine", `tlsboot signer grant` prints a credential, `tlsboot server --signer remote`
 * holds none (scanned: files, store, logs, API), `tlsboot ca session open --grant-file` lets a
 * join complete, CSRs wait while the signer is down and are signed when it is back, a revoked
 * grant stops issuance, and both sides audit every signature.
 */
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, copyFileSync, existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { after, before, describe, test } from 'node:test';
import { asCertificateSigningRequestList, csrConditions } from '../src/api/index.ts';
import type { KubeClient } from '../src/client/client.ts';
import { CSR_PATH } from '../src/client/csr.ts';
import { parseGrantCredential } from '../src/signer/remote-protocol.ts';
import {
  adminAndToken,
  fetchCrl,
  freePort,
  joinNode,
  MAIN,
  openssl,
  type RunningServer,
  startServer,
  tempDir,
  tlsbootAsync,
  until,
} from './helpers/processes.ts';
import { filesMatching, findInFiles, findInText, keyNeedles, type Needle } from './helpers/secrets.ts';

interface Signer {
  readonly child: ChildProcess;
  stop(): Promise<void>;
}

async function startSigner(args: string[]): Promise<Signer> {
  const child = spawn(process.execPath, [MAIN, 'signer', 'serve', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  const lines: string[] = [];
  child.stderr?.on('data', (d: Buffer) => lines.push(d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`signer did not start: ${lines.join('')}`)), 20_000);
    createInterface({ input: child.stdout as NodeJS.ReadableStream }).on('line', (line) => {
      lines.push(line);
      if (line.includes('tlsboot signer ready')) {
        clearTimeout(timer);
        resolve();
      }
    });
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`signer exited with ${code}: ${lines.join('\n')}`));
    });
  });
  return {
    child,
    stop: () =>
      new Promise((resolve) => {
        if (child.exitCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill('SIGTERM');
      }),
  };
}

describe('remote signer with grants', () => {
  const dir = tempDir('remote');
  const cluster = join(dir.path, 'cluster');
  const caMachine = join(dir.path, 'ca-machine');
  const state = join(caMachine, 'state');
  let signerPort: number;
  let signer: Signer;
  let server: RunningServer;
  let admin: KubeClient;
  let kubeconfig: string;
  let token: string;
  let grantFile: string;
  const needles: Needle[] = [];
  const cli = (args: string[]) => tlsbootAsync(args, { env: { KUBECONFIG: kubeconfig } });
  const serveArgs = () => [
    '--ca-cert',
    join(caMachine, 'ca.crt'),
    '--ca-key',
    join(caMachine, 'ca.key'),
    '--state-dir',
    state,
    '--listen',
    `127.0.0.1:${signerPort}`,
  ];
  const joinAs = (name: string) => joinNode(server, token, name, join(dir.path, name), ['--tls-bootstrap-timeout', '60s']);

  before(async () => {
    const port = await freePort();
    signerPort = await freePort();
    const init = await tlsbootAsync(['init', '--dir', cluster, '--apiserver-bind-port', String(port), '--node-name', 'cp']);
    assert.equal(init.code, 0, init.stderr);
    // Every CA key leaves the cluster machine; only the certificates stay.
    mkdirSync(caMachine, { mode: 0o700 });
    for (const [from, to] of [
      ['ca', 'ca'],
      ['front-proxy-ca', 'front-proxy-ca'],
      ['etcd/ca', 'etcd-ca'],
    ] as const) {
      needles.push(...keyNeedles(readFileSync(join(cluster, 'pki', `${from}.key`), 'utf8'), from));
      renameSync(join(cluster, 'pki', `${from}.key`), join(caMachine, `${to}.key`));
    }
    copyFileSync(join(cluster, 'pki', 'ca.crt'), join(caMachine, 'ca.crt'));
    mkdirSync(state, { mode: 0o700 });
    chmodSync(state, 0o700);
    signer = await startSigner(serveArgs());
    grantFile = join(dir.path, 'grant.yaml');
    const granted = await tlsbootAsync([
      'signer',
      'grant',
      '--state-dir',
      state,
      '--ttl',
      '30m',
      '--max-certificates',
      '10',
      '--output-file',
      grantFile,
    ]);
    assert.equal(granted.code, 0, granted.stderr);
    assert.match(granted.stdout, /^grant [0-9a-f]{32} written to/);
    server = await startServer(cluster, ['--signer', 'remote'], port);
    ({ kubeconfig, admin, token } = await adminAndToken(cluster));
  });

  after(async () => {
    admin?.close();
    await server?.stop();
    await signer?.stop();
    dir.remove();
  });

  test('with a session opened from a grant, a join completes with a certificate from the remote CA', async () => {
    const open = await cli(['ca', 'session', 'open', '--ttl', '20m', '--grant-file', grantFile]);
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stdout, /\(remote\)/);
    const r = await joinAs('node-1');
    assert.equal(r.code, 0, r.stderr);
    const pem = join(dir.path, 'node-1', 'pki', 'kubelet-client-current.pem');
    assert.equal(openssl(['verify', '-x509_strict', '-CAfile', join(cluster, 'pki', 'ca.crt'), pem]).code, 0);
    const remoteAudit = readFileSync(join(state, 'audit.log'), 'utf8');
    const clusterAudit = readFileSync(join(cluster, 'audit.log'), 'utf8');
    const serial = /"serial":"([0-9a-f]+)"/.exec(remoteAudit)?.[1];
    assert.ok(serial, 'the remote side audited the signature');
    assert.ok(clusterAudit.includes(`"serial":"${serial}"`), 'the cluster side audited the same serial');
    assert.match(remoteAudit, /"event":"grant.issued"/);
    assert.match(open.stdout, /^Signed: +0 of 10 left in the grant at open$/m, 'the grant’s budget, not "unlimited"');
    assert.match(open.stdout, /^Signers: +kubernetes\.io\/kube-apiserver-client-kubelet, kubernetes\.io\/kubelet-serving$/m);
    const status = await cli(['ca', 'session', 'status']);
    assert.equal(status.code, 0, status.stderr);
    assert.match(status.stdout, /^\S+ +remote +Open +1 +10 \(grant\) /m);
    // The session also has the remote signer sign the CRLs, served to anyone and valid under the CA.
    const served = await until('a CRL signed under the grant', async () => {
      const r = await fetchCrl(server.url, join(cluster, 'pki', 'ca.crt'));
      return r.status === 200 ? r : undefined;
    });
    const crlFile = join(dir.path, 'remote-crl-0.der');
    writeFileSync(crlFile, served.body);
    const verified = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-verify', '-CAfile', join(cluster, 'pki', 'ca.crt')]);
    assert.equal(verified.code, 0, verified.stderr);
    assert.match(readFileSync(join(state, 'audit.log'), 'utf8'), /"event":"crl.signed"/);
  });

  test('while the signer is down CSRs wait; when it is back they are signed; nothing is lost', async () => {
    await signer.stop();
    const pending = joinAs('node-2');
    const waiting = await until('a CSR waiting for the remote signer', async () => {
      const list = await admin.request(CSR_PATH, {}, asCertificateSigningRequestList);
      return list.items.find((c) => csrConditions(c).some((x) => x.type === 'SigningPending' && /remote signer/.test(String(x.message))));
    });
    assert.ok(waiting);
    signer = await startSigner(serveArgs());
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir.path, 'node-2', 'pki', 'kubelet-client-current.pem')));
  });

  test('a revoked grant stops issuance: new CSRs wait', async () => {
    const id = /id: ([0-9a-f]{32})/.exec(readFileSync(grantFile, 'utf8'))?.[1] as string;
    const revoked = await tlsbootAsync(['signer', 'revoke', id, '--state-dir', state]);
    assert.equal(revoked.code, 0, revoked.stderr);
    const list = await tlsbootAsync(['signer', 'grants', '--state-dir', state]);
    assert.match(list.stdout, new RegExp(`${id}\\s+revoked`));
    const pending = joinAs('node-3');
    await until(
      'a CSR waiting because the grant was revoked',
      async () => {
        const items = (await admin.request(CSR_PATH, {}, asCertificateSigningRequestList)).items;
        return items.find((c) => csrConditions(c).some((x) => x.type === 'SigningPending' && /revoked/.test(String(x.message))));
      },
      60_000,
    );
    assert.equal(existsSync(join(dir.path, 'node-3', 'pki', 'kubelet-client-current.pem')), false);
    await cli(['ca', 'session', 'close']);
    const fresh = join(dir.path, 'grant-2.yaml');
    assert.equal((await tlsbootAsync(['signer', 'grant', '--state-dir', state, '--ttl', '10m', '--output-file', fresh])).code, 0);
    assert.equal((await cli(['ca', 'session', 'open', '--ttl', '10m', '--grant-file', fresh])).code, 0);
    const r = await pending;
    assert.equal(r.code, 0, r.stderr);
  });

  test('the cluster side holds no CA key material: files, store, logs and API', async () => {
    assert.deepEqual(filesMatching(cluster, /(ca\.key|ca\.key\.sealed)$/), []);
    assert.deepEqual(findInFiles(cluster, needles), []);
    assert.deepEqual(findInText(server.logs.join('\n'), needles, 'server logs'), []);
    const api: string[] = [];
    for (const path of ['/api/v1/secrets', '/api/v1/configmaps', CSR_PATH, '/apis/ca.tlsboot.io/v1alpha1/signingsessions'])
      api.push(JSON.stringify(await admin.request(path)));
    assert.deepEqual(findInText(api.join('\n'), needles, 'API'), []);
    // The grant's transport key is not kept either: it lived only in the server's memory.
    const grantKey = keyNeedles(parseGrantCredential(readFileSync(grantFile, 'utf8')).clientKey, 'grant key');
    assert.deepEqual(findInFiles(cluster, grantKey), []);
    assert.deepEqual(findInText(`${server.logs.join('\n')}\n${api.join('\n')}`, grantKey, 'logs and API'), []);
  });
});
