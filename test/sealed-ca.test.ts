/**
 * The sealed CA end to end, with the real CLI: `tlsboot ca seal` leaves no plaintext CA key; the
 * server (`--signer sealed`) issues nothing outside a signing session; a join started while sealed
 * completes within seconds of `tlsboot ca session open`; a wrong passphrase unlocks nothing; the
 * certificate budget and `session close` stop issuance; and after all of it no CA key material and
 * no passphrase is found on disk (store, WAL, audit log), in the server's logs or in the API.
 */
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { asCertificateSigningRequestList, csrCertificatePem, csrConditions } from '../src/api/index.ts';
import type { JsonObject } from '../src/base/json.ts';

import type { KubeClient } from '../src/client/client.ts';
import { CSR_PATH, decideCsr } from '../src/client/csr.ts';

import { unsealPrivateKey } from '../src/kubeadm/sealed-key.ts';

import { createCsrPem, generatePrivateKey, privateKeyToPem } from '../src/pki/index.ts';

import {
  adminAndToken,
  fetchCrl,
  freePort,
  joinNode,
  kubectl,
  openssl,
  type RunningServer,
  startServer,
  tempDir,
  tlsbootAsync,
  toolSkip,
  until,
} from './helpers/processes.ts';

import { filesMatching, findInFiles, findInText, keyNeedles, type Needle, textNeedle } from './helpers/secrets.ts';

const PASSPHRASE = 'sealed-ca test passphrase 1';

describe('sealed CA with signing sessions', () => {
  const dir = tempDir('sealed');
  const cluster = join(dir.path, 'cluster');
  const passFile = join(dir.path, 'passphrase');
  let server: RunningServer;
  let admin: KubeClient;
  let kubeconfig: string;
  let token: string;
  const needles: Needle[] = [];
  const cli = (args: string[]) => tlsbootAsync(args, { env: { KUBECONFIG: kubeconfig } });

  before(async () => {
    const port = await freePort();
    const init = await tlsbootAsync(['init', '--dir', cluster, '--apiserver-bind-port', String(port), '--node-name', 'cp']);
    assert.equal(init.code, 0, init.stderr);
    for (const f of ['ca', 'front-proxy-ca', 'etcd/ca'])
      needles.push(...keyNeedles(readFileSync(join(cluster, 'pki', `${f}.key`), 'utf8'), f));
    needles.push(...textNeedle(PASSPHRASE, 'passphrase'));
    writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const sealed = await tlsbootAsync(['ca', 'seal', '--dir', cluster, '--passphrase-file', passFile]);
    assert.equal(sealed.code, 0, sealed.stderr);
    assert.match(sealed.stdout, /removed .*pki\/ca\.key\n/);
    server = await startServer(cluster, ['--signer', 'sealed'], port);
    ({ kubeconfig, admin, token } = await adminAndToken(cluster));
  });

  const crl = () => fetchCrl(server.url, join(cluster, 'pki', 'ca.crt'));

  after(async () => {
    admin?.close();
    await server?.stop();
    dir.remove();
  });

  test('sealing leaves no plaintext CA key on disk', () => {
    assert.deepEqual(findInFiles(cluster, needles), []);
  });

  test('the server refuses to run with --signer local when the key is sealed', async () => {
    // The port the PKI names (the sealed server holds it; this one stops before listening).
    const local = await tlsbootAsync(['server', '--dir', cluster, '--listen', `127.0.0.1:${server.port}`]);
    assert.equal(local.code, 1);
    assert.match(local.stderr, /sealed.*--signer sealed/);
  });

  test('a wrong passphrase unlocks nothing, and is counted', async () => {
    const wrong = join(dir.path, 'wrong');
    writeFileSync(wrong, 'not the passphrase at all\n');
    const r = await cli(['ca', 'session', 'open', '--ttl', '10m', '--passphrase-file', wrong]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /wrong passphrase/);
    const status = await cli(['ca', 'session', 'status', '-o', 'json']);
    assert.equal(status.code, 0, status.stderr);
    assert.deepEqual(JSON.parse(status.stdout), []);
    const audit = readFileSync(join(cluster, 'audit.log'), 'utf8');
    assert.match(audit, /"event":"session.unlock-failed","actor":"kubernetes-admin".*"failedUnlocks":1/);
  });

  test('a join waits while sealed, nothing is issued, and it completes within seconds of a session opening', async () => {
    const join1 = joinNode(server, token, 'node-1', join(dir.path, 'node-1'), ['--tls-bootstrap-timeout', '60s']);
    const waiting = await until('a CSR approved and waiting for a session', async () => {
      const list = await admin.request(CSR_PATH, {}, asCertificateSigningRequestList);
      return list.items.find((c) => csrConditions(c).some((x) => x.type === 'SigningPending'));
    });
    assert.ok(csrConditions(waiting).some((c) => c.type === 'Approved'));
    assert.match(String(csrConditions(waiting).find((c) => c.type === 'SigningPending')?.message), /waiting for a signing session/);
    await new Promise((r) => setTimeout(r, 1500));
    const name = String(waiting.metadata?.name);
    assert.equal(csrCertificatePem(await admin.request(`${CSR_PATH}/${name}`)), undefined, 'no certificate outside a session');

    assert.equal((await crl()).status, 503, 'no CRL is signed before the first session');

    const opened = Date.now();
    const open = await cli(['ca', 'session', 'open', '--ttl', '10m', '--passphrase-file', passFile]);
    assert.equal(open.code, 0, open.stderr);
    assert.match(open.stdout, /Phase:\s+Open/);
    const done = await join1;
    const took = Date.now() - opened;
    assert.equal(done.code, 0, done.stderr);
    // Promptly, not after a long backoff: 15 s leaves room for the unseal and a loaded machine.
    assert.ok(took < 15_000, `join completed ${took} ms after the session opened`);
    assert.match(
      done.stdout,
      /approved; the CA cannot sign yet \(SignerUnavailable: .*waiting for a signing session.*\)\. An operator opens a signing session with "tlsboot ca session open"/,
      'join said what it waited for',
    );
    const pem = join(dir.path, 'node-1', 'pki', 'kubelet-client-current.pem');
    const verified = openssl(['verify', '-x509_strict', '-CAfile', join(cluster, 'pki', 'ca.crt'), pem]);
    assert.equal(verified.code, 0, verified.stdout + verified.stderr);
    const status = await cli(['ca', 'session', 'status']);
    assert.match(status.stdout, /sealed\s+Open\s+1\s+<none>/);
    // The session signed the CRLs when it opened, for a week; they stay served once it closes.
    const signed = await until('the CRLs signed in the session', async () => {
      const r = await crl();
      return r.status === 200 ? r.body : undefined;
    });
    const close = await cli(['ca', 'session', 'close']);
    assert.equal(close.code, 0, close.stderr);
    assert.match(close.stdout, /Phase:\s+Closed/);
    const kept = await crl();
    assert.equal(kept.status, 200);
    assert.deepEqual(kept.body, signed);
    const crlFile = join(dir.path, 'crl-0.der');
    writeFileSync(crlFile, signed);
    const text = openssl(['crl', '-inform', 'DER', '-in', crlFile, '-noout', '-lastupdate', '-nextupdate']);
    const field = (name: string) => Date.parse(new RegExp(`${name}=(.+)`).exec(text.stdout)?.[1] ?? '');
    assert.equal(field('nextUpdate') - field('lastUpdate'), 7 * 24 * 3_600_000, text.stdout);
  });

  test('a session with a budget signs that many; closing mid-batch leaves every CSR whole or waiting', async () => {
    const makeCsr = async (i: number) => {
      const key = generatePrivateKey('ecdsa-p256');
      const request = Buffer.from(createCsrPem({ key, subject: [{ type: 'CN', value: `batch-${i}` }] })).toString('base64');
      const name = `batch-${i}`;
      await admin.request(CSR_PATH, {
        method: 'POST',
        body: {
          apiVersion: 'certificates.k8s.io/v1',
          kind: 'CertificateSigningRequest',
          metadata: { name },
          spec: { request, signerName: 'kubernetes.io/kube-apiserver-client', usages: ['digital signature', 'client auth'] },
        },
      });
      await decideCsr(admin, name, 'Approved', 'Test', 'batch', () => new Date());
      return name;
    };
    const names = await Promise.all(Array.from({ length: 40 }, (_, i) => makeCsr(i)));
    const budget = await cli(['ca', 'session', 'open', '--ttl', '10m', '--max-certificates', '3', '--passphrase-file', passFile]);
    assert.equal(budget.code, 0, budget.stderr);
    const signedCount = async () => {
      let n = 0;
      for (const name of names) if (csrCertificatePem(await admin.request(`${CSR_PATH}/${name}`))) n++;
      return n;
    };
    await until('three signed', async () => ((await signedCount()) === 3 ? true : undefined));
    await new Promise((r) => setTimeout(r, 1000));
    assert.equal(await signedCount(), 3, 'the budget holds');
    const afterBudget = await cli(['ca', 'session', 'status', '-o', 'json']);
    assert.equal(JSON.parse(afterBudget.stdout)[0].status.phase, 'Exhausted');

    const open = await cli(['ca', 'session', 'open', '--ttl', '10m', '--passphrase-file', passFile]);
    assert.equal(open.code, 0, open.stderr);
    const close = await cli(['ca', 'session', 'close']);
    assert.equal(close.code, 0, close.stderr);
    await new Promise((r) => setTimeout(r, 1000));
    const caPem = readFileSync(join(cluster, 'pki', 'ca.crt'), 'utf8');
    let withCert = 0;
    for (const name of names) {
      const csr = await admin.request(`${CSR_PATH}/${name}`);
      const cert = csrCertificatePem(csr);
      if (cert === undefined) {
        assert.ok(
          csrConditions(csr).some((c) => c.type === 'SigningPending'),
          `${name} is waiting`,
        );
        continue;
      }
      withCert++;
      const certFile = join(dir.path, `${name}.pem`);
      writeFileSync(certFile, cert);
      writeFileSync(join(dir.path, 'ca.pem'), caPem);
      assert.equal(openssl(['verify', '-CAfile', join(dir.path, 'ca.pem'), certFile]).code, 0, `${name} verifies`);
    }
    const audit = readFileSync(join(cluster, 'audit.log'), 'utf8')
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as JsonObject);
    const signed = audit.filter((e) => e.event === 'certificate.signed' && String(e.csr).startsWith('batch-'));
    assert.equal(signed.length, withCert, 'every signature is audited, and every audited signature was delivered');
    assert.ok(audit.some((e) => e.event === 'session.closed' && e.reason === 'exhausted'));
    assert.ok(signed.every((e) => typeof e.serial === 'string' && typeof e.session === 'string'));
  });

  test('kubectl lists and closes sessions through the same API', { skip: toolSkip('kubectl') }, async () => {
    const cache = join(dir.path, 'kubectl-cache');
    const open = await cli(['ca', 'session', 'open', '--ttl', '5m', '--passphrase-file', passFile]);
    assert.equal(open.code, 0, open.stderr);
    const listed = kubectl(kubeconfig, cache, ['get', 'signingsessions']);
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(listed.stdout, /^NAME\s+MODE\s+PHASE\s+SIGNED/);
    assert.match(listed.stdout, /sealed\s+Open\s+0\s+<none>/);
    const deleted = kubectl(kubeconfig, cache, ['delete', 'signingsession', 'current']);
    assert.equal(deleted.code, 0, deleted.stderr);
    const status = await cli(['ca', 'session', 'status']);
    assert.match(status.stdout, /No signing session is open/);
  });

  test('no CA key material or passphrase on disk, in the store, in the logs or in the API', async () => {
    const everything: string[] = [];
    for (const path of ['/api/v1/secrets', '/api/v1/configmaps', CSR_PATH, '/apis/ca.tlsboot.io/v1alpha1/signingsessions']) {
      everything.push(JSON.stringify(await admin.request(path)));
    }
    assert.deepEqual(findInText(everything.join('\n'), needles, 'API'), []);
    assert.deepEqual(findInText(server.logs.join('\n'), needles, 'server logs'), []);
    assert.deepEqual(findInFiles(cluster, needles), []);
  });
});

describe('init --sealed', () => {
  const dir = tempDir('init-sealed');
  const cluster = join(dir.path, 'cluster');
  const passFile = join(dir.path, 'passphrase');
  after(() => dir.remove());

  test('CA keys are born sealed: no plaintext CA key is ever written, and the sealed keys open', async () => {
    writeFileSync(passFile, `${PASSPHRASE}\n`, { mode: 0o600 });
    const r = await tlsbootAsync(['init', '--dir', cluster, '--sealed', '--passphrase-file', passFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /Generating "ca" certificate and sealed key/);
    assert.deepEqual(filesMatching(cluster, /ca\.key$/), []);
    const needles: Needle[] = [];
    for (const f of ['ca', 'front-proxy-ca', 'etcd/ca']) {
      const key = unsealPrivateKey(readFileSync(join(cluster, 'pki', `${f}.key.sealed`), 'utf8'), Buffer.from(PASSPHRASE), f);
      needles.push(...keyNeedles(privateKeyToPem(key), f));
    }
    assert.deepEqual(findInFiles(cluster, needles), []);
    for (const leaf of ['apiserver', 'front-proxy-client', 'etcd/server']) {
      const ca = leaf.startsWith('etcd/') ? 'etcd/ca' : leaf.startsWith('front-proxy') ? 'front-proxy-ca' : 'ca';
      const v = openssl(['verify', '-CAfile', join(cluster, 'pki', `${ca}.crt`), join(cluster, 'pki', `${leaf}.crt`)]);
      assert.equal(v.code, 0, `${leaf}: ${v.stdout}${v.stderr}`);
    }
  });

  test('a re-run opens the sealed keys to re-create a missing certificate; a wrong passphrase changes nothing', async () => {
    rmSync(join(cluster, 'pki', 'apiserver.crt'));
    rmSync(join(cluster, 'pki', 'apiserver.key'));
    const wrong = join(dir.path, 'wrong');
    writeFileSync(wrong, 'definitely the wrong one\n');
    const refused = await tlsbootAsync(['init', '--dir', cluster, '--sealed', '--passphrase-file', wrong]);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /wrong passphrase/);
    assert.equal(existsSync(join(cluster, 'pki', 'apiserver.crt')), false);
    const plain = await tlsbootAsync(['init', '--dir', cluster]);
    assert.equal(plain.code, 1, 'without the passphrase the sealed CA cannot sign');
    const r = await tlsbootAsync(['init', '--dir', cluster, '--sealed', '--passphrase-file', passFile]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /sealed key, opened for this run/);
    assert.equal(openssl(['verify', '-CAfile', join(cluster, 'pki', 'ca.crt'), join(cluster, 'pki', 'apiserver.crt')]).code, 0);
    assert.deepEqual(filesMatching(cluster, /ca\.key$/), []);
  });

  test('tlsboot server --signer sealed does not create a PKI (it would be plaintext)', async () => {
    const empty = join(dir.path, 'empty');
    const r = await tlsbootAsync(['server', '--dir', empty, '--signer', 'sealed', '--listen', `127.0.0.1:${await freePort()}`]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /tlsboot init --sealed/);
    assert.equal(existsSync(empty), false);
  });

  test('refuses a plaintext CA key, and --external-ca with --sealed', async () => {
    const other = join(dir.path, 'plain');
    assert.equal((await tlsbootAsync(['init', '--dir', other])).code, 0);
    const r = await tlsbootAsync(['init', '--dir', other, '--sealed', '--passphrase-file', passFile]);
    assert.equal(r.code, 1);
    assert.match(r.stderr, /ca\.key is in plaintext; seal it with tlsboot ca seal/);
    const both = await tlsbootAsync(['init', '--dir', other, '--sealed', '--external-ca', '--passphrase-file', passFile]);
    assert.equal(both.code, 1);
    assert.match(both.stderr, /exclude each other/);
  });
});
